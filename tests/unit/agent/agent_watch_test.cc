// Directory watching: the event mapping and queue bounds as units, then WatchDir streams and
// the CreateWatcher/GetWatcherEvents/RemoveWatcher polling form against the real sbx-agent.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <thread>

#include "agent/fs_watch.h"
#include "agent_fixture.h"
#include "agentclient/agent_client.h"
#include "protocol/fs_messages.h"

namespace sbx::agent {
namespace {

using nlohmann::json;
using protocol::EventType;
using protocol::FilesystemEvent;

TEST(WatchUnitsTest, MaskMapping) {
  EXPECT_EQ(EventTypesForMask(IN_CREATE), std::vector<EventType>{EventType::kCreate});
  EXPECT_EQ(EventTypesForMask(IN_MOVED_TO | IN_ISDIR), std::vector<EventType>{EventType::kCreate});
  EXPECT_EQ(EventTypesForMask(IN_MODIFY), std::vector<EventType>{EventType::kWrite});
  EXPECT_EQ(EventTypesForMask(IN_DELETE), std::vector<EventType>{EventType::kRemove});
  EXPECT_EQ(EventTypesForMask(IN_MOVED_FROM), std::vector<EventType>{EventType::kRename});
  EXPECT_EQ(EventTypesForMask(IN_ATTRIB), std::vector<EventType>{EventType::kChmod});
  EXPECT_TRUE(EventTypesForMask(IN_IGNORED).empty());
  EXPECT_TRUE(EventTypesForMask(IN_DELETE_SELF).empty());
  EXPECT_EQ(EventTypesForMask(IN_CREATE | IN_ATTRIB),
            (std::vector<EventType>{EventType::kCreate, EventType::kChmod}));
}

TEST(WatchUnitsTest, QueueDropsOldestAndCounts) {
  EventQueue q(3);
  for (int i = 0; i < 5; ++i) q.Push(FilesystemEvent{std::to_string(i), EventType::kCreate, {}});
  EXPECT_EQ(q.size(), 3u);
  EXPECT_EQ(q.dropped(), 2u);
  auto events = q.Drain();
  ASSERT_EQ(events.size(), 3u);
  EXPECT_EQ(events[0].name, "2");
  EXPECT_EQ(events[2].name, "4");
  EXPECT_EQ(q.size(), 0u);
  EventQueue none(0);
  none.Push(FilesystemEvent{"x", EventType::kWrite, {}});
  EXPECT_EQ(none.size(), 0u);
  EXPECT_EQ(none.dropped(), 1u);
}

TEST(WatchUnitsTest, RequestAndEventJson) {
  auto req = protocol::ParseWatchRequest(
      json{{"path", "/tmp"}, {"recursive", true}, {"include_entry", true},
           {"allowNetworkMounts", true}});
  ASSERT_TRUE(req.ok());
  EXPECT_TRUE(req->recursive && req->include_entry && req->allow_network_mounts);
  EXPECT_FALSE(protocol::ParseWatchRequest(json{{"recursive", true}}).ok());
  EXPECT_FALSE(protocol::ParseWatchRequest(json{{"path", "/"}, {"recursive", "yes"}}).ok());
  json j = protocol::FilesystemEventJson(FilesystemEvent{"a/b", EventType::kRename, {}});
  EXPECT_EQ(j, (json{{"name", "a/b"}, {"type", "EVENT_TYPE_RENAME"}}));
}

// In-process (as root): a tree with more directories than the bound gets exactly the bound's
// watches, and the watch still reports what happens in the watched part.
TEST(DirWatchTest, WatchCountIsBounded) {
  char tmpl[] = "/tmp/sbx-watch-test-XXXXXX";
  const std::string root = mkdtemp(tmpl);
  for (size_t i = 0; i < kMaxWatchesPerWatcher + 20; ++i) {
    ASSERT_EQ(mkdir((root + "/d" + std::to_string(i)).c_str(), 0755), 0);
  }
  auto db = UserDb::Load();
  ASSERT_TRUE(db.ok());
  auto user = db->Lookup("root");
  ASSERT_TRUE(user.ok());
  protocol::WatchRequest req;
  req.path = root;
  req.recursive = true;
  auto watch = DirWatch::Open(user.value(), req);
  ASSERT_TRUE(watch.ok()) << watch.error().ToString();
  EXPECT_EQ(watch.value()->watch_count(), kMaxWatchesPerWatcher);
  ASSERT_EQ(mkdir((root + "/new").c_str(), 0755), 0);  // no room: not watched, still reported
  EventQueue q(16);
  ASSERT_TRUE(watch.value()->Poll(1000, &q).ok());
  auto events = q.Drain();
  ASSERT_EQ(events.size(), 1u);
  EXPECT_EQ(events[0].name, "new");
  EXPECT_EQ(watch.value()->watch_count(), kMaxWatchesPerWatcher);
  watch.value().reset();
  ASSERT_EQ(std::system(("rm -rf '" + root + "'").c_str()), 0);
}

// One WatchDir stream on a raw connection (ends at its Connect-Timeout-Ms).
std::unique_ptr<testing::StreamConnection> Watch(const std::string& socket, const json& request,
                                                 int timeout_ms,
                                                 const std::string& extra_headers = "") {
  return std::make_unique<testing::StreamConnection>(
      socket, testing::StreamRequest("WatchDir", request.dump(),
                                     "Connect-Timeout-Ms: " + std::to_string(timeout_ms) +
                                         "\r\n" + extra_headers,
                                     "filesystem.Filesystem"));
}

class WatchTest : public testing::AgentFixture {
 protected:
  void SetUp() override {
    AgentFixture::SetUp();
    dir_ = agent_.dir() + "/w";
    ASSERT_EQ(mkdir(dir_.c_str(), 0755), 0);
  }
  static void Write(const std::string& path, const std::string& data) {
    std::ofstream(path) << data;
  }
  // The (name, type) pairs of the filesystem events among frames.
  static std::vector<std::pair<std::string, std::string>> Events(const std::vector<json>& frames) {
    std::vector<std::pair<std::string, std::string>> out;
    for (const auto& f : frames) {
      if (f.contains("filesystem")) out.emplace_back(f["filesystem"]["name"], f["filesystem"]["type"]);
    }
    return out;
  }
  static bool Has(const std::vector<std::pair<std::string, std::string>>& events,
                  const std::string& name, const std::string& type) {
    for (const auto& e : events) {
      if (e.first == name && e.second == "EVENT_TYPE_" + type) return true;
    }
    return false;
  }
  std::string dir_;
};

TEST_F(WatchTest, RecursiveStreamReportsEveryKindWithRelativeNames) {
  auto s = Watch(agent_.socket_path(), {{"path", dir_}, {"recursive", true}}, 2000);
  ASSERT_TRUE(s->WaitFor("{\"start\":{}}"));
  Write(dir_ + "/a.txt", "1");
  ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0755), 0);
  Write(dir_ + "/sub/inner.txt", "2");  // in a directory created after the watch began
  ASSERT_EQ(chmod((dir_ + "/a.txt").c_str(), 0600), 0);
  ASSERT_EQ(rename((dir_ + "/a.txt").c_str(), (dir_ + "/b.txt").c_str()), 0);
  ASSERT_EQ(unlink((dir_ + "/b.txt").c_str()), 0);
  auto frames = s->Finish();
  ASSERT_GE(frames.size(), 2u);
  EXPECT_EQ(frames.front(), (json{{"start", json::object()}}));
  EXPECT_EQ(frames.back(), (json{{"__end", true}}));  // {} : a clean end at the deadline
  auto ev = Events(frames);
  EXPECT_TRUE(Has(ev, "a.txt", "CREATE"));
  EXPECT_TRUE(Has(ev, "a.txt", "WRITE"));
  EXPECT_TRUE(Has(ev, "sub", "CREATE"));
  EXPECT_TRUE(Has(ev, "sub/inner.txt", "CREATE"));
  EXPECT_TRUE(Has(ev, "a.txt", "CHMOD"));
  EXPECT_TRUE(Has(ev, "a.txt", "RENAME"));
  EXPECT_TRUE(Has(ev, "b.txt", "CREATE"));
  EXPECT_TRUE(Has(ev, "b.txt", "REMOVE"));
  for (const auto& f : frames) EXPECT_FALSE(f.contains("filesystem") && f["filesystem"].contains("entry"));
}

