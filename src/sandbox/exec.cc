// Execution and file transfer: the parts of SandboxManager that run while a sandbox serves
// requests. None of them holds the sandbox's mutex while user code runs.
#include <openssl/evp.h>

#include <csignal>

#include "common/log.h"
#include "common/util.h"
#include "sandbox/live.h"
#include "sandbox/manager.h"

namespace sbx::sandbox {
namespace {

// Above this, code goes to a file in the sandbox instead of an argument (MAX_ARG_STRLEN is
// 128 KiB on Linux).
constexpr size_t kMaxCodeArgBytes = 100 << 10;

// Appends to `out` up to `cap` bytes in total; marks `truncated` past that.
void AppendCapped(std::string& out, std::string_view data, size_t cap, bool& truncated) {
  if (out.size() >= cap) {
    truncated = truncated || !data.empty();
    return;
  }
  size_t room = cap - out.size();
  if (data.size() > room) {
    out.append(data.substr(0, room));
    truncated = true;
  } else {
    out.append(data);
  }
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

std::string Sha256Hex(std::string_view data) {
  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  EVP_Digest(data.data(), data.size(), md, &len, EVP_sha256(), nullptr);
  static const char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) {
    out.push_back(kHex[md[i] >> 4]);
    out.push_back(kHex[md[i] & 15]);
  }
  return out;
}

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
  if (req.code.size() <= kMaxCodeArgBytes)
    return Run(id, spec::InterpreterArgv(req.language, req.code), req,
               spec::LanguageName(req.language), request_id);
  // Too long for one argument: a file in the sandbox's /tmp, removed afterwards.
  std::string path = "/tmp/.sbx-code-" + RandomHex(8) + FileExtension(req.language);
  RETURN_IF_ERROR(WriteFile(id, path, req.code, req.user));
  auto out = Run(id, spec::InterpreterArgvForFile(req.language, path), req,
                 spec::LanguageName(req.language), request_id);
  if (auto live = FindRunning(id); live.ok()) {
    std::shared_ptr<agentclient::AgentClient> agent;
    {
      std::lock_guard<std::mutex> lock((*live)->mu);
      agent = (*live)->agent;
    }
    if (agent) (void)agent->CallUnary("filesystem.Filesystem/Remove", {{"path", path}}, req.user);
  }
  return out;
}

Result<ExecOutcome> SandboxManager::ExecArgv(const std::string& id, std::vector<std::string> argv,
                                             const spec::ExecRequest& req,
                                             const std::string& request_id) {
  if (argv.empty()) return MakeError(ErrorCode::kInvalidArgument, "argv must not be empty");
  return Run(id, std::move(argv), req, "argv", request_id);
}

Result<ExecOutcome> SandboxManager::Run(const std::string& id, std::vector<std::string> argv,
                                        const spec::ExecRequest& req, const std::string& language,
                                        const std::string& request_id) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, FindRunning(id));
  std::shared_ptr<agentclient::AgentClient> agent;
  std::string tenant;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    agent = live->agent;
    tenant = live->rec.tenant;
  }
  if (!agent) return MakeError(ErrorCode::kFailedPrecondition, "sandbox '" + id + "' is not running");

  ExecOutcome out;
  out.execution_id = "exec_" + RandomHex(8);
  if (options_.on_event)
    options_.on_event("execution_started", id, tenant,
                      {{"source", "sandbox"}, {"execution_id", out.execution_id},
                       {"language", language}});
  spec::ExecResult& res = out.result;
  int64_t started_ms = NowUnixMs();
  int64_t t0 = MonotonicNs();

  agentclient::StartOptions opts;
  opts.argv = std::move(argv);
  opts.envs = req.env;
  opts.cwd = req.cwd;
  opts.user = req.user;
  opts.stdin_open = false;
  opts.timeout_ms = static_cast<int64_t>(req.timeout_s * 1000);

  store::ExecutionRecord rec;
  rec.id = out.execution_id;
  rec.sandbox_id = id;
  rec.tenant = tenant;
  rec.started_at_ms = started_ms;
  rec.language = language;
  if (language == "argv") {
    for (const std::string& a : opts.argv) rec.code += (rec.code.empty() ? "" : " ") + a;
  } else {
    rec.code = req.code;
  }
  if (rec.code.size() > (64 << 10)) rec.code.resize(64 << 10);
  // Recorded before it runs, so an execution in flight when the daemon dies leaves a row
  // that the next start marks with what happened.
  rec.status = "running";
  if (auto s = store_->InsertExecution(rec); !s.ok())
    log::Error("exec.record_failed", {{"sandbox_id", id}, {"error", s.error().ToString()}});

  auto before = cgroups_->Stats(id);
  size_t cap = options_.output_cap_bytes;
  agentclient::RunCallbacks cb;
  cb.on_stdout = [&](std::string_view d) { AppendCapped(res.stdout_data, d, cap, res.stdout_truncated); };
  cb.on_stderr = [&](std::string_view d) { AppendCapped(res.stderr_data, d, cap, res.stderr_truncated); };
  auto end = agent->Run(opts, cb);
  res.execution_time = static_cast<double>(MonotonicNs() - t0) / 1e9;
  auto after = cgroups_->Stats(id);
  bool oom_grew = before.ok() && after.ok() && after->oom_kills > before->oom_kills;

  if (!end.ok()) {
    const Error& e = end.error();
    if (e.code == ErrorCode::kDeadlineExceeded) {
      res.status = spec::ExecStatus::kTimeout;
      res.exit_code = -1;
      res.signal = SIGKILL;
      res.reason = "killed after the " + std::to_string(req.timeout_s) +
                   " s timeout, with its whole process tree";
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
    if (end->exited) {
      res.status = end->exit_code == 0 ? spec::ExecStatus::kCompleted : spec::ExecStatus::kFailed;
    } else {
      res.signal = SignalFromStatus(end->status);
      if (res.signal == SIGKILL && oom_grew) {
        res.status = spec::ExecStatus::kOom;
        res.reason = "killed by the out-of-memory killer at the sandbox's memory limit";
      } else {
        res.status = spec::ExecStatus::kKilled;
        res.reason = "ended by " + end->status;
      }
    }
  }

  rec.finished_at_ms = NowUnixMs();
  rec.status = spec::ExecStatusName(res.status);
  rec.exit_code = res.exit_code;
  rec.signal = res.signal;
  rec.duration_s = res.execution_time;
  rec.stdout_data = res.stdout_data;
  rec.stderr_data = res.stderr_data;
  rec.stdout_truncated = res.stdout_truncated;
  rec.stderr_truncated = res.stderr_truncated;
  if (after.ok()) {
    rec.peak_memory_bytes = after->memory_peak;
    if (before.ok()) rec.cpu_ns = after->cpu_usage_ns - before->cpu_usage_ns;
  }
  rec.reason = res.reason;
  if (auto s = store_->UpdateExecution(rec); !s.ok())
    log::Error("exec.record_failed", {{"sandbox_id", id}, {"error", s.error().ToString()}});
  log::Info("exec.finished", {{"sandbox_id", id}, {"request_id", request_id},
                              {"execution_id", out.execution_id},
                              {"language", rec.language}, {"status", rec.status},
                              {"exit_code", res.exit_code}, {"seconds", res.execution_time}});
  if (options_.on_exec) options_.on_exec(rec.language, rec.status, res.execution_time);
  if (options_.on_event)
    options_.on_event(res.status == spec::ExecStatus::kCompleted && res.exit_code == 0
                          ? "execution_complete"
                          : "execution_failed",
                      id, tenant,
                      {{"source", "sandbox"}, {"execution_id", out.execution_id},
                       {"language", rec.language}, {"status", rec.status},
                       {"exit_code", res.exit_code}, {"execution_time", res.execution_time}});
  return out;
}

