// RunCommand: runs a helper program of a build (mmdebstrap, apt-get, pip in a chroot, npm, cp)
// with its stdout and stderr merged into one pipe, hands every output line to a callback (the
// build log and the progress stream) and keeps the last lines for error messages.
//
// Thread safety: reentrant. Uses posix_spawn (safe in a multi-threaded daemon); the child gets
// its own session, stdin from /dev/null and the daemon's environment plus `extra_env`.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sbx::templates {

struct CommandResult {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string tail;    // the last lines of output (about 60), for error messages
  std::string output;  // all of it when `keep_output` (capped at 8 MiB)
  bool ok() const { return exit_code == 0; }
  std::string Describe() const;  // "exit 100" / "signal 9"
};

using LineFn = std::function<void(std::string_view line)>;

// An error only when the program could not be started; a non-zero exit is a CommandResult.
// Lines are split on '\n' and '\r' (progress bars redraw with '\r').
Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& extra_env, const LineFn& on_line,
                                 bool keep_output = false);

// The absolute path of `name` in PATH (plus /usr/sbin and /sbin), or "" when absent.
std::string FindProgram(const std::string& name);

}  // namespace sbx::templates
