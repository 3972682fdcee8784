// process.Process messages (E2B-PROTOCOL.md 3.2): request parsing (StartRequest, selectors,
// input, signals, PTY sizes) and ProcessEvent builders with Go ProcessState-style status
// strings ("exit status 3", "signal: killed").
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"
#include "protocol/json_fields.h"

namespace sbx::protocol {

struct ProcessConfig {
  std::string cmd;
  std::vector<std::string> args;
  std::map<std::string, std::string> envs;
  std::optional<std::string> cwd;
};

struct PtySize {
  uint32_t cols = 80;
  uint32_t rows = 24;
};

struct StartRequest {
  ProcessConfig process;
  std::optional<PtySize> pty;
  std::optional<std::string> tag;
  bool stdin_open = true;  // proto3 optional: absent means true
};

struct ProcessSelector {
  std::optional<uint32_t> pid;
  std::optional<std::string> tag;
};

enum class InputKind { kStdin, kPty };
struct ProcessInput {
  InputKind kind = InputKind::kStdin;
  std::string data;
};

enum class OutputKind { kStdout, kStderr, kPty };

Result<StartRequest> ParseStartRequest(const Json& body);
// Reads {"process":{"pid":N}|{"tag":"t"}} from a request body.
Result<ProcessSelector> ParseSelector(const Json& body);
// SendInput: {"process":..., "input":{"stdin":"b64"}|{"pty":"b64"}}
Result<ProcessInput> ParseInput(const Json& body);
// SendSignal: "SIGNAL_SIGKILL", "SIGNAL_SIGTERM" or the numbers 9 / 15. Returns the signal.
Result<int> ParseSignal(const Json& body);
// Update: {"process":..., "pty":{"size":{"cols","rows"}}}; nullopt when no pty is given.
Result<std::optional<PtySize>> ParsePtyUpdate(const Json& body);

const char* SignalEnumName(int sig);  // "SIGNAL_SIGKILL", ... or "SIGNAL_UNSPECIFIED"
// Go syscall.Signal.String(): "killed", "terminated", "interrupt", ...
std::string GoSignalString(int sig);

struct EndInfo {
  int exit_code = 0;
  bool exited = true;
  std::string status;
  std::optional<std::string> error;
};
// From a waitpid() status, as Go's os.ProcessState renders it.
EndInfo EndInfoFromWaitStatus(int wait_status);

// {"event":{"start":{"pid":N}}} etc. Output bytes are base64 encoded.
Json StartEventJson(uint32_t pid);
Json DataEventJson(OutputKind kind, std::string_view bytes);
Json KeepaliveEventJson();
Json EndEventJson(const EndInfo& end);
// ProcessInfo {config:{cmd,args,envs,cwd?}, pid, tag?}
Json ProcessInfoJson(const ProcessConfig& config, uint32_t pid,
                     const std::optional<std::string>& tag);

}  // namespace sbx::protocol
