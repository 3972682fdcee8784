// The client library's JSON -> struct parsing and request building (client/sandbox_client.h),
// on answers shaped as sandboxd sends them (docs/api.md). The calls themselves run against the
// real daemon in tests/integration/test_client_library.py.
#include "client/sandbox_client.h"

#include <gtest/gtest.h>

namespace sbx::client {
namespace {

OJson J(const char* text) { return OJson::parse(text); }

TEST(ParseSandboxInfo, RunningSandboxWithEverything) {
  auto s = ParseSandboxInfo(J(R"j({
    "success": true, "sandbox_id": "s1", "template": "python", "state": "running",
    "created_at": "2026-11-26T14:30:00.123Z", "timeout": 300,
    "expires_at": "2026-11-26T14:35:00.123Z", "env": {"K": "V"}, "metadata": {"team": "a"},
    "limits": {"cpus": 2, "memory_bytes": 2147483648, "pids_max": 512},
    "uptime_seconds": 1.5, "memory_bytes": 1048576, "pids": 3, "cpu_seconds": 0.25,
    "files_uploaded": 0, "create_time_ms": 4.2})j"));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->sandbox_id, "s1");
  EXPECT_EQ(s->template_name, "python");
  EXPECT_EQ(s->state, "running");
  EXPECT_EQ(s->timeout_s, 300);
  EXPECT_EQ(s->expires_at, "2026-11-26T14:35:00.123Z");
  EXPECT_EQ(s->env, (EnvMap{{"K", "V"}}));
  EXPECT_EQ(s->metadata["team"], "a");
  EXPECT_DOUBLE_EQ(s->cpus, 2);
  EXPECT_EQ(s->memory_limit_bytes, 2147483648);
  EXPECT_EQ(s->pids_max, 512);
  ASSERT_TRUE(s->uptime_seconds.has_value());
  EXPECT_DOUBLE_EQ(*s->uptime_seconds, 1.5);
  EXPECT_EQ(s->memory_bytes.value_or(-1), 1048576);
  EXPECT_EQ(s->pids.value_or(-1), 3);
  // Fields this version does not know stay in raw.
  EXPECT_DOUBLE_EQ(s->raw["create_time_ms"].get<double>(), 4.2);
}

TEST(ParseSandboxInfo, StoppedSandboxHasReasonAndNoLiveFigures) {
  auto s = ParseSandboxInfo(J(R"j({"sandbox_id": "s2", "state": "stopped",
    "reason": "timeout: the sandbox lifetime expired", "timeout": 3})j"));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->reason, "timeout: the sandbox lifetime expired");
  EXPECT_FALSE(s->uptime_seconds.has_value());
  EXPECT_FALSE(s->pids.has_value());
  EXPECT_EQ(s->expires_at, "");
}

TEST(ParseSandboxInfo, MissingOrMistypedFieldsAreNamed) {
  auto no_id = ParseSandboxInfo(J(R"j({"state": "running"})j"));
  ASSERT_FALSE(no_id.ok());
  EXPECT_EQ(no_id.error().code, ErrorCode::kInternal);
  EXPECT_NE(no_id.error().message.find("'sandbox_id'"), std::string::npos);
  auto bad_timeout =
      ParseSandboxInfo(J(R"j({"sandbox_id": "s", "state": "x", "timeout": "300"})j"));
  ASSERT_FALSE(bad_timeout.ok());
  EXPECT_NE(bad_timeout.error().message.find("'timeout'"), std::string::npos);
  auto bad_env = ParseSandboxInfo(J(R"j({"sandbox_id": "s", "state": "x", "env": {"K": 1}})j"));
  ASSERT_FALSE(bad_env.ok());
  EXPECT_NE(bad_env.error().message.find("env.K"), std::string::npos);
  EXPECT_FALSE(ParseSandboxInfo(J("[1, 2]")).ok());
  EXPECT_FALSE(ParseSandboxInfo(J(R"j({"sandbox_id": "s", "state": "x", "limits": 3})j")).ok());
}

TEST(ParseSandboxList, EveryItemIsParsed) {
  auto l = ParseSandboxList(J(R"j({"success": true, "count": 2, "sandboxes": [
    {"sandbox_id": "a", "state": "running"}, {"sandbox_id": "b", "state": "stopped"}]})j"));
  ASSERT_TRUE(l.ok()) << l.error().ToString();
  ASSERT_EQ(l->size(), 2u);
  EXPECT_EQ((*l)[1].sandbox_id, "b");
  EXPECT_FALSE(ParseSandboxList(J(R"j({"sandboxes": {}})j")).ok());
  EXPECT_FALSE(ParseSandboxList(J(R"j({"sandboxes": [{"state": "running"}]})j")).ok());
}

TEST(ParseExecutionResult, CompletedAndFailedRuns) {
  auto ok = ParseExecutionResult(J(R"j({"success": true, "status": "completed", "exit_code": 0,
    "stdout": "1\n", "stderr": "", "execution_time": 0.012, "sandbox_id": "s1",
    "execution_id": "e_1", "language": "python"})j"));
  ASSERT_TRUE(ok.ok()) << ok.error().ToString();
  EXPECT_TRUE(ok->success);
  EXPECT_EQ(ok->stdout_data, "1\n");
  EXPECT_EQ(ok->execution_id, "e_1");
  EXPECT_DOUBLE_EQ(ok->execution_time, 0.012);

  auto killed = ParseExecutionResult(J(R"j({"success": false, "status": "timeout",
    "exit_code": -1, "signal": 9, "reason": "killed after 2s timeout", "stdout": "",
    "stderr": "", "execution_time": 2.0, "stdout_truncated": true})j"));
  ASSERT_TRUE(killed.ok()) << killed.error().ToString();
  EXPECT_FALSE(killed->success);
  EXPECT_EQ(killed->status, "timeout");
  EXPECT_EQ(killed->signal, 9);
  EXPECT_EQ(killed->reason, "killed after 2s timeout");
  EXPECT_TRUE(killed->stdout_truncated);
  EXPECT_FALSE(killed->stderr_truncated);

  // success follows the status, whatever the answer's `success` says.
  auto odd = ParseExecutionResult(J(R"j({"success": true, "status": "failed", "exit_code": 1})j"));
  ASSERT_TRUE(odd.ok());
  EXPECT_FALSE(odd->success);
  EXPECT_FALSE(ParseExecutionResult(J(R"j({"exit_code": 0})j")).ok());
  EXPECT_FALSE(ParseExecutionResult(J(R"j({"status": "completed"})j")).ok());
  EXPECT_FALSE(
      ParseExecutionResult(J(R"j({"status": "completed", "exit_code": 0, "stdout": 5})j")).ok());
}

TEST(ParseHistory, RecordsInTheGuidesShape) {
  auto h = ParseHistory(J(R"j({"success": true, "count": 1, "executions": [
    {"execution_id": "e_1", "sandbox_id": "s1", "timestamp": "2026-11-26T14:30:00.000Z",
     "language": "python", "command": "print(1)", "status": "completed", "exit_code": 0,
     "execution_time": 0.5, "stdout": "1\n", "stderr": "", "stdout_truncated": false,
     "stderr_truncated": false, "cpu_time": 0.02, "peak_memory_bytes": 9000000}]})j"));
  ASSERT_TRUE(h.ok()) << h.error().ToString();
  ASSERT_EQ(h->size(), 1u);
  const HistoryEntry& e = (*h)[0];
  EXPECT_EQ(e.timestamp, "2026-11-26T14:30:00.000Z");
  EXPECT_EQ(e.command, "print(1)");
  EXPECT_EQ(e.status, "completed");
  EXPECT_EQ(e.exit_code, 0);
  EXPECT_DOUBLE_EQ(e.execution_time, 0.5);
  EXPECT_DOUBLE_EQ(e.cpu_time, 0.02);
  EXPECT_EQ(e.peak_memory_bytes, 9000000);
  EXPECT_TRUE(ParseHistory(J(R"j({"executions": []})j"))->empty());
  EXPECT_FALSE(ParseHistory(J(R"j({"success": true})j")).ok());
  EXPECT_FALSE(ParseHistory(J(R"j({"executions": [{"execution_id": "e"}]})j")).ok());
}

