// The execution log (order, caps, truncation markers, cursors, UTF-8 hold-back), executions
// (watchers, results, kill and stdin bookkeeping), the registry (threads, per-sandbox cap,
// retention) and the history lookup on a real SQLite store.
#include "sandbox/executions.h"

#include <gtest/gtest.h>

#include <atomic>
#include <csignal>
#include <filesystem>
#include <thread>

#include "common/util.h"

namespace sbx::sandbox {
namespace {

using namespace std::chrono_literals;
using Piece = std::pair<std::string, std::string>;  // "stdout"/"stderr"/"truncated:stdout", data

std::vector<Piece> Simplify(const std::vector<OutputPiece>& pieces) {
  std::vector<Piece> out;
  for (const auto& p : pieces)
    out.emplace_back(p.truncated ? std::string("truncated:") + OutputStreamName(p.stream)
                                 : OutputStreamName(p.stream),
                     p.data);
  return out;
}

std::vector<Piece> ReadAll(const ExecLog& log, bool final = true) {
  ExecLog::Cursor c;
  return Simplify(log.Read(&c, final));
}

TEST(ExecLog, KeepsTheOrderOfBothStreamsAndJoinsRunsOfOne) {
  ExecLog log(100);
  log.Append(OutputStream::kStdout, "a");
  log.Append(OutputStream::kStdout, "b");
  log.Append(OutputStream::kStderr, "E");
  log.Append(OutputStream::kStdout, "c");
  log.Append(OutputStream::kStderr, "");
  EXPECT_EQ(ReadAll(log), (std::vector<Piece>{{"stdout", "ab"}, {"stderr", "E"}, {"stdout", "c"}}));
  EXPECT_EQ(log.data(OutputStream::kStdout), "abc");
  EXPECT_EQ(log.data(OutputStream::kStderr), "E");
}

TEST(ExecLog, CapsEachStreamAndMarksWhereItWasCut) {
  ExecLog log(5);
  log.Append(OutputStream::kStdout, "abc");
  log.Append(OutputStream::kStderr, "123456789");
  log.Append(OutputStream::kStdout, "defgh");
  log.Append(OutputStream::kStdout, "more");  // dropped, no second marker
  log.Append(OutputStream::kStderr, "x");
  EXPECT_EQ(ReadAll(log), (std::vector<Piece>{{"stdout", "abc"},
                                              {"stderr", "12345"},
                                              {"truncated:stderr", ""},
                                              {"stdout", "de"},
                                              {"truncated:stdout", ""}}));
  EXPECT_TRUE(log.truncated(OutputStream::kStdout));
  EXPECT_TRUE(log.truncated(OutputStream::kStderr));
  EXPECT_EQ(log.data(OutputStream::kStdout), "abcde");
  EXPECT_EQ(log.bytes(), 10u);
}

TEST(ExecLog, ExactlyTheCapIsNotTruncated) {
  ExecLog log(3);
  log.Append(OutputStream::kStdout, "abc");
  EXPECT_FALSE(log.truncated(OutputStream::kStdout));
  log.Append(OutputStream::kStdout, "d");
  EXPECT_TRUE(log.truncated(OutputStream::kStdout));
  EXPECT_EQ(ReadAll(log), (std::vector<Piece>{{"stdout", "abc"}, {"truncated:stdout", ""}}));
}

TEST(ExecLog, ACursorReadsEachByteOnceWhileTheLogGrows) {
  ExecLog log(1000);
  ExecLog::Cursor c;
  log.Append(OutputStream::kStdout, "one ");
  EXPECT_EQ(Simplify(log.Read(&c, false)), (std::vector<Piece>{{"stdout", "one "}}));
  EXPECT_FALSE(log.HasMore(c, false));
  EXPECT_TRUE(log.Read(&c, false).empty());
  log.Append(OutputStream::kStdout, "two");  // grows the same segment
  EXPECT_TRUE(log.HasMore(c, false));
  EXPECT_EQ(Simplify(log.Read(&c, false)), (std::vector<Piece>{{"stdout", "two"}}));
  log.Append(OutputStream::kStderr, "e");
  log.Append(OutputStream::kStdout, "three");
  EXPECT_EQ(Simplify(log.Read(&c, false)),
            (std::vector<Piece>{{"stderr", "e"}, {"stdout", "three"}}));
  // A second reader from the start sees everything, joined by segment.
  EXPECT_EQ(ReadAll(log), (std::vector<Piece>{{"stdout", "one two"}, {"stderr", "e"},
                                              {"stdout", "three"}}));
}

TEST(ExecLog, TheMarkerIsHandedOutOnceToEachReader) {
  ExecLog log(2);
  ExecLog::Cursor c;
  log.Append(OutputStream::kStdout, "abc");
  EXPECT_EQ(Simplify(log.Read(&c, false)),
            (std::vector<Piece>{{"stdout", "ab"}, {"truncated:stdout", ""}}));
  EXPECT_FALSE(log.HasMore(c, false));
  EXPECT_TRUE(log.Read(&c, false).empty());
  log.Append(OutputStream::kStderr, "z");
  EXPECT_EQ(Simplify(log.Read(&c, false)), (std::vector<Piece>{{"stderr", "z"}}));
}

TEST(ExecLog, HoldsBackAnUnfinishedCharacterUntilItsRestArrives) {
  ExecLog log(100);
  ExecLog::Cursor c;
  const std::string e_acute = "\xc3\xa9";
  const std::string euro = "\xe2\x82\xac";
  log.Append(OutputStream::kStdout, "caf" + e_acute.substr(0, 1));
  EXPECT_EQ(Simplify(log.Read(&c, false)), (std::vector<Piece>{{"stdout", "caf"}}));
  EXPECT_FALSE(log.HasMore(c, false));
  log.Append(OutputStream::kStdout, e_acute.substr(1) + euro.substr(0, 2));
  EXPECT_EQ(Simplify(log.Read(&c, false)), (std::vector<Piece>{{"stdout", e_acute}}));
  // At the end nothing is held back, whatever it is.
  EXPECT_TRUE(log.HasMore(c, true));
  EXPECT_EQ(Simplify(log.Read(&c, true)), (std::vector<Piece>{{"stdout", euro.substr(0, 2)}}));
}

TEST(Utf8CompletePrefix, CutsOnlyAnIncompleteLastSequence) {
  EXPECT_EQ(Utf8CompletePrefix(""), 0u);
  EXPECT_EQ(Utf8CompletePrefix("abc"), 3u);
  EXPECT_EQ(Utf8CompletePrefix("a\xc3"), 1u);
  EXPECT_EQ(Utf8CompletePrefix("a\xc3\xa9"), 3u);
  EXPECT_EQ(Utf8CompletePrefix("\xe2\x82"), 0u);
  EXPECT_EQ(Utf8CompletePrefix("\xf0\x9f\x98"), 0u);
  EXPECT_EQ(Utf8CompletePrefix("\xf0\x9f\x98\x80"), 4u);
  EXPECT_EQ(Utf8CompletePrefix("x\x80\x80"), 3u);  // stray continuation bytes pass
  EXPECT_EQ(Utf8CompletePrefix("\xff"), 1u);
}

Execution::Info TestInfo(const std::string& id, const std::string& sandbox = "sb1") {
  Execution::Info info;
  info.id = id;
  info.sandbox_id = sandbox;
  info.tenant = "t";
  info.language = "python";
  info.code = "print(1)";
  info.started_at_ms = NowUnixMs();
  return info;
}

spec::ExecResult Completed() {
  spec::ExecResult r;
  r.status = spec::ExecStatus::kCompleted;
  r.exit_code = 0;
  r.stdout_data = "ignored: the log is the output";
  return r;
}

TEST(Execution, WatchersWakeForOutputAndGetTheResultAfterTheLastPiece) {
  auto ex = std::make_shared<Execution>(TestInfo("exec_1"), 100);
  ExecLog::Cursor c;
  auto u = ex->Next(&c, 10ms);  // nothing yet: returns after the timeout
  EXPECT_TRUE(u.pieces.empty());
  EXPECT_FALSE(u.result);
  std::thread producer([ex] {
    std::this_thread::sleep_for(50ms);
    ex->Output(OutputStream::kStdout, "hello\n");
    std::this_thread::sleep_for(50ms);
    ex->Output(OutputStream::kStderr, "oops\n");
    ex->Finish(Completed(), store::ExecutionRecord{});
  });
  std::string out, err;
  std::optional<spec::ExecResult> result;
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (!result && std::chrono::steady_clock::now() < deadline) {
    auto n = ex->Next(&c, 5s);
    for (const auto& p : n.pieces) (p.stream == OutputStream::kStdout ? out : err) += p.data;
    result = n.result;
  }
  producer.join();
  ASSERT_TRUE(result);
  EXPECT_EQ(out, "hello\n");
  EXPECT_EQ(err, "oops\n");
  EXPECT_EQ(result->stdout_data, "hello\n");
  EXPECT_EQ(result->stderr_data, "oops\n");
  EXPECT_EQ(result->status, spec::ExecStatus::kCompleted);
  // A new watcher after the end: everything at once, then the result.
  ExecLog::Cursor fresh;
  auto all = ex->Next(&fresh, 0ms);
  EXPECT_EQ(Simplify(all.pieces), (std::vector<Piece>{{"stdout", "hello\n"}, {"stderr", "oops\n"}}));
  EXPECT_TRUE(all.result);
}

TEST(Execution, WaitTimesOutWhileRunningAndRecordSaysRunning) {
  auto ex = std::make_shared<Execution>(TestInfo("exec_2"), 100);
  ex->Output(OutputStream::kStdout, "partial");
  EXPECT_FALSE(ex->Wait(20ms));
  store::ExecutionRecord rec = ex->Record();
  EXPECT_EQ(rec.status, "running");
  EXPECT_EQ(rec.id, "exec_2");
  EXPECT_EQ(rec.stdout_data, "partial");
  store::ExecutionRecord final_rec = rec;
  final_rec.status = "completed";
  ex->Finish(Completed(), final_rec);
  EXPECT_TRUE(ex->done());
  EXPECT_TRUE(ex->Wait(0ms));
  EXPECT_EQ(ex->Record().status, "completed");
  EXPECT_EQ(ex->Record().stdout_data, "partial");
}

TEST(Execution, AKillBeforeTheProcessStartedIsSentWhenItStarts) {
  auto ex = std::make_shared<Execution>(TestInfo("exec_3"), 100);
  auto t = ex->RequestKill(SIGTERM);
  ASSERT_TRUE(t.ok());
  EXPECT_FALSE(t->agent);  // nothing to signal yet
  auto agent = std::make_shared<agentclient::AgentClient>("/nonexistent.sock");
  EXPECT_EQ(ex->Started(agent, 42), SIGTERM);
  auto again = ex->RequestKill(SIGKILL);
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->pid, 42u);
  EXPECT_EQ(ex->kill_signal(), SIGKILL);
  ex->Finish(Completed(), store::ExecutionRecord{});
  auto late = ex->RequestKill(SIGKILL);
  ASSERT_FALSE(late.ok());
  EXPECT_EQ(late.error().code, ErrorCode::kFailedPrecondition);
}

TEST(Execution, StdinNeedsAPipeAStartedProcessAndIsClosedOnce) {
  auto no_pipe = std::make_shared<Execution>(TestInfo("exec_4"), 100);
  auto r = no_pipe->StdinTarget(10ms, false, false);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kFailedPrecondition);

