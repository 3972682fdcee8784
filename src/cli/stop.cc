// stop: `sbx stop --sandbox-id ID` -- POST /v1/sandboxes/{id}/stop. Ends every process of the
// sandbox; its files stay until `sbx cleanup`.
#include "cli/commands.h"
#include "spec/spec.h"

namespace sbx::cli {

CLI::App* AddStopCommand(CLI::App& app, IdArgs& args) {
  CLI::App* sub = app.add_subcommand("stop", "Stop every process of a sandbox (files stay)");
  sub->add_option("--sandbox-id,--id", args.sandbox_id, "The sandbox")->required();
  return sub;
}

Outcome RunStop(Client& client, const IdArgs& args) {
  Result<void> valid = spec::ValidateSandboxId(args.sandbox_id);
  if (!valid.ok()) return ErrorOutcome(valid.error());
  // Stopping waits for the processes to end: allow a little more than the default.
  Result<OJson> r = client.CallJson("POST", "/v1/sandboxes/" + args.sandbox_id + "/stop", nullptr,
                                    2 * kDefaultTimeoutS);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
