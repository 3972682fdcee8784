// args: parsers for the forms users type on sbx's command line (see args.h).
#include "cli/args.h"

namespace sbx::cli {
namespace {

Error Invalid(std::string msg) { return MakeError(ErrorCode::kInvalidArgument, std::move(msg)); }

}  // namespace

Result<std::pair<std::string, std::string>> ParseEnvAssignment(std::string_view text) {
  size_t eq = text.find('=');
  if (eq == std::string_view::npos)
    return Invalid("--env '" + std::string(text) + "': expected NAME=VALUE, e.g. --env DEBUG=1");
  if (eq == 0)
    return Invalid("--env '" + std::string(text) + "': the variable name before '=' is empty");
  std::pair<std::string, std::string> kv{std::string(text.substr(0, eq)),
                                         std::string(text.substr(eq + 1))};
  RETURN_IF_ERROR(spec::ValidateEnv(spec::Env{{kv.first, kv.second}}, "--env"));
  return kv;
}

Result<spec::Env> ParseEnvFlags(const std::vector<std::string>& flags) {
  spec::Env env;
  for (const std::string& f : flags) {
    ASSIGN_OR_RETURN(auto kv, ParseEnvAssignment(f));
    env[kv.first] = std::move(kv.second);
  }
  return env;
}

Result<void> ValidateRemotePath(std::string_view path) {
  if (path.empty()) return Invalid("the path in the sandbox is empty");
  if (path.find('\0') != std::string_view::npos)
    return Invalid("the path in the sandbox contains a NUL byte");
  if (path.front() != '/')
    return Invalid("the path in the sandbox must be absolute (start with '/'), got '" +
                   std::string(path) + "'");
  return Ok();
}

Result<FileMapping> ParseFileMapping(std::string_view text) {
  size_t sep = text.find(":/");
  if (sep == std::string_view::npos)
    return Invalid("--file '" + std::string(text) +
                   "': expected LOCAL:REMOTE with an absolute REMOTE path, e.g. "
                   "--file data.csv:/home/user/data.csv");
  FileMapping m{std::string(text.substr(0, sep)), std::string(text.substr(sep + 1))};
  if (m.local.empty())
    return Invalid("--file '" + std::string(text) + "': the local file before ':' is empty");
  if (m.remote.back() == '/') {
    std::string base = BaseName(m.local);
    if (base.empty() || base == "." || base == "..")
      return Invalid("--file '" + std::string(text) + "': '" + m.local +
                     "' has no file name to append to the directory " + m.remote);
    m.remote += base;
  }
  Result<void> path_ok = ValidateRemotePath(m.remote);
  if (!path_ok.ok())
    return Invalid("--file '" + std::string(text) + "': " + path_ok.error().message);
  return m;
}

bool LooksRemote(std::string_view arg) {
  size_t colon = arg.find(':');
  if (colon == std::string_view::npos) return false;
  return spec::ValidateSandboxId(arg.substr(0, colon)).ok();
}

Result<RemoteRef> ParseRemoteRef(std::string_view arg) {
  size_t colon = arg.find(':');
  if (colon == std::string_view::npos) return Invalid("'" + std::string(arg) + "' is not ID:PATH");
  RemoteRef ref{std::string(arg.substr(0, colon)), std::string(arg.substr(colon + 1))};
  RETURN_IF_ERROR(spec::ValidateSandboxId(ref.sandbox_id));
  Result<void> path_ok = ValidateRemotePath(ref.path);
  if (!path_ok.ok()) return Invalid("'" + std::string(arg) + "': " + path_ok.error().message);
  return ref;
}

Result<CpPlan> ParseCpArgs(std::string_view source, std::string_view dest) {
  bool src_remote = LooksRemote(source);
  bool dst_remote = LooksRemote(dest);
  if (source.empty() || dest.empty())
    return Invalid("cp needs a SOURCE and a DEST that are not empty");
  if (src_remote && dst_remote)
    return Invalid("cp copies between this machine and a sandbox, but both '" +
                   std::string(source) + "' and '" + std::string(dest) +
                   "' are ID:PATH (write ./NAME for a local file)");
  if (!src_remote && !dst_remote)
    return Invalid(
        "cp needs one side in a sandbox, written ID:PATH (e.g. my_sandbox:/home/user/a.py); "
        "both '" +
        std::string(source) + "' and '" + std::string(dest) + "' are local paths");
  CpPlan plan;
  if (dst_remote) {
    plan.direction = CpPlan::Direction::kUpload;
    plan.local = std::string(source);
    // "ID:" and "ID:/dir/" name a directory: append the local base name.
    std::string_view d = dest;
    size_t colon = d.find(':');
    std::string remote_arg(d);
    if (colon + 1 < d.size() && d.back() == '/') {
      std::string base = BaseName(plan.local);
      if (base.empty() || base == "." || base == "..")
        return Invalid("'" + plan.local + "' has no file name to append to '" + remote_arg + "'");
      remote_arg += base;
    }
    ASSIGN_OR_RETURN(plan.remote, ParseRemoteRef(remote_arg));
  } else {
    plan.direction = CpPlan::Direction::kDownload;
    plan.local = std::string(dest);
    ASSIGN_OR_RETURN(plan.remote, ParseRemoteRef(source));
    if (plan.remote.path.back() == '/')
      return Invalid("'" + std::string(source) +
                     "' names a directory; cp copies one file (give its path)");
  }
  return plan;
}

}  // namespace sbx::cli
