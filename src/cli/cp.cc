// cp: `sbx cp LOCAL ID:PATH` uploads, `sbx cp ID:PATH LOCAL` downloads one file. An argument is
// remote when the part before its first ':' is a valid sandbox id; "./NAME" forces a local
// path. Downloads are written atomically (temporary file + rename) and their SHA-256 is checked
// against the daemon's X-Content-SHA256; uploads against the hash the daemon reports.
#include <sys/stat.h>

#include "cli/commands.h"
#include "client/transfer.h"

namespace sbx::cli {

CLI::App* AddCpCommand(CLI::App& app, CpArgs& args) {
  CLI::App* sub = app.add_subcommand("cp", "Copy one file into or out of a sandbox");
  sub->add_option("source", args.source, "LOCAL file or ID:PATH")->required();
  sub->add_option("dest", args.dest, "ID:PATH or LOCAL path (an existing directory keeps the name)")
      ->required();
  sub->add_option("--user", args.user, "Read/write the sandbox file as 'user' (default) or 'root'")
      ->check(CLI::IsMember({"user", "root"}));
  sub->footer(
      "ID:PATH is remote when ID is a valid sandbox id ([a-z0-9_]{1,64}); PATH must be absolute "
      "and may end in '/' for an upload into a directory. Write ./NAME for a local file whose "
      "name contains ':'.\nPrints {\"success\": true, \"sandbox_id\", \"path\", \"local_path\", "
      "\"size\", \"hash\"} (hash: sha256 hex). Exit status 0 on success, 2 on any error.");
  return sub;
}

std::string ResolveDownloadPath(const CpPlan& plan) {
  struct stat st;
  bool is_dir = !plan.local.empty() && plan.local.back() == '/';
  if (!is_dir && ::stat(plan.local.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) is_dir = true;
  if (!is_dir) return plan.local;
  std::string dir = plan.local;
  if (dir.back() != '/') dir += '/';
  return dir + BaseName(plan.remote.path);
}

Outcome RunCp(Client& client, const CpPlan& plan, const std::string& user) {
  Result<TransferResult> r =
      plan.direction == CpPlan::Direction::kUpload
          ? UploadFile(client, plan.remote.sandbox_id, plan.local, plan.remote.path, user)
          : DownloadFile(client, plan.remote.sandbox_id, plan.remote.path,
                         ResolveDownloadPath(plan), user);
  if (!r.ok()) return ErrorOutcome(r.error());
  OJson out = OJson::object();
  out["success"] = true;
  out["sandbox_id"] = r->sandbox_id;
  out["path"] = r->path;
  out["local_path"] = r->local_path;
  out["size"] = r->size;
  out["hash"] = r->hash;
  out["direction"] = plan.direction == CpPlan::Direction::kUpload ? "upload" : "download";
  return SuccessOutcome(out);
}

}  // namespace sbx::cli
