// resume: `sbx resume --sandbox-id ID [--timeout S]` -- POST /v1/sandboxes/{id}/resume. Thaws a
// paused sandbox; the time it was paused does not count against its lifetime, and --timeout
// makes its remaining lifetime at least S seconds.
#include "cli/commands.h"
#include "client/sandbox_client.h"

namespace sbx::cli {

CLI::App* AddResumeCommand(CLI::App& app, ResumeArgs& args) {
  CLI::App* sub = app.add_subcommand("resume", "Thaw a paused sandbox");
  sub->add_option("--sandbox-id,--id", args.sandbox_id, "The sandbox")->required();
  sub->add_option("--timeout", args.timeout_s,
                  "Remaining lifetime of at least this many seconds (1-2592000)")
      ->check(CLI::Range(int64_t{1}, int64_t{30} * 86400));
  return sub;
}

Outcome RunResume(Client& client, const ResumeArgs& args) {
  Result<OJson> r = client::SandboxClient(&client).ResumeJson(args.sandbox_id, args.timeout_s);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
