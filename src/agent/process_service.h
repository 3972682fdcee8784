// process.Process RPCs (E2B-PROTOCOL.md 3.2): Start and Connect (server-streaming), List,
// SendSignal, SendInput, CloseStdin and Update (unary). StreamInput is unimplemented (the
// SDKs never call it). Streams outlive nothing: when the client goes away the stream stops,
// the process keeps running and its output keeps being drained.
//
// Thread safety: Handle may be called concurrently from connection threads.
#pragma once

#include <string_view>

#include "agent/config.h"
#include "agent/connect_io.h"
#include "agent/http_types.h"
#include "agent/process_table.h"
#include "agent/users.h"

namespace sbx::agent {

class ProcessService {
 public:
  ProcessService(const AgentConfig& config, ProcessTable& table)
      : config_(config), table_(table) {}

  static bool IsStreaming(std::string_view method) {
    return method == "Start" || method == "Connect";
  }
  // Serves /process.Process/<method> for an authenticated user.
  void Handle(std::string_view method, const HttpRequest& req, BodyReader& body,
              ResponseWriter& w, const User& user);

 private:
  void Start(const HttpRequest& req, BodyReader& body, ResponseWriter& w, const User& user);
  void Connect(const HttpRequest& req, BodyReader& body, ResponseWriter& w);
  Result<protocol::Json> Unary(std::string_view method, const protocol::Json& body);
  // Streams a subscription until the end (or the client leaves, or stream_deadline).
  void StreamEvents(ConnectStream& stream, const std::shared_ptr<Process>& proc, int sub,
                    int64_t keepalive_s, std::optional<Process::Clock::time_point> deadline);

  const AgentConfig& config_;
  ProcessTable& table_;
};

}  // namespace sbx::agent
