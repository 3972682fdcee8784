// Runs the real sbx-agent (as host root, on a temporary unix socket) and drives it through
// AgentClient and raw HTTP: processes, deadlines, detached streams, stdin, files, filesystem
// RPCs and hostile input.
#include <gtest/gtest.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <future>
#include <sstream>
#include <thread>

#include "protocol/gzip.h"
#include "agent_fixture.h"
#include "agentclient/agent_client.h"
#include "common/util.h"
#include "protocol/base64.h"

namespace sbx::agent {
using ::sbx::protocol::AcceptsGzip;
using ::sbx::protocol::Deflater;
using ::sbx::protocol::Inflater;
namespace {

using agentclient::AgentClient;
using agentclient::ProcessEnd;
using agentclient::RunCallbacks;
using agentclient::StartOptions;
using nlohmann::json;
using testing::Frames;
using testing::RawHttp;
using testing::StreamRequest;

class AgentTest : public testing::AgentFixture {
 protected:
  StartOptions Opts(std::vector<std::string> argv) {
    StartOptions o;
    o.argv = std::move(argv);
    o.user = "root";
    return o;
  }
  struct Output {
    std::string out, err;
    uint32_t pid = 0;
  };
  RunCallbacks Capture(Output* o) {
    RunCallbacks cb;
    cb.on_start = [o](uint32_t pid) { o->pid = pid; };
    cb.on_stdout = [o](std::string_view d) { o->out.append(d); };
    cb.on_stderr = [o](std::string_view d) { o->err.append(d); };
    return cb;
  }
};

TEST_F(AgentTest, EchoHi) {
  Output o;
  auto end = client_->Run(Opts({"echo", "hi"}), Capture(&o));
  ASSERT_TRUE(end.ok()) << end.error().ToString();
  EXPECT_EQ(o.out, "hi\n");
  EXPECT_GT(o.pid, 0u);
  EXPECT_EQ(end->exit_code, 0);
  EXPECT_TRUE(end->exited);
  EXPECT_EQ(end->status, "exit status 0");
  EXPECT_EQ(end->error, "");
}

TEST_F(AgentTest, NonZeroExitStderrAndEnv) {
  Output o;
  auto opts = Opts({"/bin/sh", "-c", "echo $SBX_TEST $MINE $USER $HOME; pwd; echo oops >&2; exit 3"});
  opts.envs["MINE"] = "mine";
  opts.cwd = "/tmp";
  auto end = client_->Run(opts, Capture(&o));
  ASSERT_TRUE(end.ok()) << end.error().ToString();
  EXPECT_EQ(o.out, "1 mine root /root\n/tmp\n");
  EXPECT_EQ(o.err, "oops\n");
  EXPECT_EQ(end->exit_code, 3);
  EXPECT_EQ(end->error, "exit status 3");
}

TEST_F(AgentTest, StartErrorsArriveBeforeAnyEvent) {
  Output o;
  auto opts = Opts({"true"});
  opts.cwd = "/definitely/not/here";
  auto end = client_->Run(opts, Capture(&o));
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(o.pid, 0u);
  opts = Opts({"true"});
  opts.user = "no-such-user";
  end = client_->Run(opts, Capture(&o));
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code, ErrorCode::kUnauthenticated);
  end = client_->Run(Opts({"/no/such/binary"}), Capture(&o));
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code, ErrorCode::kInvalidArgument);
}

