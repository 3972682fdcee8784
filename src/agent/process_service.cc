// process.Process RPC handlers.
#include "agent/process_service.h"

#include <signal.h>

#include "agent/paths.h"
#include "common/log.h"
#include "common/scope_exit.h"

namespace sbx::agent {

using protocol::Json;

namespace {

constexpr int64_t kDefaultKeepaliveS = 90;
constexpr const char* kDefaultPath =
    "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

// PATH, HOME, USER, LOGNAME, then the sandbox env, then the request's envs; last wins, and
// each key keeps the position of its first appearance.
std::vector<std::string> BuildEnv(const User& user, const AgentConfig& config,
                                  const std::map<std::string, std::string>& envs) {
  std::vector<std::pair<std::string, std::string>> kv = {
      {"PATH", kDefaultPath}, {"HOME", user.home}, {"USER", user.name}, {"LOGNAME", user.name}};
  auto set = [&](const std::string& k, const std::string& v) {
    for (auto& e : kv) {
      if (e.first == k) {
        e.second = v;
        return;
      }
    }
    kv.emplace_back(k, v);
  };
  for (const auto& [k, v] : config.sandbox_env) set(k, v);
  for (const auto& [k, v] : envs) set(k, v);
  std::vector<std::string> out;
  out.reserve(kv.size());
  for (const auto& [k, v] : kv) out.push_back(k + "=" + v);
  return out;
}

}  // namespace

void ProcessService::Handle(std::string_view method, const HttpRequest& req, BodyReader& body,
                            ResponseWriter& w, const User& user) {
  if (method == "Start") return Start(req, body, w, user);
  if (method == "Connect") return Connect(req, body, w);
  Result<Json> result = MakeError(ErrorCode::kInternal, "unreachable");
  auto parsed = ReadUnaryRequest(req, body);
  if (!parsed.ok()) {
    result = std::move(parsed).error();
  } else {
    result = Unary(method, parsed.value());
  }
  if (result.ok()) {
    (void)SendUnary(w, result.value());
  } else {
    (void)SendUnaryError(w, result.error());
  }
}

Result<Json> ProcessService::Unary(std::string_view method, const Json& body) {
  if (method == "List") {
    Json list = Json::array();
    for (const auto& p : table_.ListRunning()) {
      list.push_back(protocol::ProcessInfoJson(p->config(), p->pid(), p->tag()));
    }
    return Json{{"processes", std::move(list)}};
  }
  if (method != "SendSignal" && method != "SendInput" && method != "CloseStdin" &&
      method != "Update") {
    return MakeError(ErrorCode::kInvalidArgument,
                     "process.Process/" + std::string(method) + " is not implemented");
  }
  ASSIGN_OR_RETURN(auto selector, protocol::ParseSelector(body));
  auto proc = table_.Find(selector, /*include_ended=*/false);
  if (!proc) {
    return MakeError(ErrorCode::kNotFound,
                     selector.pid ? "process with pid " + std::to_string(*selector.pid) +
                                        " not found"
                                  : "process with tag '" + selector.tag.value_or("") +
                                        "' not found");
  }
  if (method == "SendSignal") {
    ASSIGN_OR_RETURN(int sig, protocol::ParseSignal(body));
    log::Info("process_signal", {{"pid", proc->pid()}, {"signal", sig}});
    if (sig == SIGKILL && !proc->cgroup().empty()) {
      // Everything the process started, however it detached.
      log::Info("process_killed", {{"pid", proc->pid()}, {"how", table_.KillProcess(*proc)}});
    } else if (kill(-static_cast<pid_t>(proc->pid()), sig) != 0 &&
        kill(static_cast<pid_t>(proc->pid()), sig) != 0) {
      if (errno == ESRCH) return MakeError(ErrorCode::kNotFound, "process has exited");
      return SysError("kill " + std::to_string(proc->pid()));
    }
  } else if (method == "SendInput") {
    ASSIGN_OR_RETURN(auto input, protocol::ParseInput(body));
    RETURN_IF_ERROR(proc->WriteInput(input.kind, input.data));
  } else if (method == "CloseStdin") {
    RETURN_IF_ERROR(proc->CloseStdin());
  } else {
    ASSIGN_OR_RETURN(auto size, protocol::ParsePtyUpdate(body));
    if (size) RETURN_IF_ERROR(proc->Resize(*size));
  }
  return Json::object();
}

void ProcessService::Start(const HttpRequest& req, BodyReader& body, ResponseWriter& w,
                           const User& user) {
  ConnectStream stream(w);
  auto fail = [&](const Error& e) {
    log::Info("process_start_failed", {{"error", e.ToString()}});
    (void)stream.Finish(&e);
  };
  auto json = ReadStreamRequest(req, body);
  if (!json.ok()) return fail(json.error());
  auto parsed = protocol::ParseStartRequest(json.value());
  if (!parsed.ok()) return fail(parsed.error());
  auto timeout = ConnectTimeoutMs(req);
  if (!timeout.ok()) return fail(timeout.error());
  protocol::StartRequest& sr = parsed.value();

  ProcessTable::StartParams params;
  params.spawn.cmd = sr.process.cmd;
  params.spawn.argv.push_back(sr.process.cmd);
  params.spawn.argv.insert(params.spawn.argv.end(), sr.process.args.begin(),
                           sr.process.args.end());
  params.spawn.env = BuildEnv(user, config_, sr.process.envs);
  params.spawn.cwd = sr.process.cwd && !sr.process.cwd->empty()
                         ? ResolveUserPath(user, *sr.process.cwd)
                         : user.home;
  params.spawn.uid = user.uid;
  params.spawn.gid = user.gid;
  params.spawn.groups = user.groups;
  params.spawn.stdin_pipe = sr.stdin_open;
  params.spawn.pty = sr.pty;
  params.config = sr.process;
  params.tag = sr.tag;
  if (timeout.value() && *timeout.value() > 0) {
    params.deadline = Process::Clock::now() + std::chrono::milliseconds(*timeout.value());
  }
  auto started = table_.Start(std::move(params));
  if (!started.ok()) return fail(started.error());
  auto& proc = started.value().process;
  log::Info("process_started", {{"pid", proc->pid()},
                                {"cmd", sr.process.cmd},
                                {"user", user.name},
                                {"pty", sr.pty.has_value()},
                                {"timeout_ms", timeout.value().value_or(0)}});
  StreamEvents(stream, proc, started.value().subscription, KeepaliveSeconds(req,
               kDefaultKeepaliveS), std::nullopt);
}

void ProcessService::Connect(const HttpRequest& req, BodyReader& body, ResponseWriter& w) {
  ConnectStream stream(w);
  auto fail = [&](const Error& e) { (void)stream.Finish(&e); };
  auto json = ReadStreamRequest(req, body);
  if (!json.ok()) return fail(json.error());
  auto selector = protocol::ParseSelector(json.value());
  if (!selector.ok()) return fail(selector.error());
  auto timeout = ConnectTimeoutMs(req);
  if (!timeout.ok()) return fail(timeout.error());
  auto proc = table_.Find(selector.value(), /*include_ended=*/true);
  if (!proc) {
    return fail(MakeError(ErrorCode::kNotFound,
                          selector->pid ? "process with pid " + std::to_string(*selector->pid) +
                                              " not found"
                                        : "process with tag not found"));
  }
  std::optional<Process::Clock::time_point> deadline;
  if (timeout.value() && *timeout.value() > 0) {
    deadline = Process::Clock::now() + std::chrono::milliseconds(*timeout.value());
  }
  const int sub = proc->Subscribe(/*from_start=*/false);
  StreamEvents(stream, proc, sub, KeepaliveSeconds(req, kDefaultKeepaliveS), deadline);
}

void ProcessService::StreamEvents(ConnectStream& stream, const std::shared_ptr<Process>& proc,
                                  int sub, int64_t keepalive_s,
                                  std::optional<Process::Clock::time_point> deadline) {
  ScopeExit unsubscribe([&] { proc->Unsubscribe(sub); });
  using Clock = Process::Clock;
  if (!stream.Send(protocol::StartEventJson(proc->pid())).ok()) return;
  auto last_sent = Clock::now();
  const auto keepalive = std::chrono::seconds(keepalive_s);
  while (true) {
    auto until = std::min(last_sent + keepalive, Clock::now() + std::chrono::seconds(1));
    if (deadline) until = std::min(until, *deadline);
    Process::Batch batch = proc->Wait(sub, until);
    for (const auto& chunk : batch.chunks) {
      if (!stream.Send(protocol::DataEventJson(chunk.kind, chunk.data)).ok()) {
        log::Info("stream_client_gone", {{"pid", proc->pid()}});
        return;
      }
      last_sent = Clock::now();
    }
    if (batch.ended) {
      if (!stream.Send(protocol::EndEventJson(batch.end)).ok()) return;
      if (batch.deadline_killed) {
        Error e = MakeError(ErrorCode::kDeadlineExceeded,
                            "process exceeded its deadline; " + batch.kill_report);
        (void)stream.Finish(&e);
      } else {
        (void)stream.Finish(nullptr);
      }
      return;
    }
    const auto now = Clock::now();
    if (deadline && now >= *deadline) {
      Error e = MakeError(ErrorCode::kDeadlineExceeded, "stream deadline exceeded");
      (void)stream.Finish(&e);
      return;
    }
    if (batch.chunks.empty() && now - last_sent >= keepalive) {
      if (!stream.Send(protocol::KeepaliveEventJson()).ok()) return;
      last_sent = now;
    }
    if (stream.writer().PeerClosed()) {
      log::Info("stream_client_gone", {{"pid", proc->pid()}});
      return;
    }
  }
}

}  // namespace sbx::agent
