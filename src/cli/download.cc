// download: `sbx download SANDBOX REMOTE... [--to LOCALDIR]` -- one file through the
// single-file GET, several paths or a directory as one archive, unpacked safely below
// LOCALDIR (client/batch.h).
#include "cli/commands.h"
#include "spec/spec.h"

namespace sbx::cli {

CLI::App* AddDownloadCommand(CLI::App& app, DownloadArgs& args) {
  CLI::App* sub = app.add_subcommand("download", "Copy files or directories out of a sandbox");
  sub->add_option("sandbox", args.sandbox_id, "Sandbox id")->required();
  sub->add_option("remote", args.remotes, "Paths in the sandbox")->required();
  sub->add_option("--to", args.to, "Local directory to put them in (default: .; created)");
  sub->add_option("--user", args.user, "Read as 'user' (default) or 'root'")
      ->check(CLI::IsMember({"user", "root"}));
  sub->footer(
      "Each path lands in LOCALDIR under its base name; directories come recursively "
      "(symlinks in them are left out). Existing files are replaced, never written through a "
      "symlink; nothing is written outside LOCALDIR. Each file's sha256 is checked before it "
      "is put in place.\nPrints the same JSON as `sbx upload`. Exit status 0 on success, 2 on "
      "any error.");
  return sub;
}

Outcome RunDownload(Client& client, const DownloadArgs& args) {
  if (auto v = spec::ValidateSandboxId(args.sandbox_id); !v.ok()) return ErrorOutcome(v.error());
  auto r = client::DownloadPaths(client, args.sandbox_id, args.remotes, args.to, args.user);
  if (!r.ok()) return ErrorOutcome(r.error());
  OJson out = BatchResultJson(*r);
  out.erase("skipped");
  return SuccessOutcome(out);
}

}  // namespace sbx::cli
