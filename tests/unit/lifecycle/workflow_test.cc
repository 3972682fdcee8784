// Workflows over the real SandboxManager: signed GitHub deliveries, token hooks, the scheduler.
#include "lifecycle/workflow.h"

#include <gtest/gtest.h>

#include "common/util.h"
#include "events/signing.h"
#include "lifecycle/cron.h"
#include "manager_fixture.h"
#include "store/workflows.h"

namespace sbx::lifecycle {
namespace {

using nlohmann::json;
using sbx::testing::H;

constexpr const char* kSecret = "It's a Secret to Everybody";

class WorkflowTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ASSERT_NE(H(), nullptr);
    svc_ = std::make_unique<WorkflowService>(H()->store.get(), H()->runner.get(), H()->bus.get(),
                                             WorkflowOptions{kSecret, 100});
  }
  // Waits until the run is no longer running.
  store::LifecycleRunRecord WaitRun(const std::string& id) {
    store::LifecycleRunRecord rec;
    for (int i = 0; i < 600; ++i) {
      rec = *H()->runner->Get(id);
      if (rec.state != "running") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return rec;
  }
  std::map<std::string, std::string> Headers(const std::string& event, const std::string& body,
                                             const std::string& delivery,
                                             const std::string& secret = kSecret) {
    return {{"x-github-event", event},
            {"x-github-delivery", delivery},
            {"x-hub-signature-256", events::GithubSignature(secret, body)},
            {"content-type", "application/json"}};
  }
  std::unique_ptr<WorkflowService> svc_;
};

json PushBody(const std::string& repo, const std::string& branch) {
  return {
      {"ref", "refs/heads/" + branch}, {"after", "0123abc"}, {"repository", {{"full_name", repo}}}};
}

TEST_F(WorkflowTest, CreateListRunHistoryAsTheCliDoes) {
  // sbx workflow create --name my-workflow --trigger manual --template python
  auto c = svc_->Create({{"name", "my-workflow"},
                         {"trigger", "manual"},
                         {"template", "python"},
                         {"scripts", {"import os; print(os.environ['SBX_TRIGGER'])"}}},
                        "");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->hook_token, "");
  EXPECT_EQ(svc_->Create({{"name", "my-workflow"}}, "").error().code, ErrorCode::kAlreadyExists);
  auto list = svc_->List("");
  ASSERT_TRUE(list.ok());
  bool found = false;
  for (const auto& w : *list) found |= w.record.name == "my-workflow";
  EXPECT_TRUE(found);
  auto run = svc_->Run("my-workflow");
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  auto done = WaitRun(run->id);
  EXPECT_EQ(done.state, "succeeded") << done.error;
  EXPECT_TRUE(done.sandbox_removed);  // workflow runs always clean up
  json scripts = json::parse(done.scripts_json);
  EXPECT_EQ(json::parse(scripts[0]["attempts"][0]["stdout"].get<std::string>())["type"], "manual");
  auto hist = svc_->History("my-workflow", 10);
  ASSERT_TRUE(hist.ok());
  ASSERT_EQ(hist->size(), 1u);
  EXPECT_EQ(hist->front().id, run->id);
  store::EventFilter f;
  f.sandbox_id = run->sandbox_id;
  auto evs = *H()->bus->Query(f);
  EXPECT_EQ(evs.front().type, "workflow_started");
  EXPECT_EQ(evs.back().type, "workflow_finished");
  EXPECT_EQ(json::parse(evs.back().data_json)["status"], "succeeded");
  EXPECT_EQ(svc_->Run("no-such").error().code, ErrorCode::kNotFound);
  EXPECT_FALSE(svc_->Create({{"name", "Bad Name"}}, "").ok());
  EXPECT_FALSE(svc_->Create({{"name", "x"}, {"trigger", "schedule"}, {"cron", "* *"}}, "").ok());
}

