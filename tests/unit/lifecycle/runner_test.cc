// Lifecycle runs against the real SandboxManager.
#include "lifecycle/runner.h"

#include <gtest/gtest.h>

#include <algorithm>

#include "manager_fixture.h"

namespace sbx::lifecycle {
namespace {

using nlohmann::json;
using sbx::testing::EventTypesOf;
using sbx::testing::H;

int Count(const std::vector<std::string>& v, const std::string& s) {
  return static_cast<int>(std::count(v.begin(), v.end(), s));
}

// Fails on its first two runs in a sandbox, succeeds on the third (a counter in /tmp).
constexpr const char* kFlaky = R"(
import os, sys
p = '/tmp/attempts'
n = int(open(p).read()) + 1 if os.path.exists(p) else 1
open(p, 'w').write(str(n))
print('attempt', n)
sys.exit(0 if n >= 3 else 1)
)";

LifecycleConfig Config(const std::string& id, int max_retries) {
  LifecycleConfig c;
  c.sandbox_id = id;
  c.timeout_s = 60;
  c.max_retries = max_retries;
  c.retry_delay_s = 0.1;
  c.cleanup_on_error = true;
  c.monitor_interval_s = 0;
  c.scripts = {Script{spec::Language::kPython, "print('step 1')"},
               Script{spec::Language::kPython, kFlaky}};
  return c;
}

TEST(LifecycleRunner, SecondScriptFailsTwiceThenSucceedsWithThreeRetries) {
  ASSERT_NE(H(), nullptr);
  auto run = H()->runner->Run(Config("lc_retry_ok", 3), {});
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  EXPECT_EQ(run->state, "succeeded") << run->error;
  json scripts = json::parse(run->scripts_json);
  ASSERT_EQ(scripts.size(), 2u);
  EXPECT_EQ(scripts[0]["attempts"].size(), 1u);
  EXPECT_EQ(scripts[0]["attempts"][0]["stdout"], "step 1\n");
  const json& attempts = scripts[1]["attempts"];
  ASSERT_EQ(attempts.size(), 3u);  // every attempt is in the results
  EXPECT_EQ(attempts[0]["status"], "failed");
  EXPECT_EQ(attempts[0]["exit_code"], 1);
  EXPECT_EQ(attempts[0]["stdout"], "attempt 1\n");
  EXPECT_EQ(attempts[1]["status"], "failed");
  EXPECT_EQ(attempts[2]["status"], "completed");
  EXPECT_EQ(attempts[2]["stdout"], "attempt 3\n");
  EXPECT_EQ(scripts[1]["status"], "succeeded");
  EXPECT_FALSE(run->sandbox_removed);
  EXPECT_TRUE(H()->manager->Get("lc_retry_ok").ok());  // kept after success

  auto types = EventTypesOf("lc_retry_ok");
  EXPECT_EQ(types.front(), "sandbox_created");
  EXPECT_EQ(Count(types, "execution_started"), 4);
  EXPECT_EQ(Count(types, "execution_failed"), 2);
  EXPECT_EQ(Count(types, "execution_complete"), 2);
  EXPECT_EQ(types.back(), "on_completion");
  // The stored record is the returned one.
  auto stored = H()->runner->Get(run->id);
  ASSERT_TRUE(stored.ok());
  EXPECT_EQ(stored->scripts_json, run->scripts_json);
  EXPECT_GT(stored->finished_at_ms, 0);
  // The id is taken while the sandbox exists.
  EXPECT_EQ(H()->runner->Start(Config("lc_retry_ok", 0), {}).error().code,
            ErrorCode::kAlreadyExists);
  json view = RunToJson(*stored);
  EXPECT_EQ(view["state"], "succeeded");
  EXPECT_EQ(view["scripts"][1]["attempts"].size(), 3u);
  EXPECT_TRUE(view.contains("duration_s"));
  ASSERT_TRUE(H()->manager->Remove("lc_retry_ok", "test").ok());
}

TEST(LifecycleRunner, OneRetryIsNotEnoughAndCleanupOnErrorRemovesTheSandbox) {
  ASSERT_NE(H(), nullptr);
  auto run = H()->runner->Run(Config("lc_retry_fail", 1), {});
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  EXPECT_EQ(run->state, "failed");
  EXPECT_NE(run->error.find("script 1 failed after 2 attempt(s)"), std::string::npos) << run->error;
  json scripts = json::parse(run->scripts_json);
  ASSERT_EQ(scripts[1]["attempts"].size(), 2u);
  EXPECT_EQ(scripts[1]["status"], "failed");
  EXPECT_TRUE(run->sandbox_removed);
  auto gone = H()->manager->Get("lc_retry_fail");
  ASSERT_FALSE(gone.ok());
  EXPECT_EQ(gone.error().code, ErrorCode::kNotFound);
  auto types = EventTypesOf("lc_retry_fail");
  EXPECT_EQ(Count(types, "execution_failed"), 2);
  EXPECT_EQ(Count(types, "on_error"), 1);
  EXPECT_EQ(types.back(), "on_cleanup");
}

TEST(LifecycleRunner, OverallTimeoutStopsTheRun) {
  ASSERT_NE(H(), nullptr);
  LifecycleConfig c;
  c.sandbox_id = "lc_timeout";
  c.timeout_s = 2;
  c.max_retries = 5;
  c.retry_delay_s = 0.1;
  c.monitor_interval_s = 0;
  c.scripts = {Script{spec::Language::kPython, "import time; time.sleep(30)"}};
  auto t0 = std::chrono::steady_clock::now();
  auto run = H()->runner->Run(c, {});
  auto secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  EXPECT_EQ(run->state, "timeout") << run->error;
  EXPECT_LT(secs, 10);
  EXPECT_TRUE(run->sandbox_removed);
  auto types = EventTypesOf("lc_timeout");
  EXPECT_EQ(Count(types, "on_timeout"), 1);
  EXPECT_EQ(Count(types, "on_cleanup"), 1);
}

TEST(LifecycleRunner, FilesEnvironmentAndMonitorSamples) {
  ASSERT_NE(H(), nullptr);
  LifecycleConfig c;
  c.sandbox_id = "lc_files";
  c.timeout_s = 60;
  c.monitor_interval_s = 0.2;
  c.environment = {{"GREETING", "hello"}};
  c.files = {FileUpload{"/home/user/data.txt", "42\n"}};
  c.scripts = {Script{spec::Language::kPython,
                      "import os, time\n"
                      "print(open('/home/user/data.txt').read().strip(), os.environ['GREETING'])\n"
                      "x = bytearray(64 << 20)\n"
                      "t = time.time()\n"
                      "while time.time() - t < 1.2: pass\n"},
               Script{spec::Language::kBash, "echo from-bash"}};
  RunContext ctx;
  ctx.remove_sandbox = true;
  auto run = H()->runner->Run(c, ctx);
  ASSERT_TRUE(run.ok()) << run.error().ToString();
  EXPECT_EQ(run->state, "succeeded") << run->error;
  json scripts = json::parse(run->scripts_json);
  EXPECT_EQ(scripts[0]["attempts"][0]["stdout"], "42 hello\n");
  EXPECT_EQ(scripts[1]["attempts"][0]["stdout"], "from-bash\n");
  json samples = json::parse(run->samples_json);
  ASSERT_GE(samples.size(), 3u) << samples.dump();
  int64_t max_mem = 0;
  for (const auto& s : samples) max_mem = std::max<int64_t>(max_mem, s["memory_bytes"]);
  EXPECT_GT(max_mem, 32LL << 20);
  EXPECT_TRUE(samples.back().contains("cpu_percent"));
  EXPECT_TRUE(run->sandbox_removed);  // RunContext::remove_sandbox
  // A busy CPU loop crosses the default 80% CPU alert threshold.
  auto types = EventTypesOf("lc_files");
  EXPECT_GE(Count(types, "on_alert"), 1);
}

TEST(LifecycleRunner, StartIsAsynchronousAndWebhooksCanBeOff) {
  ASSERT_NE(H(), nullptr);
  LifecycleConfig c;
  c.sandbox_id = "lc_async";
  c.enable_webhooks = false;
  c.monitor_interval_s = 0;
  c.scripts = {Script{spec::Language::kPython, "import time; time.sleep(0.5)"}};
  RunContext ctx;
  ctx.remove_sandbox = true;
  auto started = H()->runner->Start(c, ctx);
  ASSERT_TRUE(started.ok()) << started.error().ToString();
  EXPECT_EQ(started->state, "running");
  store::LifecycleRunRecord rec;
  for (int i = 0; i < 300; ++i) {
    rec = *H()->runner->Get(started->id);
    if (rec.state != "running") break;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_EQ(rec.state, "succeeded");
  store::EventFilter f;
  f.sandbox_id = "lc_async";
  auto evs = H()->bus->Query(f);
  ASSERT_TRUE(evs.ok());
  std::vector<store::EventRecord> list = std::move(evs).value();
  EXPECT_FALSE(list.empty());
  for (const auto& e : list) EXPECT_FALSE(e.webhooks) << e.type;
  // Unknown template: refused before anything is created.
  c.template_name = "nope";
  EXPECT_EQ(H()->runner->Start(c, ctx).error().code, ErrorCode::kNotFound);
}

}  // namespace
}  // namespace sbx::lifecycle