  Execution::Info info = TestInfo("exec_5");
  info.stdin_pipe = true;
  info.stdin_has_data = true;
  auto ex = std::make_shared<Execution>(info, 100);
  r = ex->StdinTarget(10ms, false, false);  // not started yet
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.error().code, ErrorCode::kUnavailable);
  auto agent = std::make_shared<agentclient::AgentClient>("/nonexistent.sock");
  ex->Started(agent, 7);
  EXPECT_TRUE(ex->StdinTarget(10ms, false, true).ok());  // the request's own data goes first
  r = ex->StdinTarget(10ms, false, false);                // the API waits for it
  EXPECT_FALSE(r.ok());
  ex->InitialStdinFed();
  ASSERT_TRUE(ex->StdinTarget(10ms, true, false).ok());
  r = ex->StdinTarget(10ms, false, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("closed"), std::string::npos);
  ex->Ended();
  r = ex->StdinTarget(10ms, false, false);
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("not running"), std::string::npos);
}

TEST(ExecutionRegistry, RunsBodiesOnTheirOwnThreadsAndCapsEachSandbox) {
  RegistryOptions o;
  o.max_running_per_sandbox = 2;
  ExecutionRegistry reg(o);
  std::atomic<bool> release{false};
  std::vector<std::shared_ptr<Execution>> running;
  for (int i = 0; i < 2; ++i) {
    auto ex = std::make_shared<Execution>(TestInfo("exec_r" + std::to_string(i)), 10);
    running.push_back(ex);
    ASSERT_TRUE(reg.Start(ex, [ex, &release] {
                      while (!release) std::this_thread::sleep_for(1ms);
                      ex->Finish(Completed(), store::ExecutionRecord{});
                    }).ok());
  }
  auto third = std::make_shared<Execution>(TestInfo("exec_r2"), 10);
  auto refused = reg.Start(third, [] {});
  ASSERT_FALSE(refused.ok());
  EXPECT_EQ(refused.error().code, ErrorCode::kResourceExhausted);
  // Another sandbox is not affected.
  auto other = std::make_shared<Execution>(TestInfo("exec_o", "sb2"), 10);
  ASSERT_TRUE(reg.Start(other, [other] { other->Finish(Completed(), {}); }).ok());
  EXPECT_EQ(reg.Find("exec_r1"), running[1]);
  EXPECT_EQ(reg.Find("exec_r2"), nullptr);
  release = true;
  for (auto& ex : running) EXPECT_TRUE(ex->Wait(5s));
  reg.JoinAll();
  auto after = reg.Start(std::make_shared<Execution>(TestInfo("exec_late"), 10), [] {});
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, ErrorCode::kUnavailable);
}

