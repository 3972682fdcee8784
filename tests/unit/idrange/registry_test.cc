// registry: Acquire against a registry directory, subuid files and state dirs in a temp dir.
#include "idrange/registry.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include "common/util.h"
#include "runtime/fs_util.h"

namespace sbx::idrange {
namespace {

constexpr uint64_t kBase = 0x10000000;

class RegistryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sbx-idrange-test-XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/subuid", "sandboxd:268435456:1048576\n").ok());
    ASSERT_TRUE(WriteFileAtomic(dir_ + "/subgid", "sandboxd:268435456:1048576\n").ok());
  }
  void TearDown() override { (void)runtime::RemoveTree(dir_); }

  AcquireOptions Options(const std::string& state) {
    AcquireOptions o;
    o.state_dir = dir_ + "/" + state;
    EXPECT_TRUE(runtime::MakeDirs(o.state_dir, 0700).ok());
    o.slots = 4;
    o.subuid_path = dir_ + "/subuid";
    o.subgid_path = dir_ + "/subgid";
    o.registry_dir = dir_ + "/registry";
    return o;
  }

  std::string dir_;
};

TEST_F(RegistryTest, DaemonsGetDisjointBlocks) {
  auto a = Acquire(Options("a"));
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  auto b = Acquire(Options("b"));
  ASSERT_TRUE(b.ok()) << b.error().ToString();
  EXPECT_EQ((*a)->range(), (IdRange{kBase, 4 * kIdsPerSlot}));
  EXPECT_EQ((*b)->range(), (IdRange{kBase + 4 * kIdsPerSlot, 4 * kIdsPerSlot}));
  EXPECT_EQ((*b)->slots(), 4);
  auto live = ListLive(dir_ + "/registry", "");
  ASSERT_TRUE(live.ok()) << live.error().ToString();
  ASSERT_EQ(live->size(), 2u);
  for (const LiveRange& l : *live) EXPECT_EQ(l.pid, ::getpid());
  // A third asks for a range overlapping b's: refused, naming b.
  AcquireOptions c = Options("c");
  c.requested = IdRange{kBase + 6 * kIdsPerSlot, 4 * kIdsPerSlot};
  auto refused = Acquire(c);
  ASSERT_FALSE(refused.ok());
  EXPECT_NE(refused.error().message.find("state dir " + dir_ + "/b"), std::string::npos)
      << refused.error().message;
}

TEST_F(RegistryTest, StateDirInUseIsRefused) {
  auto a = Acquire(Options("a"));
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  auto again = Acquire(Options("a"));
  ASSERT_FALSE(again.ok());
  EXPECT_NE(again.error().message.find("is in use by the running sandboxd pid " +
                                       std::to_string(::getpid())),
            std::string::npos)
      << again.error().message;
}

TEST_F(RegistryTest, DeadDaemonsAreIgnoredAndTheRecordIsKept) {
  AcquireOptions b = Options("b");
  b.requested = IdRange{kBase + 8 * kIdsPerSlot, 4 * kIdsPerSlot};
  {
    auto lease = Acquire(b);
    ASSERT_TRUE(lease.ok()) << lease.error().ToString();
  }
  // A dead daemon's file (nobody holds its lock) claiming the first block.
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/registry/0000000000000001.range",
                              "pid=999999\nstate_dir=/gone\nrange=268435456:262144\n")
                  .ok());
  auto a = Acquire(Options("a"));
  ASSERT_TRUE(a.ok()) << a.error().ToString();
  EXPECT_EQ((*a)->range().start, kBase);
  EXPECT_FALSE(runtime::PathExists(dir_ + "/registry/0000000000000001.range"));
  auto rec = ReadFile(dir_ + "/a/id-range");
  ASSERT_TRUE(rec.ok());
  EXPECT_EQ(*rec, "268435456:262144\n");
  // b restarts without --id-range: it adopts its recorded range.
  b.requested.reset();
  auto b2 = Acquire(b);
  ASSERT_TRUE(b2.ok()) << b2.error().ToString();
  EXPECT_EQ((*b2)->range(), (IdRange{kBase + 8 * kIdsPerSlot, 4 * kIdsPerSlot}));
  EXPECT_EQ((*b2)->source(), "recorded");
}

TEST_F(RegistryTest, OverlapWithAnotherUsersEntryNamesIt) {
  ASSERT_TRUE(WriteFileAtomic(dir_ + "/subgid",
                              "sandboxd:268435456:1048576\nalice:268500000:65536\n")
                  .ok());
  auto a = Acquire(Options("a"));
  ASSERT_FALSE(a.ok());
  EXPECT_NE(a.error().message.find("'alice:268500000:65536' (line 2) of " + dir_ + "/subgid"),
            std::string::npos)
      << a.error().message;
  // Nothing was registered: the next daemon sees no live one.
  auto live = ListLive(dir_ + "/registry", "");
  ASSERT_TRUE(live.ok());
  EXPECT_TRUE(live->empty());
}

}  // namespace
}  // namespace sbx::idrange
