// Test helpers: start the real sbx-agent on a fresh listening unix socket (as fd 3), and
// speak raw HTTP to it for what AgentClient does not cover (stream Connect, multipart).
#pragma once

#include <sys/types.h>

#include <functional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "protocol/envelope.h"

namespace sbx::agent::testing {

class AgentProcess {
 public:
  // Creates a temp dir, a socket in it, and runs the agent with --default-user root.
  AgentProcess();
  ~AgentProcess();
  const std::string& socket_path() const { return socket_path_; }
  const std::string& dir() const { return dir_; }
  pid_t pid() const { return pid_; }

 private:
  std::string dir_;
  std::string socket_path_;
  pid_t pid_ = -1;
};

struct RawResponse {
  int status = 0;
  std::string headers;  // raw header block
  std::string body;     // de-chunked
};

// Connects to the socket. Returns the fd (owned by the caller) or -1.
int ConnectUnix(const std::string& path);
// Sends `request` (must carry Connection: close) and reads the whole response.
RawResponse RawHttp(const std::string& socket_path, const std::string& request);
// Parses a whole raw response (status, header block, de-chunked body).
RawResponse ParseResponse(const std::string& all);
// A Connect streaming request (one envelope) for /process.Process/<method>.
std::string StreamRequest(const std::string& method, const std::string& json,
                          const std::string& extra_headers = "",
                          const std::string& service = "process.Process");

// A streaming request on its own connection, read as it arrives.
class StreamConnection {
 public:
  StreamConnection(const std::string& socket_path, const std::string& request);
  ~StreamConnection();
  // Reads until `needle` appears in the raw bytes (at most 5 s).
  bool WaitFor(const std::string& needle);
  // Reads until pred(frames so far, as JSON) holds (at most 5 s).
  bool WaitUntil(const std::function<bool(const std::vector<nlohmann::json>&)>& pred);
  // Reads to end-of-file (at most 10 s) and returns every frame's JSON; an end-of-stream
  // frame gets "__end": true added.
  std::vector<nlohmann::json> Finish();
  // The frames received so far.
  std::vector<nlohmann::json> FramesSoFar() const;

 private:
  bool ReadSome();
  int fd_ = -1;
  std::string raw_;
};

// The decoded data.<kind> bytes ("stdout", "stderr", "pty") of process event frames.
std::string ProcessOutput(const std::vector<nlohmann::json>& frames, const std::string& kind);
// Parses envelopes from a de-chunked body.
std::vector<protocol::Envelope> Frames(const std::string& body);
// Session ids: pids of live processes whose session id is sid.
std::vector<pid_t> SessionMembers(pid_t sid);

}  // namespace sbx::agent::testing