TEST(ParseCleanupResult, Fields) {
  auto c = ParseCleanupResult(J(R"j({"success": true, "sandbox_id": "s1", "cleaned_up": true})j"));
  ASSERT_TRUE(c.ok());
  EXPECT_EQ(c->sandbox_id, "s1");
  EXPECT_TRUE(c->cleaned_up);
  EXPECT_FALSE(ParseCleanupResult(J(R"j({"cleaned_up": true})j")).ok());
}

TEST(Requests, CreateBodyHasOnlyWhatWasSet) {
  EXPECT_EQ(CreateRequestJson(CreateOptions{}), nlohmann::json::object());
  CreateOptions o;
  o.template_name = "python";
  o.sandbox_id = "my_sandbox";
  o.timeout_s = 120;
  o.env = {{"CUSTOM_VAR", "value"}};
  o.metadata = OJson{{"team", "a"}};
  EXPECT_EQ(CreateRequestJson(o),
            nlohmann::json::parse(R"j({"template": "python", "sandbox_id": "my_sandbox",
              "timeout": 120, "env": {"CUSTOM_VAR": "value"}, "metadata": {"team": "a"}})j"));
}

TEST(Requests, ExecuteBodyAndHistoryTarget) {
  ExecuteOptions o;
  EXPECT_EQ(ExecuteRequestJson("print(1)", o),
            nlohmann::json::parse(
                R"j({"language": "python", "code": "print(1)", "timeout": 60})j"));
  o.language = "bash";
  o.timeout_s = 5;
  o.env = {{"A", "1"}};
  o.cwd = "/tmp";
  o.user = "root";
  EXPECT_EQ(ExecuteRequestJson("echo hi", o),
            nlohmann::json::parse(R"j({"language": "bash", "code": "echo hi", "timeout": 5,
              "env": {"A": "1"}, "cwd": "/tmp", "user": "root"})j"));
  EXPECT_EQ(HistoryTarget(HistoryQuery{}), "/v1/executions?limit=50");
  EXPECT_EQ(HistoryTarget(HistoryQuery{10, "s1", "failed"}),
            "/v1/executions?limit=10&sandbox_id=s1&status=failed");
  EXPECT_EQ(HistoryTarget(HistoryQuery{1, "", "a&b"}), "/v1/executions?limit=1&status=a%26b");
}

TEST(SandboxClient, BadSandboxIdsNeverReachTheDaemon) {
  // No daemon at this socket: an id check that passed would give kUnavailable instead.
  SandboxClient c(Endpoint{"/nonexistent/sandboxd.sock", ""}, "");
  for (const char* bad : {"../x", "a/b", "UPPER", "", "x?y=1"}) {
    auto r = c.Status(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument) << bad << ": " << r.error().message;
  }
  EXPECT_EQ(c.ExtendTimeout("a/b", 10).error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(c.History(HistoryQuery{5, "A B", ""}).error().code, ErrorCode::kInvalidArgument);
  auto down = c.Status("fine_id");
  ASSERT_FALSE(down.ok());
  EXPECT_EQ(down.error().code, ErrorCode::kUnavailable) << down.error().message;
}

}  // namespace
}  // namespace sbx::client
