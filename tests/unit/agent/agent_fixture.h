// The fixture of the agent tests that run the real sbx-agent: one agent per test (as host
// root, --default-user root) and an AgentClient to it, ready when SetUp returns.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <memory>
#include <thread>

#include "agent_test_util.h"
#include "agentclient/agent_client.h"

namespace sbx::agent::testing {

class AgentFixture : public ::testing::Test {
 protected:
  void SetUp() override {
    client_ = std::make_unique<agentclient::AgentClient>(agent_.socket_path(), 10000);
    for (int i = 0; i < 100 && !client_->Health().ok(); ++i) {
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    ASSERT_TRUE(client_->Health().ok());
  }

  AgentProcess agent_;
  std::unique_ptr<agentclient::AgentClient> client_;
};

}  // namespace sbx::agent::testing