TEST_F(WatchTest, NonRecursiveIgnoresSubdirectoriesAndIncludeEntryFillsEntry) {
  ASSERT_EQ(mkdir((dir_ + "/sub").c_str(), 0755), 0);
  auto s = Watch(agent_.socket_path(), {{"path", dir_}, {"includeEntry", true}}, 1500);
  ASSERT_TRUE(s->WaitFor("{\"start\":{}}"));
  Write(dir_ + "/sub/deep.txt", "x");
  Write(dir_ + "/top.txt", "hello");
  auto frames = s->Finish();
  auto ev = Events(frames);
  EXPECT_FALSE(Has(ev, "sub/deep.txt", "CREATE"));
  ASSERT_TRUE(Has(ev, "top.txt", "CREATE"));
  bool checked = false;
  for (const auto& f : frames) {
    if (!f.contains("filesystem") || f["filesystem"]["name"] != "top.txt") continue;
    ASSERT_TRUE(f["filesystem"].contains("entry")) << f.dump();
    const auto& e = f["filesystem"]["entry"];
    EXPECT_EQ(e["name"], "top.txt");
    EXPECT_EQ(e["path"], dir_ + "/top.txt");
    EXPECT_EQ(e["type"], "FILE_TYPE_FILE");
    EXPECT_EQ(e["owner"], "root");
    checked = true;
  }
  EXPECT_TRUE(checked);
}

