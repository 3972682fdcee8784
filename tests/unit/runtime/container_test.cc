// Adopting a running init after a daemon restart: pidfd plus start time name one process for
// good; a wrong start time (pid reuse) is refused; Kill and Reap work on a process that is not
// the caller's child.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include "runtime/runtime.h"

namespace sbx::runtime {
namespace {

TEST(AdoptContainer, KillsAndReapsAnAdoptedProcess) {
  pid_t child = ::fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    for (;;) ::pause();
  }
  auto start = ProcessStartTime(child);
  ASSERT_TRUE(start.ok()) << start.error().ToString();
  EXPECT_GT(*start, 0u);

  auto wrong = AdoptContainer(child, *start + 1);
  ASSERT_FALSE(wrong.ok());
  EXPECT_EQ(wrong.error().code, ErrorCode::kNotFound);

  auto adopted = AdoptContainer(child, *start);
  ASSERT_TRUE(adopted.ok()) << adopted.error().ToString();
  EXPECT_TRUE((*adopted)->adopted());
  EXPECT_EQ((*adopted)->pid(), child);
  auto still = (*adopted)->Reap(false, nullptr);
  ASSERT_TRUE(still.ok());
  EXPECT_FALSE(*still);
  ASSERT_TRUE((*adopted)->Kill().ok());
  int status = -1;
  auto gone = (*adopted)->Reap(true, &status);
  ASSERT_TRUE(gone.ok()) << gone.error().ToString();
  EXPECT_TRUE(*gone);
  EXPECT_EQ(status, 0);  // the status belongs to the real parent
  int real = 0;
  ASSERT_EQ(::waitpid(child, &real, 0), child);
  EXPECT_TRUE(WIFSIGNALED(real) && WTERMSIG(real) == SIGKILL);

  auto after = AdoptContainer(child, *start);
  ASSERT_FALSE(after.ok());
  EXPECT_EQ(after.error().code, ErrorCode::kNotFound);
}

TEST(AdoptContainer, RefusesInitAndNonsense) {
  EXPECT_FALSE(AdoptContainer(1, 0).ok());
  EXPECT_FALSE(AdoptContainer(0, 0).ok());
  EXPECT_FALSE(ProcessStartTime(-5).ok());
}

}  // namespace
}  // namespace sbx::runtime
