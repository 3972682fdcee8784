// Execution and file transfer: the parts of SandboxManager that run while a sandbox serves
// requests. None of them holds the sandbox's mutex while user code runs. Every execution runs
// on a thread of its own (RunJob), held by the ExecutionRegistry (executions.h); synchronous
// exec waits for it, streaming and background requests watch it.
#include <csignal>
#include <cstdio>
#include <thread>

#include "common/log.h"
#include "common/util.h"
#include "digest/sha256.h"
#include "sandbox/live.h"
#include "sandbox/manager.h"

namespace sbx::sandbox {
namespace {

// Above this, code goes to a file in the sandbox instead of an argument (MAX_ARG_STRLEN is
// 128 KiB on Linux).
constexpr size_t kMaxCodeArgBytes = 100 << 10;

// "2", "0.5": a timeout as the request gave it.
std::string FormatSeconds(double s) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%g", s);
  return buf;
}

const char* FileExtension(spec::Language l) {
  switch (l) {
    case spec::Language::kPython: return ".py";
    case spec::Language::kNode: return ".js";
    case spec::Language::kBash:
    case spec::Language::kSh: return ".sh";
  }
  return "";
}

}  // namespace

int SignalFromStatus(std::string_view status) {
  static const std::pair<const char*, int> kNames[] = {
      {"hangup", SIGHUP},       {"interrupt", SIGINT},     {"quit", SIGQUIT},
      {"illegal instruction", SIGILL}, {"trace/breakpoint trap", SIGTRAP},
      {"aborted", SIGABRT},     {"bus error", SIGBUS},     {"floating point exception", SIGFPE},
      {"killed", SIGKILL},      {"user defined signal 1", SIGUSR1},
      {"segmentation fault", SIGSEGV}, {"user defined signal 2", SIGUSR2},
      {"broken pipe", SIGPIPE}, {"alarm clock", SIGALRM},  {"terminated", SIGTERM},
      {"CPU time limit exceeded", SIGXCPU}, {"file size limit exceeded", SIGXFSZ},
      {"bad system call", SIGSYS}};
  constexpr std::string_view kPrefix = "signal: ";
  if (status.substr(0, kPrefix.size()) != kPrefix) return 0;
  std::string_view name = status.substr(kPrefix.size());
  if (auto sp = name.find(" (core dumped)"); sp != std::string_view::npos) name = name.substr(0, sp);
  for (const auto& [n, sig] : kNames)
    if (name == n) return sig;
  return 0;
}

Result<ExecOutcome> SandboxManager::Exec(const std::string& id, const spec::ExecRequest& req,
                                         const std::string& request_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Execution> ex, StartExec(id, req, ExecStdin{}, request_id));
  return ExecOutcome{ex->info().id, ex->WaitForResult()};
}

Result<std::shared_ptr<Execution>> SandboxManager::StartExec(const std::string& id,
                                                             const spec::ExecRequest& req,
                                                             const ExecStdin& in,
                                                             const std::string& request_id) {
  if (in.data && in.data->size() > kMaxStdinBytes)
    return MakeError(ErrorCode::kResourceExhausted,
                     "request.stdin: " + std::to_string(in.data->size()) + " bytes; at most " +
                         std::to_string(kMaxStdinBytes));
  if (req.code.size() <= kMaxCodeArgBytes)
    return StartJob(id, spec::InterpreterArgv(req.language, req.code), req,
                    spec::LanguageName(req.language), in, request_id, "");
  // Too long for one argument: a file in the sandbox's /tmp, removed when it ends.
  std::string path = "/tmp/.sbx-code-" + RandomHex(8) + FileExtension(req.language);
  RETURN_IF_ERROR(WriteFile(id, path, req.code, req.user));
  auto ex = StartJob(id, spec::InterpreterArgvForFile(req.language, path), req,
                     spec::LanguageName(req.language), in, request_id, path);
  if (!ex.ok()) {
    if (auto live = FindRunning(id); live.ok()) {
      std::shared_ptr<agentclient::AgentClient> agent;
      {
        std::lock_guard<std::mutex> lock((*live)->mu);
        agent = (*live)->agent;
      }
      if (agent) (void)agent->CallUnary("filesystem.Filesystem/Remove", {{"path", path}}, req.user);
    }
  }
  return ex;
}

Result<ExecOutcome> SandboxManager::ExecArgv(const std::string& id, std::vector<std::string> argv,
                                             const spec::ExecRequest& req,
                                             const std::string& request_id) {
  if (argv.empty()) return MakeError(ErrorCode::kInvalidArgument, "argv must not be empty");
  ASSIGN_OR_RETURN(std::shared_ptr<Execution> ex,
                   StartJob(id, std::move(argv), req, "argv", ExecStdin{}, request_id, ""));
  return ExecOutcome{ex->info().id, ex->WaitForResult()};
}

