// RunCommand: posix_spawn with one output pipe, line splitting and a bounded tail.
#include "templates/command.h"

#include <fcntl.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <deque>
#include <map>

#include "common/unique_fd.h"

extern char** environ;

namespace sbx::templates {
namespace {

constexpr size_t kTailLines = 60;
constexpr size_t kMaxOutput = 8 << 20;

}  // namespace

std::string CommandResult::Describe() const {
  if (signal != 0) return "killed by signal " + std::to_string(signal);
  return "exit status " + std::to_string(exit_code);
}

std::string FindProgram(const std::string& name) {
  if (name.find('/') != std::string::npos) return ::access(name.c_str(), X_OK) == 0 ? name : "";
  const char* p = std::getenv("PATH");
  std::string path = std::string(p ? p : "/usr/local/bin:/usr/bin:/bin") + ":/usr/sbin:/sbin";
  size_t i = 0;
  while (i <= path.size()) {
    size_t j = path.find(':', i);
    if (j == std::string::npos) j = path.size();
    std::string dir = path.substr(i, j - i);
    if (!dir.empty()) {
      std::string cand = dir + "/" + name;
      struct stat st;
      if (::stat(cand.c_str(), &st) == 0 && S_ISREG(st.st_mode) && ::access(cand.c_str(), X_OK) == 0)
        return cand;
    }
    i = j + 1;
  }
  return "";
}

Result<CommandResult> RunCommand(const std::vector<std::string>& argv,
                                 const std::vector<std::string>& extra_env, const LineFn& on_line,
                                 bool keep_output) {
  if (argv.empty()) return MakeError(ErrorCode::kInvalidArgument, "RunCommand: empty argv");
  std::string exe = FindProgram(argv[0]);
  if (exe.empty())
    return MakeError(ErrorCode::kNotFound, "program '" + argv[0] + "' is not installed");

  // Environment: the daemon's, overridden by extra_env.
  std::map<std::string, std::string> env;
  for (char** e = environ; e && *e; ++e) {
    std::string kv = *e;
    size_t eq = kv.find('=');
    if (eq != std::string::npos) env[kv.substr(0, eq)] = kv;
  }
  for (const std::string& kv : extra_env) env[kv.substr(0, kv.find('='))] = kv;
  std::vector<std::string> env_strings;
  for (auto& [k, kv] : env) env_strings.push_back(kv);
  std::vector<char*> envp, args;
  for (std::string& s : env_strings) envp.push_back(s.data());
  envp.push_back(nullptr);
  std::vector<std::string> argv_copy = argv;
  for (std::string& s : argv_copy) args.push_back(s.data());
  args.push_back(nullptr);

  int fds[2];
  if (::pipe2(fds, O_CLOEXEC) != 0) return SysError("pipe2");
  UniqueFd rd(fds[0]), wr(fds[1]);
  posix_spawn_file_actions_t fa;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&fa);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 1);
  posix_spawn_file_actions_adddup2(&fa, wr.get(), 2);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSID | POSIX_SPAWN_SETSIGMASK |
                                      POSIX_SPAWN_SETSIGDEF);
  sigset_t none, all;
  sigemptyset(&none);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &none);
  posix_spawnattr_setsigdefault(&attr, &all);
  pid_t pid = 0;
  int rc = ::posix_spawn(&pid, exe.c_str(), &fa, &attr, args.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  posix_spawnattr_destroy(&attr);
  wr.reset();
  if (rc != 0) return SysError("spawn " + exe, rc);

  CommandResult res;
  std::deque<std::string> tail;
  std::string partial;
  auto emit = [&](std::string line) {
    if (line.empty()) return;
    if (on_line) on_line(line);
    tail.push_back(line);
    if (tail.size() > kTailLines) tail.pop_front();
  };
  char buf[16384];
  for (;;) {
    ssize_t n = ::read(rd.get(), buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    if (keep_output && res.output.size() < kMaxOutput) res.output.append(buf, static_cast<size_t>(n));
    for (ssize_t i = 0; i < n; ++i) {
      char c = buf[i];
      if (c == '\n' || c == '\r') {
        emit(std::move(partial));
        partial.clear();
      } else if (partial.size() < 8192) {
        partial.push_back(c);
      }
    }
  }
  emit(std::move(partial));
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return SysError("waitpid " + exe);
  }
  if (WIFEXITED(status)) res.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) res.signal = WTERMSIG(status);
  for (const std::string& l : tail) res.tail += l + "\n";
  return res;
}

}  // namespace sbx::templates
