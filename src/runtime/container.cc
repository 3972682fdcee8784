// Container: the handle of a launched sandbox init, driven through its pidfd (no pid reuse
// races).
#include <poll.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <string>

#include "common/util.h"
#include "runtime/runtime.h"
#include "runtime/syscalls.h"

namespace sbx::runtime {

Result<void> Container::Kill() {
  if (sys::PidfdSendSignal(pidfd_.get(), SIGKILL) != 0 && errno != ESRCH) {
    return SysError("pidfd_send_signal(SIGKILL) to sandbox init " + std::to_string(pid_));
  }
  return Ok();
}

Result<bool> Container::Reap(bool block, int* wait_status) {
  if (adopted_) {
    // Not our child: the pidfd turns readable when the process has exited; someone else
    // (init, a subreaper) collects its status.
    pollfd p{pidfd_.get(), POLLIN, 0};
    int rc;
    do {
      rc = ::poll(&p, 1, block ? -1 : 0);
    } while (rc < 0 && errno == EINTR);
    if (rc < 0) return SysError("poll(pidfd) for sandbox init " + std::to_string(pid_));
    if (rc == 0) return false;
    if (wait_status != nullptr) *wait_status = 0;
    return true;
  }
  siginfo_t info{};
  int options = WEXITED | (block ? 0 : WNOHANG);
  int rc;
  do {
    rc = ::waitid(static_cast<idtype_t>(P_PIDFD), static_cast<id_t>(pidfd_.get()), &info, options);
  } while (rc != 0 && errno == EINTR);
  if (rc != 0) return SysError("waitid(P_PIDFD) for sandbox init " + std::to_string(pid_));
  if (info.si_pid == 0) return false;  // WNOHANG and still running
  if (wait_status != nullptr) {
    switch (info.si_code) {
      case CLD_EXITED:
        *wait_status = (info.si_status & 0xff) << 8;
        break;
      case CLD_KILLED:
        *wait_status = info.si_status & 0x7f;
        break;
      case CLD_DUMPED:
        *wait_status = (info.si_status & 0x7f) | 0x80;
        break;
      default:
        *wait_status = 0;
    }
  }
  return true;
}

Result<uint64_t> ProcessStartTime(pid_t pid) {
  ASSIGN_OR_RETURN(std::string stat, ReadFile("/proc/" + std::to_string(pid) + "/stat"));
  // The command name (field 2) is in parentheses and may contain spaces and ')'.
  size_t close = stat.rfind(')');
  if (close == std::string::npos)
    return MakeError(ErrorCode::kInternal, "unexpected /proc/" + std::to_string(pid) + "/stat");
  size_t pos = close + 2;  // field 3 starts here
  for (int field = 3; field < 22; ++field) {
    pos = stat.find(' ', pos);
    if (pos == std::string::npos)
      return MakeError(ErrorCode::kInternal, "short /proc/" + std::to_string(pid) + "/stat");
    ++pos;
  }
  return std::stoull(stat.substr(pos, stat.find(' ', pos) - pos));
}

Result<std::unique_ptr<Container>> AdoptContainer(pid_t pid, uint64_t start_time) {
  std::string what = "sandbox init " + std::to_string(pid);
  if (pid <= 1) return MakeError(ErrorCode::kInvalidArgument, "cannot adopt " + what);
  UniqueFd pidfd(static_cast<int>(::syscall(SYS_pidfd_open, pid, 0)));
  if (!pidfd) {
    if (errno == ESRCH) return MakeError(ErrorCode::kNotFound, what + " is gone");
    return SysError("pidfd_open " + what);
  }
  // Checked after the pidfd exists: if the start time still matches now, the pidfd names the
  // original process and cannot be redirected by pid reuse.
  auto started = ProcessStartTime(pid);
  if (!started.ok() || *started != start_time)
    return MakeError(ErrorCode::kNotFound, what + " is gone (its pid now names another process)");
  return std::make_unique<Container>(pid, std::move(pidfd), /*adopted=*/true);
}

}  // namespace sbx::runtime
