// create: `sbx create` -- POST /v1/sandboxes, then upload each --file into the new sandbox.
// If an upload fails the new sandbox is removed again (DELETE), so a failed create leaves
// nothing behind, and the error names the file.
#include <string>

#include "cli/commands.h"
#include "client/transfer.h"
#include "spec/spec.h"

namespace sbx::cli {

Error AsFlagError(Error e) {
  static constexpr std::string_view kPrefix = "request.";
  if (std::string_view(e.message).substr(0, kPrefix.size()) == kPrefix)
    e.message = "--" + e.message.substr(kPrefix.size());
  return e;
}

nlohmann::json SecondsJson(double s) {
  if (s == static_cast<double>(static_cast<int64_t>(s)) && s >= -1e15 && s <= 1e15)
    return static_cast<int64_t>(s);
  return s;
}

CLI::App* AddCreateCommand(CLI::App& app, CreateArgs& args) {
  CLI::App* sub = app.add_subcommand("create", "Create a sandbox from a template");
  sub->add_option("--template,-t", args.template_name,
                  "Template to start (python, node, general, minimal, ...; default: the "
                  "daemon's default, python)");
  sub->add_option("--sandbox-id,--id", args.sandbox_id,
                  "Id of the new sandbox, [a-z0-9_]{1,64} (default: generated)");
  sub->add_option("--env,-e", args.env, "Environment variable NAME=VALUE (repeatable)")
      ->allow_extra_args(false)
      ->check(FormCheck(ParseEnvAssignment, "--env", "NAME=VALUE"));
  sub->add_option("--file,-f", args.files,
                  "Upload LOCAL to the absolute path REMOTE after creation, written "
                  "LOCAL:REMOTE; a REMOTE ending in '/' keeps the file name (repeatable)")
      ->allow_extra_args(false)
      ->check(FormCheck(ParseFileMapping, "--file", "LOCAL:REMOTE"));
  sub->add_option_function<double>(
      "--timeout", [&args](const double& v) { args.timeout = v; },
      "Sandbox lifetime in seconds (default: the template's)");
  sub->add_option("--file-user", args.file_user, "Write the --file uploads as 'user' or 'root'")
      ->check(CLI::IsMember({"user", "root"}));
  sub->footer(
      "Prints {\"success\": true, \"sandbox_id\": ..., \"template\": ..., \"files_uploaded\": N, "
      "...}. Exit status 0 on success, 2 on any error.");
  return sub;
}

Result<CreatePlan> PlanCreate(const CreateArgs& args) {
  CreatePlan plan;
  plan.file_user = args.file_user;
  nlohmann::json req = nlohmann::json::object();
  if (!args.template_name.empty()) req["template"] = args.template_name;
  if (!args.sandbox_id.empty()) {
    RETURN_IF_ERROR(spec::ValidateSandboxId(args.sandbox_id));
    req["sandbox_id"] = args.sandbox_id;
  }
  ASSIGN_OR_RETURN(spec::Env env, ParseEnvFlags(args.env));
  if (!env.empty()) req["env"] = env;
  if (args.timeout) req["timeout"] = SecondsJson(*args.timeout);
  // The daemon's own validator, so that a bad value is refused here with its message.
  Result<spec::SandboxSpec> checked = spec::SandboxSpecFromJson(req);
  if (!checked.ok()) return AsFlagError(std::move(checked).error());
  for (const std::string& f : args.files) {
    ASSIGN_OR_RETURN(FileMapping m, ParseFileMapping(f));
    plan.files.push_back(std::move(m));
  }
  plan.request = std::move(req);
  return plan;
}

Outcome RunCreate(Client& client, const CreatePlan& plan) {
  // Unreadable local files are found before anything is created.
  for (const FileMapping& m : plan.files) {
    Result<void> readable = CheckReadableFile(m.local);
    if (!readable.ok()) return ErrorOutcome(readable.error());
  }
  Result<OJson> created = client.CallJson("POST", "/v1/sandboxes", plan.request, kCreateTimeoutS);
  if (!created.ok()) return ErrorOutcome(created.error());
  const OJson& sandbox = *created;
  std::string id = StringField(sandbox, "sandbox_id");
  if (id.empty() || !sandbox.is_object())
    return FailureOutcome("internal", "sandboxd created a sandbox but did not say its sandbox_id");

  OJson uploaded = OJson::array();
  for (const FileMapping& m : plan.files) {
    Result<TransferResult> up = UploadFile(client, id, m.local, m.remote, plan.file_user);
    if (up.ok()) {
      uploaded.push_back(OJson{{"local_path", up->local_path},
                               {"path", up->path},
                               {"size", up->size},
                               {"hash", up->hash}});
      continue;
    }
    Error err = std::move(up).error();
    std::string msg = "uploading '" + m.local + "' to " + m.remote + " in sandbox '" + id +
                      "' failed: " + err.ToString();
    Result<OJson> removed =
        client.CallJson("DELETE", "/v1/sandboxes/" + id, nullptr, kDefaultTimeoutS);
    if (removed.ok())
      msg += "; the sandbox was removed again";
    else
      msg += "; removing the sandbox failed too (" + removed.error().ToString() +
             "): remove it with `sbx cleanup --sandbox-id " + id + "`";
    return FailureOutcome(ErrorCodeName(err.code), msg);
  }

  // The guide's fields first, then whatever else the daemon said about the sandbox.
  OJson out = OJson::object();
  out["success"] = true;
  out["sandbox_id"] = id;
  out["template"] = StringField(sandbox, "template", plan.request.value("template", ""));
  out["files_uploaded"] = uploaded.size();
  for (auto it = sandbox.begin(); it != sandbox.end(); ++it)
    if (!out.contains(it.key())) out[it.key()] = *it;
  if (!uploaded.empty()) out["files"] = std::move(uploaded);
  return SuccessOutcome(out);
}

}  // namespace sbx::cli