Result<FileResult> SandboxManager::WriteFile(const std::string& id, const std::string& path,
                                             const std::string& data, const std::string& user) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, FindRunning(id));
  std::shared_ptr<agentclient::AgentClient> agent;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    agent = live->agent;
  }
  if (!agent) return MakeError(ErrorCode::kFailedPrecondition, "sandbox '" + id + "' is not running");
  ASSIGN_OR_RETURN(nlohmann::json entry, agent->WriteFile(path, data, user));
  FileResult r;
  r.path = path;
  if (entry.is_array() && !entry.empty() && entry[0].contains("path"))
    r.path = entry[0]["path"].get<std::string>();
  else if (entry.is_object() && entry.contains("path"))
    r.path = entry["path"].get<std::string>();
  r.size = static_cast<int64_t>(data.size());
  r.sha256 = Sha256Hex(data);
  return r;
}

Result<std::string> SandboxManager::ReadFile(const std::string& id, const std::string& path,
                                             const std::string& user) {
  ASSIGN_OR_RETURN(std::shared_ptr<Live> live, FindRunning(id));
  std::shared_ptr<agentclient::AgentClient> agent;
  {
    std::lock_guard<std::mutex> lock(live->mu);
    agent = live->agent;
  }
  if (!agent) return MakeError(ErrorCode::kFailedPrecondition, "sandbox '" + id + "' is not running");
  return agent->ReadFile(path, user);
}

}  // namespace sbx::sandbox
