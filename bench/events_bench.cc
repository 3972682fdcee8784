// Webhook outbox benchmark: events per second through the outbox to a receiver on loopback,
// and the latency from Publish to the receiver's 200 being recorded (p50, p99), with the real
// EventBus, Deliverer (4 workers, libcurl) and SQLite (WAL) store. Prints figures; asserts
// nothing.
//
// Usage: events_bench [--events N] [--subscriptions S] [--rate EVENTS_PER_S]
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <thread>

#include "common/log.h"
#include "common/util.h"
#include "events/deliverer.h"
#include "events/event_bus.h"
#include "store/webhooks.h"
#include "test_receiver.h"

int main(int argc, char** argv) {
  int n = 2000, subs = 1, rate = 0;  // rate 0: as fast as possible (a burst)
  for (int i = 1; i + 1 < argc; i += 2) {
    std::string k = argv[i];
    if (k == "--events")
      n = std::atoi(argv[i + 1]);
    else if (k == "--subscriptions")
      subs = std::atoi(argv[i + 1]);
    else if (k == "--rate")
      rate = std::atoi(argv[i + 1]);
  }
  sbx::log::SetLevel(sbx::log::Level::kError);
  std::string dir = "/tmp/sbx-events-bench-" + sbx::RandomHex(4);
  std::filesystem::create_directories(dir);
  {
    auto store = sbx::store::Store::Open(dir + "/sandboxd.db");
    if (!store.ok()) return std::fprintf(stderr, "%s\n", store.error().ToString().c_str()), 1;
    sbx::testing::TestReceiver rx(
        [](const sbx::testing::ReceivedRequest&, int) { return sbx::testing::Answer{200}; });
    sbx::store::WebhookRepo repo(store->get());
    for (int s = 0; s < subs; ++s) {
      sbx::store::SubscriptionRecord r;
      r.id = "whk_bench" + std::to_string(s);
      r.kind = "generic";
      r.url = rx.url();
      r.secret = "bench-secret";
      (void)repo.InsertSubscription(r);
    }
    sbx::events::EventBus bus(store->get());
    sbx::events::DelivererOptions o;
    o.idle_poll_ms = 50;
    sbx::events::Deliverer d(store->get(), o);
    bus.SetOutboxListener([&] { d.Wake(); });
    if (!d.Start().ok()) return 1;
    int64_t t0 = sbx::MonotonicNs();
    for (int i = 0; i < n; ++i) {
      (void)bus.Publish({sbx::events::EventType::kExecutionComplete, "bench", "", {{"i", i}}});
      if (rate > 0) {
        int64_t due = t0 + static_cast<int64_t>(i + 1) * 1000000000LL / rate;
        int64_t wait = due - sbx::MonotonicNs();
        if (wait > 0) std::this_thread::sleep_for(std::chrono::nanoseconds(wait));
      }
    }
    int64_t published = sbx::MonotonicNs();
    int64_t want = static_cast<int64_t>(n) * subs;
    while (true) {
      auto st = d.Stats();
      if (st.ok() && st->outbox["delivered"] >= want) break;
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    int64_t done = sbx::MonotonicNs();
    auto st = *d.Stats();
    double secs = static_cast<double>(done - t0) / 1e9;
    std::printf("events=%d subscriptions=%d rate=%s deliveries=%lld\n", n, subs,
                rate > 0 ? (std::to_string(rate) + "/s").c_str() : "burst",
                static_cast<long long>(want));
    std::printf("publish (event + outbox rows, one transaction): %.1f us/event\n",
                static_cast<double>(published - t0) / 1e3 / n);
    std::printf("throughput: %.0f deliveries/s (publish start to last delivery recorded)\n",
                static_cast<double>(want) / secs);
    std::printf("event -> delivered latency over the last %zu: p50 %.1f ms, p99 %.1f ms\n",
                std::min<size_t>(static_cast<size_t>(want), sbx::events::Deliverer::kLatencyWindow),
                st.event_to_delivery_p50_ms, st.event_to_delivery_p99_ms);
    d.Stop();
  }
  std::filesystem::remove_all(dir);
  return 0;
}
