// The envd behaviour E2B's SDK relies on beyond exec and files (E2B-PROTOCOL.md 3.2-3.4), as
// the SDK sends it: a PTY session, commands.list and commands.connect, GET /envs, and file
// metadata; against the real sbx-agent.
#include <gtest/gtest.h>

#include "agent_fixture.h"
#include "protocol/base64.h"

namespace sbx::agent {
namespace {

using nlohmann::json;
using testing::RawHttp;
using testing::StreamRequest;

class AgentSdkTest : public testing::AgentFixture {};

// What the SDK's pty.create does: an interactive shell on a pty, driven by SendInput
// {input:{pty}} and resized with Update; its output arrives as data.pty.
TEST_F(AgentSdkTest, PtySessionInputResizeAndTty) {
  testing::StreamConnection s(
      agent_.socket_path(),
      StreamRequest("Start",
                    R"({"process":{"cmd":"/bin/sh","args":["-i"],"envs":{"TERM":"xterm","PS1":"$ "}},"pty":{"size":{"cols":80,"rows":24}}})",
                    "Authorization: Basic cm9vdDo=\r\n"));
  uint32_t pid = 0;
  ASSERT_TRUE(s.WaitUntil([&](const std::vector<json>& f) {
    if (f.empty() || !f[0].contains("event") || !f[0]["event"].contains("start")) return false;
    pid = f[0]["event"]["start"]["pid"];
    return true;
  }));
  auto input = [&](const std::string& text) {
    return client_->CallUnary("process.Process/SendInput",
                              {{"process", {{"pid", pid}}},
                               {"input", {{"pty", protocol::Base64Encode(text)}}}},
                              "root");
  };
  auto pty_has = [&](const std::string& needle) {
    return s.WaitUntil([&](const std::vector<json>& f) {
      return testing::ProcessOutput(f, "pty").find(needle) != std::string::npos;
    });
  };
  ASSERT_TRUE(input("tty\n").ok());
  EXPECT_TRUE(pty_has("/dev/pts/")) << testing::ProcessOutput(s.FramesSoFar(), "pty");
  ASSERT_TRUE(client_->CallUnary("process.Process/Update",
                                 {{"process", {{"pid", pid}}},
                                  {"pty", {{"size", {{"cols", 133}, {"rows", 41}}}}}},
                                 "root")
                  .ok());
  ASSERT_TRUE(input("stty size\n").ok());
  EXPECT_TRUE(pty_has("41 133")) << testing::ProcessOutput(s.FramesSoFar(), "pty");
  ASSERT_TRUE(input("exit 4\n").ok());
  auto frames = s.Finish();
  ASSERT_GE(frames.size(), 2u);
  EXPECT_TRUE(frames.back().contains("__end"));
  EXPECT_EQ(frames[frames.size() - 2]["event"]["end"]["exitCode"], 4);
  EXPECT_TRUE(testing::ProcessOutput(frames, "stdout").empty());  // a pty has one stream
}

// commands.list: running processes with config (cmd, args, envs, cwd), pid and tag; and
// commands.connect to a running process receives what it prints afterwards.
TEST_F(AgentSdkTest, ListShowsTagAndConnectFollowsARunningProcess) {
  testing::StreamConnection start(
      agent_.socket_path(),
      StreamRequest("Start",
                    R"({"process":{"cmd":"/bin/sh","args":["-c","read x; echo got-$x"],"envs":{"A":"1"},"cwd":"/tmp"},"tag":"my-tag","stdin":true})",
                    "Authorization: Basic cm9vdDo=\r\n"));
  uint32_t pid = 0;
  ASSERT_TRUE(start.WaitUntil([&](const std::vector<json>& f) {
    if (f.empty() || !f[0].contains("event")) return false;
    pid = f[0]["event"]["start"]["pid"];
    return true;
  }));
  auto list = client_->List();
  ASSERT_TRUE(list.ok());
  bool found = false;
  for (const auto& p : (*list)["processes"]) {
    if (p["pid"] != pid) continue;
    found = true;
    EXPECT_EQ(p["tag"], "my-tag");
    EXPECT_EQ(p["config"]["cmd"], "/bin/sh");
    EXPECT_EQ(p["config"]["args"], (json{"-c", "read x; echo got-$x"}));
    EXPECT_EQ(p["config"]["envs"], (json{{"A", "1"}}));
    EXPECT_EQ(p["config"]["cwd"], "/tmp");
  }
  EXPECT_TRUE(found) << list->dump();
  testing::StreamConnection conn(
      agent_.socket_path(), StreamRequest("Connect", R"({"process":{"tag":"my-tag"}})"));
  ASSERT_TRUE(conn.WaitFor("start"));
  ASSERT_TRUE(client_->SendInput(pid, "later\n").ok());
  auto frames = conn.Finish();
  EXPECT_EQ(frames.front()["event"]["start"]["pid"], pid);
  EXPECT_EQ(testing::ProcessOutput(frames, "stdout"), "got-later\n");
  EXPECT_EQ(frames[frames.size() - 2]["event"]["end"]["exitCode"], 0);
  EXPECT_EQ(frames.back(), (json{{"__end", true}}));
  // Ended: no longer listed, and signals and input are not_found.
  auto after = client_->List();
  ASSERT_TRUE(after.ok());
  for (const auto& p : (*after)["processes"]) EXPECT_NE(p["pid"], pid);
  EXPECT_EQ(client_->SendSignal(pid, 15).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(client_->CloseStdin(pid).error().code, ErrorCode::kNotFound);
}


TEST_F(AgentSdkTest, EnvsIsTheSandboxEnvironment) {
  auto r = RawHttp(agent_.socket_path(), "GET /envs HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
  ASSERT_EQ(r.status, 200);
  auto envs = json::parse(r.body);
  ASSERT_TRUE(envs.is_object());
  EXPECT_EQ(envs["SBX_TEST"], "1");  // --env SBX_TEST=1
  EXPECT_FALSE(envs.contains("HOME"));  // per-user variables are not the sandbox's
  EXPECT_EQ(RawHttp(agent_.socket_path(),
                    "POST /envs HTTP/1.1\r\nHost: x\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
                .status,
            405);
}

// envd 0.6.2: X-Metadata-<key> headers become user.e2b.<key> xattrs, returned by the upload
// and in every EntryInfo (Stat, ListDir); bad keys, values and counts are a 400.
TEST_F(AgentSdkTest, UploadMetadataIsStoredAndReturned) {
  const std::string path = agent_.dir() + "/meta.txt";
  auto upload = [&](const std::string& headers) {
    return RawHttp(agent_.socket_path(),
                   "POST /files?path=" + path + " HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                   "Content-Type: application/octet-stream\r\n" + headers +
                   "Content-Length: 2\r\n\r\nhi");
  };
  auto r = upload("X-Metadata-Owner-Team: infra\r\nx-metadata-Stage: dev 1\r\n");
  if (r.status == 500 && r.body.find("metadata") != std::string::npos) {
    GTEST_SKIP() << "the test directory's file system has no user xattrs: " << r.body;
  }
  ASSERT_EQ(r.status, 200) << r.body;
  auto written = json::parse(r.body);
  EXPECT_EQ(written[0]["metadata"], (json{{"owner-team", "infra"}, {"stage", "dev 1"}}));
  auto st = client_->CallUnary("filesystem.Filesystem/Stat", {{"path", path}}, "root");
  ASSERT_TRUE(st.ok());
  EXPECT_EQ((*st)["entry"]["metadata"], (json{{"owner-team", "infra"}, {"stage", "dev 1"}}));
  auto ls = client_->CallUnary("filesystem.Filesystem/ListDir", {{"path", agent_.dir()}}, "root");
  ASSERT_TRUE(ls.ok());
  bool seen = false;
  for (const auto& e : (*ls)["entries"]) {
    if (e["name"] == "meta.txt") seen = e["metadata"]["stage"] == "dev 1";
  }
  EXPECT_TRUE(seen);
  EXPECT_EQ(upload("X-Metadata-K: " + std::string(600, 'v') + "\r\n").status, 400);
  EXPECT_EQ(upload("X-Metadata-K: tab\there\r\n").status, 400);
  std::string many;
  for (int i = 0; i < 17; ++i) many += "X-Metadata-k" + std::to_string(i) + ": v\r\n";
  EXPECT_EQ(upload(many).status, 400);
  // A file written without metadata has none.
  ASSERT_TRUE(client_->WriteFile(agent_.dir() + "/plain.txt", "p", "root").ok());
  auto plain = client_->CallUnary("filesystem.Filesystem/Stat",
                                  {{"path", agent_.dir() + "/plain.txt"}}, "root");
  ASSERT_TRUE(plain.ok());
  EXPECT_FALSE((*plain)["entry"].contains("metadata"));
}


}  // namespace
}  // namespace sbx::agent
