// process.Process message parsing and event builders.
#include "protocol/process_messages.h"

#include <csignal>
#include <sys/wait.h>

#include "protocol/base64.h"

namespace sbx::protocol {
namespace {

Result<PtySize> ParsePtySize(const Json& pty) {
  ASSIGN_OR_RETURN(const Json* size, OptObject(pty, "size"));
  PtySize out;
  if (size == nullptr) return out;
  ASSIGN_OR_RETURN(auto cols, OptUint(*size, "cols", 0xffff));
  ASSIGN_OR_RETURN(auto rows, OptUint(*size, "rows", 0xffff));
  if (cols) out.cols = static_cast<uint32_t>(*cols);
  if (rows) out.rows = static_cast<uint32_t>(*rows);
  return out;
}

}  // namespace

Result<StartRequest> ParseStartRequest(const Json& body) {
  StartRequest req;
  ASSIGN_OR_RETURN(const Json* proc, OptObject(body, "process"));
  if (proc == nullptr) return MakeError(ErrorCode::kInvalidArgument, "process is required");
  ASSIGN_OR_RETURN(auto cmd, OptString(*proc, "cmd"));
  if (!cmd || cmd->empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "process.cmd is required");
  }
  req.process.cmd = std::move(*cmd);
  ASSIGN_OR_RETURN(req.process.args, StringList(*proc, "args"));
  ASSIGN_OR_RETURN(req.process.envs, StringMap(*proc, "envs"));
  ASSIGN_OR_RETURN(req.process.cwd, OptString(*proc, "cwd"));
  for (const auto& [k, v] : req.process.envs) {
    if (k.empty() || k.find('=') != std::string::npos || k.find('\0') != std::string::npos ||
        v.find('\0') != std::string::npos) {
      return MakeError(ErrorCode::kInvalidArgument, "invalid environment variable name '" + k +
                                                        "'");
    }
  }
  auto has_nul = [](const std::string& s) { return s.find('\0') != std::string::npos; };
  if (has_nul(req.process.cmd)) {
    return MakeError(ErrorCode::kInvalidArgument, "process.cmd contains a NUL byte");
  }
  for (const auto& a : req.process.args) {
    if (has_nul(a)) return MakeError(ErrorCode::kInvalidArgument, "argument has a NUL byte");
  }
  ASSIGN_OR_RETURN(const Json* pty, OptObject(body, "pty"));
  if (pty != nullptr) {
    ASSIGN_OR_RETURN(auto size, ParsePtySize(*pty));
    req.pty = size;
  }
  ASSIGN_OR_RETURN(req.tag, OptString(body, "tag"));
  ASSIGN_OR_RETURN(auto stdin_open, OptBool(body, "stdin"));
  req.stdin_open = stdin_open.value_or(true);
  return req;
}

Result<ProcessSelector> ParseSelector(const Json& body) {
  ASSIGN_OR_RETURN(const Json* proc, OptObject(body, "process"));
  if (proc == nullptr) return MakeError(ErrorCode::kInvalidArgument, "process is required");
  ProcessSelector sel;
  ASSIGN_OR_RETURN(auto pid, OptUint(*proc, "pid", UINT32_MAX));
  ASSIGN_OR_RETURN(sel.tag, OptString(*proc, "tag"));
  if (pid) sel.pid = static_cast<uint32_t>(*pid);
  if (!sel.pid && !sel.tag) {
    return MakeError(ErrorCode::kInvalidArgument, "process selector needs pid or tag");
  }
  return sel;
}

Result<ProcessInput> ParseInput(const Json& body) {
  ASSIGN_OR_RETURN(const Json* input, OptObject(body, "input"));
  if (input == nullptr) return MakeError(ErrorCode::kInvalidArgument, "input is required");
  ASSIGN_OR_RETURN(auto in, OptString(*input, "stdin"));
  ASSIGN_OR_RETURN(auto pty, OptString(*input, "pty"));
  ProcessInput out;
  if (in) {
    out.kind = InputKind::kStdin;
  } else if (pty) {
    out.kind = InputKind::kPty;
  } else {
    return MakeError(ErrorCode::kInvalidArgument, "input needs stdin or pty");
  }
  auto decoded = Base64Decode(in ? *in : *pty);
  if (!decoded.ok()) {
    return MakeError(ErrorCode::kInvalidArgument, "input: " + decoded.error().message);
  }
  out.data = std::move(decoded).value();
  return out;
}

Result<int> ParseSignal(const Json& body) {
  const Json* v = FindField(body, "signal");
  if (v == nullptr) return MakeError(ErrorCode::kInvalidArgument, "signal is required");
  if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    if (s == "SIGNAL_SIGKILL") return SIGKILL;
    if (s == "SIGNAL_SIGTERM") return SIGTERM;
  } else if (v->is_number_integer()) {
    const int64_t n = v->get<int64_t>();
    if (n == SIGKILL || n == SIGTERM) return static_cast<int>(n);
  }
  return MakeError(ErrorCode::kInvalidArgument,
                   "unsupported signal (want SIGNAL_SIGKILL or SIGNAL_SIGTERM)");
}

