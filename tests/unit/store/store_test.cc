#include "store/store.h"

#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>

namespace sbx::store {
namespace {

class StoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char tmpl[] = "/tmp/sbx-store-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::filesystem::remove_all(dir_); }
  std::string dir_;
};

SandboxRecord Rec(const std::string& id, int64_t slot) {
  SandboxRecord r;
  r.id = id;
  r.template_name = "python";
  r.state = "running";
  r.created_at_ms = 1000 + slot;
  r.updated_at_ms = 1000;
  r.timeout_s = 300;
  r.id_slot = slot;
  return r;
}

TEST_F(StoreTest, MigratesToLatestAndReopens) {
  {
    auto s = Store::Open(dir_ + "/db");
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    EXPECT_EQ((*s)->SchemaVersion(), static_cast<int>(Migrations().size()));
    ASSERT_TRUE((*s)->InsertSandbox(Rec("a", 0)).ok());
  }
  auto s = Store::Open(dir_ + "/db");
  ASSERT_TRUE(s.ok());
  auto got = (*s)->GetSandbox("a");
  ASSERT_TRUE(got.ok());
  ASSERT_TRUE(got->has_value());
  EXPECT_EQ((*got)->template_name, "python");
}

TEST_F(StoreTest, KeepsPauseFields) {
  auto s = Store::Open(dir_ + "/db");
  ASSERT_TRUE(s.ok());
  SandboxRecord r = Rec("p", 0);
  EXPECT_EQ(r.on_timeout, "stop");
  r.on_timeout = "pause";
  r.public_traffic = false;
  ASSERT_TRUE((*s)->InsertSandbox(r).ok());
  r.state = "paused";
  r.paused_at_ms = 1234;
  r.auto_resume = true;
  ASSERT_TRUE((*s)->UpdateSandbox(r).ok());
  auto got = (*s)->GetSandbox("p");
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->state, "paused");
  EXPECT_EQ((*got)->paused_at_ms, 1234);
  EXPECT_EQ((*got)->on_timeout, "pause");
  EXPECT_TRUE((*got)->auto_resume);
  EXPECT_FALSE((*got)->public_traffic);
}

TEST_F(StoreTest, DuplicateIdIsAlreadyExists) {
  auto s = Store::Open(dir_ + "/db");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->InsertSandbox(Rec("a", 0)).ok());
  auto dup = (*s)->InsertSandbox(Rec("a", 1));
  ASSERT_FALSE(dup.ok());
  EXPECT_EQ(dup.error().code, ErrorCode::kAlreadyExists);
  auto dup_slot = (*s)->InsertSandbox(Rec("b", 0));
  EXPECT_FALSE(dup_slot.ok());
}

TEST_F(StoreTest, UpdateListDelete) {
  auto s = Store::Open(dir_ + "/db");
  ASSERT_TRUE(s.ok());
  ASSERT_TRUE((*s)->InsertSandbox(Rec("a", 0)).ok());
  ASSERT_TRUE((*s)->InsertSandbox(Rec("b", 1)).ok());
  SandboxRecord a = Rec("a", 0);
  a.state = "stopped";
  a.reason = "stopped by request";
  ASSERT_TRUE((*s)->UpdateSandbox(a).ok());
  auto all = (*s)->ListSandboxes();
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 2u);
  EXPECT_EQ((*all)[0].state, "stopped");
  EXPECT_EQ((*all)[0].reason, "stopped by request");
  ASSERT_TRUE((*s)->DeleteSandbox("a").ok());
  EXPECT_FALSE((*(*s)->GetSandbox("a")).has_value());
  auto missing = (*s)->UpdateSandbox(a);
  ASSERT_FALSE(missing.ok());
  EXPECT_EQ(missing.error().code, ErrorCode::kNotFound);
}

TEST_F(StoreTest, ExecutionsNewestFirstAndFiltered) {
  auto s = Store::Open(dir_ + "/db");
  ASSERT_TRUE(s.ok());
  for (int i = 0; i < 5; ++i) {
    ExecutionRecord e;
    e.id = "e" + std::to_string(i);
    e.sandbox_id = i % 2 ? "odd" : "even";
    e.started_at_ms = 100 + i;
    e.language = "python";
    e.code = "print(" + std::to_string(i) + ")";
    e.status = "completed";
    e.exit_code = 0;
    e.stdout_data = std::string("out\0with nul", 12);
    ASSERT_TRUE((*s)->InsertExecution(e).ok());
  }
  auto all = (*s)->ListExecutions("", 10);
  ASSERT_TRUE(all.ok());
  ASSERT_EQ(all->size(), 5u);
  EXPECT_EQ((*all)[0].id, "e4");
  EXPECT_EQ((*all)[0].stdout_data.size(), 12u);
  auto odd = (*s)->ListExecutions("odd", 10);
  ASSERT_TRUE(odd.ok());
  ASSERT_EQ(odd->size(), 2u);
  EXPECT_EQ((*odd)[0].id, "e3");
  EXPECT_EQ((*s)->ListExecutions("", 2)->size(), 2u);
}

}  // namespace
}  // namespace sbx::store

namespace sbx::store {
namespace {

TEST_F(StoreTest, RunningExecutionsAreMarkedInterruptedAtStart) {
  auto s = Store::Open(dir_ + "/db");
  ASSERT_TRUE(s.ok());
  ExecutionRecord e;
  e.id = "e_run";
  e.sandbox_id = "sb";
  e.started_at_ms = 5;
  e.language = "python";
  e.code = "import time; time.sleep(100)";
  e.status = "running";
  ASSERT_TRUE((*s)->InsertExecution(e).ok());
  ExecutionRecord done = e;
  done.id = "e_done";
  ASSERT_TRUE((*s)->InsertExecution(done).ok());
  done.status = "completed";
  done.exit_code = 0;
  done.stdout_data = "ok";
  ASSERT_TRUE((*s)->UpdateExecution(done).ok());
  ExecutionRecord missing = done;
  missing.id = "nope";
  EXPECT_EQ((*s)->UpdateExecution(missing).error().code, ErrorCode::kNotFound);

  auto n = (*s)->MarkInterruptedExecutions("sandboxd restarted");
  ASSERT_TRUE(n.ok());
  EXPECT_EQ(*n, 1);
  auto all = (*s)->ListExecutions("sb", 10);
  ASSERT_TRUE(all.ok());
  for (const auto& r : *all) {
    if (r.id == "e_run") {
      EXPECT_EQ(r.status, "error");
      EXPECT_EQ(r.reason, "sandboxd restarted");
    } else {
      EXPECT_EQ(r.status, "completed");
      EXPECT_EQ(r.stdout_data, "ok");
    }
  }
  EXPECT_EQ(*(*s)->MarkInterruptedExecutions("again"), 0);
}

TEST_F(StoreTest, InitStartTimeRoundTrips) {
  auto s = Store::Open(dir_ + "/db");
  ASSERT_TRUE(s.ok());
  SandboxRecord r = Rec("a", 0);
  r.init_pid = 4242;
  r.init_start_time = 123456789012ULL;
  ASSERT_TRUE((*s)->InsertSandbox(r).ok());
  EXPECT_EQ((*(*s)->GetSandbox("a"))->init_start_time, 123456789012ULL);
  r.init_start_time = 7;
  ASSERT_TRUE((*s)->UpdateSandbox(r).ok());
  EXPECT_EQ((*(*s)->GetSandbox("a"))->init_start_time, 7u);
}

}  // namespace
}  // namespace sbx::store
