// stop: `sbx stop --sandbox-id ID` -- POST /v1/sandboxes/{id}/stop. Ends every process of the
// sandbox; its files stay until `sbx cleanup`.
#include "cli/commands.h"
#include "client/sandbox_client.h"

namespace sbx::cli {

CLI::App* AddStopCommand(CLI::App& app, IdArgs& args) {
  CLI::App* sub = app.add_subcommand("stop", "Stop every process of a sandbox (files stay)");
  sub->add_option("--sandbox-id,--id", args.sandbox_id, "The sandbox")->required();
  return sub;
}

Outcome RunStop(Client& client, const IdArgs& args) {
  // Validates the id; stopping waits for the processes to end (the library allows for it).
  Result<OJson> r = client::SandboxClient(&client).StopJson(args.sandbox_id);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
