// pause: `sbx pause --sandbox-id ID` -- POST /v1/sandboxes/{id}/pause. Freezes every process of
// the sandbox (memory and files kept, lifetime clock stopped) until `sbx resume`.
#include "cli/commands.h"
#include "client/sandbox_client.h"

namespace sbx::cli {

CLI::App* AddPauseCommand(CLI::App& app, IdArgs& args) {
  CLI::App* sub = app.add_subcommand(
      "pause", "Freeze every process of a running sandbox (memory and files kept) until resume");
  sub->add_option("--sandbox-id,--id", args.sandbox_id, "The sandbox")->required();
  return sub;
}

Outcome RunPause(Client& client, const IdArgs& args) {
  Result<OJson> r = client::SandboxClient(&client).PauseJson(args.sandbox_id);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