struct SandboxManager::ExecJob {
  std::string request_id;
  std::shared_ptr<agentclient::AgentClient> agent;
  agentclient::StartOptions opts;
  double timeout_s = 0;
  ExecStdin in;
  std::string code_file;  // removed at the end ("" for none)
  std::string user;
};

Result<std::shared_ptr<Execution>> SandboxManager::StartJob(
    const std::string& id, std::vector<std::string> argv, const spec::ExecRequest& req,
    const std::string& language, const ExecStdin& in, const std::string& request_id,
    const std::string& code_file) {
  if (stopping_) return MakeError(ErrorCode::kUnavailable, "sandboxd is shutting down");
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, FindRunning(id));
  ExecJob job;
  std::string tenant;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    job.agent = live->agent;
    tenant = live->rec.tenant;
  }
  if (!job.agent)
    return MakeError(ErrorCode::kFailedPrecondition, "sandbox '" + id + "' is not running");
  job.request_id = request_id;
  job.timeout_s = req.timeout_s;
  job.in = in;
  job.code_file = code_file;
  job.user = req.user;
  job.opts.argv = std::move(argv);
  job.opts.envs = req.env;
  job.opts.cwd = req.cwd;
  job.opts.user = req.user;
  job.opts.stdin_open = in.data.has_value() || in.keep_open;
  job.opts.timeout_ms = static_cast<int64_t>(req.timeout_s * 1000);

  Execution::Info info;
  info.id = "exec_" + RandomHex(8);
  info.sandbox_id = id;
  info.tenant = tenant;
  info.language = language;
  if (language == "argv") {
    for (const std::string& a : job.opts.argv) info.code += (info.code.empty() ? "" : " ") + a;
  } else {
    info.code = req.code;
  }
  if (info.code.size() > (64 << 10)) info.code.resize(64 << 10);
  info.started_at_ms = NowUnixMs();
  info.stdin_pipe = job.opts.stdin_open;
  info.stdin_has_data = in.data.has_value();
  auto ex = std::make_shared<Execution>(info, options_.output_cap_bytes);

  // Recorded before it runs, so an execution in flight when the daemon dies leaves a row
  // that the next start marks with what happened.
  store::ExecutionRecord rec = ex->Record();
  if (auto s = store_->InsertExecution(rec); !s.ok())
    log::Error("exec.record_failed", {{"sandbox_id", id}, {"error", s.error().ToString()}});
  auto started = executions_.Start(ex, [this, ex, job = std::move(job)] { RunJob(ex, job); });
  if (!started.ok()) {
    rec.status = spec::ExecStatusName(spec::ExecStatus::kError);
    rec.finished_at_ms = NowUnixMs();
    rec.reason = "could not start: " + started.error().ToString();
    (void)store_->UpdateExecution(rec);
    return started.error();
  }
  log::Info("exec.started", {{"sandbox_id", id}, {"request_id", request_id},
                             {"execution_id", info.id}, {"language", language}});
  if (options_.on_event)
    options_.on_event("execution_started", id, tenant,
                      {{"source", "sandbox"}, {"execution_id", info.id}, {"language", language}});
  return ex;
}

namespace {

// Writes data to a process's stdin in pieces (each one agent call, bounded by its 30 s write
// deadline). The agent's "process has exited" becomes kFailedPrecondition.
Result<void> WriteStdin(const Execution::Target& t, std::string_view data,
                        const std::string& execution_id) {
  constexpr size_t kPiece = 1 << 20;
  for (size_t off = 0; off < data.size(); off += kPiece) {
    auto r = t.agent->SendInput(t.pid, data.substr(off, kPiece));
    if (!r.ok()) {
      if (r.error().code == ErrorCode::kNotFound)
        return MakeError(ErrorCode::kFailedPrecondition,
                         "execution '" + execution_id + "' is not running (it ended)");
      return r.error();
    }
  }
  return Ok();
}

}  // namespace

