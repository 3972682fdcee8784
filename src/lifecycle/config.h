// LifecycleConfig: what a lifecycle run does, with the guide's fields, its JSON codec and its
// validation in one function (STYLE practice 8): the API, the CLI and workflows all go through
// LifecycleConfigFromJson.
//
//   {"sandbox_id": "test_sbx", "template": "python", "timeout": 300, "max_retries": 3,
//    "retry_delay": 5, "cleanup_on_error": true, "monitor_interval": 5,
//    "enable_webhooks": true, "environment": {"DEBUG": "1"},
//    "files": [{"path": "/home/user/in.csv", "content": "a,b\n"} or
//              {"path": "...", "content_base64": "..."}],
//    "scripts": ["print('Step 1')", {"language": "bash", "code": "ls", "timeout": 30}]}
//
// timeout bounds the whole run (create, uploads, every attempt and retry wait) and is also the
// sandbox's lifetime; max_retries counts retries after the first attempt (a script runs at most
// 1 + max_retries times); retry_delay and monitor_interval are seconds (monitor_interval 0:
// no monitoring).
//
// Thread safety: plain values and pure functions.
#pragma once

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "common/result.h"
#include "spec/spec.h"

namespace sbx::lifecycle {

struct Script {
  spec::Language language = spec::Language::kPython;
  std::string code;
  double timeout_s = 0;  // per attempt; 0: whatever is left of the run's timeout
};

struct FileUpload {
  std::string path;     // absolute, inside the sandbox
  std::string content;  // raw bytes
};

struct LifecycleConfig {
  std::string sandbox_id;  // "" : generated (lc_<10 hex>)
  std::string template_name = "python";
  int64_t timeout_s = 300;
  int max_retries = 3;
  double retry_delay_s = 5;
  bool cleanup_on_error = true;
  double monitor_interval_s = 5;
  bool enable_webhooks = true;  // false: events are stored and streamed but not sent
  spec::Env environment;
  std::vector<FileUpload> files;
  std::vector<Script> scripts;
};

inline constexpr int64_t kMaxLifecycleTimeoutS = 7 * 24 * 3600;
inline constexpr int kMaxRetries = 100;
inline constexpr size_t kMaxScripts = 100;
inline constexpr size_t kMaxFiles = 100;
inline constexpr size_t kMaxFilesBytes = 64 << 20;

// Parses and validates. Errors name the field: "lifecycle.scripts[1].code: ...".
Result<LifecycleConfig> LifecycleConfigFromJson(const nlohmann::json& j);
// The inverse (files as base64), parseable by LifecycleConfigFromJson.
nlohmann::json ToJson(const LifecycleConfig& c);

}  // namespace sbx::lifecycle
