/* sandbox_facts: a static helper the runtime tests launch as the sandbox agent. It reports
 * what it sees inside the sandbox as "key=value" lines on fd 1 and exits with status 7.
 * Plain C and raw system calls: it must not depend on anything inside the sandbox. */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/personality.h>
#include <sys/prctl.h>
#include <sys/ptrace.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/utsname.h>
#include <unistd.h>

static void ReportErrno(const char* key, long rc) {
  printf("%s=%d\n", key, rc == 0 ? 0 : errno);
}

/* Prints the value of "<key>:" in a /proc status-like file. */
static void ReportField(const char* file, const char* field, const char* key) {
  char line[512];
  FILE* f = fopen(file, "r");
  if (f == NULL) {
    printf("%s=?\n", key);
    return;
  }
  size_t n = strlen(field);
  while (fgets(line, sizeof line, f)) {
    if (strncmp(line, field, n) == 0) {
      char* v = line + n;
      while (*v == ' ' || *v == '\t') ++v;
      v[strcspn(v, "\n")] = '\0';
      printf("%s=%s\n", key, v);
      break;
    }
  }
  fclose(f);
}

int main(int argc, char** argv) {
  struct utsname u;
  uname(&u);
  printf("uid=%d\ngid=%d\npid=%d\n", (int)getuid(), (int)getgid(), (int)getpid());
  char buf[4096];
  ssize_t n = readlink("/proc/self", buf, sizeof buf - 1);
  buf[n < 0 ? 0 : n] = '\0';
  printf("proc_self=%s\n", buf);
  printf("hostname=%s\n", u.nodename);
  printf("argv1=%s\n", argc > 1 ? argv[1] : "");
  printf("env_FOO=%s\n", getenv("FOO") ? getenv("FOO") : "");
  printf("cwd=%s\n", getcwd(buf, sizeof buf) ? buf : "?");
  ReportErrno("keyctl_errno", syscall(SYS_keyctl, 0 /* GET_KEYRING_ID */, -3, 0));
  ReportErrno("mount_errno", mount("none", "/mnt", "tmpfs", 0, NULL));
  ReportErrno("unshare_errno", unshare(CLONE_NEWUSER));
  ReportErrno("clone3_errno", syscall(SYS_clone3, NULL, 0));
  ReportErrno("ptrace_errno", ptrace(PTRACE_PEEKDATA, 1, NULL, NULL) == -1 ? -1 : 0);
  ReportErrno("personality_bad_errno", personality(ADDR_NO_RANDOMIZE) == -1 ? -1 : 0);
  ReportErrno("personality_query_errno", personality(0xffffffff) == -1 ? -1 : 0);
  ReportField("/proc/self/status", "CapEff:", "cap_eff");
  ReportField("/proc/self/status", "CapBnd:", "cap_bnd");
  ReportField("/proc/self/status", "Seccomp:", "seccomp");
  printf("no_new_privs=%d\n", prctl(PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0));
  struct stat st;
  printf("fd3_socket=%d\n", fstat(3, &st) == 0 && S_ISSOCK(st.st_mode));
  printf("fd3_cloexec=%d\n", fcntl(3, F_GETFD) & FD_CLOEXEC);
  printf("fd4_open=%d\n", fcntl(4, F_GETFD) >= 0);
  printf("fd5_open=%d\n", fcntl(5, F_GETFD) >= 0);
  printf("home_uid=%d\n", stat("/home/user", &st) == 0 ? (int)st.st_uid : -1);
  int fd = open("/tmp/facts_probe", O_WRONLY | O_CREAT | O_TRUNC, 0644);
  printf("tmp_writable=%d\n", fd >= 0);
  if (fd >= 0) close(fd);
  fd = open("/dev/null", O_WRONLY);
  printf("dev_null_write=%d\n", fd >= 0 && write(fd, "x", 1) == 1);
  if (fd >= 0) close(fd);
  printf("usr_bin_env=%d\n", access("/usr/bin/env", X_OK) == 0);
  fd = open("/usr/bin/.facts_probe", O_WRONLY | O_CREAT, 0644);
  printf("usr_writable=%d\n", fd >= 0);
  FILE* pw = fopen("/etc/passwd", "r");
  int has_user = 0;
  while (pw && fgets(buf, sizeof buf, pw)) {
    if (strncmp(buf, "user:x:1000:1000:", 17) == 0) has_user = 1;
  }
  if (pw) fclose(pw);
  printf("etc_passwd_user=%d\n", has_user);
  struct rlimit rl;
  getrlimit(RLIMIT_NOFILE, &rl);
  printf("nofile=%llu\n", (unsigned long long)rl.rlim_cur);
  /* Interfaces: names in /proc/net/dev after the two header lines. */
  FILE* f = fopen("/proc/net/dev", "r");
  int lines = 0, ifaces = 0;
  while (f && fgets(buf, sizeof buf, f)) {
    if (++lines > 2) ++ifaces;
  }
  if (f) fclose(f);
  printf("net_ifaces=%d\n", ifaces);
  f = fopen("/proc/self/cgroup", "r");
  while (f && fgets(buf, sizeof buf, f)) {
    char* p = strstr(buf, ":memory:");
    if (p) {
      p[strcspn(p, "\n")] = '\0';
      printf("memory_cgroup_path=%s\n", p + 8);
    }
  }
  if (f) fclose(f);
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  strcpy(ifr.ifr_name, "lo");
  int s = socket(AF_INET, SOCK_DGRAM, 0);
  printf("lo_up=%d\n", s >= 0 && ioctl(s, SIOCGIFFLAGS, &ifr) == 0 && (ifr.ifr_flags & IFF_UP));
  fflush(stdout);
  return 7;
}
