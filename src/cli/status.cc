// status: `sbx status [--sandbox-id ID]` -- GET /v1/sandboxes/{id}, or the list of all
// sandboxes (GET /v1/sandboxes[?state=...]); and `sbx templates` -- GET /v1/templates.
#include "cli/commands.h"
#include "client/sandbox_client.h"
#include "spec/spec.h"

namespace sbx::cli {

CLI::App* AddStatusCommand(CLI::App& app, StatusArgs& args) {
  CLI::App* sub = app.add_subcommand("status", "Show one sandbox, or list all of them");
  sub->add_option("--sandbox-id,--id", args.sandbox_id, "The sandbox (default: list all)");
  sub->add_option("--state", args.state, "When listing: only sandboxes in this state")
      ->check(CLI::IsMember({"creating", "running", "stopped", "error"}));
  return sub;
}

Result<std::string> PlanStatus(const StatusArgs& args) {
  if (args.sandbox_id.empty()) {
    std::string target = "/v1/sandboxes";
    if (!args.state.empty()) target += "?state=" + PercentEncode(args.state);
    return target;
  }
  RETURN_IF_ERROR(spec::ValidateSandboxId(args.sandbox_id));
  if (!args.state.empty())
    return MakeError(ErrorCode::kInvalidArgument, "--state filters the list; drop --sandbox-id");
  return "/v1/sandboxes/" + args.sandbox_id;
}

Outcome RunStatus(Client& client, const StatusArgs& args) {
  Result<std::string> target = PlanStatus(args);  // validates the combination of flags
  if (!target.ok()) return ErrorOutcome(target.error());
  client::SandboxClient sandboxes(&client);
  Result<OJson> r = args.sandbox_id.empty() ? sandboxes.ListJson(args.state)
                                            : sandboxes.StatusJson(args.sandbox_id);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

CLI::App* AddTemplatesCommand(CLI::App& app) {
  return app.add_subcommand("templates", "List the templates sandboxes can be created from");
}

Outcome RunTemplates(Client& client) {
  Result<OJson> r = client.CallJson("GET", "/v1/templates", nullptr, kDefaultTimeoutS);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
