// The E2B gateway (docs/e2b.md, "The envd gateway and ports"): routes the SDK's envd traffic,
// and traffic to servers inside sandboxes, to the sandbox a request names. The request loop
// (api/request_loop.h) asks Claim() right after a request's header has arrived, before the
// API-key gate; a claimed request is the gateway's: it is resolved and authorised here, then
// relayed (api/gateway_relay.h) both ways in 64 KiB pieces, never buffered whole.
//
//   port 49983 (envd)  -> the sandbox agent's unix socket
//   any other port     -> a tunnel through the agent to 127.0.0.1:<port> inside the sandbox
//                         (the agent's CONNECT), HTTP/1.1 relayed, WebSocket upgrades as raw
//                         bytes after the 101
//
// Refusals are E2B's: 502 {"sandboxId","message":"The sandbox was not found","code":502} for a
// sandbox that does not exist, does not run, or belongs to another tenant than the request's
// valid API key; 401 {"code":401,"message"} without a valid credential (gateway_rules.h,
// Decide); 502 naming the port when nothing listens on it.
//
// Thread safety: every method may be called from any thread once the setters have run (before
// serving).
#pragma once

#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <set>
#include <string>

#include "api/connection_pool.h"
#include "api/gateway_rules.h"
#include "api/http.h"
#include "auth/principal.h"
#include "auth/sandbox_tokens.h"
#include "common/result.h"
#include "common/unique_fd.h"
#include "sandbox/manager.h"

namespace sbx::api {

struct GatewayOptions {
  std::string domain;  // --e2b-domain: the Host form's domain; empty: any
  // A relay (a Start stream, a download, a WebSocket) with no byte in either direction for
  // this long is cut. The agent sends Connect keepalives on streams, so only dead ones idle.
  int relay_idle_timeout_s = 900;
  size_t max_requests_per_sandbox = 256;  // gateway requests in flight per sandbox (429)
  int tunnel_timeout_ms = 10000;          // opening a port tunnel through the agent
};

// The principal of an X-API-Key value (AuthGate::AuthenticateKey); an Error when invalid.
using KeyCheck = std::function<Result<auth::Principal>(const std::string& key)>;
// Opens a byte stream to 127.0.0.1:<port> inside the sandbox through its agent
// (agentclient::OpenPortTunnel); kUnavailable when nothing listens there.
using PortDialer =
    std::function<Result<UniqueFd>(const std::string& agent_socket, int port, int timeout_ms)>;
// After each gateway request: its kind (envd, port, websocket), final status, duration.
using GatewayObserver = std::function<void(const std::string& kind, int status, double seconds)>;

class Gateway {
 public:
  Gateway(sandbox::SandboxManager* manager, auth::SandboxTokens tokens, GatewayOptions options);

  void SetKeyCheck(KeyCheck check) { key_check_ = std::move(check); }
  void SetPortDialer(PortDialer dialer) { dialer_ = std::move(dialer); }
  void SetObserver(GatewayObserver observer) { observer_ = std::move(observer); }
  const GatewayOptions& options() const { return options_; }

  // Whether the request (its header) is the gateway's (gateway_rules.h, Claim).
  std::optional<gateway::Route> Claim(const Request& req) const {
    return gateway::Claim(req, options_.domain);
  }

  // Where an admitted request goes. Holds the sandbox's request slot until destroyed.
  struct Target {
    std::string sandbox_id;
    int port = gateway::kEnvdPort;
    std::string agent_socket;
    std::string kind;  // envd, port, websocket
    RequestSlots::Slot slot;
  };
  struct Admission {
    std::optional<Response> refusal;
    Target target;
  };
  // Resolves the sandbox and checks the request's credentials; `admin`: the unix socket.
  Admission Admit(const Request& req, const gateway::Route& route, bool admin);
  // Connects to the target: the agent's socket, or a tunnel to the port. The Error's message
  // is meant for the client (the 502).
  Result<UniqueFd> Dial(const Target& target) const;
  // The log line and the metric of a finished gateway request.
  void Record(const Request& req, const Target& target, int status, double seconds) const;

  // The upstream descriptors of relays in progress, so that the server's stop ends them (a
  // Start stream may otherwise wait for its process for as long as it runs). A relay
  // registers its upstream while it runs; Unregister before the descriptor closes.
  class RelayGuard {
   public:
    RelayGuard(Gateway* gw, int fd) : gw_(gw), fd_(fd) { gw_->Register(fd_); }
    ~RelayGuard() { gw_->Unregister(fd_); }
    RelayGuard(const RelayGuard&) = delete;
    RelayGuard& operator=(const RelayGuard&) = delete;

   private:
    Gateway* gw_;
    int fd_;
  };
  // shutdown(2) of every relay's upstream: their threads see end of file and finish.
  void CloseRelays();

 private:
  gateway::KeyMatch MatchKey(const Request& req, const std::string& tenant) const;
  void Register(int fd);
  void Unregister(int fd);

  sandbox::SandboxManager* manager_;
  const auth::SandboxTokens tokens_;
  const GatewayOptions options_;
  KeyCheck key_check_;
  PortDialer dialer_;
  GatewayObserver observer_;
  RequestSlots sandbox_slots_;
  std::mutex relays_mu_;
  std::set<int> relays_;  // guarded by relays_mu_
  bool closing_ = false;  // guarded by relays_mu_: CloseRelays ran; new relays end at once
};

// Kind of a request to `port`: envd for 49983, websocket for an Upgrade: websocket, else port.
std::string GatewayKind(const Request& req, int port);

}  // namespace sbx::api
