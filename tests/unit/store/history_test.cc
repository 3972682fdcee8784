// The execution history queries of the store: filters (sandbox, status, tenant) and retention
// (Store::PruneExecutions, HistoryRetention), on a real SQLite database.
#include "store/history_retention.h"

#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <set>

#include "store/store.h"

namespace sbx::store {
namespace {

constexpr int64_t kDayMs = 86400 * 1000;

class HistoryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sbx-history-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    auto s = Store::Open(dir_ + "/db");
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    store_ = std::move(*s);
  }
  void TearDown() override {
    store_.reset();
    std::filesystem::remove_all(dir_);
  }
  void Add(const std::string& id, const std::string& sandbox, const std::string& status,
           int64_t started_ms, const std::string& tenant = "") {
    ExecutionRecord e;
    e.id = id;
    e.sandbox_id = sandbox;
    e.tenant = tenant;
    e.started_at_ms = started_ms;
    e.finished_at_ms = status == "running" ? 0 : started_ms + 10;
    e.language = "python";
    e.code = "print('" + id + "')";
    e.status = status;
    e.exit_code = status == "completed" ? 0 : 1;
    ASSERT_TRUE(store_->InsertExecution(e).ok());
  }
  std::vector<std::string> Ids(const ExecutionFilter& f) {
    auto rows = store_->ListExecutions(f);
    EXPECT_TRUE(rows.ok()) << rows.error().ToString();
    std::vector<std::string> ids;
    if (rows.ok())
      for (const auto& r : *rows) ids.push_back(r.id);
    return ids;
  }
  std::set<std::string> AllIds() {
    ExecutionFilter f;
    f.limit = 100000;
    auto v = Ids(f);
    return {v.begin(), v.end()};
  }

  std::string dir_;
  std::unique_ptr<Store> store_;
};

TEST_F(HistoryTest, StatusFilterIsCombinedWithSandboxAndLimit) {
  Add("a1", "a", "completed", 100);
  Add("a2", "a", "failed", 200);
  Add("b1", "b", "failed", 300);
  Add("a3", "a", "completed", 400);
  Add("b2", "b", "timeout", 500);
  Add("a4", "a", "running", 600);

  ExecutionFilter f;
  f.status = "failed";
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"b1", "a2"}));
  f.sandbox_id = "a";
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"a2"}));
  f.status = "completed";
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"a3", "a1"}));
  f.limit = 1;
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"a3"}));
  ExecutionFilter running;
  running.status = "running";
  EXPECT_EQ(Ids(running), (std::vector<std::string>{"a4"}));
  ExecutionFilter none;
  none.status = "oom";
  EXPECT_TRUE(Ids(none).empty());
  // The two-argument form is the unfiltered one.
  auto old = store_->ListExecutions("b", 10);
  ASSERT_TRUE(old.ok());
  ASSERT_EQ(old->size(), 2u);
  EXPECT_EQ((*old)[0].id, "b2");
}

TEST_F(HistoryTest, TenantFilterKeepsOtherTenantsOut) {
  Add("x1", "s1", "completed", 100, "acme");
  Add("y1", "s2", "completed", 200, "other");
  Add("x2", "s1", "failed", 300, "acme");
  Add("admin1", "s3", "completed", 400, "");
  ExecutionFilter f;
  f.tenant = "acme";
  f.limit = 1;
  // The newest `limit` of the tenant's, however many rows of others are newer.
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"x2"}));
  f.limit = 10;
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"x2", "x1"}));
  f.tenant = "";
  EXPECT_EQ(Ids(f), (std::vector<std::string>{"admin1"}));
  f.tenant.reset();
  EXPECT_EQ(Ids(f).size(), 4u);
}