void SandboxManager::RunJob(const std::shared_ptr<Execution>& ex, const ExecJob& job) {
  const std::string& id = ex->info().sandbox_id;
  const std::string& eid = ex->info().id;
  spec::ExecResult res;
  auto before = cgroups_->Stats(id);
  agentclient::RunCallbacks cb;
  cb.on_start = [&](uint32_t pid) {
    // A kill requested before the pid was known is sent now.
    if (int sig = ex->Started(job.agent, pid); sig != 0) (void)job.agent->SendSignal(pid, sig);
  };
  cb.on_stdout = [&](std::string_view d) { ex->Output(OutputStream::kStdout, d); };
  cb.on_stderr = [&](std::string_view d) { ex->Output(OutputStream::kStderr, d); };
  // The request's stdin is written from another thread: the process may write output before
  // it reads, and this thread must keep reading that output meanwhile.
  std::thread feeder;
  if (job.in.data) {
    auto feed = [&] {
      auto t = ex->StdinTarget(std::chrono::seconds(30), !job.in.keep_open, true);
      Result<void> r = t.ok() ? WriteStdin(*t, *job.in.data, eid) : Result<void>(t.error());
      if (t.ok() && !job.in.keep_open) {
        auto c = t->agent->CloseStdin(t->pid);
        if (r.ok() && !c.ok()) r = c.error();
      }
      if (!r.ok())
        log::Warn("exec.stdin_failed", {{"sandbox_id", id}, {"execution_id", eid},
                                        {"error", r.error().ToString()}});
      ex->InitialStdinFed();
    };
    try {
      feeder = std::thread(feed);
    } catch (const std::system_error&) {
      feed();  // no thread to spare: before Run, so it waits for nothing and writes nothing
    }
  }
  int64_t t0 = MonotonicNs();
  auto end = job.agent->Run(job.opts, cb);
  res.execution_time = static_cast<double>(MonotonicNs() - t0) / 1e9;
  ex->Ended();
  if (feeder.joinable()) feeder.join();
  auto after = cgroups_->Stats(id);
  bool oom_grew = before.ok() && after.ok() && after->oom_kills > before->oom_kills;

  if (!end.ok()) {
    const Error& e = end.error();
    if (e.code == ErrorCode::kDeadlineExceeded) {
      res.status = spec::ExecStatus::kTimeout;
      res.exit_code = -1;
      res.signal = SIGKILL;
      // The agent says what the kill reached (every process of the execution's cgroup).
      res.reason = "killed after the " + FormatSeconds(job.timeout_s) + " s timeout (" + e.message + ")";
    } else if (e.code == ErrorCode::kInvalidArgument || e.code == ErrorCode::kNotFound ||
               e.code == ErrorCode::kUnauthenticated || e.code == ErrorCode::kPermissionDenied) {
      res.status = spec::ExecStatus::kError;
      res.reason = "could not start: " + e.ToString();
    } else {
      // The agent went away mid-run: the sandbox was stopped, or its init died.
      res.status = oom_grew ? spec::ExecStatus::kOom : spec::ExecStatus::kKilled;
      res.reason = "the sandbox ended during the execution: " + e.ToString();
    }
  } else {
    res.exit_code = end->exit_code;
    const int requested = ex->kill_signal();
    if (end->exited) {
      res.status = end->exit_code == 0 ? spec::ExecStatus::kCompleted : spec::ExecStatus::kFailed;
      if (requested)
        res.reason = std::string(requested == SIGTERM ? "SIGTERM" : "SIGKILL") +
                     " was sent by request; the process exited by itself";
    } else {
      res.signal = SignalFromStatus(end->status);
      if (requested) {
        res.status = spec::ExecStatus::kKilled;
        res.reason = std::string("killed by request (") +
                     (requested == SIGTERM ? "SIGTERM" : "SIGKILL") + ")";
      } else if (res.signal == SIGKILL && oom_grew) {
        res.status = spec::ExecStatus::kOom;
        res.reason = "killed by the out-of-memory killer at the sandbox's memory limit";
      } else {
        res.status = spec::ExecStatus::kKilled;
        res.reason = "ended by " + end->status;
      }
    }
  }

  store::ExecutionRecord rec = ex->Record();  // identity and output
  rec.finished_at_ms = NowUnixMs();
  rec.status = spec::ExecStatusName(res.status);
  rec.exit_code = res.exit_code;
  rec.signal = res.signal;
  rec.duration_s = res.execution_time;
  if (after.ok()) {
    rec.peak_memory_bytes = after->memory_peak;
    if (before.ok()) rec.cpu_ns = after->cpu_usage_ns - before->cpu_usage_ns;
  }
  rec.reason = res.reason;
  if (auto s = store_->UpdateExecution(rec); !s.ok())
    log::Error("exec.record_failed", {{"sandbox_id", id}, {"error", s.error().ToString()}});
  if (!job.code_file.empty())
    (void)job.agent->CallUnary("filesystem.Filesystem/Remove", {{"path", job.code_file}},
                               job.user);
  log::Info("exec.finished", {{"sandbox_id", id}, {"request_id", job.request_id},
                              {"execution_id", eid},
                              {"language", rec.language}, {"status", rec.status},
                              {"exit_code", res.exit_code}, {"seconds", res.execution_time}});
  if (options_.on_exec) options_.on_exec(rec.language, rec.status, res.execution_time);
  if (options_.on_event)
    options_.on_event(res.status == spec::ExecStatus::kCompleted && res.exit_code == 0
                          ? "execution_complete"
                          : "execution_failed",
                      id, ex->info().tenant,
                      {{"source", "sandbox"}, {"execution_id", eid},
                       {"language", rec.language}, {"status", rec.status},
                       {"exit_code", res.exit_code}, {"execution_time", res.execution_time}});
  // Last: the result wakes the watchers (a synchronous exec answers now), after the history
  // row and the events, as when exec ran on the request's thread.
  ex->Finish(std::move(res), std::move(rec));
}

