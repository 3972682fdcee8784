// E2B's control plane as data (docs/e2b.md, "The control plane"): the request bodies it
// accepts, the JSON it answers (Sandbox, ListedSandbox, SandboxDetail, Template), its error
// shape, and the list's filters and pagination tokens. Pure functions, no manager, no sockets:
// e2b_routes.cc does the calls.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "api/http.h"
#include "common/result.h"
#include "spec/spec.h"
#include "store/store.h"

namespace sbx::api::e2b {

// A path of E2B's control plane: not under /v1, and neither /health nor /metrics.
bool IsE2bPath(const std::string& path);
// {"code": status, "message": message}
Response ErrorJson(int status, const std::string& message);
// Rewrites an answer for an E2B path: an error body in the v1 shape ({"success": false,
// "error": {"message"}}) becomes {"code", "message"}; a 204 loses any body.
void ToE2bShape(Response& resp);

// NewSandboxV2 (and the legacy NewSandbox): what sandboxd honours of it.
struct NewSandbox {
  spec::SandboxSpec spec;        // template_name, env (envVars), timeout_s, metadata
  bool auto_pause = false;       // autoPause: pause, not kill, at the timeout
  bool auto_resume = false;      // autoResume.enabled
  bool public_traffic = true;    // network.allowPublicTraffic
};
inline constexpr int64_t kDefaultTimeoutS = 300;
inline constexpr int64_t kMaxTimeoutS = 30 * 86400;
Result<NewSandbox> ParseNewSandbox(const nlohmann::json& body);
// `timeout` of a timeout or connect body: whole seconds 1..kMaxTimeoutS. nullopt when absent
// (an error when `required`).
Result<std::optional<int64_t>> ParseTimeout(const nlohmann::json& body, bool required);

// 'i' + 19 random lowercase hex digits: carried by E2B's Host form <port>-<id>.<domain>.
std::string NewSandboxId();

// "running" or "paused" for the states E2B shows; nullptr for any other (stopped, error,
// creating: not an E2B sandbox any more, or not yet).
const char* StateOf(const std::string& record_state);

// What the Sandbox answer carries besides the record.
struct Access {
  std::string envd_token;
  std::optional<std::string> traffic_token;  // set when the sandbox refuses public traffic
  std::string domain;                        // "" -> null
};
nlohmann::json SandboxJson(const store::SandboxRecord& r, const Access& access);
nlohmann::json ListedSandboxJson(const store::SandboxRecord& r);
nlohmann::json SandboxDetailJson(const store::SandboxRecord& r, const Access& access);
// The end of a sandbox's lifetime, RFC 3339 (a record that never expires: year 9999).
std::string EndAt(const store::SandboxRecord& r);

// E2B's Template for one of sandboxd's templates: templateID and names are its key, aliases
// its aliases; `ready`: built from its definition as it is now.
nlohmann::json TemplateJson(const spec::Template& t, bool ready, const std::string& build_id,
                            int64_t built_at_ms);

// GET /sandboxes and /v2/sandboxes: the query's filters.
struct ListQuery {
  std::set<std::string> states{"running", "paused"};
  std::map<std::string, std::string> metadata;  // every pair must match
  size_t limit = 100;
  // From nextToken: list the sandboxes after this (created_at_ms, id).
  std::optional<std::pair<int64_t, std::string>> after;
};
inline constexpr size_t kMaxListLimit = 100;
Result<ListQuery> ParseListQuery(const std::map<std::string, std::string>& query);

struct Page {
  std::vector<store::SandboxRecord> items;
  std::string next_token;  // "" when no more remain
};
// Filters (state, metadata), orders by (created_at_ms, id) and cuts a page. `records` are the
// ones the caller may see.
Page SelectPage(std::vector<store::SandboxRecord> records, const ListQuery& query);
// Opaque to clients: the hex of "<created_at_ms>:<id>".
std::string EncodeToken(int64_t created_at_ms, const std::string& id);
Result<std::pair<int64_t, std::string>> DecodeToken(const std::string& token);

}  // namespace sbx::api::e2b
