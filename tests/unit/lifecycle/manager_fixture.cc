#include "manager_fixture.h"

#include <gtest/gtest.h>

#include <filesystem>

#include "common/log.h"
#include "common/util.h"
#include "runtime/cgroup.h"

namespace sbx::testing {
namespace {

// Our own templates: "python" on the host base, whatever config/templates.json says today.
constexpr const char* kTemplates = R"json({"templates": {"python": {"name": "Python (host)",
  "baseImage": "host", "cpus": 1, "memory": "512MB", "timeout": 300}}})json";

Harness* g_harness = nullptr;

class Env : public ::testing::Environment {
 public:
  void SetUp() override {
    log::SetLevel(log::Level::kWarn);
    auto h = std::make_unique<Harness>();
    h->dir = "/tmp/sbx-lifecycle-test-" + RandomHex(4);
    std::filesystem::create_directories(h->dir);
    auto store = store::Store::Open(h->dir + "/sandboxd.db");
    ASSERT_TRUE(store.ok()) << store.error().ToString();
    h->store = std::move(*store);
    auto templates = spec::ParseTemplatesConfig(kTemplates, "test templates");
    ASSERT_TRUE(templates.ok()) << templates.error().ToString();
    auto cgroups = runtime::MakeCgroupDriver("sandboxd-lctest-" + RandomHex(3));
    ASSERT_TRUE(cgroups.ok()) << cgroups.error().ToString();
    sandbox::ManagerOptions opts;
    opts.state_dir = h->dir;
    opts.agent_path = SBX_AGENT_PATH;
    opts.templates = *templates;
    h->manager =
        std::make_unique<sandbox::SandboxManager>(opts, h->store.get(), std::move(*cgroups));
    auto started = h->manager->Start();
    ASSERT_TRUE(started.ok()) << started.error().ToString();
    h->bus = std::make_unique<events::EventBus>(h->store.get());
    h->runner = std::make_unique<lifecycle::LifecycleRunner>(h->manager.get(), h->bus.get(),
                                                             h->store.get());
    harness_ = std::move(h);
    g_harness = harness_.get();
  }
  void TearDown() override {
    if (!harness_) return;
    g_harness = nullptr;
    harness_->runner->Shutdown();
    harness_->runner.reset();
    harness_->bus.reset();
    harness_->manager->Shutdown();
    harness_->manager.reset();
    harness_->store.reset();
    std::filesystem::remove_all(harness_->dir);
  }

 private:
  std::unique_ptr<Harness> harness_;
};

const auto* const kEnv = ::testing::AddGlobalTestEnvironment(new Env);

}  // namespace

Harness* H() { return g_harness; }

std::vector<std::string> EventTypesOf(const std::string& sandbox_id) {
  store::EventFilter f;
  f.sandbox_id = sandbox_id;
  f.limit = 1000;
  std::vector<std::string> out;
  auto evs = H()->bus->Query(f);
  if (!evs.ok()) return out;
  std::vector<store::EventRecord> list = std::move(evs).value();
  for (const auto& e : list) out.push_back(e.type);
  return out;
}

}  // namespace sbx::testing