TEST_F(AgentTest, DeadlineKillsTheWholeTree) {
  Output o;
  auto opts = Opts({"/bin/sh", "-c", "sleep 100 & setsid sleep 100 & sleep 100"});
  opts.timeout_ms = 700;
  const auto t0 = std::chrono::steady_clock::now();
  auto end = client_->Run(opts, Capture(&o));
  ASSERT_FALSE(end.ok());
  EXPECT_EQ(end.error().code, ErrorCode::kDeadlineExceeded);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ASSERT_GT(o.pid, 0u);
  std::vector<pid_t> left;
  for (int i = 0; i < 100; ++i) {
    left = testing::SessionMembers(static_cast<pid_t>(o.pid));
    if (left.empty()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  EXPECT_TRUE(left.empty()) << left.size() << " processes of the session survived";
}

TEST_F(AgentTest, ProcessOutlivesDroppedClientAndLateConnectGetsEnd) {
  // Start, read only the start event, hang up.
  int fd = testing::ConnectUnix(agent_.socket_path());
  ASSERT_GE(fd, 0);
  std::string req = StreamRequest(
      "Start", R"({"process":{"cmd":"/bin/sh","args":["-c","sleep 0.5; echo late; exit 4"]}})",
      "Authorization: Basic cm9vdDo=\r\n");
  ASSERT_EQ(write(fd, req.data(), req.size()), static_cast<ssize_t>(req.size()));
  std::string got;
  char buf[4096];
  while (got.find("pid") == std::string::npos) {
    ssize_t n = read(fd, buf, sizeof buf);
    ASSERT_GT(n, 0);
    got.append(buf, static_cast<size_t>(n));
  }
  close(fd);
  size_t p = got.find("\"pid\":");
  const uint32_t pid = static_cast<uint32_t>(std::stoul(got.substr(p + 6)));
  // The process is still listed and keeps running without a client.
  auto list = client_->List();
  ASSERT_TRUE(list.ok());
  EXPECT_NE(list->dump().find(std::to_string(pid)), std::string::npos);
  auto r = RawHttp(agent_.socket_path(),
                   StreamRequest("Connect", R"({"process":{"pid":)" + std::to_string(pid) + "}}"));
  ASSERT_EQ(r.status, 200);
  auto frames = Frames(r.body);
  ASSERT_GE(frames.size(), 3u);
  EXPECT_NE(frames.front().payload.find("\"start\""), std::string::npos);
  EXPECT_NE(frames[frames.size() - 2].payload.find("\"exitCode\":4"), std::string::npos);
  EXPECT_TRUE(frames.back().end_stream());
  EXPECT_EQ(frames.back().payload, "{}");
  // After the exit, a late Connect still gets start + end + end-of-stream.
  r = RawHttp(agent_.socket_path(),
              StreamRequest("Connect", R"({"process":{"pid":)" + std::to_string(pid) + "}}"));
  frames = Frames(r.body);
  ASSERT_EQ(frames.size(), 3u);
  EXPECT_NE(frames[1].payload.find("exit status 4"), std::string::npos);
}

// The review made the agent's listening socket non-blocking (through pidfd_getfd) and the
// agent exited on accept's EAGAIN. It must keep serving.
TEST_F(AgentTest, ListeningSocketMadeNonBlockingKeepsServing) {
  int pidfd = static_cast<int>(::syscall(SYS_pidfd_open, agent_.pid(), 0));
  ASSERT_GE(pidfd, 0);
  int lfd = static_cast<int>(::syscall(SYS_pidfd_getfd, pidfd, 3, 0));
  ASSERT_GE(lfd, 0);
  ASSERT_EQ(::fcntl(lfd, F_SETFL, ::fcntl(lfd, F_GETFL) | O_NONBLOCK), 0);
  ::close(lfd);
  ::close(pidfd);
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));  // accept sees EAGAIN now
  for (int i = 0; i < 3; ++i) EXPECT_TRUE(client_->Health().ok()) << i;
  EXPECT_EQ(::kill(agent_.pid(), 0), 0);
}

TEST_F(AgentTest, UnknownPidIsNotFound) {
  auto r = RawHttp(agent_.socket_path(),
                   StreamRequest("Connect", R"({"process":{"pid":4000000}})"));
  ASSERT_EQ(r.status, 200);
  auto frames = Frames(r.body);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_TRUE(frames[0].end_stream());
  EXPECT_NE(frames[0].payload.find("not_found"), std::string::npos);
  auto s = client_->SendSignal(4000000, 9);
  ASSERT_FALSE(s.ok());
  EXPECT_EQ(s.error().code, ErrorCode::kNotFound);
}

TEST_F(AgentTest, StdinSendInputAndCloseStdin) {
  std::promise<uint32_t> started;
  Output o;
  RunCallbacks cb = Capture(&o);
  cb.on_start = [&](uint32_t pid) { started.set_value(pid); };
  auto opts = Opts({"cat"});
  opts.stdin_open = true;
  auto fut = std::async(std::launch::async, [&] { return client_->Run(opts, cb); });
  const uint32_t pid = started.get_future().get();
  json input = {{"process", {{"pid", pid}}},
                {"input", {{"stdin", protocol::Base64Encode("hello\n")}}}};
  ASSERT_TRUE(client_->CallUnary("process.Process/SendInput", input, "root").ok());
  ASSERT_TRUE(
      client_->CallUnary("process.Process/CloseStdin", {{"process", {{"pid", pid}}}}, "root").ok());
  auto end = fut.get();
  ASSERT_TRUE(end.ok()) << end.error().ToString();
  EXPECT_EQ(o.out, "hello\n");
  EXPECT_EQ(end->exit_code, 0);
}

