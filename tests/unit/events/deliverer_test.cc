// Real deliveries to receivers on 127.0.0.1: retries, isolation of slow and dead receivers,
// dead letters and redelivery, and recovery after the process that held the outbox is gone.
#include "events/deliverer.h"

#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "common/util.h"
#include "events/event_bus.h"
#include "events/signing.h"
#include "store/webhooks.h"
#include "temp_db.h"
#include "test_receiver.h"

namespace sbx::events {
namespace {

using nlohmann::json;
using sbx::testing::Answer;
using sbx::testing::ReceivedRequest;
using sbx::testing::TestReceiver;

DelivererOptions FastOptions() {
  DelivererOptions o;
  o.workers = 4;
  o.backoff = {20, 200, 10};
  o.timeouts = {500, 500};
  o.idle_poll_ms = 50;
  return o;
}

// A port on 127.0.0.1 with nothing listening (connection refused).
int ClosedPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  bind(fd, reinterpret_cast<sockaddr*>(&a), sizeof(a));
  socklen_t len = sizeof(a);
  getsockname(fd, reinterpret_cast<sockaddr*>(&a), &len);
  close(fd);
  return ntohs(a.sin_port);
}

bool WaitFor(const std::function<bool()>& pred, int timeout_ms) {
  auto end = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  while (std::chrono::steady_clock::now() < end) {
    if (pred()) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  return pred();
}

class DelivererTest : public ::testing::Test {
 protected:
  void SetUp() override { Open(); }
  void Open() {
    auto s = store::Store::Open(db_.path());
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    store_ = std::move(*s);
    bus_ = std::make_unique<EventBus>(store_.get());
    repo_ = std::make_unique<store::WebhookRepo>(store_.get());
  }
  void Close() {
    deliverer_.reset();
    bus_.reset();
    repo_.reset();
    store_.reset();
  }
  void StartDeliverer(DelivererOptions o = FastOptions()) {
    deliverer_ = std::make_unique<Deliverer>(store_.get(), o);
    bus_->SetOutboxListener([d = deliverer_.get()] { d->Wake(); });
    ASSERT_TRUE(deliverer_->Start().ok());
  }
  std::string AddSub(const std::string& url, const std::string& secret = "s3cret") {
    store::SubscriptionRecord r;
    r.id = "whk_" + RandomHex(4);
    r.kind = "generic";
    r.url = url;
    r.secret = secret;
    r.created_at_ms = NowUnixMs();
    EXPECT_TRUE(repo_->InsertSubscription(r).ok());
    return r.id;
  }
  std::vector<store::OutboxRecord> Rows(const std::string& sub, const std::string& state = "") {
    store::OutboxFilter f;
    f.subscription_id = sub;
    f.state = state;
    f.limit = 1000;
    return *repo_->ListOutbox(f);
  }
  ~DelivererTest() override { Close(); }

  testing::TempDb db_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<EventBus> bus_;
  std::unique_ptr<store::WebhookRepo> repo_;
  std::unique_ptr<Deliverer> deliverer_;
};

TEST_F(DelivererTest, ThreeFailuresThenSuccessDeliversOnceWithTheSameIdAndValidSignatures) {
  TestReceiver rx([](const ReceivedRequest&, int i) { return Answer{i < 3 ? 500 : 200}; });
  std::string sub = AddSub(rx.url());
  StartDeliverer();
  auto ev = bus_->Publish({EventType::kExecutionComplete, "sbx_1", "", {{"exit_code", 0}}});
  ASSERT_TRUE(ev.ok());
  ASSERT_TRUE(WaitFor([&] { return Rows(sub, "delivered").size() == 1; }, 10000));
  std::this_thread::sleep_for(std::chrono::milliseconds(300));  // nothing more arrives

  auto reqs = rx.requests();
  ASSERT_EQ(reqs.size(), 4u);  // 500, 500, 500, 200: exactly one success
  for (const auto& r : reqs) {
    EXPECT_EQ(r.method, "POST");
    EXPECT_EQ(r.Header("x-sandboxd-delivery"), ev->uid);
    EXPECT_EQ(json::parse(r.body)["id"], ev->uid);
    EXPECT_EQ(r.Header("x-sandboxd-event"), "execution_complete");
    EXPECT_TRUE(VerifyGithubSignature("s3cret", r.body, r.Header("x-hub-signature-256")));
    int64_t ts = std::stoll(r.Header("x-sandboxd-timestamp"));
    EXPECT_TRUE(VerifyTimestampedSignature(
        "s3cret", ts, r.body, r.Header("x-sandboxd-signature-256"), NowUnixMs() / 1000));
  }
  auto row = Rows(sub).front();
  EXPECT_EQ(row.attempts, 4);
  EXPECT_EQ(row.last_status, 200);
  auto log = *repo_->DeliveryLog(row.id);
  ASSERT_EQ(log.size(), 4u);
  EXPECT_EQ(log[0].status_code, 500);
  EXPECT_EQ(log[2].status_code, 500);
  EXPECT_EQ(log[3].status_code, 200);
  EXPECT_NE(log[0].error.find("HTTP 500"), std::string::npos);
  EXPECT_EQ(log[3].error, "");
  for (const auto& l : log) EXPECT_GT(l.latency_ms, 0);
  auto stats = deliverer_->Stats();
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->delivered, 1);
  EXPECT_EQ(stats->failed_attempts, 3);
  EXPECT_EQ(stats->outbox["delivered"], 1);
}

TEST_F(DelivererTest, SlowAndDeadReceiversDoNotDelayAHealthyOne) {
  TestReceiver healthy([](const ReceivedRequest&, int) { return Answer{200}; });
  TestReceiver slow([](const ReceivedRequest&, int) { return Answer{200, 1500}; });
  AddSub("http://127.0.0.1:" + std::to_string(ClosedPort()) + "/dead");
  std::string slow_sub = AddSub(slow.url());
  std::string ok_sub = AddSub(healthy.url());
  StartDeliverer();
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(bus_->Publish({EventType::kExecutionStarted, "s", "", {{"i", i}}}).ok());
  ASSERT_TRUE(WaitFor([&] { return Rows(ok_sub, "delivered").size() == 20; }, 5000));
  auto ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  // 20 deliveries to loopback take a few ms each; a slow receiver (1.5 s, timeout 0.5 s) or a
  // dead one holding workers would push this past a second.
  EXPECT_LT(ms, 1500) << "healthy receiver waited behind slow or dead ones";
  EXPECT_EQ(healthy.count(), 20u);
  // The slow receiver is attempted one row at a time (per-subscription concurrency 1).
  EXPECT_LE(Rows(slow_sub, "in_flight").size(), 1u);
  int64_t first_slow = Rows(slow_sub).back().id;  // the oldest row: attempted first
  ASSERT_TRUE(WaitFor([&] { return !repo_->DeliveryLog(first_slow)->empty(); }, 3000));
  auto log = *repo_->DeliveryLog(first_slow);
  EXPECT_EQ(log[0].status_code, 0);
  EXPECT_NE(log[0].error.find("imeout"), std::string::npos) << log[0].error;
}

TEST_F(DelivererTest, DeadLetterAfterMaxAttemptsThenRedeliver) {
  std::atomic<bool> healed{false};
  TestReceiver rx([&](const ReceivedRequest&, int) { return Answer{healed ? 200 : 503}; });
  std::string sub = AddSub(rx.url());
  auto o = FastOptions();
  o.backoff = {10, 50, 3};
  StartDeliverer(o);
  ASSERT_TRUE(bus_->Publish({EventType::kOnError, "s", "", {}}).ok());
  ASSERT_TRUE(WaitFor([&] { return Rows(sub, "dead").size() == 1; }, 5000));
  auto row = Rows(sub).front();
  EXPECT_EQ(row.attempts, 3);
  EXPECT_EQ(row.last_status, 503);
  EXPECT_EQ(repo_->DeliveryLog(row.id)->size(), 3u);
  std::this_thread::sleep_for(std::chrono::milliseconds(200));
  EXPECT_EQ(rx.count(), 3u);  // dead means no more attempts

  healed = true;
  auto re = deliverer_->Redeliver(row.id);
  ASSERT_TRUE(re.ok()) << re.error().ToString();
  EXPECT_EQ(re->state, "pending");
  ASSERT_TRUE(WaitFor([&] { return Rows(sub, "delivered").size() == 1; }, 5000));
  EXPECT_EQ(repo_->DeliveryLog(row.id)->size(), 4u);
  EXPECT_EQ(rx.count(), 4u);
  // Redelivering something pending or unknown is refused.
  EXPECT_EQ(deliverer_->Redeliver(999999).error().code, ErrorCode::kNotFound);
}

TEST_F(DelivererTest, RestartDeliversPendingAndInFlightRows) {
  TestReceiver rx([](const ReceivedRequest&, int) { return Answer{200}; });
  std::string sub = AddSub(rx.url());
  std::set<std::string> uids;
  for (int i = 0; i < 20; ++i) {
    auto e = bus_->Publish({EventType::kExecutionComplete, "s", "", {{"i", i}}});
    ASSERT_TRUE(e.ok());
    uids.insert(e->uid);
  }
  // A daemon that claimed rows and died before recording the attempt: rows left in flight,
  // with a lease far in the future.
  ASSERT_TRUE(repo_->ClaimDue(NowUnixMs(), 3600 * 1000)->has_value());
  EXPECT_EQ(Rows(sub, "in_flight").size(), 1u);
  Close();  // everything in memory is gone

  Open();
  StartDeliverer();
  ASSERT_TRUE(WaitFor([&] { return Rows(sub, "delivered").size() == 20; }, 10000));
  std::set<std::string> got;
  for (const auto& r : rx.requests()) got.insert(r.Header("x-sandboxd-delivery"));
  EXPECT_EQ(got, uids);
}

TEST_F(DelivererTest, DisabledSubscriptionGoesDeadWithoutSending) {
  TestReceiver rx([](const ReceivedRequest&, int) { return Answer{200}; });
  std::string sub = AddSub(rx.url());
  ASSERT_TRUE(bus_->Publish({EventType::kOnAlert, "s", "", {}}).ok());
  auto rec = **repo_->GetSubscription(sub);
  rec.enabled = false;
  ASSERT_TRUE(repo_->UpdateSubscription(rec).ok());
  StartDeliverer();
  ASSERT_TRUE(WaitFor([&] { return Rows(sub, "dead").size() == 1; }, 5000));
  EXPECT_EQ(Rows(sub).front().last_error, "webhook disabled");
  EXPECT_EQ(rx.count(), 0u);
}

TEST_F(DelivererTest, GithubDispatchToAConfigurableApiBase) {
  TestReceiver gh([](const ReceivedRequest&, int) { return Answer{204}; });
  store::SubscriptionRecord r;
  r.id = "whk_gh";
  r.kind = "github";
  r.github_owner = "octo";
  r.github_repo = "demo";
  r.github_token = "ghp_test";
  r.github_api_base = gh.url("/api/v3");
  ASSERT_TRUE(repo_->InsertSubscription(r).ok());
  StartDeliverer();
  auto ev = bus_->Publish({EventType::kSandboxCreated, "sbx_9", "", {}});
  ASSERT_TRUE(WaitFor([&] { return Rows("whk_gh", "delivered").size() == 1; }, 5000));
  auto req = gh.requests().at(0);
  EXPECT_EQ(req.path, "/api/v3/repos/octo/demo/dispatches");
  EXPECT_EQ(req.Header("authorization"), "Bearer ghp_test");
  json body = json::parse(req.body);
  EXPECT_EQ(body["event_type"], "sandbox_created");
  EXPECT_EQ(body["client_payload"]["sandbox_id"], "sbx_9");
  EXPECT_EQ(body["client_payload"]["status"], "created");
  EXPECT_EQ(body["client_payload"]["event_id"], ev->uid);
}

}  // namespace
}  // namespace sbx::events
