// agentclient: the daemon's client of the sandbox agent (sbx-agent), speaking the envd
// protocol (Connect JSON over HTTP/1.1, ../docs/architecture.md) on the agent's unix socket.
// The daemon's exec and file endpoints are built on this; the E2B gateway forwards raw
// requests instead.
//
// Thread safety: an AgentClient is immutable after construction; every call opens its own
// connection, so calls may run concurrently from many threads.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "common/unique_fd.h"

namespace sbx::agentclient {

struct StartOptions {
  std::vector<std::string> argv;            // argv[0] is the program (cmd), the rest args
  std::map<std::string, std::string> envs;
  std::string cwd;                          // empty: the user's home
  std::string user = "user";                // sent as Basic auth username
  bool stdin_open = false;                  // false: stdin is /dev/null
  int64_t timeout_ms = 0;                   // Connect-Timeout-Ms; 0: none
  std::string tag;
};

struct ProcessEnd {
  int exit_code = -1;
  bool exited = false;     // false: killed by a signal
  std::string status;      // "exit status 3", "signal: killed"
  std::string error;
};

// An agent's answer to GET /files being read: the size it announced (Content-Length), then
// the content in pieces. Never more than size() bytes come out, whatever the agent sends after
// them; an answer that ends short of size() is an error. Memory: one 64 KiB read buffer.
class FileStream {
 public:
  class Impl;
  explicit FileStream(std::unique_ptr<Impl> impl);
  ~FileStream();
  FileStream(const FileStream&) = delete;
  FileStream& operator=(const FileStream&) = delete;

  uint64_t size() const { return size_; }
  // Reads up to cap bytes of content into buf; 0 once all size() bytes have been read.
  Result<size_t> Read(char* buf, size_t cap);

 private:
  std::unique_ptr<Impl> impl_;
  uint64_t size_ = 0;
  uint64_t read_ = 0;
};

struct RunCallbacks {
  std::function<void(uint32_t pid)> on_start;
  std::function<void(std::string_view data)> on_stdout;
  std::function<void(std::string_view data)> on_stderr;
};

// Caps on what the client accepts from the agent: a unary (JSON) answer, an error body, a file
// read whole by ReadFile.
inline constexpr size_t kMaxUnaryResponse = 64u << 20;
inline constexpr size_t kMaxErrorBody = 64u << 10;
inline constexpr size_t kMaxReadFileBytes = 16u << 20;

class AgentClient {
 public:
  explicit AgentClient(std::string socket_path, int64_t io_timeout_ms = 30000);

  // process.Process/Start: streams output to the callbacks until the end event and the
  // end-of-stream frame. A deadline_exceeded end frame (the agent killed the process at
  // timeout_ms) is returned as an Error with code kDeadlineExceeded.
  Result<ProcessEnd> Run(const StartOptions& options, const RunCallbacks& callbacks) const;
  // process.Process/SendSignal (sig is 9 or 15). SIGKILL ends every process of the process's
  // execution cgroup (whatever left its session); SIGTERM goes to its process group.
  Result<void> SendSignal(uint32_t pid, int sig) const;
  // process.Process/SendInput: writes `data` to the stdin pipe of a process started with
  // stdin_open. The agent gives up after 30 s when the process does not read.
  Result<void> SendInput(uint32_t pid, std::string_view data) const;
  // process.Process/CloseStdin: the process reads end-of-file once the pipe is drained.
  Result<void> CloseStdin(uint32_t pid) const;
  // process.Process/List: the raw ListResponse JSON.
  Result<nlohmann::json> List() const;
  // POST /files?path=...&username=...[&mode=755] (octet-stream body). Returns the entry JSON.
  // `mode` (permission bits, 0-0777) is sandboxd's extension of envd: the agent fchmods the
  // written file; without it the file gets the agent's default (0644 when created).
  Result<nlohmann::json> WriteFile(const std::string& path, std::string_view data,
                                   const std::string& user,
                                   std::optional<uint32_t> mode = std::nullopt) const;
  // GET /files?path=...&username=...: the answer's header is read (errors of the agent:
  // missing file, permissions) and the content is left to read from the stream. An answer
  // without a Content-Length is refused: the size must be known before anything is sent on.
  Result<std::unique_ptr<FileStream>> OpenFile(const std::string& path,
                                               const std::string& user) const;
  // The whole content of a file of at most max_bytes (larger: kResourceExhausted, refused on
  // the announced size before its content is read). For small files and tests.
  Result<std::string> ReadFile(const std::string& path, const std::string& user,
                               size_t max_bytes = kMaxReadFileBytes) const;
  // filesystem.Filesystem/<method> unary call with a JSON body; returns the response JSON.
  Result<nlohmann::json> CallUnary(const std::string& service_method, const nlohmann::json& body,
                                   const std::string& user) const;
  // GET /health -> 204
  Result<void> Health() const;

  const std::string& socket_path() const { return socket_path_; }

 private:
  std::string socket_path_;
  int64_t io_timeout_ms_;
};

// Opens a port tunnel to `port` on the loopback of the sandbox whose agent listens on
// agent_socket_path: sends `CONNECT 127.0.0.1:<port> HTTP/1.1`, reads the agent's answer
// (header at most 16 KiB, error body at most kMaxErrorBody) and returns the connection,
// ready for raw bytes both ways (blocking, close-on-exec; shutdown(SHUT_WR) passes an
// end-of-file on). Nothing listening on the port: kUnavailable with the agent's message
// ("nothing listens on port N in the sandbox"). timeout_ms bounds connecting and the answer.
Result<UniqueFd> OpenPortTunnel(const std::string& agent_socket_path, int port, int timeout_ms);

}  // namespace sbx::agentclient
