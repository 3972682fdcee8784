// template: `sbx template list | show NAME | build NAME [--force] | rm NAME` over the template
// endpoints (docs/api.md). build streams the daemon's NDJSON progress lines to stderr as
// they arrive and prints the final result on stdout.
#include <cstdio>

#include "cli/commands.h"

namespace sbx::cli {
namespace {

std::string Mib(int64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  return buf;
}

// One progress object as a line for a human: "[mmdebstrap] I: extracting archives..." or
// "[layer 1/2] 12.0 MiB / 30.5 MiB".
std::string ProgressLine(const nlohmann::json& p) {
  std::string step = p.value("step", "");
  std::string line = "[" + step + "] ";
  if (p.contains("message")) return line + p.value("message", "");
  int64_t done = p.value("bytes_done", int64_t{-1}), total = p.value("bytes_total", int64_t{-1});
  if (done >= 0) line += Mib(done);
  if (total > 0) line += " / " + Mib(total);
  return line;
}

Outcome RunBuild(Client& client, const TemplateArgs& args, const ProgressOut& progress) {
  OJson final;
  bool have_final = false;
  HttpRequest req;
  req.method = "POST";
  req.target = "/v1/templates/" + PercentEncode(args.name) + "/build";
  req.content_type = "application/json";
  req.body = args.force ? R"({"force": true})" : "{}";
  req.timeout_s = 0;  // builds take minutes; the daemon streams a line at every step
  req.sink = client::LineSink([&](std::string_view line) -> Result<void> {
    OJson j = OJson::parse(line, nullptr, false);
    if (j.is_discarded() || !j.is_object()) return Ok();
    if (j.contains("progress")) {
      if (progress) progress(ProgressLine(nlohmann::json::parse(j["progress"].dump())) + "\n");
    } else {
      final = j;
      have_final = true;
    }
    return Ok();
  });
  Result<HttpResponse> r = client.Send(req);
  if (!r.ok()) return ErrorOutcome(r.error());
  if (r->status < 200 || r->status >= 300) return ErrorOutcome(ErrorFromHttp(r->status, r->body));
  if (!have_final)
    return FailureOutcome("unavailable", "the build stream of template '" + args.name +
                                             "' ended without a result (sandboxd stopped?)");
  if (!final.value("success", false)) {
    std::string code = "internal", message = "build failed";
    if (final.contains("error") && final["error"].is_object()) {
      code = StringField(final["error"], "code", code);
      message = StringField(final["error"], "message", message);
    }
    return FailureOutcome(code, message);
  }
  return SuccessOutcome(final);
}

}  // namespace

CLI::App* AddTemplateCommand(CLI::App& app, TemplateArgs& args) {
  CLI::App* sub = app.add_subcommand("template", "Build, inspect and remove template root filesystems");
  sub->require_subcommand(1, 1);
  sub->add_subcommand("list", "Templates with their build state")
      ->callback([&args] { args.action = "list"; });
  CLI::App* show = sub->add_subcommand("show", "One template: definition, built version, log");
  show->add_option("name", args.name, "Template name")->required();
  show->callback([&args] { args.action = "show"; });
  CLI::App* build = sub->add_subcommand(
      "build", "Build the template's root filesystem (progress on stderr, result on stdout)");
  build->add_option("name", args.name, "Template name")->required();
  build->add_flag("--force", args.force, "Rebuild even when the definition did not change");
  build->callback([&args] { args.action = "build"; });
  CLI::App* rm = sub->add_subcommand("rm", "Remove the built versions of a template");
  rm->add_option("name", args.name, "Template name")->required();
  rm->callback([&args] { args.action = "rm"; });
  return sub;
}

Outcome RunTemplate(Client& client, const TemplateArgs& args, const ProgressOut& progress) {
  if (args.action == "build") return RunBuild(client, args, progress);
  Result<OJson> r = MakeError(ErrorCode::kInvalidArgument, "template: unknown action");
  if (args.action == "list")
    r = client.CallJson("GET", "/v1/templates", nullptr, kDefaultTimeoutS);
  else if (args.action == "show")
    r = client.CallJson("GET", "/v1/templates/" + PercentEncode(args.name), nullptr,
                        kDefaultTimeoutS);
  else if (args.action == "rm")
    r = client.CallJson("DELETE", "/v1/templates/" + PercentEncode(args.name), nullptr,
                        kDefaultTimeoutS);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(*r);
}

}  // namespace sbx::cli