TEST_F(WatchTest, KeepalivesWhenIdleAndErrorsInTheEndFrame) {
  auto idle = Watch(agent_.socket_path(), {{"path", dir_}}, 2500, "Keepalive-Ping-Interval: 1\r\n");
  auto frames = idle->Finish();
  int keepalives = 0;
  for (const auto& f : frames) keepalives += f.contains("keepalive");
  EXPECT_GE(keepalives, 1);
  EXPECT_LE(keepalives, 3);

  auto missing = Watch(agent_.socket_path(), {{"path", dir_ + "/nope"}}, 1000);
  auto m = missing->Finish();
  ASSERT_EQ(m.size(), 1u);
  EXPECT_EQ(m[0]["error"]["code"], "not_found");
  Write(dir_ + "/file", "x");
  auto file = Watch(agent_.socket_path(), {{"path", dir_ + "/file"}}, 1000);
  auto f = file->Finish();
  ASSERT_EQ(f.size(), 1u);
  EXPECT_EQ(f[0]["error"]["code"], "invalid_argument");
}

TEST_F(WatchTest, ClientLeavingEndsTheStream) {
  {
    auto s = Watch(agent_.socket_path(), {{"path", dir_}}, 60000);
    ASSERT_TRUE(s->WaitFor("{\"start\":{}}"));
  }  // closed
  // The agent notices within its 1 s poll and serves on.
  std::this_thread::sleep_for(std::chrono::milliseconds(1200));
  EXPECT_TRUE(client_->Health().ok());
}

TEST_F(WatchTest, PollingWatcherLifecycle) {
  auto call = [&](const char* m, json body) {
    return client_->CallUnary(std::string("filesystem.Filesystem/") + m, body, "root");
  };
  auto created = call("CreateWatcher", {{"path", dir_}, {"recursive", true}});
  ASSERT_TRUE(created.ok()) << created.error().ToString();
  const std::string id = (*created)["watcherId"];
  ASSERT_FALSE(id.empty());
  ASSERT_EQ(mkdir((dir_ + "/d").c_str(), 0755), 0);
  Write(dir_ + "/d/f.txt", "x");
  std::vector<std::pair<std::string, std::string>> seen;
  for (int i = 0; i < 20 && !Has(seen, "d/f.txt", "CREATE"); ++i) {
    auto got = call("GetWatcherEvents", {{"watcherId", id}});
    ASSERT_TRUE(got.ok()) << got.error().ToString();
    for (const auto& e : (*got)["events"]) seen.emplace_back(e["name"], e["type"]);
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  EXPECT_TRUE(Has(seen, "d", "CREATE"));
  EXPECT_TRUE(Has(seen, "d/f.txt", "CREATE"));
  auto empty = call("GetWatcherEvents", {{"watcherId", id}});
  ASSERT_TRUE(empty.ok());
  EXPECT_TRUE((*empty)["events"].empty());
  EXPECT_TRUE(call("RemoveWatcher", {{"watcherId", id}}).ok());
  EXPECT_EQ(call("GetWatcherEvents", {{"watcherId", id}}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(call("RemoveWatcher", {{"watcher_id", id}}).error().code, ErrorCode::kNotFound);
  EXPECT_EQ(call("CreateWatcher", {{"path", dir_ + "/nope"}}).error().code, ErrorCode::kNotFound);
}

TEST_F(WatchTest, WatcherCountIsBounded) {
  auto call = [&](const char* m, json body) {
    return client_->CallUnary(std::string("filesystem.Filesystem/") + m, body, "root");
  };
  std::vector<std::string> ids;
  for (size_t i = 0; i < 64; ++i) {
    auto c = call("CreateWatcher", {{"path", dir_}});
    ASSERT_TRUE(c.ok()) << i << c.error().ToString();
    ids.push_back((*c)["watcherId"]);
  }
  auto over = call("CreateWatcher", {{"path", dir_}});
  ASSERT_FALSE(over.ok());
  EXPECT_EQ(over.error().code, ErrorCode::kResourceExhausted);
  EXPECT_TRUE(call("RemoveWatcher", {{"watcherId", ids[0]}}).ok());
  EXPECT_TRUE(call("CreateWatcher", {{"path", dir_}}).ok());
}


// Watches run as the requesting user: "nobody" cannot watch (or even reach) a directory under
// the test's 0700 directory, by stream or by polling watcher; a directory it may read it can.
TEST_F(WatchTest, WatchesRunAsTheRequestingUser) {
  const std::string nobody = "Authorization: Basic bm9ib2R5Og==\r\n";  // "nobody:"
  auto denied = Watch(agent_.socket_path(), {{"path", dir_}}, 1000, nobody);
  auto frames = denied->Finish();
  ASSERT_EQ(frames.size(), 1u);
  EXPECT_EQ(frames[0]["error"]["code"], "permission_denied") << frames[0].dump();
  auto created = client_->CallUnary("filesystem.Filesystem/CreateWatcher", {{"path", dir_}},
                                    "nobody");
  ASSERT_FALSE(created.ok());
  EXPECT_EQ(created.error().code, ErrorCode::kPermissionDenied);
  // /proc is readable by everyone: the watch starts.
  auto allowed = Watch(agent_.socket_path(), {{"path", "/proc/self"}}, 500, nobody);
  EXPECT_TRUE(allowed->WaitFor("{\"start\":{}}"));
}

}  // namespace
}  // namespace sbx::agent
