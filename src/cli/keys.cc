// keys: `sbx keys create --tenant T [--name N] [--ttl-days D] [--format sbx|e2b] |
// list [--tenant T] | revoke ID | rotate ID [--overlap-hours H] [--ttl-days D]` over /v1/keys (docs/auth.md). Served on the
// daemon's unix socket only (the administrator's). create and rotate print the plaintext key,
// once, as "key": it cannot be shown again.
#include "cli/commands.h"

namespace sbx::cli {

CLI::App* AddKeysCommand(CLI::App& app, KeysArgs& args) {
  CLI::App* sub = app.add_subcommand(
      "keys", "Manage API keys (unix socket only): create, list, revoke, rotate");
  sub->require_subcommand(1, 1);
  CLI::App* create = sub->add_subcommand("create", "Create a key for a tenant (printed once)");
  create->add_option("--tenant", args.tenant, "Tenant: [a-z0-9_-]{1,64}")->required();
  create->add_option("--name", args.name, "A name for people: 'ci', 'alice laptop'");
  create->add_option("--ttl-days", args.ttl_days, "Days until it expires (1..3650, default 90)");
  create->add_option("--format", args.format,
                     "sbx (default: sbx_ + 40 letters and digits) or e2b (e2b_ + 40 hex digits, "
                     "the form E2B's Python SDK requires)");
  create->callback([&args] { args.action = "create"; });
  CLI::App* list = sub->add_subcommand("list", "List keys (never their secrets)");
  list->add_option("--tenant", args.tenant, "Only this tenant's keys");
  list->callback([&args] { args.action = "list"; });
  CLI::App* revoke = sub->add_subcommand("revoke", "Revoke a key at once");
  revoke->add_option("id", args.id, "Key id (key_...)")->required();
  revoke->callback([&args] { args.action = "revoke"; });
  CLI::App* rotate = sub->add_subcommand(
      "rotate", "Issue a successor key; the old one works for --overlap-hours more");
  rotate->add_option("id", args.id, "Key id (key_...)")->required();
  rotate->add_option("--overlap-hours", args.overlap_hours,
                     "Hours the old key keeps working (0..720, default 24)");
  rotate->add_option("--ttl-days", args.ttl_days, "Days until the new key expires (default 90)");
  rotate->callback([&args] { args.action = "rotate"; });
  return sub;
}

Outcome RunKeys(Client& client, const KeysArgs& args) {
  if (!client.endpoint().base_url.empty())
    return FailureOutcome("permission_denied",
                          "keys: API keys are managed only on sandboxd's unix socket; drop --url "
                          "(and SANDBOXD_URL) and run this on the daemon's host");
  Result<OJson> r = MakeError(ErrorCode::kInvalidArgument, "keys: unknown action");
  if (args.action == "create") {
    nlohmann::json body{{"tenant", args.tenant}};
    if (!args.name.empty()) body["name"] = args.name;
    if (args.ttl_days) body["ttl_days"] = *args.ttl_days;
    if (!args.format.empty()) body["format"] = args.format;
    r = client.CallJson("POST", "/v1/keys", body, kDefaultTimeoutS);
  } else if (args.action == "list") {
    std::string target = "/v1/keys";
    if (!args.tenant.empty()) target += "?tenant=" + PercentEncode(args.tenant);
    r = client.CallJson("GET", target, nullptr, kDefaultTimeoutS);
  } else if (args.action == "revoke") {
    r = client.CallJson("DELETE", "/v1/keys/" + PercentEncode(args.id), nullptr, kDefaultTimeoutS);
  } else if (args.action == "rotate") {
    nlohmann::json body = nlohmann::json::object();
    if (args.overlap_hours) body["overlap_hours"] = *args.overlap_hours;
    if (args.ttl_days) body["ttl_days"] = *args.ttl_days;
    r = client.CallJson("POST", "/v1/keys/" + PercentEncode(args.id) + "/rotate", body,
                        kDefaultTimeoutS);
  }
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
