#include "spec/spec.h"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace sbx::spec {
namespace {

using nlohmann::json;

std::string ReadRepoFile(const std::string& rel) {
  std::ifstream in(std::string(SBX_SOURCE_DIR) + "/" + rel);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

TEST(ParseByteSize, GuideUnits) {
  EXPECT_EQ(*ParseByteSize("2GB"), 2LL << 30);
  EXPECT_EQ(*ParseByteSize("512MB"), 512LL << 20);
  EXPECT_EQ(*ParseByteSize("4GB"), 4LL << 30);
  EXPECT_EQ(*ParseByteSize("1.5GiB"), 3LL << 29);
  EXPECT_EQ(*ParseByteSize("64k"), 64 << 10);
  EXPECT_EQ(*ParseByteSize("1024"), 1024);
  EXPECT_EQ(*ParseByteSize(" 8 mb "), 8 << 20);
}

TEST(ParseByteSize, RejectsGarbage) {
  for (const char* bad : {"", "GB", "12XB", "-5MB", "abc", "1e400GB"}) {
    auto r = ParseByteSize(bad);
    EXPECT_FALSE(r.ok()) << bad;
  }
  EXPECT_NE(ParseByteSize("12XB").error().message.find("unknown unit"), std::string::npos);
}

TEST(ValidateSandboxId, AcceptsGuideIds) {
  EXPECT_TRUE(ValidateSandboxId("my_first_sandbox").ok());
  EXPECT_TRUE(ValidateSandboxId("sbx_unique_id").ok());
  EXPECT_TRUE(ValidateSandboxId(std::string(64, 'a')).ok());
}

TEST(ValidateSandboxId, RejectsBadIds) {
  for (std::string bad : {std::string(""), std::string(65, 'a'), std::string("Bad-Id"),
                          std::string("a/b"), std::string("../x"), std::string("a.b"),
                          std::string("x y"), std::string("a\0b", 3)}) {
    auto r = ValidateSandboxId(bad);
    ASSERT_FALSE(r.ok()) << bad;
    EXPECT_EQ(r.error().code, ErrorCode::kInvalidArgument);
  }
}

TEST(ValidateEnv, NamesAndValues) {
  EXPECT_TRUE(ValidateEnv({{"CUSTOM_VAR", "value"}, {"_x1", ""}}, "env").ok());
  auto r = ValidateEnv({{"1BAD", "v"}}, "env");
  ASSERT_FALSE(r.ok());
  EXPECT_NE(r.error().message.find("1BAD"), std::string::npos);
  EXPECT_FALSE(ValidateEnv({{"A=B", "v"}}, "env").ok());
  EXPECT_FALSE(ValidateEnv({{"A", std::string("x\0y", 3)}}, "env").ok());
}

TEST(TemplatesConfig, EmbeddedDefaultHasTheGuidesFourTemplates) {
  auto cfg = ParseTemplatesConfig(ReadRepoFile("config/templates.json"), "templates.json");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  ASSERT_EQ(cfg->templates.size(), 4u);
  const Template& py = cfg->templates.at("python");
  EXPECT_EQ(py.cpus, 2);
  EXPECT_EQ(py.memory_bytes, 2LL << 30);
  EXPECT_EQ(py.timeout_s, 300);
  EXPECT_EQ(cfg->templates.at("general").cpus, 4);
  EXPECT_EQ(cfg->templates.at("general").memory_bytes, 4LL << 30);
  EXPECT_EQ(cfg->templates.at("general").timeout_s, 600);
  EXPECT_EQ(cfg->templates.at("minimal").memory_bytes, 512LL << 20);
  EXPECT_EQ(cfg->templates.at("minimal").timeout_s, 120);
  EXPECT_EQ(py.disk_bytes, 2LL << 30);
  EXPECT_EQ(py.inodes, 200000);
  EXPECT_EQ(cfg->templates.at("general").disk_bytes, 4LL << 30);
  EXPECT_EQ(cfg->templates.at("minimal").inodes, 100000);
  EXPECT_EQ(cfg->alert_thresholds.memory_usage_percent, 85);
  EXPECT_TRUE(cfg->rate_limit.enabled);
  EXPECT_EQ(cfg->rate_limit.requests_per_minute, 100);
  EXPECT_EQ(cfg->rate_limit.requests_per_hour, 5000);
}

TEST(TemplatesConfig, DiskQuotaFieldsParseWithDefaults) {
  auto cfg = ParseTemplatesConfig(
      R"({"templates": {"a": {"disk": "512MiB", "inodes": 4096}, "b": {"disk": 67108864},
                        "c": {}}})",
      "t.json");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  EXPECT_EQ(cfg->templates.at("a").disk_bytes, 512LL << 20);
  EXPECT_EQ(cfg->templates.at("a").inodes, 4096);
  EXPECT_EQ(cfg->templates.at("a").ToLimits().disk_bytes, 512LL << 20);
  EXPECT_EQ(cfg->templates.at("a").ToLimits().inodes, 4096);
  EXPECT_EQ(cfg->templates.at("b").disk_bytes, 64LL << 20);
  EXPECT_EQ(cfg->templates.at("b").inodes, 65536);  // the default, capped at one per KiB
  EXPECT_EQ(cfg->templates.at("c").disk_bytes, kDefaultDiskBytes);
  EXPECT_EQ(cfg->templates.at("c").inodes, kDefaultInodes);
}