TEST_F(WorkflowTest, SignedGithubPushStartsTheMatchingWorkflowOnly) {
  ASSERT_TRUE(svc_->Create({{"name", "gh-main"},
                            {"trigger",
                             {{"type", "webhook"},
                              {"source", "github"},
                              {"repository", "octo/demo"},
                              {"branch", "main"}}},
                            {"template", "python"},
                            {"scripts", {"print('deploy')"}}},
                           "")
                  .ok());
  ASSERT_TRUE(
      svc_->Create({{"name", "gh-release"},
                    {"trigger",
                     {{"type", "webhook"}, {"repository", "octo/demo"}, {"branch", "release/*"}}},
                    {"template", "python"}},
                   "")
          .ok());
  std::string body = PushBody("Octo/Demo", "main").dump();

  // A bad signature: 401, nothing started.
  auto bad = svc_->HandleGithubDelivery(Headers("push", body, "d-bad", "wrong secret"), body);
  EXPECT_EQ(bad.status, 401);
  EXPECT_TRUE(bad.started_runs.empty());
  EXPECT_TRUE(svc_->History("gh-main", 10)->empty());
  auto unsigned_hdrs = Headers("push", body, "d-bad2");
  unsigned_hdrs.erase("x-hub-signature-256");
  EXPECT_EQ(svc_->HandleGithubDelivery(unsigned_hdrs, body).status, 401);

  // ping
  EXPECT_EQ(svc_->HandleGithubDelivery(Headers("ping", "{}", "d-ping"), "{}").message, "pong");

  // A good push to main starts gh-main only.
  auto ok = svc_->HandleGithubDelivery(Headers("push", body, "d-1"), body);
  EXPECT_EQ(ok.status, 202) << ok.message;
  ASSERT_EQ(ok.started_runs.size(), 1u);
  auto done = WaitRun(ok.started_runs[0]);
  EXPECT_EQ(done.state, "succeeded") << done.error;
  json trig = json::parse(done.trigger_json);
  EXPECT_EQ(trig["branch"], "main");
  EXPECT_EQ(trig["sha"], "0123abc");
  EXPECT_EQ(svc_->History("gh-main", 10)->size(), 1u);
  EXPECT_TRUE(svc_->History("gh-release", 10)->empty());

  // The same delivery id again (GitHub's redeliver): acknowledged, nothing started.
  auto again = svc_->HandleGithubDelivery(Headers("push", body, "d-1"), body);
  EXPECT_EQ(again.status, 200);
  EXPECT_TRUE(again.started_runs.empty());

  // Another branch, another repository, another event: nothing.
  std::string dev = PushBody("octo/demo", "dev").dump();
  EXPECT_TRUE(svc_->HandleGithubDelivery(Headers("push", dev, "d-2"), dev).started_runs.empty());
  std::string other = PushBody("octo/other", "main").dump();
  EXPECT_TRUE(
      svc_->HandleGithubDelivery(Headers("push", other, "d-3"), other).started_runs.empty());
  EXPECT_TRUE(
      svc_->HandleGithubDelivery(Headers("issues", body, "d-4"), body).started_runs.empty());
  // A glob branch.
  std::string rel = PushBody("octo/demo", "release/1.2").dump();
  auto r = svc_->HandleGithubDelivery(Headers("push", rel, "d-5"), rel);
  ASSERT_EQ(r.started_runs.size(), 1u);
  WaitRun(r.started_runs[0]);
  EXPECT_EQ(svc_->History("gh-release", 10)->size(), 1u);
}

TEST_F(WorkflowTest, TokenHookForZapierOrGenericSenders) {
  auto c = svc_->Create(
      {{"name", "zap"},
       {"trigger", "webhook"},
       {"source", "zapier"},
       {"template", "python"},
       {"scripts",
        {"import os, json; print(json.loads(os.environ['SBX_TRIGGER'])['payload']['x'])"}}},
      "");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  ASSERT_EQ(c->hook_token.rfind("hook_", 0), 0u);
  EXPECT_EQ(c->workflow.ToJson().dump().find(c->hook_token), std::string::npos);
  EXPECT_EQ(svc_->HandleTokenHook("hook_wrong", "{}").status, 401);
  auto out = svc_->HandleTokenHook(c->hook_token, R"({"x": 7})");
  EXPECT_EQ(out.status, 202);
  ASSERT_EQ(out.started_runs.size(), 1u);
  auto done = WaitRun(out.started_runs[0]);
  EXPECT_EQ(done.state, "succeeded") << done.error;
  EXPECT_EQ(json::parse(done.scripts_json)[0]["attempts"][0]["stdout"], "7\n");
}

TEST_F(WorkflowTest, ScheduledWorkflowRunsAtItsTimesAndReportsMissedRuns) {
  auto c = svc_->Create({{"name", "every-minute"},
                         {"trigger", "schedule"},
                         {"cron", "* * * * *"},
                         {"template", "python"},
                         {"scripts", {"print('tick')"}}},
                        "");
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  const auto& rec = c->workflow.record;
  store::WorkflowRepo repo(H()->store.get());
  // Nothing is due until the next whole minute after creation.
  EXPECT_TRUE(svc_->TickSchedules(rec.created_at_ms + 10).empty() ||
              rec.created_at_ms % 60000 > 59000);

  // As if the daemon had been down for 3.5 minutes: one catch-up run, the others missed.
  int64_t cursor = (rec.created_at_ms / 60000) * 60000 - 210000;  // 3.5 min before the minute
  ASSERT_TRUE(repo.SetScheduleCursor(rec.id, cursor).ok());
  auto started = svc_->TickSchedules(rec.created_at_ms);
  ASSERT_EQ(started.size(), 1u);
  auto done = WaitRun(started[0]);
  EXPECT_EQ(done.state, "succeeded") << done.error;
  json trig = json::parse(done.trigger_json);
  EXPECT_EQ(trig["type"], "schedule");
  EXPECT_EQ(trig["catch_up"], true);
  EXPECT_EQ(trig["missed_runs"], 3);
  // The cursor is stored: a new service (a restarted daemon) does not run it again.
  WorkflowService restarted(H()->store.get(), H()->runner.get(), H()->bus.get(), {kSecret, 100});
  EXPECT_TRUE(restarted.TickSchedules(rec.created_at_ms + 1).empty());

  // The real scheduler thread: with the cursor a minute back, a run starts within a tick.
  ASSERT_TRUE(repo.SetScheduleCursor(rec.id, NowUnixMs() - 61000).ok());
  ASSERT_TRUE(svc_->StartScheduler().ok());
  size_t runs = 0;
  for (int i = 0; i < 100 && runs < 2; ++i) {
    runs = svc_->History("every-minute", 10)->size();
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  svc_->Stop();
  EXPECT_EQ(runs, 2u);
  auto hist = svc_->History("every-minute", 10);
  ASSERT_TRUE(hist.ok());
  std::vector<store::LifecycleRunRecord> runs_list = std::move(hist).value();
  for (const auto& r : runs_list) WaitRun(r.id);
  ASSERT_TRUE(svc_->Delete("every-minute").ok());
}

}  // namespace
}  // namespace sbx::lifecycle
