// choose: which range a daemon gets, and every reason to refuse one.
#include "idrange/choose.h"

#include <gtest/gtest.h>

namespace sbx::idrange {
namespace {

constexpr uint64_t kBase = 0x10000000;
constexpr uint64_t kBlock = 1024 * kIdsPerSlot;

SubidEntry Entry(const std::string& owner, uint64_t start, uint64_t count, int line = 1) {
  return SubidEntry{owner, {start, count}, line};
}

ChooseInput Input() {
  ChooseInput in;
  in.auto_count = kBlock;
  in.owner = {"sandboxd", "998"};
  in.subuid = {Entry("alice", 100000, 65536, 1), Entry("sandboxd", kBase, 4 * kBlock, 2)};
  in.subgid = {Entry("alice", 100000, 65536, 1), Entry("998", kBase, 4 * kBlock, 2)};
  in.subuid_path = "/etc/subuid";
  in.subgid_path = "/etc/subgid";
  in.recorded_path = "/state/id-range";
  return in;
}

TEST(ChooseTest, PicksTheFirstFreeBlock) {
  ChooseInput in = Input();
  auto c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->range, (IdRange{kBase, kBlock}));
  EXPECT_EQ(c->source, "picked");
  in.live = {{{kBase, kBlock}, 11, "/a"}, {{kBase + 2 * kBlock, 65536}, 12, "/b"}};
  c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->range, (IdRange{kBase + kBlock, kBlock}));
  in.live.push_back({{kBase + kBlock, kBlock}, 13, "/c"});
  c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->range, (IdRange{kBase + 3 * kBlock, kBlock}));
  in.live.push_back({{kBase + 3 * kBlock, kBlock}, 14, "/d"});
  c = Choose(in);
  ASSERT_FALSE(c.ok());
  EXPECT_EQ(c.error().code, ErrorCode::kFailedPrecondition);
  EXPECT_NE(c.error().message.find("no free block"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("14"), std::string::npos) << c.error().message;
}

TEST(ChooseTest, BlocksLieInBothFiles) {
  ChooseInput in = Input();
  in.subgid = {Entry("sandboxd", kBase + kBlock, kBlock)};  // only the second block
  auto c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->range, (IdRange{kBase + kBlock, kBlock}));
  EXPECT_EQ(CandidateBlocks(in, kBlock).size(), 1u);
  EXPECT_EQ(CandidateBlocks(in, 2 * kBlock).size(), 0u);
}

TEST(ChooseTest, NoEntryNamesTheFileAndSetup) {
  ChooseInput in = Input();
  in.subgid = {Entry("alice", 100000, 65536)};
  auto c = Choose(in);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("no entry for 'sandboxd' in /etc/subgid"), std::string::npos)
      << c.error().message;
  EXPECT_NE(c.error().message.find("scripts/setup.sh"), std::string::npos);
}

TEST(ChooseTest, OwnerEntrySharedWithAnotherUserIsRefused) {
  ChooseInput in = Input();
  in.subuid.push_back(Entry("mallory", kBase + 5 * kBlock / 2, 65536, 7));
  auto c = Choose(in);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("'mallory:" + std::to_string(kBase + 5 * kBlock / 2) +
                                   ":65536' (line 7) of /etc/subuid"),
            std::string::npos)
      << c.error().message;
}

TEST(ChooseTest, RequestedRangeIsChecked) {
  ChooseInput in = Input();
  in.requested = IdRange{kBase + kBlock, 2 * kIdsPerSlot};
  auto c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->source, "--id-range");
  EXPECT_TRUE(c->warning.empty());
  // Overlapping alice's subgid entry: refused, naming it and the file.
  in.requested = IdRange{65536, 65536};
  c = Choose(in);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("'alice:100000:65536' (line 1) of /etc/subuid"),
            std::string::npos)
      << c.error().message;
  // Outside every entry: allowed with a warning.
  in.requested = IdRange{0x90000000ull, kIdsPerSlot};
  c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_NE(c->warning.find("not inside an entry"), std::string::npos);
  // Overlapping a live daemon: refused, naming its pid and state dir.
  in.live = {{{0x90000000ull - kIdsPerSlot, 2 * kIdsPerSlot}, 4242, "/var/lib/other"}};
  c = Choose(in);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("pid 4242 (state dir /var/lib/other)"), std::string::npos)
      << c.error().message;
}

TEST(ChooseTest, RecordedRangeIsKeptWhileSandboxesExist) {
  ChooseInput in = Input();
  in.recorded = IdRange{kBase + 2 * kBlock, kBlock};
  // Adopted without sandboxes too, as long as it is still allowed.
  auto c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->range, *in.recorded);
  EXPECT_EQ(c->source, "recorded");
  // Another --id-range while sandboxes exist: refused, naming the record.
  in.has_sandboxes = true;
  in.requested = IdRange{kBase, kBlock};
  c = Choose(in);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("/state/id-range"), std::string::npos) << c.error().message;
  // The same one is fine.
  in.requested = in.recorded;
  EXPECT_TRUE(Choose(in).ok());
  // Without sandboxes a new --id-range replaces the record.
  in.has_sandboxes = false;
  in.requested = IdRange{kBase, kBlock};
  c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->range, (IdRange{kBase, kBlock}));
  // Taken by a live daemon meanwhile: with sandboxes refused, without them another block.
  in.requested.reset();
  in.live = {{*in.recorded, 77, "/other"}};
  c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->range, (IdRange{kBase, kBlock}));
  in.has_sandboxes = true;
  c = Choose(in);
  ASSERT_FALSE(c.ok());
  EXPECT_NE(c.error().message.find("pid 77"), std::string::npos) << c.error().message;
  EXPECT_NE(c.error().message.find("this state dir's sandboxes use it"), std::string::npos);
}

TEST(ChooseTest, RecordOfAnotherSizeIsReplacedWithoutSandboxes) {
  ChooseInput in = Input();
  in.recorded = IdRange{kBase + kBlock, 2 * kBlock};
  auto c = Choose(in);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->range, (IdRange{kBase, kBlock}));
  EXPECT_EQ(c->source, "picked");
}

}  // namespace
}  // namespace sbx::idrange
