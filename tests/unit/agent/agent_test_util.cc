// Helpers for the agent integration tests.
#include "agent_test_util.h"

#include <dirent.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <thread>

#include "common/util.h"
#include "protocol/base64.h"

namespace sbx::agent::testing {

AgentProcess::AgentProcess() {
  char tmpl[] = "/tmp/sbx-agent-test-XXXXXX";
  dir_ = mkdtemp(tmpl);
  socket_path_ = dir_ + "/agent.sock";
  int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, socket_path_.c_str(), sizeof addr.sun_path - 1);
  if (bind(lfd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || listen(lfd, 64) != 0) {
    std::abort();
  }
  pid_ = fork();
  if (pid_ == 0) {
    dup2(lfd, 3);
    if (lfd != 3) close(lfd);
    const char* argv[] = {SBX_AGENT_PATH, "--default-user", "root", "--env", "SBX_TEST=1",
                          "--log-level", "warn", nullptr};
    execv(SBX_AGENT_PATH, const_cast<char**>(argv));
    _exit(127);
  }
  close(lfd);
}

AgentProcess::~AgentProcess() {
  kill(pid_, SIGTERM);
  int status;
  waitpid(pid_, &status, 0);
  std::string cmd = "rm -rf '" + dir_ + "'";
  if (std::system(cmd.c_str()) != 0) std::abort();
}

int ConnectUnix(const std::string& path) {
  int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof addr.sun_path - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    close(fd);
    return -1;
  }
  return fd;
}

namespace {
std::string Dechunk(const std::string& in) {
  std::string out;
  size_t pos = 0;
  while (pos < in.size()) {
    size_t eol = in.find("\r\n", pos);
    if (eol == std::string::npos) break;
    size_t n = std::strtoul(in.substr(pos, eol - pos).c_str(), nullptr, 16);
    if (n == 0) break;
    out += in.substr(eol + 2, n);
    pos = eol + 2 + n + 2;
  }
  return out;
}
}  // namespace

RawResponse RawHttp(const std::string& socket_path, const std::string& request) {
  RawResponse r;
  int fd = ConnectUnix(socket_path);
  if (fd < 0) return r;
  size_t off = 0;
  while (off < request.size()) {
    ssize_t n = send(fd, request.data() + off, request.size() - off, MSG_NOSIGNAL);
    if (n <= 0) break;
    off += static_cast<size_t>(n);
  }
  std::string all;
  char buf[65536];
  while (true) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n <= 0) break;
    all.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  return ParseResponse(all);
}

RawResponse ParseResponse(const std::string& all) {
  RawResponse r;
  size_t hdr_end = all.find("\r\n\r\n");
  if (hdr_end == std::string::npos || all.size() < 12) return r;
  r.status = std::atoi(all.substr(9, 3).c_str());
  r.headers = all.substr(0, hdr_end);
  std::string body = all.substr(hdr_end + 4);
  std::string lower = r.headers;
  for (auto& c : lower) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  r.body = lower.find("transfer-encoding: chunked") != std::string::npos ? Dechunk(body) : body;
  return r;
}

std::string StreamRequest(const std::string& method, const std::string& json,
                          const std::string& extra_headers, const std::string& service) {
  std::string body = protocol::EncodeData(json);
  return "POST /" + service + "/" + method + " HTTP/1.1\r\nHost: x\r\n"
         "Content-Type: application/connect+json\r\nConnection: close\r\n" + extra_headers +
         "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

std::vector<protocol::Envelope> Frames(const std::string& body) {
  protocol::EnvelopeDecoder d;
  std::vector<protocol::Envelope> frames;
  (void)d.Feed(body, &frames);
  return frames;
}

StreamConnection::StreamConnection(const std::string& socket_path, const std::string& request) {
  fd_ = ConnectUnix(socket_path);
  if (fd_ >= 0) (void)!send(fd_, request.data(), request.size(), MSG_NOSIGNAL);
}

StreamConnection::~StreamConnection() {
  if (fd_ >= 0) close(fd_);
}

bool StreamConnection::ReadSome() {
  pollfd p{fd_, POLLIN, 0};
  if (poll(&p, 1, 100) <= 0) return true;
  char buf[65536];
  ssize_t n = read(fd_, buf, sizeof buf);
  if (n <= 0) return false;
  raw_.append(buf, static_cast<size_t>(n));
  return true;
}

bool StreamConnection::WaitFor(const std::string& needle) {
  return WaitUntil([&](const std::vector<nlohmann::json>&) {
    return raw_.find(needle) != std::string::npos;
  });
}

bool StreamConnection::WaitUntil(
    const std::function<bool(const std::vector<nlohmann::json>&)>& pred) {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(5);
  while (!pred(FramesSoFar())) {
    if (std::chrono::steady_clock::now() >= end || !ReadSome()) return pred(FramesSoFar());
  }
  return true;
}

std::vector<nlohmann::json> StreamConnection::FramesSoFar() const {
  std::vector<nlohmann::json> out;
  const size_t hdr_end = raw_.find("\r\n\r\n");
  if (hdr_end == std::string::npos) return out;
  for (const auto& f : Frames(Dechunk(raw_.substr(hdr_end + 4)))) {
    out.push_back(nlohmann::json::parse(f.payload, nullptr, false));
    if (f.end_stream()) out.back()["__end"] = true;
  }
  return out;
}

std::vector<nlohmann::json> StreamConnection::Finish() {
  const auto end = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (std::chrono::steady_clock::now() < end && ReadSome()) {
  }
  return FramesSoFar();
}

std::string ProcessOutput(const std::vector<nlohmann::json>& frames, const std::string& kind) {
  std::string out;
  for (const auto& f : frames) {
    if (!f.is_object() || !f.contains("event") || !f["event"].contains("data")) continue;
    const auto& d = f["event"]["data"];
    if (!d.contains(kind)) continue;
    auto bytes = protocol::Base64Decode(d[kind].get<std::string>());
    if (bytes.ok()) out += bytes.value();
  }
  return out;
}

std::vector<pid_t> SessionMembers(pid_t sid) {
  std::vector<pid_t> out;
  DIR* d = opendir("/proc");
  while (dirent* de = readdir(d)) {
    if (de->d_name[0] < '0' || de->d_name[0] > '9') continue;
    auto stat = ReadFile(std::string("/proc/") + de->d_name + "/stat");
    if (!stat.ok()) continue;
    const std::string& s = stat.value();
    size_t close_paren = s.rfind(')');
    if (close_paren == std::string::npos || close_paren + 2 >= s.size()) continue;
    char state;
    int ppid, pgrp, session;
    if (std::sscanf(s.c_str() + close_paren + 2, "%c %d %d %d", &state, &ppid, &pgrp,
                    &session) == 4 &&
        session == sid && state != 'Z') {
      out.push_back(static_cast<pid_t>(std::atoi(de->d_name)));
    }
  }
  closedir(d);
  return out;
}

}  // namespace sbx::agent::testing