Result<void> SandboxManager::KillExecution(const std::string& execution_id, int sig,
                                           const std::string& request_id) {
  std::shared_ptr<Execution> ex = executions_.Find(execution_id);
  if (!ex) {
    ASSIGN_OR_RETURN(auto rec, LoadExecution(execution_id));
    if (!rec)
      return MakeError(ErrorCode::kNotFound, "execution '" + execution_id + "' does not exist");
    return MakeError(ErrorCode::kFailedPrecondition, "execution '" + execution_id +
                                                         "' is not running (status " +
                                                         rec->status + ")");
  }
  // A paused sandbox's agent is frozen: say so at once rather than wait on it.
  RETURN_IF_ERROR(CheckNotPaused(ex->info().sandbox_id));
  ASSIGN_OR_RETURN(Execution::Target target, ex->RequestKill(sig));
  log::Info("exec.kill", {{"sandbox_id", ex->info().sandbox_id}, {"request_id", request_id},
                          {"execution_id", execution_id}, {"signal", sig},
                          {"pid", static_cast<int64_t>(target.pid)}});
  if (target.agent) {
    auto r = target.agent->SendSignal(target.pid, sig);
    // Not found: it ended on its own meanwhile; its result says how.
    if (!r.ok() && r.error().code != ErrorCode::kNotFound) return r.error();
  }
  return Ok();
}

Result<void> SandboxManager::SendExecutionInput(const std::string& execution_id,
                                                const std::string& data, bool eof) {
  if (data.size() > kMaxStdinBytes)
    return MakeError(ErrorCode::kResourceExhausted,
                     "input.data: " + std::to_string(data.size()) + " bytes; at most " +
                         std::to_string(kMaxStdinBytes) + " per request");
  std::shared_ptr<Execution> ex = executions_.Find(execution_id);
  if (!ex) {
    ASSIGN_OR_RETURN(auto rec, LoadExecution(execution_id));
    if (!rec)
      return MakeError(ErrorCode::kNotFound, "execution '" + execution_id + "' does not exist");
    return MakeError(ErrorCode::kFailedPrecondition,
                     "execution '" + execution_id + "' is not running (status " + rec->status + ")");
  }
  RETURN_IF_ERROR(CheckNotPaused(ex->info().sandbox_id));
  ASSIGN_OR_RETURN(Execution::Target t, ex->StdinTarget(std::chrono::seconds(10), eof, false));
  Result<void> r = WriteStdin(t, data, execution_id);
  if (eof) {
    auto c = t.agent->CloseStdin(t.pid);
    if (r.ok() && !c.ok() && c.error().code != ErrorCode::kNotFound) r = c.error();
  }
  return r;
}

Result<FileResult> SandboxManager::WriteFile(const std::string& id, const std::string& path,
                                             const std::string& data, const std::string& user,
                                             std::optional<uint32_t> mode) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, FindRunning(id));
  std::shared_ptr<agentclient::AgentClient> agent;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    agent = live->agent;
  }
  if (!agent) return MakeError(ErrorCode::kFailedPrecondition, "sandbox '" + id + "' is not running");
  ASSIGN_OR_RETURN(nlohmann::json entry, agent->WriteFile(path, data, user, mode));
  FileResult r;
  r.path = path;
  if (entry.is_array() && !entry.empty() && entry[0].contains("path"))
    r.path = entry[0]["path"].get<std::string>();
  else if (entry.is_object() && entry.contains("path"))
    r.path = entry["path"].get<std::string>();
  r.size = static_cast<int64_t>(data.size());
  r.sha256 = digest::Sha256Hex(data);
  return r;
}

Result<std::unique_ptr<agentclient::FileStream>> SandboxManager::OpenFile(
    const std::string& id, const std::string& path, const std::string& user) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, FindRunning(id));
  std::shared_ptr<agentclient::AgentClient> agent;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    agent = live->agent;
  }
  if (!agent) return MakeError(ErrorCode::kFailedPrecondition, "sandbox '" + id + "' is not running");
  return agent->OpenFile(path, user);
}

}  // namespace sbx::sandbox