TEST(TemplatesConfig, AliasesResolveAndAreUnique) {
  auto cfg = ParseTemplatesConfig(ReadRepoFile("config/templates.json"), "templates.json");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  ASSERT_NE(FindTemplate(*cfg, "base"), nullptr);
  EXPECT_EQ(FindTemplate(*cfg, "base")->key, "python");
  EXPECT_EQ(FindTemplate(*cfg, "code-interpreter-v1")->key, "python");
  EXPECT_EQ(FindTemplate(*cfg, "node")->key, "node");
  EXPECT_EQ(FindTemplate(*cfg, "nope"), nullptr);

  auto twice = ParseTemplatesConfig(
      R"({"templates": {"a": {"aliases": ["x"]}, "b": {"aliases": ["x"]}}})", "t.json");
  ASSERT_FALSE(twice.ok());
  EXPECT_NE(twice.error().message.find("templates.b.aliases[0]: 'x' is already an alias of "
                                       "template 'a'"),
            std::string::npos)
      << twice.error().message;
  auto other = ParseTemplatesConfig(R"({"templates": {"a": {"aliases": ["b"]}, "b": {}}})", "t.json");
  ASSERT_FALSE(other.ok());
  EXPECT_NE(other.error().message.find("'b' is the name of a template"), std::string::npos);
  auto bad = ParseTemplatesConfig(R"({"templates": {"a": {"aliases": ["has space"]}}})", "t.json");
  EXPECT_FALSE(bad.ok());
  auto not_list = ParseTemplatesConfig(R"({"templates": {"a": {"aliases": "x"}}})", "t.json");
  EXPECT_FALSE(not_list.ok());
}

TEST(TemplatesConfig, GuideCustomTemplateParses) {
  const char* text = R"({"templates": {"custom": {
      "name": "Custom Template", "baseImage": "ubuntu:22.04", "cpus": 4, "memory": "4GB",
      "timeout": 600, "environment": {"CUSTOM_VAR": "value"}, "packages": ["python3", "nodejs"],
      "pythonPackages": ["requests", "beautifulsoup4"], "startup": ["echo 'Ready'"],
      "features": ["file_upload", "file_download", "code_execution"]}}})";
  auto cfg = ParseTemplatesConfig(text, "t.json");
  ASSERT_TRUE(cfg.ok()) << cfg.error().ToString();
  const Template& t = cfg->templates.at("custom");
  EXPECT_EQ(t.environment.at("CUSTOM_VAR"), "value");
  EXPECT_EQ(t.python_packages.size(), 2u);
  EXPECT_EQ(t.startup[0], "echo 'Ready'");
}

