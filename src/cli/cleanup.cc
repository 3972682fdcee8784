// cleanup: `sbx cleanup --sandbox-id ID` -- DELETE /v1/sandboxes/{id}. Stops the sandbox if
// needed and removes everything it had: mounts, cgroup, files, record.
#include "cli/commands.h"
#include "client/sandbox_client.h"

namespace sbx::cli {

CLI::App* AddCleanupCommand(CLI::App& app, IdArgs& args) {
  CLI::App* sub =
      app.add_subcommand("cleanup", "Stop a sandbox if needed and remove it with all its files");
  sub->add_option("--sandbox-id,--id", args.sandbox_id, "The sandbox")->required();
  return sub;
}

Outcome RunCleanup(Client& client, const IdArgs& args) {
  Result<OJson> r = client::SandboxClient(&client).CleanupJson(args.sandbox_id);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
