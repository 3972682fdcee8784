// extend: `sbx extend --sandbox-id ID --timeout S` -- POST /v1/sandboxes/{id}/timeout. Sets the
// sandbox's remaining lifetime to S seconds from now (as E2B's set_timeout does) and prints
// the sandbox with its new expires_at.
#include "cli/commands.h"
#include "client/sandbox_client.h"

namespace sbx::cli {

CLI::App* AddExtendCommand(CLI::App& app, ExtendArgs& args) {
  CLI::App* sub = app.add_subcommand(
      "extend", "Set a running sandbox's remaining lifetime to --timeout seconds from now");
  sub->add_option("--sandbox-id,--id", args.sandbox_id, "The sandbox")->required();
  sub->add_option("--timeout", args.timeout_s, "Seconds from now (1-2592000)")
      ->required()
      ->check(CLI::Range(int64_t{1}, int64_t{30} * 86400));
  return sub;
}

Outcome RunExtend(Client& client, const ExtendArgs& args) {
  client::SandboxClient sandboxes(&client);
  Result<OJson> r = sandboxes.ExtendTimeoutJson(args.sandbox_id, args.timeout_s);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
