// `sbx exec` flags for streaming, background runs and stdin, and `sbx execution` parsing: what
// they put in the request. The runs themselves are in tests/integration/test_exec_stream.py.
#include <gtest/gtest.h>

#include "cli/app.h"
#include "cli/commands.h"
#include "parse_args.h"

namespace sbx::cli {
namespace {

using test_support::ParseArgs;
using test_support::Parsed;

TEST(ExecCommand, StreamBackgroundAndStdinFlagsReachTheRequest) {
  Parsed p = ParseArgs({"exec", "--sandbox-id", "sb1", "--code", "print(input())", "--stream",
                        "--stdin", "hello\n"});
  ASSERT_EQ(p.result.kind, ParseResult::Kind::kRun) << p.result.text;
  const ExecArgs& a = p.cmd().exec;
  EXPECT_TRUE(a.stream);
  EXPECT_FALSE(a.background);
  auto plan = PlanExec(a, "print(input())");
  ASSERT_TRUE(plan.ok()) << plan.error().ToString();
  EXPECT_EQ(plan->request["stream"], true);
  EXPECT_EQ(plan->request["stdin"], "hello\n");
  EXPECT_FALSE(plan->request.contains("background"));

  Parsed b = ParseArgs({"exec", "--sandbox-id", "sb1", "--code", "x=1", "--background",
                        "--stdin-open"});
  ASSERT_EQ(b.result.kind, ParseResult::Kind::kRun) << b.result.text;
  auto bplan = PlanExec(b.cmd().exec, "x=1");
  ASSERT_TRUE(bplan.ok()) << bplan.error().ToString();
  EXPECT_EQ(bplan->request["background"], true);
  EXPECT_EQ(bplan->request["stdin_open"], true);
  EXPECT_FALSE(bplan->request.contains("stream"));
}

TEST(ExecCommand, PlainExecSendsNoneOfTheNewFields) {
  Parsed p = ParseArgs({"exec", "--sandbox-id", "sb1", "--code", "print(1)"});
  ASSERT_EQ(p.result.kind, ParseResult::Kind::kRun) << p.result.text;
  auto plan = PlanExec(p.cmd().exec, "print(1)");
  ASSERT_TRUE(plan.ok()) << plan.error().ToString();
  for (const char* k : {"stream", "background", "stdin", "stdin_open"})
    EXPECT_FALSE(plan->request.contains(k)) << k;
}

TEST(ExecutionCommand, ActionsAndTheirFlags) {
  Parsed w = ParseArgs({"execution", "wait", "exec_0123456789abcdef", "--timeout", "5"});
  ASSERT_EQ(w.result.kind, ParseResult::Kind::kRun) << w.result.text;
  EXPECT_EQ(w.cmd().verb, Verb::kExecution);
  EXPECT_EQ(w.cmd().execution.action, "wait");
  EXPECT_EQ(w.cmd().execution.id, "exec_0123456789abcdef");
  ASSERT_TRUE(w.cmd().execution.timeout.has_value());
  EXPECT_DOUBLE_EQ(*w.cmd().execution.timeout, 5);

  Parsed k = ParseArgs({"execution", "kill", "exec_1", "--signal", "SIGTERM"});
  ASSERT_EQ(k.result.kind, ParseResult::Kind::kRun) << k.result.text;
  EXPECT_EQ(k.cmd().execution.action, "kill");
  EXPECT_EQ(k.cmd().execution.signal, "SIGTERM");

  Parsed i = ParseArgs({"execution", "input", "exec_1", "--data", "more\n", "--eof"});
  ASSERT_EQ(i.result.kind, ParseResult::Kind::kRun) << i.result.text;
  EXPECT_EQ(i.cmd().execution.action, "input");
  EXPECT_EQ(i.cmd().execution.data, "more\n");
  EXPECT_TRUE(i.cmd().execution.eof);
}

TEST(ExecutionCommand, AMissingActionIsAUsageError) {
  Parsed p = ParseArgs({"execution"});
  EXPECT_NE(p.result.kind, ParseResult::Kind::kRun);
}

}  // namespace
}  // namespace sbx::cli
