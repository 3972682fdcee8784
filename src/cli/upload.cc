// upload: `sbx upload SANDBOX LOCAL... [--to DIR]` -- one file through the single-file PUT,
// several files or directories as one tar.gz batch (client/batch.h). Also the JSON that
// upload and download print.
#include "cli/commands.h"
#include "spec/spec.h"

namespace sbx::cli {

OJson BatchResultJson(const client::BatchResult& r) {
  OJson files = OJson::array();
  for (const client::BatchFile& f : r.files) {
    OJson j = OJson::object();
    j["name"] = f.name;
    if (!f.path.empty()) j["path"] = f.path;
    j["local_path"] = f.local_path;
    j["size"] = f.size;
    j["hash"] = f.hash;
    j["compressed"] = f.compressed;
    j["stored_size"] = f.stored_size;
    files.push_back(std::move(j));
  }
  OJson out = OJson::object();
  out["success"] = true;
  out["sandbox_id"] = r.sandbox_id;
  out["batch"] = r.batch;
  out["compressed"] = r.compressed;
  out["count"] = r.files.size();
  out["files"] = std::move(files);
  out["directories"] = r.directories;
  out["skipped"] = r.skipped;
  out["transferred_size"] = r.transferred_size;
  return out;
}

CLI::App* AddUploadCommand(CLI::App& app, UploadArgs& args) {
  CLI::App* sub = app.add_subcommand("upload", "Copy local files or directories into a sandbox");
  sub->add_option("sandbox", args.sandbox_id, "Sandbox id")->required();
  sub->add_option("local", args.locals, "Local files or directories")->required();
  sub->add_option("--to", args.to,
                  "Directory in the sandbox to put them in (default: the user's home)");
  sub->add_option("--user", args.user, "Write as 'user' (default) or 'root'")
      ->check(CLI::IsMember({"user", "root"}));
  sub->footer(
      "One regular file goes through the single-file upload; several paths or a directory "
      "travel as one tar.gz batch. Directories are copied recursively under their own name; "
      "symlinks, devices and pipes inside them are skipped (listed in \"skipped\"). Files "
      "keep their permission bits (a script stays executable); directories are created "
      "0755.\nPrints {\"success\": "
      "true, \"sandbox_id\", \"batch\", \"compressed\", \"count\", \"files\": [{\"name\", "
      "\"path\", \"local_path\", \"size\", \"hash\", \"compressed\", \"stored_size\"}], "
      "\"directories\", \"skipped\", \"transferred_size\"}; each hash (sha256) is checked "
      "against the sandbox's. Exit status 0 on success, 2 on any error.");
  return sub;
}

Outcome RunUpload(Client& client, const UploadArgs& args) {
  if (auto v = spec::ValidateSandboxId(args.sandbox_id); !v.ok()) return ErrorOutcome(v.error());
  auto r = client::UploadPaths(client, args.sandbox_id, args.locals, args.to, args.user);
  if (!r.ok()) return ErrorOutcome(r.error());
  return SuccessOutcome(BatchResultJson(*r));
}

}  // namespace sbx::cli