TEST_F(AgentTest, StdinFalseIsDevNull) {
  Output o;
  auto end = client_->Run(Opts({"cat"}), Capture(&o));  // stdin_open defaults to false
  ASSERT_TRUE(end.ok());
  EXPECT_EQ(end->exit_code, 0);
}

TEST_F(AgentTest, SendSignalKills) {
  std::promise<uint32_t> started;
  RunCallbacks cb;
  cb.on_start = [&](uint32_t pid) { started.set_value(pid); };
  auto fut = std::async(std::launch::async, [&] { return client_->Run(Opts({"sleep", "100"}), cb); });
  const uint32_t pid = started.get_future().get();
  ASSERT_TRUE(client_->SendSignal(pid, 9).ok());
  auto end = fut.get();
  ASSERT_TRUE(end.ok());
  EXPECT_FALSE(end->exited);
  EXPECT_EQ(end->exit_code, -1);
  EXPECT_EQ(end->status, "signal: killed");
}

TEST_F(AgentTest, PtyStart) {
  std::string body = R"({"process":{"cmd":"/bin/sh","args":["-c","tty >/dev/null && echo is-a-tty; stty size"]},"pty":{"size":{"cols":91,"rows":17}}})";
  auto r = RawHttp(agent_.socket_path(),
                   StreamRequest("Start", body, "Authorization: Basic cm9vdDo=\r\n"));
  ASSERT_EQ(r.status, 200);
  std::string out;
  for (const auto& f : Frames(r.body)) {
    auto j = json::parse(f.payload, nullptr, false);
    if (j.contains("event") && j["event"].contains("data")) {
      out += protocol::Base64Decode(j["event"]["data"]["pty"].get<std::string>()).value();
    }
  }
  EXPECT_NE(out.find("is-a-tty"), std::string::npos) << out;
  EXPECT_NE(out.find("17 91"), std::string::npos) << out;
}

TEST_F(AgentTest, WriteReadFileRoundTrip) {
  const std::string path = agent_.dir() + "/deep/er/f.bin";
  std::string data("\0binary\xff data", 13);
  auto entry = client_->WriteFile(path, data, "root");
  ASSERT_TRUE(entry.ok()) << entry.error().ToString();
  EXPECT_EQ((*entry)["path"], path);
  EXPECT_EQ((*entry)["name"], "f.bin");
  EXPECT_EQ((*entry)["type"], "file");
  auto back = client_->ReadFile(path, "root");
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back.value(), data);
  ASSERT_TRUE(client_->WriteFile(path, "short", "root").ok());  // truncates
  EXPECT_EQ(client_->ReadFile(path, "root").value(), "short");
  EXPECT_EQ(client_->ReadFile(agent_.dir() + "/missing", "root").error().code,
            ErrorCode::kNotFound);
  EXPECT_EQ(client_->ReadFile(agent_.dir(), "root").error().code, ErrorCode::kInvalidArgument);
  EXPECT_EQ(client_->ReadFile(path, "no-such-user").error().code, ErrorCode::kUnauthenticated);
  // The kernel confines other users: nobody cannot write into the 0700 temp dir.
  auto denied = client_->WriteFile(agent_.dir() + "/x", "y", "nobody");
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied);
  // A symlink as the final component is refused for writes.
  ASSERT_EQ(symlink("/etc/hostname", (agent_.dir() + "/link").c_str()), 0);
  EXPECT_FALSE(client_->WriteFile(agent_.dir() + "/link", "z", "root").ok());
}