Result<std::optional<PtySize>> ParsePtyUpdate(const Json& body) {
  ASSIGN_OR_RETURN(const Json* pty, OptObject(body, "pty"));
  if (pty == nullptr) return std::optional<PtySize>();
  ASSIGN_OR_RETURN(auto size, ParsePtySize(*pty));
  return std::optional<PtySize>(size);
}

const char* SignalEnumName(int sig) {
  if (sig == SIGKILL) return "SIGNAL_SIGKILL";
  if (sig == SIGTERM) return "SIGNAL_SIGTERM";
  return "SIGNAL_UNSPECIFIED";
}

std::string GoSignalString(int sig) {
  switch (sig) {
    case SIGHUP: return "hangup";
    case SIGINT: return "interrupt";
    case SIGQUIT: return "quit";
    case SIGILL: return "illegal instruction";
    case SIGTRAP: return "trace/breakpoint trap";
    case SIGABRT: return "aborted";
    case SIGBUS: return "bus error";
    case SIGFPE: return "floating point exception";
    case SIGKILL: return "killed";
    case SIGUSR1: return "user defined signal 1";
    case SIGSEGV: return "segmentation fault";
    case SIGUSR2: return "user defined signal 2";
    case SIGPIPE: return "broken pipe";
    case SIGALRM: return "alarm clock";
    case SIGTERM: return "terminated";
    case SIGSTKFLT: return "stack fault";
    case SIGCHLD: return "child exited";
    case SIGCONT: return "continued";
    case SIGSTOP: return "stopped (signal)";
    case SIGTSTP: return "stopped";
    case SIGTTIN: return "stopped (tty input)";
    case SIGTTOU: return "stopped (tty output)";
    case SIGURG: return "urgent I/O condition";
    case SIGXCPU: return "CPU time limit exceeded";
    case SIGXFSZ: return "file size limit exceeded";
    case SIGVTALRM: return "virtual timer expired";
    case SIGPROF: return "profiling timer expired";
    case SIGWINCH: return "window changed";
    case SIGIO: return "I/O possible";
    case SIGPWR: return "power failure";
    case SIGSYS: return "bad system call";
    default: return "signal " + std::to_string(sig);
  }
}

EndInfo EndInfoFromWaitStatus(int ws) {
  EndInfo end;
  if (WIFEXITED(ws)) {
    end.exit_code = WEXITSTATUS(ws);
    end.exited = true;
    end.status = "exit status " + std::to_string(end.exit_code);
  } else if (WIFSIGNALED(ws)) {
    end.exit_code = -1;
    end.exited = false;
    end.status = "signal: " + GoSignalString(WTERMSIG(ws));
    if (WCOREDUMP(ws)) end.status += " (core dumped)";
  } else {
    end.exit_code = -1;
    end.exited = false;
    end.status = "unknown wait status " + std::to_string(ws);
  }
  if (!(end.exited && end.exit_code == 0)) end.error = end.status;
  return end;
}

namespace {
Json Event(const char* kind, Json body) {
  Json ev = Json::object();
  ev[kind] = std::move(body);
  Json j = Json::object();
  j["event"] = std::move(ev);
  return j;
}
}  // namespace

Json StartEventJson(uint32_t pid) { return Event("start", Json{{"pid", pid}}); }

Json DataEventJson(OutputKind kind, std::string_view bytes) {
  const char* key = kind == OutputKind::kStdout ? "stdout"
                    : kind == OutputKind::kStderr ? "stderr"
                                                  : "pty";
  Json data = Json::object();
  data[key] = Base64Encode(bytes);
  return Event("data", std::move(data));
}

Json KeepaliveEventJson() { return Event("keepalive", Json::object()); }

Json EndEventJson(const EndInfo& end) {
  Json e = Json::object();
  e["exitCode"] = end.exit_code;
  e["exited"] = end.exited;
  e["status"] = end.status;
  if (end.error) e["error"] = *end.error;
  return Event("end", std::move(e));
}

Json ProcessInfoJson(const ProcessConfig& config, uint32_t pid,
                     const std::optional<std::string>& tag) {
  Json cfg = Json::object();
  cfg["cmd"] = config.cmd;
  cfg["args"] = config.args;
  cfg["envs"] = config.envs;
  if (config.cwd) cfg["cwd"] = *config.cwd;
  Json j = Json::object();
  j["config"] = std::move(cfg);
  j["pid"] = pid;
  if (tag) j["tag"] = *tag;
  return j;
}

}  // namespace sbx::protocol