// Waits until the registry has joined every finished thread (Prune sees them exited).
void WaitPruned(ExecutionRegistry& reg, size_t want) {
  for (int i = 0; i < 500 && reg.size() != want; ++i) {
    std::this_thread::sleep_for(2ms);
    reg.Prune();
  }
}

TEST(ExecutionRegistry, ForgetsFinishedOnesPastTheRetentionCountOrBytes) {
  RegistryOptions o;
  o.max_finished = 2;
  ExecutionRegistry reg(o);
  for (int i = 0; i < 4; ++i) {
    auto ex = std::make_shared<Execution>(TestInfo("exec_f" + std::to_string(i)), 10);
    ASSERT_TRUE(reg.Start(ex, [ex] { ex->Finish(Completed(), {}); }).ok());
    ASSERT_TRUE(ex->Wait(5s));
  }
  WaitPruned(reg, 2);
  EXPECT_EQ(reg.size(), 2u);
  EXPECT_EQ(reg.Find("exec_f0"), nullptr);  // the oldest go first
  EXPECT_NE(reg.Find("exec_f3"), nullptr);

  RegistryOptions bytes;
  bytes.max_finished_bytes = 5;
  ExecutionRegistry by_bytes(bytes);
  for (int i = 0; i < 3; ++i) {
    auto ex = std::make_shared<Execution>(TestInfo("exec_b" + std::to_string(i)), 10);
    ASSERT_TRUE(by_bytes.Start(ex, [ex] {
                          ex->Output(OutputStream::kStdout, "abc");
                          ex->Finish(Completed(), {});
                        }).ok());
    ASSERT_TRUE(ex->Wait(5s));
  }
  WaitPruned(by_bytes, 1);
  EXPECT_NE(by_bytes.Find("exec_b2"), nullptr);

  RegistryOptions quick;
  quick.retention = 0ms;
  ExecutionRegistry by_age(quick);
  auto ex = std::make_shared<Execution>(TestInfo("exec_a"), 10);
  std::atomic<bool> release{false};
  ASSERT_TRUE(by_age.Start(ex, [ex, &release] {
                      while (!release) std::this_thread::sleep_for(1ms);
                      ex->Finish(Completed(), {});
                    }).ok());
  std::this_thread::sleep_for(5ms);
  EXPECT_NE(by_age.Find("exec_a"), nullptr);  // running ones always stay
  release = true;
  ASSERT_TRUE(ex->Wait(5s));
  WaitPruned(by_age, 0);
  EXPECT_EQ(by_age.Find("exec_a"), nullptr);
}