// Each bad configuration is rejected naming the file, the template and the field.
TEST(TemplatesConfig, ErrorsNameFileTemplateAndField) {
  struct Case {
    const char* json;
    const char* expect;
  } cases[] = {
      {R"({"templates": {"py": {"memory": "2XB"}}})", "t.json: templates.py.memory"},
      {R"({"templates": {"py": {"memory": "1MB"}}})", "templates.py.memory: at least 16MB"},
      {R"({"templates": {"py": {"cpus": "two"}}})", "templates.py.cpus: expected a number"},
      {R"({"templates": {"py": {"disk": "2XB"}}})", "templates.py.disk: unknown unit"},
      {R"({"templates": {"py": {"disk": true}}})", "templates.py.disk: expected a size"},
      {R"({"templates": {"py": {"disk": "16MB"}}})", "templates.py.disk: must be between"},
      {R"({"templates": {"py": {"disk": "17TB"}}})", "templates.py.disk: must be between"},
      {R"({"templates": {"py": {"inodes": "many"}}})", "templates.py.inodes: expected a number"},
      {R"({"templates": {"py": {"inodes": 100}}})", "templates.py.inodes: must be a whole"},
      {R"({"templates": {"py": {"inodes": 2048.5}}})", "templates.py.inodes: must be a whole"},
      {R"({"templates": {"py": {"inodes": 5000000000}}})", "templates.py.inodes: must be"},
      {R"({"templates": {"py": {"disk": "64MB", "inodes": 100000}}})",
       "templates.py.inodes: at most one inode per KiB of disk (65536"},
      {R"({"templates": {"py": {"cpus": 0}}})", "templates.py.cpus"},
      {R"({"templates": {"py": {"timeout": 0}}})", "templates.py.timeout"},
      {R"({"templates": {"py": {"packages": [1]}}})", "templates.py.packages[0]"},
      {R"({"templates": {"py": {"colour": "red"}}})", "unknown field 'colour'"},
      {R"({"templates": {"py": {"environment": {"1X": "a"}}}})", "templates.py.environment"},
      {R"({"templates": {}})", "defines no template"},
      {R"({"templates": {"a b": {}}})", "templates.a b"},
      {R"({"monitoring": {"alertThresholds": {"cpuUsagePercent": 180}}, "templates": {"a": {}}})",
       "monitoring.alertThresholds"},
      {R"({"security": {"rateLimit": {"enabled": "yes"}}, "templates": {"a": {}}})",
       "security.rateLimit.enabled"},
      {R"([1,2])", "top level"},
      {R"({"templates": )", "not valid JSON"},
  };
  for (const auto& c : cases) {
    auto cfg = ParseTemplatesConfig(c.json, "t.json");
    ASSERT_FALSE(cfg.ok()) << c.json;
    EXPECT_NE(cfg.error().message.find(c.expect), std::string::npos)
        << "message: " << cfg.error().message << "\nexpected to contain: " << c.expect;
    EXPECT_EQ(cfg.error().message.rfind("t.json", 0), 0u) << cfg.error().message;
  }
}

TEST(SandboxSpec, FromJson) {
  auto s = SandboxSpecFromJson(json::parse(
      R"({"template": "python", "sandbox_id": "my_sandbox", "env": {"A": "1"}, "timeout": 60})"));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->id, "my_sandbox");
  EXPECT_EQ(s->env.at("A"), "1");
  EXPECT_EQ(s->timeout_s, 60);
  EXPECT_FALSE(SandboxSpecFromJson(json::parse(R"({"sandbox_id": "Bad!"})")).ok());
  EXPECT_FALSE(SandboxSpecFromJson(json::parse(R"({"template": 3})")).ok());
  auto unknown = SandboxSpecFromJson(json::parse(R"({"templat": "python"})"));
  ASSERT_FALSE(unknown.ok());
  EXPECT_NE(unknown.error().message.find("'templat'"), std::string::npos);
  EXPECT_FALSE(SandboxSpecFromJson(json::parse(R"({"timeout": -1})")).ok());
  EXPECT_FALSE(SandboxSpecFromJson(json::parse(R"([])")).ok());
}