// sandboxd's `mode` extension of POST /files: applied to the written file, validated before
// anything is written, and only allowed where the user owns the file.
TEST_F(AgentTest, WriteFileMode) {
  const std::string d = agent_.dir();
  auto perm = [](const std::string& path) {
    struct stat st {};
    return stat(path.c_str(), &st) == 0 ? (st.st_mode & 07777) : 077777u;
  };
  ASSERT_TRUE(client_->WriteFile(d + "/run.sh", "#!/bin/sh\necho ran\n", "root", 0755).ok());
  EXPECT_EQ(perm(d + "/run.sh"), 0755u);
  Output o;
  auto end = client_->Run(Opts({d + "/run.sh"}), Capture(&o));
  ASSERT_TRUE(end.ok()) << end.error().ToString();
  EXPECT_EQ(o.out, "ran\n");
  ASSERT_TRUE(client_->WriteFile(d + "/secret", "s", "root", 0600).ok());
  EXPECT_EQ(perm(d + "/secret"), 0600u);
  // An existing file takes the new mode; without one it keeps its mode, as in envd.
  ASSERT_TRUE(client_->WriteFile(d + "/run.sh", "x", "root", 0640).ok());
  EXPECT_EQ(perm(d + "/run.sh"), 0640u);
  ASSERT_TRUE(client_->WriteFile(d + "/run.sh", "y", "root").ok());
  EXPECT_EQ(perm(d + "/run.sh"), 0640u);
  ASSERT_TRUE(client_->WriteFile(d + "/plain", "p", "root").ok());
  EXPECT_EQ(perm(d + "/plain"), 0644u & ~[] { mode_t m = umask(0); umask(m); return m; }());
  ASSERT_TRUE(client_->WriteFile(d + "/none", "n", "root", 0).ok());
  EXPECT_EQ(perm(d + "/none"), 0u);

  // Refused with a 400 naming the parameter, and nothing is written.
  for (const char* bad : {"4755", "2755", "1777", "8", "abc", "", "0x1ed", "77777"}) {
    auto r = RawHttp(agent_.socket_path(),
                     "POST /files?username=root&path=" + d + "/bad&mode=" + bad +
                         " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                         "Content-Type: application/octet-stream\r\nContent-Length: 1\r\n\r\nx");
    EXPECT_EQ(r.status, 400) << bad << ": " << r.body;
    EXPECT_NE(r.body.find("'mode'"), std::string::npos) << r.body;
  }
  EXPECT_EQ(perm(d + "/bad"), 077777u);

  // Multipart: every part gets the mode.
  const std::string b = "BOUNDARY";
  std::string body = "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
                     d + "/m1\"\r\n\r\n1\r\n--" + b +
                     "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + d +
                     "/m2\"\r\n\r\n2\r\n--" + b + "--\r\n";
  auto r = RawHttp(agent_.socket_path(),
                   "POST /files?username=root&mode=0711 HTTP/1.1\r\nHost: x\r\n"
                   "Connection: close\r\nContent-Type: multipart/form-data; boundary=" + b +
                       "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(perm(d + "/m1"), 0711u);
  EXPECT_EQ(perm(d + "/m2"), 0711u);

  // The chmod runs as the user: nobody may write root's world-writable file but not chmod it.
  ASSERT_EQ(chmod(d.c_str(), 0711), 0);
  ASSERT_EQ(mkdir((d + "/shared").c_str(), 0777), 0);
  ASSERT_EQ(chmod((d + "/shared").c_str(), 0777), 0);
  ASSERT_TRUE(client_->WriteFile(d + "/shared/f", "root's", "root", 0666).ok());
  ASSERT_TRUE(client_->WriteFile(d + "/shared/f", "nobody's", "nobody").ok());
  auto denied = client_->WriteFile(d + "/shared/f", "z", "nobody", 0755);
  ASSERT_FALSE(denied.ok());
  EXPECT_EQ(denied.error().code, ErrorCode::kPermissionDenied);
  EXPECT_EQ(perm(d + "/shared/f"), 0666u);
  // Asking for the mode it already has is no change, so no error.
  EXPECT_TRUE(client_->WriteFile(d + "/shared/f", "same", "nobody", 0666).ok());
  // nobody's own new file takes the mode.
  ASSERT_TRUE(client_->WriteFile(d + "/shared/g", "g", "nobody", 0700).ok());
  EXPECT_EQ(perm(d + "/shared/g"), 0700u);
  ASSERT_EQ(chmod(d.c_str(), 0700), 0);
}

TEST_F(AgentTest, GetFileGzipWhenItPays) {
  const std::string path = agent_.dir() + "/big.txt";
  ASSERT_TRUE(client_->WriteFile(path, std::string(100000, 'a'), "root").ok());
  auto r = RawHttp(agent_.socket_path(),
                   "GET /files?path=" + path + " HTTP/1.1\r\nHost: x\r\nAccept-Encoding: gzip\r\n"
                   "Connection: close\r\n\r\n");
  ASSERT_EQ(r.status, 200);
  EXPECT_NE(r.headers.find("Content-Encoding: gzip"), std::string::npos);
  EXPECT_NE(r.headers.find("Content-Disposition: inline; filename=\"big.txt\""),
            std::string::npos);
  EXPECT_LT(r.body.size(), 2000u);
  std::string plain;
  Inflater inf(1 << 20);
  ASSERT_TRUE(inf.Feed(r.body, [&](std::string_view s) -> Result<void> {
                   plain.append(s);
                   return Ok();
                 }).ok());
  EXPECT_EQ(plain, std::string(100000, 'a'));
}

TEST_F(AgentTest, MultipartAndGzipUploads) {
  const std::string b = "----formdata-undici-0123";
  const std::string p1 = agent_.dir() + "/m1.txt";
  const std::string p2 = agent_.dir() + "/sub/m2.txt";
  std::string body = "--" + b + "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" +
                     p1 + "\"\r\nContent-Type: application/octet-stream\r\n\r\nx\r\n--" + b +
                     "\r\nContent-Disposition: form-data; name=\"file\"; filename=\"" + p2 +
                     "\"\r\nContent-Type: application/octet-stream\r\n\r\nsecond\r\n--" + b +
                     "--\r\n";
  // Chunked request body, as undici sends it.
  std::string chunked;
  for (size_t i = 0; i < body.size(); i += 50) {
    std::string piece = body.substr(i, 50);
    std::ostringstream hex;
    hex << std::hex << piece.size();
    chunked += hex.str() + "\r\n" + piece + "\r\n";
  }
  chunked += "0\r\n\r\n";
  auto r = RawHttp(agent_.socket_path(),
                   "POST /files?username=root HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Content-Type: multipart/form-data; boundary=" + b +
                   "\r\nTransfer-Encoding: chunked\r\n\r\n" + chunked);
  ASSERT_EQ(r.status, 200) << r.body;
  auto j = json::parse(r.body);
  ASSERT_EQ(j.size(), 2u);
  EXPECT_EQ(j[1]["path"], p2);
  EXPECT_EQ(client_->ReadFile(p1, "root").value(), "x");
  EXPECT_EQ(client_->ReadFile(p2, "root").value(), "second");

  Deflater d;
  std::string gz = d.Compress("gzipped content", true).value();
  r = RawHttp(agent_.socket_path(),
              "POST /files?path=" + agent_.dir() + "/g.txt HTTP/1.1\r\nHost: x\r\n"
              "Connection: close\r\nContent-Type: application/octet-stream\r\n"
              "Content-Encoding: gzip\r\nContent-Length: " + std::to_string(gz.size()) +
              "\r\n\r\n" + gz);
  ASSERT_EQ(r.status, 200) << r.body;
  EXPECT_EQ(client_->ReadFile(agent_.dir() + "/g.txt", "root").value(), "gzipped content");
  // A raw upload without ?path= is a 400 with a JSON body.
  r = RawHttp(agent_.socket_path(),
              "POST /files HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
              "Content-Type: application/octet-stream\r\nContent-Length: 1\r\n\r\nx");
  EXPECT_EQ(r.status, 400);
  EXPECT_EQ(json::parse(r.body)["code"], 400);
}

TEST_F(AgentTest, FilesystemRpcs) {
  const std::string d = agent_.dir();
  auto call = [&](const char* m, json body) {
    return client_->CallUnary(std::string("filesystem.Filesystem/") + m, body, "root");
  };
  auto made = call("MakeDir", {{"path", d + "/a/b/c"}});
  ASSERT_TRUE(made.ok()) << made.error().ToString();
  EXPECT_EQ((*made)["entry"]["type"], "FILE_TYPE_DIRECTORY");
  EXPECT_EQ((*made)["entry"]["permissions"], "drwxr-xr-x");
  EXPECT_EQ(call("MakeDir", {{"path", d + "/a/b/c"}}).error().code, ErrorCode::kAlreadyExists);
  ASSERT_TRUE(client_->WriteFile(d + "/a/f.txt", "1", "root").ok());
  auto st = call("Stat", {{"path", d + "/a/f.txt"}});
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["entry"]["size"], "1");
  EXPECT_EQ((*st)["entry"]["mode"], 420);
  EXPECT_EQ((*st)["entry"]["owner"], "root");
  auto l1 = call("ListDir", {{"path", d + "/a"}, {"depth", 1}});
  ASSERT_TRUE(l1.ok());
  EXPECT_EQ((*l1)["entries"].size(), 2u);  // b and f.txt, not a itself
  auto l3 = call("ListDir", {{"path", d + "/a"}, {"depth", 3}});
  ASSERT_EQ((*l3)["entries"].size(), 3u);  // b, b/c and f.txt
  bool saw_c = false;
  for (const auto& e : (*l3)["entries"]) saw_c |= e["path"] == d + "/a/b/c";
  EXPECT_TRUE(saw_c);
  EXPECT_EQ(call("ListDir", {{"path", d + "/nope"}}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(call("ListDir", {{"path", d + "/a/f.txt"}}).error().code,
            ErrorCode::kInvalidArgument);
  auto mv = call("Move", {{"source", d + "/a/f.txt"}, {"destination", d + "/a/g.txt"}});
  ASSERT_TRUE(mv.ok());
  EXPECT_EQ((*mv)["entry"]["name"], "g.txt");
  EXPECT_EQ(call("Stat", {{"path", d + "/a/f.txt"}}).error().code, ErrorCode::kNotFound);
  // Remove is recursive and does not follow symlinks out of the tree.
  ASSERT_TRUE(client_->WriteFile(d + "/keep/k.txt", "k", "root").ok());
  ASSERT_EQ(symlink((d + "/keep").c_str(), (d + "/a/b/link").c_str()), 0);
  ASSERT_TRUE(call("Remove", {{"path", d + "/a"}}).ok());
  EXPECT_EQ(call("Stat", {{"path", d + "/a"}}).error().code, ErrorCode::kNotFound);
  EXPECT_TRUE(client_->ReadFile(d + "/keep/k.txt", "root").ok());
  EXPECT_EQ(call("Remove", {{"path", d + "/a"}}).error().code, ErrorCode::kNotFound);
}

TEST_F(AgentTest, HostileInputGetsCleanErrors) {
  auto bad_json = RawHttp(agent_.socket_path(),
                          "POST /filesystem.Filesystem/Stat HTTP/1.1\r\nHost: x\r\n"
                          "Connection: close\r\nContent-Type: application/json\r\n"
                          "Content-Length: 4\r\n\r\n{\"pa");
  EXPECT_EQ(bad_json.status, 400);
  EXPECT_EQ(json::parse(bad_json.body)["code"], "invalid_argument");
  auto wrong_type = client_->CallUnary("filesystem.Filesystem/Stat", {{"path", 7}}, "root");
  EXPECT_EQ(wrong_type.error().code, ErrorCode::kInvalidArgument);
  // A huge declared envelope is refused without being buffered.
  std::string frame("\x00\x7f\xff\xff\xff", 5);
  auto huge = RawHttp(agent_.socket_path(),
                      "POST /process.Process/Start HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                      "Content-Type: application/connect+json\r\nContent-Length: 5\r\n\r\n" +
                          frame);
  ASSERT_EQ(huge.status, 200);
  auto frames = Frames(huge.body);
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_NE(frames[0].payload.find("\"error\""), std::string::npos);
  auto compressed = RawHttp(agent_.socket_path(),
                            StreamRequest("Start", "{}").replace(
                                StreamRequest("Start", "{}").find(std::string("\x00\x00\x00\x00\x02", 5)),
                                1, std::string("\x01", 1)));
  EXPECT_NE(Frames(compressed.body).at(0).payload.find("invalid_argument"), std::string::npos);
  auto bad_b64 = client_->CallUnary(
      "process.Process/SendInput",
      {{"process", {{"pid", 1}}}, {"input", {{"stdin", "%%%"}}}}, "root");
  EXPECT_FALSE(bad_b64.ok());
  auto garbage = RawHttp(agent_.socket_path(), "\x16\x03\x01 garbage\r\n\r\n");
  EXPECT_EQ(garbage.status, 400);
  auto unknown = RawHttp(agent_.socket_path(),
                         "GET /nope HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_EQ(json::parse(unknown.body)["code"], 404);
  auto unimpl = client_->CallUnary("filesystem.Filesystem/CreateWatcher", json::object(), "root");
  EXPECT_FALSE(unimpl.ok());
  EXPECT_TRUE(client_->Health().ok());  // still alive
}


}  // namespace
}  // namespace sbx::agent
