// Python packages: the pip -> Debian name mapping, a private apt index to learn what a suite
// has, and pip inside the root filesystem for the rest.
#include "templates/python_packages.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cctype>
#include <map>

#include "common/util.h"
#include "runtime/fs_util.h"
#include "templates/steps.h"

namespace sbx::templates {
namespace {

// pip name (normalised) -> Debian package, where Debian does not follow python3-<name>.
const std::map<std::string, std::string>& Renames() {
  static const std::map<std::string, std::string> kRenames = {
      {"scikit-learn", "python3-sklearn"},
      {"sklearn", "python3-sklearn"},
      {"scikit-image", "python3-skimage"},
      {"beautifulsoup4", "python3-bs4"},
      {"bs4", "python3-bs4"},
      {"pyyaml", "python3-yaml"},
      {"pillow", "python3-pil"},
      {"opencv-python", "python3-opencv"},
      {"opencv-python-headless", "python3-opencv"},
      {"pyzmq", "python3-zmq"},
      {"pyjwt", "python3-jwt"},
      {"attrs", "python3-attr"},
      {"psycopg2-binary", "python3-psycopg2"},
      {"pymysql", "python3-pymysql"},
      {"pyserial", "python3-serial"},
      {"pyopenssl", "python3-openssl"},
      {"protobuf", "python3-protobuf"},
      {"python-dateutil", "python3-dateutil"},
      {"dateutil", "python3-dateutil"},
      {"msgpack-python", "python3-msgpack"},
      {"ipython", "python3-ipython"},
      {"jupyter", "jupyter"},
      {"tables", "python3-tables"},
      {"torch", "python3-torch"},
      {"pycryptodome", "python3-pycryptodome"},
      {"pycryptodomex", "python3-pycryptodome"},
      {"markupsafe", "python3-markupsafe"},
      {"websocket-client", "python3-websocket"},
      {"python-magic", "python3-magic"},
      {"pygments", "python3-pygments"},
  };
  return kRenames;
}

}  // namespace

std::string NormalizePythonName(std::string_view name) {
  std::string out;
  bool sep = false;
  for (char c : name) {
    if (c == '-' || c == '_' || c == '.') {
      sep = true;
      continue;
    }
    if (sep && !out.empty()) out.push_back('-');
    sep = false;
    out.push_back(static_cast<char>(std::tolower(static_cast<unsigned char>(c))));
  }
  return out;
}

std::string DebianNameForPython(std::string_view requirement) {
  std::string req = Trim(requirement);
  if (req.empty()) return "";
  for (char c : req) {
    if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_' || c == '.'))
      return "";  // ==, >=, [extras], ;markers, URLs, paths: pip's business
  }
  std::string n = NormalizePythonName(req);
  if (auto it = Renames().find(n); it != Renames().end()) return it->second;
  if (n.rfind("python-", 0) == 0) n = n.substr(7);
  return "python3-" + n;
}

PythonPlan PlanPythonPackages(const std::vector<std::string>& requirements,
                              const std::set<std::string>& available) {
  PythonPlan plan;
  std::set<std::string> seen;
  for (const std::string& r : requirements) {
    std::string deb = DebianNameForPython(r);
    if (!deb.empty() && available.count(deb)) {
      if (seen.insert(deb).second) plan.debian.push_back(deb);
    } else {
      plan.pip.push_back(Trim(r));
    }
  }
  return plan;
}

Result<std::vector<std::string>> DebianHas(BuildContext& ctx, const std::string& suite,
                                           const std::vector<std::string>& candidates) {
  if (candidates.empty()) return std::vector<std::string>{};
  ctx.Step("python", "resolving python packages: which of " +
                         std::to_string(candidates.size()) + " Debian has in " + suite);
  std::string w = ctx.work_dir + "/apt";
  for (const char* d : {"", "/state/lists/partial", "/cache/archives/partial", "/parts"})
    RETURN_IF_ERROR(runtime::MakeDirs(w + d, 0755));
  std::string keyring = "/usr/share/keyrings/debian-archive-keyring.gpg";
  std::string opts = runtime::PathExists(keyring) ? "[signed-by=" + keyring + "] " : "";
  RETURN_IF_ERROR(WriteFileAtomic(
      w + "/sources.list", "deb " + opts + ctx.options->debian_mirror + " " + suite + " main\n"));
  RETURN_IF_ERROR(WriteFileAtomic(w + "/status", ""));
  std::vector<std::string> apt_opts = {
      "-o", "Dir::Etc::SourceList=" + w + "/sources.list",
      "-o", "Dir::Etc::SourceParts=" + w + "/parts",
      "-o", "Dir::State=" + w + "/state",
      "-o", "Dir::State::Status=" + w + "/status",
      "-o", "Dir::Cache=" + w + "/cache",
      "-o", "Debug::NoLocking=true",
      "-o", "Acquire::Languages=none",
      "-o", "APT::Sandbox::User=root"};
  std::vector<std::string> update = {"apt-get", "-q"};
  update.insert(update.end(), apt_opts.begin(), apt_opts.end());
  update.push_back("update");
  ASSIGN_OR_RETURN(CommandResult up, ctx.Run("python", update));
  if (!up.ok())
    return MakeError(ErrorCode::kUnavailable, "apt-get update for " + suite + " from " +
                                                  ctx.options->debian_mirror + " failed (" +
                                                  up.Describe() + "):\n" + up.tail);
  std::vector<std::string> names = {"apt-cache"};
  names.insert(names.end(), apt_opts.begin(), apt_opts.end());
  names.push_back("pkgnames");
  ASSIGN_OR_RETURN(CommandResult pn, RunCommand(names, {}, nullptr, /*keep_output=*/true));
  if (!pn.ok())
    return MakeError(ErrorCode::kInternal, "apt-cache pkgnames failed (" + pn.Describe() + "):\n" +
                                               pn.tail);
  std::set<std::string> all;
  size_t i = 0;
  while (i < pn.output.size()) {
    size_t j = pn.output.find('\n', i);
    if (j == std::string::npos) j = pn.output.size();
    all.insert(pn.output.substr(i, j - i));
    i = j + 1;
  }
  std::vector<std::string> out;
  for (const std::string& c : candidates)
    if (all.count(c)) out.push_back(c);
  return out;
}

Result<void> PipInstall(BuildContext& ctx, const std::vector<std::string>& packages) {
  if (packages.empty()) return Ok();
  std::string list;
  for (const std::string& p : packages) list += (list.empty() ? "" : ", ") + p;
  ctx.Step("pip", "pip install " + list + " (not packaged by Debian)");
  std::string root = ctx.rootfs_dir;
  if (!runtime::PathExists(root + "/usr/bin/python3"))
    return MakeError(ErrorCode::kFailedPrecondition,
                     "pythonPackages " + list + " need Python in the template's root filesystem "
                     "(no /usr/bin/python3)");
  // DNS inside the chroot: the host's resolver configuration for the time of the install.
  std::string resolv = root + "/etc/resolv.conf";
  std::string saved;
  bool had = false;
  struct stat st;
  if (::lstat(resolv.c_str(), &st) == 0 && S_ISREG(st.st_mode)) {
    auto r = ReadFile(resolv);
    if (r.ok()) { saved = *r; had = true; }
  }
  ::unlink(resolv.c_str());
  if (auto host = ReadFile("/etc/resolv.conf"); host.ok())
    (void)WriteFileAtomic(resolv, *host, 0644);
  std::vector<std::string> argv = {"chroot", root, "/usr/bin/python3", "-m", "pip", "install",
                                   "--no-cache-dir", "--disable-pip-version-check",
                                   "--timeout", "15", "--retries", "1", "--progress-bar", "off"};
  argv.insert(argv.end(), packages.begin(), packages.end());
  std::vector<std::string> env = {"PIP_BREAK_SYSTEM_PACKAGES=1", "PIP_ROOT_USER_ACTION=ignore",
                                  "HOME=/root", "LC_ALL=C.UTF-8"};
  if (!ctx.options->pip_index_url.empty())
    env.push_back("PIP_INDEX_URL=" + ctx.options->pip_index_url);
  auto ran = ctx.Run("pip", argv, env);
  ::unlink(resolv.c_str());
  if (had) (void)WriteFileAtomic(resolv, saved, 0644);
  if (!ran.ok()) return ran.error();
  if (ran->ok()) {
    ctx.pip_packages = packages;
    return Ok();
  }
  const std::string& t = ran->tail;
  if (t.find("No module named pip") != std::string::npos)
    return MakeError(ErrorCode::kFailedPrecondition,
                     "pythonPackages " + list + " are not packaged by Debian and the template has "
                     "no pip (add \"python3-pip\" to packages)");
  bool unreachable = false;
  for (const char* s : {"NewConnectionError", "Failed to establish a new connection",
                        "Temporary failure in name resolution", "ConnectTimeout",
                        "Network is unreachable", "ProxyError", "Max retries exceeded"})
    unreachable = unreachable || t.find(s) != std::string::npos;
  if (unreachable)
    return MakeError(ErrorCode::kUnavailable,
                     "pythonPackages " + list + ": Debian does not package them and no Python "
                     "package index answered (" +
                         (ctx.options->pip_index_url.empty() ? std::string("pypi.org")
                                                             : ctx.options->pip_index_url) +
                         "); configure a reachable index (sandboxd --pip-index-url) or use "
                         "packages Debian ships as python3-*");
  return MakeError(ErrorCode::kInvalidArgument,
                   "pip install " + list + " failed (" + ran->Describe() + "):\n" + t);
}

}  // namespace sbx::templates