TEST_F(HistoryTest, PruneByAgeKeepsRunningAndRecentExecutions) {
  const int64_t now = 100 * kDayMs;
  Add("old_done", "s", "completed", now - 40 * kDayMs);
  Add("old_failed", "s", "failed", now - 31 * kDayMs);
  Add("old_running", "s", "running", now - 45 * kDayMs);
  Add("recent", "s", "completed", now - 29 * kDayMs);
  auto counts = store_->PruneExecutions(now - 30 * kDayMs, 0);
  ASSERT_TRUE(counts.ok()) << counts.error().ToString();
  EXPECT_EQ(counts->by_age, 2);
  EXPECT_EQ(counts->by_count, 0);
  EXPECT_EQ(AllIds(), (std::set<std::string>{"old_running", "recent"}));
  // Nothing left to delete: a second pass is a no-op.
  EXPECT_EQ(store_->PruneExecutions(now - 30 * kDayMs, 0)->total(), 0);
}

TEST_F(HistoryTest, PruneByCountKeepsTheNewestFinishedOnes) {
  for (int i = 0; i < 10; ++i) Add("e" + std::to_string(i), "s", "completed", 1000 + i);
  Add("in_flight", "s", "running", 1);  // the oldest of all, but running
  auto counts = store_->PruneExecutions(0, 3);
  ASSERT_TRUE(counts.ok()) << counts.error().ToString();
  EXPECT_EQ(counts->by_age, 0);
  EXPECT_EQ(counts->by_count, 7);
  EXPECT_EQ(AllIds(), (std::set<std::string>{"e7", "e8", "e9", "in_flight"}));
  EXPECT_EQ(store_->PruneExecutions(0, 0)->total(), 0);  // 0 and 0: keep everything
  EXPECT_EQ(AllIds().size(), 4u);
}

TEST_F(HistoryTest, PruneDeletesBacklogsLargerThanOneBatch) {
  // More rows than one delete batch (2000), to cover the loop over batches.
  for (int i = 0; i < 4500; ++i) Add("e" + std::to_string(i), "s", "failed", 1000 + i);
  auto counts = store_->PruneExecutions(0, 100);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->by_count, 4400);
  auto left = AllIds();
  EXPECT_EQ(left.size(), 100u);
  EXPECT_TRUE(left.count("e4499"));
  EXPECT_TRUE(left.count("e4400"));
  EXPECT_FALSE(left.count("e4399"));
  counts = store_->PruneExecutions(1000 + 4450, 0);
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->by_age, 50);
}

TEST_F(HistoryTest, RetentionPassUsesThePolicyAndItsClock) {
  const int64_t now = 400 * kDayMs;
  Add("ancient", "s", "completed", now - 8 * kDayMs);
  Add("week", "s", "completed", now - 6 * kDayMs);
  Add("today1", "s", "completed", now - 1000);
  Add("today2", "s", "failed", now - 500);
  RetentionPolicy p;
  p.days = 7;
  p.max_rows = 2;
  HistoryRetention r(store_.get(), p, [now] { return now; });
  auto counts = r.RunOnce();
  ASSERT_TRUE(counts.ok());
  EXPECT_EQ(counts->by_age, 1);
  EXPECT_EQ(counts->by_count, 1);
  EXPECT_EQ(AllIds(), (std::set<std::string>{"today1", "today2"}));
}

TEST_F(HistoryTest, RetentionThreadPrunesAtStartAndStops) {
  const int64_t now = 400 * kDayMs;
  Add("old", "s", "completed", now - 31 * kDayMs);
  Add("new", "s", "completed", now - kDayMs);
  RetentionPolicy p;  // 30 days, no row cap
  p.interval = std::chrono::milliseconds(20);
  HistoryRetention r(store_.get(), p, [now] { return now; });
  r.Start();
  for (int i = 0; i < 200 && AllIds().size() != 1; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  r.Stop();
  EXPECT_EQ(AllIds(), (std::set<std::string>{"new"}));
  // Keeping forever: Start runs nothing.
  Add("older", "s", "completed", 1);
  RetentionPolicy forever;
  forever.days = 0;
  HistoryRetention keep(store_.get(), forever, [now] { return now; });
  keep.Start();
  keep.Stop();
  EXPECT_EQ(AllIds().size(), 2u);
}

}  // namespace
}  // namespace sbx::store
