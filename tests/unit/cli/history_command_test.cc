// Tests of `sbx history` and `sbx extend` (cli/history.cc, cli/extend.cc): flags to arguments,
// usage errors for values the daemon would refuse, the guide's field order of a record. The
// requests themselves run against the real daemon in tests/integration/test_history.py and
// test_timeout.py.
#include <gtest/gtest.h>

#include "cli/app.h"
#include "parse_args.h"
#include "cli/commands.h"

namespace sbx::cli {
namespace {

using test_support::Parsed;
using test_support::ParseArgs;

TEST(HistoryCommand, FlagsAndDefaults) {
  Parsed def = ParseArgs({"history"});
  ASSERT_EQ(def.result.kind, ParseResult::Kind::kRun) << def.result.text;
  EXPECT_EQ(def.cmd().verb, Verb::kHistory);
  EXPECT_EQ(def.cmd().history.limit, 50);
  EXPECT_EQ(def.cmd().history.sandbox_id, "");
  EXPECT_EQ(def.cmd().history.status, "");

  Parsed p = ParseArgs({"history", "--limit", "7", "--sandbox", "s1", "--status", "timeout"});
  ASSERT_EQ(p.result.kind, ParseResult::Kind::kRun) << p.result.text;
  EXPECT_EQ(p.cmd().history.limit, 7);
  EXPECT_EQ(p.cmd().history.sandbox_id, "s1");
  EXPECT_EQ(p.cmd().history.status, "timeout");
  EXPECT_EQ(ParseArgs({"history", "--sandbox-id", "s2"}).cmd().history.sandbox_id, "s2");
}

TEST(HistoryCommand, OutOfRangeValuesAreUsageErrors) {
  for (auto args : std::vector<std::vector<std::string>>{
           {"history", "--limit", "0"},
           {"history", "--limit", "1001"},
           {"history", "--limit", "many"},
           {"history", "--status", "exploded"}}) {
    Parsed p = ParseArgs(args);
    EXPECT_EQ(p.result.kind, ParseResult::Kind::kUsageError) << args.back();
    EXPECT_NE(p.result.text.find("history"), std::string::npos) << p.result.text;
  }
}

TEST(HistoryCommand, RecordsStartWithTheGuidesFields) {
  OJson daemon_record = OJson::parse(R"j({"cpu_time": 0.1, "execution_id": "exec_1",
    "command": "print(1)", "exit_code": 0, "execution_time": 0.5, "language": "python",
    "sandbox_id": "s1", "status": "completed", "stdout": "1\n",
    "timestamp": "2026-11-26T14:30:00.000Z"})j");
  OJson out = HistoryRecordJson(daemon_record);
  std::vector<std::string> keys;
  for (auto it = out.begin(); it != out.end(); ++it) keys.push_back(it.key());
  ASSERT_EQ(keys.size(), daemon_record.size());
  EXPECT_EQ(std::vector<std::string>(keys.begin(), keys.begin() + 5),
            (std::vector<std::string>{"timestamp", "command", "status", "exit_code",
                                      "execution_time"}));
  EXPECT_EQ(out["stdout"], "1\n");
  EXPECT_EQ(out["execution_id"], "exec_1");
  EXPECT_TRUE(HistoryRecordJson(OJson("not an object")).empty());
}

TEST(ExtendCommand, NeedsASandboxAndAWholeNumberOfSeconds) {
  Parsed p = ParseArgs({"extend", "--sandbox-id", "s1", "--timeout", "600"});
  ASSERT_EQ(p.result.kind, ParseResult::Kind::kRun) << p.result.text;
  EXPECT_EQ(p.cmd().verb, Verb::kExtend);
  EXPECT_EQ(p.cmd().extend.sandbox_id, "s1");
  EXPECT_EQ(p.cmd().extend.timeout_s, 600);
  for (auto args : std::vector<std::vector<std::string>>{
           {"extend", "--sandbox-id", "s1"},
           {"extend", "--timeout", "60"},
           {"extend", "--sandbox-id", "s1", "--timeout", "0"},
           {"extend", "--sandbox-id", "s1", "--timeout", "2592001"},
           {"extend", "--sandbox-id", "s1", "--timeout", "1.5"}}) {
    EXPECT_EQ(ParseArgs(args).result.kind, ParseResult::Kind::kUsageError) << args.back();
  }
}

TEST(ExtendCommand, ABadSandboxIdNeverReachesTheDaemon) {
  // No daemon at this socket: a request would answer `unavailable`.
  std::string out, err;
  int rc = RunCli({"--socket", "/nonexistent/sbx.sock", "extend", "--sandbox-id", "../x",
                   "--timeout", "60"},
                  nullptr, &out, &err);
  EXPECT_EQ(rc, kExitError);
  OJson j = OJson::parse(out);
  EXPECT_EQ(j["error_code"], "invalid_argument") << out;
  rc = RunCli({"--socket", "/nonexistent/sbx.sock", "history", "--sandbox", "A B"}, nullptr,
              &out, &err);
  EXPECT_EQ(rc, kExitError);
  EXPECT_EQ(OJson::parse(out)["error_code"], "invalid_argument") << out;
}

}  // namespace
}  // namespace sbx::cli
