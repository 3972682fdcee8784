#include "events/event_bus.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <thread>

#include "store/webhooks.h"
#include "temp_db.h"

namespace sbx::events {
namespace {

using nlohmann::json;

class EventBusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto s = store::Store::Open(db_.path());
    ASSERT_TRUE(s.ok()) << s.error().ToString();
    store_ = std::move(*s);
    bus_ = std::make_unique<EventBus>(store_.get());
  }
  void AddSub(const std::string& id, const std::string& tenant, const std::string& events,
              bool enabled = true) {
    store::SubscriptionRecord r;
    r.id = id;
    r.tenant = tenant;
    r.kind = "generic";
    r.url = "http://127.0.0.1:9/";
    r.events_json = events;
    r.enabled = enabled;
    ASSERT_TRUE(store::WebhookRepo(store_.get()).InsertSubscription(r).ok());
  }
  size_t OutboxRows(const std::string& sub) {
    store::OutboxFilter f;
    f.subscription_id = sub;
    return store::WebhookRepo(store_.get()).ListOutbox(f)->size();
  }
  testing::TempDb db_;
  std::unique_ptr<store::Store> store_;
  std::unique_ptr<EventBus> bus_;
};

TEST_F(EventBusTest, PublishStoresEventAndFansOutToMatchingSubscriptions) {
  AddSub("all", "", "[]");
  AddSub("star", "", R"(["*"])");
  AddSub("errors", "", R"(["on_error"])");
  AddSub("other_tenant", "globex", "[]");
  AddSub("acme", "acme", R"(["execution_complete","on_error"])");
  AddSub("off", "", "[]", false);
  int wakes = 0;
  bus_->SetOutboxListener([&] { ++wakes; });

  auto e = bus_->Publish({EventType::kExecutionComplete, "sbx1", "acme", {{"exit_code", 0}}});
  ASSERT_TRUE(e.ok()) << e.error().ToString();
  EXPECT_EQ(e->uid.rfind("evt_", 0), 0u);
  EXPECT_EQ(e->uid.size(), 4u + 16u);
  EXPECT_GT(e->id, 0);
  EXPECT_EQ(OutboxRows("all"), 1u);
  EXPECT_EQ(OutboxRows("star"), 1u);
  EXPECT_EQ(OutboxRows("errors"), 0u);
  EXPECT_EQ(OutboxRows("other_tenant"), 0u);
  EXPECT_EQ(OutboxRows("acme"), 1u);
  EXPECT_EQ(OutboxRows("off"), 0u);
  EXPECT_EQ(wakes, 1);

  // enable_webhooks = false: stored, not sent.
  Event quiet{EventType::kOnError, "sbx1", "acme", json::object(), false};
  ASSERT_TRUE(bus_->Publish(quiet).ok());
  EXPECT_EQ(OutboxRows("errors"), 0u);
  EXPECT_EQ(wakes, 1);
  ASSERT_TRUE(bus_->Publish({EventType::kOnError, "sbx2", "", {}}).ok());
  EXPECT_EQ(OutboxRows("errors"), 1u);
}

TEST_F(EventBusTest, QueryFilters) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(bus_->Publish({EventType::kExecutionStarted, "a", "t1", {{"i", i}}}).ok());
  ASSERT_TRUE(bus_->Publish({EventType::kOnError, "b", "t2", {}}).ok());
  store::EventFilter f;
  EXPECT_EQ(bus_->Query(f)->size(), 6u);
  f.type = "on_error";
  ASSERT_EQ(bus_->Query(f)->size(), 1u);
  EXPECT_EQ(bus_->Query(f)->front().sandbox_id, "b");
  f = {};
  f.sandbox_id = "a";
  f.limit = 2;
  auto two = *bus_->Query(f);
  ASSERT_EQ(two.size(), 2u);
  EXPECT_LT(two[0].id, two[1].id);
  f.since_id = two[1].id;
  f.limit = 100;
  EXPECT_EQ(bus_->Query(f)->size(), 3u);
  f = {};
  f.tenant = "t2";
  EXPECT_EQ(bus_->Query(f)->size(), 1u);
  f = {};
  f.newest_first = true;
  f.limit = 1;
  EXPECT_EQ(bus_->Query(f)->front().type, "on_error");
}

TEST_F(EventBusTest, SubscribersGetTheirTypesAndASlowOneDoesNotBlockPublish) {
  std::atomic<int> all{0}, errors{0};
  std::atomic<bool> release{false};
  bus_->Subscribe(std::nullopt, [&](const store::EventRecord&) {
    while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(5));  // slow
    ++all;
  });
  uint64_t h = bus_->Subscribe(EventType::kOnError, [&](const store::EventRecord& e) {
    EXPECT_EQ(e.type, "on_error");
    ++errors;
  });
  auto t0 = std::chrono::steady_clock::now();
  for (int i = 0; i < 20; ++i)
    ASSERT_TRUE(
        bus_->Publish({i % 2 ? EventType::kOnError : EventType::kOnCompletion, "s", "", {}}).ok());
  auto publish_ms =
      std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0)
          .count();
  EXPECT_LT(publish_ms, 1000);  // the blocked subscriber did not hold up Publish
  EXPECT_EQ(all, 0);
  release = true;
  for (int i = 0; i < 400 && (all < 20 || errors < 10); ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(all, 20);
  EXPECT_EQ(errors, 10);
  bus_->Unsubscribe(h);
  ASSERT_TRUE(bus_->Publish({EventType::kOnError, "s", "", {}}).ok());
  for (int i = 0; i < 400 && all < 21; ++i)
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  EXPECT_EQ(all, 21);
  EXPECT_EQ(errors, 10);
}

TEST_F(EventBusTest, WaitForNewerReturnsWhenAnEventArrives) {
  int64_t last = bus_->last_id();
  auto t0 = std::chrono::steady_clock::now();
  auto none = bus_->WaitForNewer(last, 50);
  ASSERT_TRUE(none.ok());
  EXPECT_TRUE(none->empty());
  EXPECT_GE(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(45));
  std::thread pub([&] {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    (void)bus_->Publish({EventType::kOnAlert, "x", "", {}});
  });
  t0 = std::chrono::steady_clock::now();
  auto got = bus_->WaitForNewer(last, 5000);
  pub.join();
  ASSERT_TRUE(got.ok());
  ASSERT_EQ(got->size(), 1u);
  EXPECT_EQ(got->front().type, "on_alert");
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::milliseconds(2000));
  // Resuming from that id (Last-Event-ID) gives nothing old again.
  EXPECT_TRUE(bus_->WaitForNewer(got->front().id, 10)->empty());
}

TEST_F(EventBusTest, EventsSurviveReopening) {
  auto e = bus_->Publish({EventType::kSandboxCreated, "s1", "", {{"k", "v"}}});
  ASSERT_TRUE(e.ok());
  bus_.reset();
  store_.reset();
  auto s = store::Store::Open(db_.path());
  ASSERT_TRUE(s.ok());
  EventBus bus2(s->get());
  EXPECT_EQ(bus2.last_id(), e->id);
  auto got = store::EventRepo(s->get()).GetByUid(e->uid);
  ASSERT_TRUE(got.ok() && got->has_value());
  EXPECT_EQ((*got)->data_json, R"({"k":"v"})");
}

}  // namespace
}  // namespace sbx::events
