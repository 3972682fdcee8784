// The E2B gateway's resolution and authorisation (see gateway.h).
#include "api/gateway.h"

#include <sys/socket.h>
#include <sys/un.h>

#include <cctype>
#include <cstring>

#include "common/log.h"
#include "common/util.h"

namespace sbx::api {
namespace {

constexpr const char* kRunning = "running";

std::string LowerHeader(const Request& req, const std::string& name) {
  std::string v = req.Header(name);
  for (char& c : v) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return v;
}

Result<UniqueFd> ConnectUnix(const std::string& path) {
  sockaddr_un addr{};
  if (path.size() >= sizeof addr.sun_path)
    return MakeError(ErrorCode::kInternal, "agent socket path too long: " + path);
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.c_str(), path.size() + 1);
  UniqueFd fd(::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0));
  if (!fd) return SysError("socket");
  if (::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0)
    return MakeError(ErrorCode::kUnavailable, "the sandbox's agent does not answer");
  return fd;
}

}  // namespace

std::string GatewayKind(const Request& req, int port) {
  if (port == gateway::kEnvdPort) return "envd";
  if (LowerHeader(req, "upgrade").find("websocket") != std::string::npos) return "websocket";
  return "port";
}

Gateway::Gateway(sandbox::SandboxManager* manager, auth::SandboxTokens tokens,
                 GatewayOptions options)
    : manager_(manager),
      tokens_(std::move(tokens)),
      options_(std::move(options)),
      sandbox_slots_(options_.max_requests_per_sandbox) {}

gateway::KeyMatch Gateway::MatchKey(const Request& req, const std::string& tenant) const {
  auto it = req.headers.find("x-api-key");
  if (it == req.headers.end() || !key_check_) return gateway::KeyMatch::kNone;
  Result<auth::Principal> p = key_check_(it->second);
  if (!p.ok()) return gateway::KeyMatch::kInvalid;
  return auth::CanAccess(*p, tenant) ? gateway::KeyMatch::kOwnTenant
                                     : gateway::KeyMatch::kOtherTenant;
}

Gateway::Admission Gateway::Admit(const Request& req, const gateway::Route& route, bool admin) {
  Admission a;
  a.target.sandbox_id = route.sandbox_id;
  a.target.port = route.port;
  a.target.kind = GatewayKind(req, route.port);
  if (!route.error.empty()) {
    a.refusal = gateway::E2bError(400, route.error);
    return a;
  }
  const int64_t now_s = NowUnixMs() / 1000;
  std::optional<sandbox::SandboxManager::GatewayTarget> found;
  if (route.via == "signature") {
    // The SDK's single-URL file links: the running sandbox whose envd token signed it.
    for (auto& t : manager_->RunningGatewayTargets()) {
      if (gateway::SignatureValid(req, tokens_.EnvdToken(t.id, t.created_at_ms), now_s)) {
        found = std::move(t);
        break;
      }
    }
    if (!found) {
      a.refusal = gateway::E2bError(
          401, "the signature is invalid or expired, or its sandbox is not running");
      return a;
    }
    a.target.sandbox_id = found->id;
  } else {
    found = manager_->FindGatewayTarget(route.sandbox_id);
    // A paused sandbox that asked for E2B's autoResume is resumed by the request, once the
    // request has shown it may reach it (below); any other paused one is not there.
    const bool resumable = found && found->state == "paused" && found->auto_resume;
    if (!found || (found->state != kRunning && !resumable)) {
      a.refusal = gateway::NotFound(route.sandbox_id);
      return a;
    }
  }
  gateway::Expected expected;
  expected.envd_token = tokens_.EnvdToken(found->id, found->created_at_ms);
  expected.traffic_token = tokens_.TrafficToken(found->id, found->created_at_ms);
  expected.public_traffic = found->public_traffic;
  switch (gateway::Decide(req, route.port, admin, MatchKey(req, found->tenant), expected, now_s)) {
    case gateway::Verdict::kAllow:
      break;
    case gateway::Verdict::kNotFound:
      a.refusal = gateway::NotFound(route.sandbox_id);
      return a;
    case gateway::Verdict::kUnauthorized:
      a.refusal = gateway::E2bError(
          401, route.port == gateway::kEnvdPort
                   ? "missing or invalid X-Access-Token (the sandbox's envdAccessToken)"
                   : "missing or invalid E2B-Traffic-Access-Token (the sandbox's "
                     "trafficAccessToken)");
      return a;
  }
  if (found->state != kRunning) {
    auto resumed = manager_->Resume(found->id, 0, req.request_id);
    if (!resumed.ok()) {
      a.refusal = gateway::NotFound(route.sandbox_id);
      return a;
    }
    log::Info("gateway.auto_resumed", {{"request_id", req.request_id}, {"sandbox_id", found->id}});
  }
  auto slot = sandbox_slots_.TryAcquire(found->id);
  if (!slot) {
    Response r = gateway::E2bError(
        429, "too many requests in flight to sandbox " + found->id + ": at most " +
                 std::to_string(options_.max_requests_per_sandbox) +
                 " at once (sandboxd --gateway-max-requests-per-sandbox)");
    r.headers.push_back({"Retry-After", "1"});
    a.refusal = std::move(r);
    return a;
  }
  a.target.slot = std::move(*slot);
  a.target.agent_socket = found->agent_socket;
  return a;
}

Result<UniqueFd> Gateway::Dial(const Target& target) const {
  if (target.port == gateway::kEnvdPort) return ConnectUnix(target.agent_socket);
  if (!dialer_)
    return MakeError(ErrorCode::kUnavailable,
                     "port " + std::to_string(target.port) +
                         ": this sandboxd cannot open tunnels to sandbox ports yet");
  auto fd = dialer_(target.agent_socket, target.port, options_.tunnel_timeout_ms);
  if (!fd.ok())
    // The agent's word: nothing listens there, or too many tunnels are open.
    return MakeError(ErrorCode::kUnavailable, "sandbox " + target.sandbox_id + ", port " +
                                                  std::to_string(target.port) + ": " +
                                                  fd.error().message);
  return fd;
}

void Gateway::Register(int fd) {
  std::lock_guard<std::mutex> lock(relays_mu_);
  relays_.insert(fd);
  if (closing_) ::shutdown(fd, SHUT_RDWR);
}

void Gateway::Unregister(int fd) {
  std::lock_guard<std::mutex> lock(relays_mu_);
  relays_.erase(fd);
}

void Gateway::CloseRelays() {
  std::lock_guard<std::mutex> lock(relays_mu_);
  closing_ = true;
  for (int fd : relays_) ::shutdown(fd, SHUT_RDWR);
}

void Gateway::Record(const Request& req, const Target& target, int status,
                     double seconds) const {
  log::Info("gateway.request", {{"request_id", req.request_id},
                                {"sandbox_id", target.sandbox_id},
                                {"port", target.port},
                                {"kind", target.kind},
                                {"method", req.method},
                                {"path", req.path.substr(0, 256)},
                                {"status", status},
                                {"ms", seconds * 1000.0}});
  if (observer_) observer_(target.kind, status, seconds);
}

}  // namespace sbx::api
