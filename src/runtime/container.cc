// Container: the handle of a launched sandbox init, driven through its pidfd (no pid reuse
// races).
#include <signal.h>
#include <sys/wait.h>

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

}  // namespace sbx::runtime