TEST(SandboxSpecTest, PauseFieldsDefaultAndValidate) {
  auto d = SandboxSpecFromJson(json::object());
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d->on_timeout, OnTimeout::kStop);
  EXPECT_FALSE(d->auto_resume);
  EXPECT_TRUE(d->public_traffic);
  auto s = SandboxSpecFromJson(
      json::parse(R"({"on_timeout": "pause", "auto_resume": true, "public_traffic": false})"));
  ASSERT_TRUE(s.ok()) << s.error().ToString();
  EXPECT_EQ(s->on_timeout, OnTimeout::kPause);
  EXPECT_TRUE(s->auto_resume);
  EXPECT_FALSE(s->public_traffic);
  EXPECT_EQ(ToJson(*s)["on_timeout"], "pause");
  auto bad = SandboxSpecFromJson(json::parse(R"({"on_timeout": "freeze"})"));
  ASSERT_FALSE(bad.ok());
  EXPECT_NE(bad.error().message.find("request.on_timeout: unknown value 'freeze'"),
            std::string::npos) << bad.error().message;
  auto not_bool = SandboxSpecFromJson(json::parse(R"({"auto_resume": "yes"})"));
  ASSERT_FALSE(not_bool.ok());
  EXPECT_NE(not_bool.error().message.find("request.auto_resume: expected true or false"),
            std::string::npos) << not_bool.error().message;
  EXPECT_FALSE(SandboxSpecFromJson(json::parse(R"({"public_traffic": 1})")).ok());
  EXPECT_FALSE(SandboxSpecFromJson(json::parse(R"({"on_timeout": 3})")).ok());
}

TEST(ExecRequest, FromJsonAndDefaults) {
  auto r = ExecRequestFromJson(json::parse(R"j({"code": "print(1)"})j"));
  ASSERT_TRUE(r.ok());
  EXPECT_EQ(r->language, Language::kPython);
  EXPECT_EQ(r->timeout_s, 60);
  EXPECT_EQ(r->user, "user");
  EXPECT_FALSE(ExecRequestFromJson(json::parse(R"({"language": "python"})")).ok());
  EXPECT_FALSE(ExecRequestFromJson(json::parse(R"({"code": "x", "language": "cobol"})")).ok());
  EXPECT_FALSE(ExecRequestFromJson(json::parse(R"({"code": "x", "timeout": 0})")).ok());
  EXPECT_FALSE(ExecRequestFromJson(json::parse(R"({"code": "x", "timeout": "5"})")).ok());
  EXPECT_FALSE(ExecRequestFromJson(json::parse(R"({"code": "x", "user": "admin"})")).ok());
}

TEST(InterpreterArgv, CodeIsAnArgumentNeverAShellLine) {
  std::string code = "print('$(id); `rm -rf /`')";
  auto argv = InterpreterArgv(Language::kPython, code);
  ASSERT_EQ(argv.size(), 3u);
  EXPECT_EQ(argv[0], "python3");
  EXPECT_EQ(argv[1], "-c");
  EXPECT_EQ(argv[2], code);
  EXPECT_EQ(InterpreterArgv(Language::kNode, "1")[0], "node");
  EXPECT_EQ(InterpreterArgvForFile(Language::kBash, "/tmp/x.sh")[1], "/tmp/x.sh");
}

TEST(ExecResult, JsonRoundTrip) {
  ExecResult r;
  r.status = ExecStatus::kTimeout;
  r.exit_code = -1;
  r.signal = 9;
  r.stdout_data = "out";
  r.execution_time = 2.5;
  r.reason = "timeout";
  json j = ToJson(r);
  EXPECT_EQ(j["success"], false);
  EXPECT_EQ(j["status"], "timeout");
  auto back = ExecResultFromJson(j);
  ASSERT_TRUE(back.ok());
  EXPECT_EQ(back->status, ExecStatus::kTimeout);
  EXPECT_EQ(back->signal, 9);
  EXPECT_EQ(back->stdout_data, "out");
  for (auto s : {ExecStatus::kCompleted, ExecStatus::kFailed, ExecStatus::kTimeout,
                 ExecStatus::kOom, ExecStatus::kKilled, ExecStatus::kError})
    EXPECT_EQ(*ParseExecStatus(ExecStatusName(s)), s);
}

}  // namespace
}  // namespace sbx::spec