TEST(ResultFromRecord, AStoredRowReadsBackAsItsResult) {
  std::string dir = "/tmp/sbx-sandbox-test-" + RandomHex(6);
  std::filesystem::create_directories(dir);
  {
    auto store = store::Store::Open(dir + "/sandboxd.db");
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    store::ExecutionRecord r;
    r.id = "exec_abc";
    r.sandbox_id = "sb1";
    r.tenant = "acme";
    r.started_at_ms = 1000;
    r.finished_at_ms = 3000;
    r.language = "python";
    r.code = "print(1)";
    r.status = "killed";
    r.exit_code = -1;
    r.signal = 9;
    r.duration_s = 2;
    r.stdout_data = "1\n";
    r.stderr_truncated = true;
    r.reason = "killed by request (SIGKILL)";
    ASSERT_TRUE((*store)->InsertExecution(r).ok());
    auto got = (*store)->GetExecution("exec_abc");
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    ASSERT_TRUE(got->has_value());
    EXPECT_EQ((*got)->tenant, "acme");
    EXPECT_EQ((*got)->stdout_data, "1\n");
    EXPECT_TRUE((*got)->stderr_truncated);
    spec::ExecResult res = ResultFromRecord(**got);
    EXPECT_EQ(res.status, spec::ExecStatus::kKilled);
    EXPECT_EQ(res.signal, 9);
    EXPECT_EQ(res.reason, "killed by request (SIGKILL)");
    EXPECT_DOUBLE_EQ(res.execution_time, 2);
    auto missing = (*store)->GetExecution("exec_none");
    ASSERT_TRUE(missing.ok());
    EXPECT_FALSE(missing->has_value());
  }
  std::filesystem::remove_all(dir);
}

}  // namespace
}  // namespace sbx::sandbox
