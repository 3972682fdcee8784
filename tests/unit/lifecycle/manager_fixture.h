// One real SandboxManager (host-base template, the real sbx-agent), event bus and lifecycle
// runner shared by the lifecycle tests; started once, removed at the end of the program.
#pragma once

#include <memory>
#include <string>

#include "events/event_bus.h"
#include "lifecycle/runner.h"
#include "sandbox/manager.h"
#include "store/store.h"

namespace sbx::testing {

struct Harness {
  std::string dir;
  std::unique_ptr<store::Store> store;
  std::unique_ptr<sandbox::SandboxManager> manager;
  std::unique_ptr<events::EventBus> bus;
  std::unique_ptr<lifecycle::LifecycleRunner> runner;
};

// nullptr (and the test should fail) if the manager could not start.
Harness* H();

// Events of a sandbox, oldest first.
std::vector<std::string> EventTypesOf(const std::string& sandbox_id);

}  // namespace sbx::testing
