// npmPackages: installed by the host's npm into <rootfs>/usr/local/lib/node_modules, without
// running package scripts (they would run on the host, as root). Sandboxes find them through
// NODE_PATH=/usr/local/lib/node_modules, which the build records in the version's env.
#include "runtime/fs_util.h"
#include "templates/steps.h"

namespace sbx::templates {

Result<void> NpmInstall(BuildContext& ctx, const std::vector<std::string>& packages) {
  if (packages.empty()) return Ok();
  std::string list;
  for (const std::string& p : packages) {
    if (p.empty() || p[0] == '-' || p.find_first_of(" \t\n") != std::string::npos)
      return MakeError(ErrorCode::kInvalidArgument,
                       "templates." + ctx.tpl->key + ".npmPackages: '" + p +
                           "' is not an npm package spec");
    list += (list.empty() ? "" : ", ") + p;
  }
  std::string npm = FindProgram("npm");
  if (npm.empty())
    return MakeError(ErrorCode::kFailedPrecondition,
                     "npmPackages " + list + " need npm on the host (apt-get install npm)");
  if (!runtime::PathExists(ctx.rootfs_dir + "/usr/bin/node") &&
      !runtime::PathExists(ctx.rootfs_dir + "/usr/bin/nodejs") &&
      !runtime::PathExists(ctx.rootfs_dir + "/usr/local/bin/node"))
    return MakeError(ErrorCode::kFailedPrecondition,
                     "npmPackages " + list + " need Node.js in the template (add \"nodejs\" to "
                     "packages)");
  ctx.Step("npm", "npm install " + list);
  std::vector<std::string> argv = {npm, "install", "--global", "--prefix",
                                   ctx.rootfs_dir + "/usr/local", "--ignore-scripts", "--no-audit",
                                   "--no-fund", "--no-update-notifier", "--cache",
                                   ctx.work_dir + "/npm-cache"};
  if (!ctx.options->npm_registry.empty()) {
    argv.push_back("--registry");
    argv.push_back(ctx.options->npm_registry);
  }
  argv.insert(argv.end(), packages.begin(), packages.end());
  ASSIGN_OR_RETURN(CommandResult r, ctx.Run("npm", argv, {"HOME=" + ctx.work_dir}));
  if (!r.ok()) {
    if (r.tail.find("E404") != std::string::npos || r.tail.find("404 Not Found") != std::string::npos)
      return MakeError(ErrorCode::kInvalidArgument,
                       "npm package not found in the registry (one of " + list + "):\n" + r.tail);
    return MakeError(ErrorCode::kUnavailable,
                     "npm install " + list + " failed (" + r.Describe() + "):\n" + r.tail);
  }
  ctx.npm_packages = packages;
  ctx.env["NODE_PATH"] = "/usr/local/lib/node_modules";
  return Ok();
}

}  // namespace sbx::templates
