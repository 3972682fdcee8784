#include "lifecycle/config.h"

#include <gtest/gtest.h>

namespace sbx::lifecycle {
namespace {

using nlohmann::json;

TEST(LifecycleConfig, TheGuidesExample) {
  json j = {{"sandbox_id", "test_sbx"},
            {"template", "python"},
            {"timeout", 300},
            {"max_retries", 3},
            {"retry_delay", 5},
            {"cleanup_on_error", true},
            {"monitor_interval", 5},
            {"enable_webhooks", true},
            {"environment", {{"DEBUG", "1"}}},
            {"files", json::array()},
            {"scripts", {"print('Step 1')", "print('Step 2')"}}};
  auto c = LifecycleConfigFromJson(j);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->sandbox_id, "test_sbx");
  EXPECT_EQ(c->timeout_s, 300);
  EXPECT_EQ(c->max_retries, 3);
  EXPECT_EQ(c->retry_delay_s, 5);
  EXPECT_TRUE(c->cleanup_on_error);
  EXPECT_EQ(c->environment.at("DEBUG"), "1");
  ASSERT_EQ(c->scripts.size(), 2u);
  EXPECT_EQ(c->scripts[1].code, "print('Step 2')");
  EXPECT_EQ(c->scripts[1].language, spec::Language::kPython);
}

TEST(LifecycleConfig, DefaultsAndRoundTrip) {
  json j = {{"scripts", {json{{"language", "bash"}, {"code", "echo hi"}, {"timeout", 7}}}},
            {"files",
             {json{{"path", "/home/user/a.txt"}, {"content", "x\ny"}},
              json{{"path", "/tmp/b.bin"}, {"content_base64", "AAEC"}}}}};
  auto c = LifecycleConfigFromJson(j);
  ASSERT_TRUE(c.ok()) << c.error().ToString();
  EXPECT_EQ(c->template_name, "python");
  EXPECT_EQ(c->timeout_s, 300);
  EXPECT_EQ(c->max_retries, 3);
  EXPECT_TRUE(c->enable_webhooks);
  EXPECT_EQ(c->scripts[0].language, spec::Language::kBash);
  EXPECT_EQ(c->scripts[0].timeout_s, 7);
  EXPECT_EQ(c->files[1].content, std::string("\0\1\2", 3));
  auto again = LifecycleConfigFromJson(ToJson(*c));
  ASSERT_TRUE(again.ok()) << again.error().ToString();
  EXPECT_EQ(ToJson(*again), ToJson(*c));
}

TEST(LifecycleConfig, RejectsBadInputNamingTheField) {
  auto err = [](json j) {
    auto c = LifecycleConfigFromJson(j);
    return c.ok() ? std::string("ok") : c.error().message;
  };
  EXPECT_NE(err({{"timeout", 0}}).find("lifecycle.timeout"), std::string::npos);
  EXPECT_NE(err({{"max_retries", -1}}).find("max_retries"), std::string::npos);
  EXPECT_NE(err({{"max_retries", 1.5}}).find("whole number"), std::string::npos);
  EXPECT_NE(err({{"retry_delay", "5"}}).find("retry_delay"), std::string::npos);
  EXPECT_NE(err({{"sandbox_id", "Bad Id!"}}).find("sandbox_id"), std::string::npos);
  EXPECT_NE(err({{"scripts", {""}}}).find("scripts[0]"), std::string::npos);
  EXPECT_NE(err({{"scripts", {json{{"language", "cobol"}, {"code", "x"}}}}}).find("language"),
            std::string::npos);
  EXPECT_NE(err({{"files", {json{{"path", "rel"}, {"content", ""}}}}}).find("files[0].path"),
            std::string::npos);
  EXPECT_NE(err({{"files", {json{{"path", "/a"}}}}}).find("exactly one"), std::string::npos);
  EXPECT_NE(err({{"environment", {{"1BAD", "x"}}}}).find("environment"), std::string::npos);
  EXPECT_NE(err({{"colour", 1}}).find("unknown field"), std::string::npos);
  EXPECT_NE(err({{"monitor_interval", 0.01}}).find("monitor_interval"), std::string::npos);
  EXPECT_EQ(err({{"monitor_interval", 0}}), "ok");
}

}  // namespace
}  // namespace sbx::lifecycle
