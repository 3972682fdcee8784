// debian:<suite>: the root filesystem is built by mmdebstrap (variant minbase) from the
// configured mirror, with the template's packages and the Debian halves of its Python packages
// in one apt run. Documentation, man pages and info files are left out, as in Debian's own
// slim images.
#include <set>

#include "templates/python_packages.h"
#include "templates/steps.h"

namespace sbx::templates {
namespace {

// Package names named in apt's "Unable to locate package X" / "Package 'X' has no
// installation candidate" lines.
std::vector<std::string> MissingPackages(const std::string& out) {
  std::vector<std::string> names;
  std::set<std::string> seen;
  auto scan = [&](const std::string& marker, char end) {
    size_t pos = 0;
    while ((pos = out.find(marker, pos)) != std::string::npos) {
      pos += marker.size();
      size_t e = out.find_first_of(std::string(1, end) + "\n ", pos);
      std::string n = out.substr(pos, e == std::string::npos ? std::string::npos : e - pos);
      if (!n.empty() && seen.insert(n).second) names.push_back(n);
    }
  };
  scan("Unable to locate package ", '\n');
  scan("Package '", '\'');
  scan("E: Couldn't find any package by glob '", '\'');
  return names;
}

}  // namespace

Result<std::vector<std::string>> BuildDebianBase(BuildContext& ctx, const std::string& suite) {
  const spec::Template& t = *ctx.tpl;
  std::string mmdebstrap = FindProgram("mmdebstrap");
  if (mmdebstrap.empty())
    return MakeError(ErrorCode::kFailedPrecondition,
                     "baseImage debian:" + suite + " needs mmdebstrap on the host "
                     "(apt-get install mmdebstrap; scripts/setup.sh installs it)");
  for (const std::string& p : t.packages) {
    bool ok = !p.empty() && p.size() <= 128;
    for (char c : p)
      ok = ok && ((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '+' || c == '-' ||
                  c == '.');
    if (!ok)
      return MakeError(ErrorCode::kInvalidArgument,
                       "templates." + t.key + ".packages: '" + p + "' is not a Debian package name");
  }

  // Python packages: what Debian has goes into the same apt run, the rest to pip.
  std::vector<std::string> candidates;
  for (const std::string& r : t.python_packages) {
    std::string d = DebianNameForPython(r);
    if (!d.empty()) candidates.push_back(d);
  }
  ASSIGN_OR_RETURN(std::vector<std::string> has, DebianHas(ctx, suite, candidates));
  PythonPlan plan = PlanPythonPackages(t.python_packages, std::set<std::string>(has.begin(), has.end()));
  if (!t.python_packages.empty()) {
    std::string d, p;
    for (const auto& x : plan.debian) d += " " + x;
    for (const auto& x : plan.pip) p += " " + x;
    ctx.Step("python", "from Debian:" + (d.empty() ? std::string(" (none)") : d) +
                           "; with pip:" + (p.empty() ? std::string(" (none)") : p));
  }

  std::vector<std::string> include = t.packages;
  include.insert(include.end(), plan.debian.begin(), plan.debian.end());
  if (!plan.pip.empty()) {
    include.push_back("python3");
    include.push_back("python3-pip");
  }
  if (!t.npm_packages.empty()) include.push_back("nodejs");
  std::set<std::string> seen;
  std::string inc;
  for (const std::string& p : include)
    if (seen.insert(p).second) inc += (inc.empty() ? "" : ",") + p;

  std::vector<std::string> argv = {
      mmdebstrap, "--mode=root", "--variant=minbase", "--format=directory",
      "--dpkgopt=path-exclude=/usr/share/man/*",
      "--dpkgopt=path-exclude=/usr/share/info/*",
      "--dpkgopt=path-exclude=/usr/share/doc/*",
      "--dpkgopt=path-include=/usr/share/doc/*/copyright",
      "--dpkgopt=path-exclude=/usr/share/lintian/*",
      "--aptopt=Acquire::Retries \"3\"",
      "--aptopt=APT::Install-Recommends \"false\""};
  if (!inc.empty()) argv.push_back("--include=" + inc);
  argv.insert(argv.end(), {suite, ctx.rootfs_dir, ctx.options->debian_mirror});
  ctx.Step("mmdebstrap", "mmdebstrap " + suite + " from " + ctx.options->debian_mirror +
                             (inc.empty() ? "" : " with " + inc));
  ASSIGN_OR_RETURN(CommandResult res,
                   ctx.Run("mmdebstrap", argv, {"DEBIAN_FRONTEND=noninteractive", "LC_ALL=C"}));
  if (!res.ok()) {
    std::vector<std::string> missing = MissingPackages(res.tail);
    if (!missing.empty()) {
      std::string names;
      for (const std::string& m : missing) names += (names.empty() ? "'" : ", '") + m + "'";
      return MakeError(ErrorCode::kInvalidArgument,
                       "Debian package " + names + " not found in " + suite + " (" +
                           ctx.options->debian_mirror + "): check templates." + t.key +
                           ".packages / pythonPackages");
    }
    return MakeError(ErrorCode::kInternal,
                     "mmdebstrap " + suite + " failed (" + res.Describe() + "):\n" + res.tail);
  }
  ctx.debian_packages.assign(include.begin(), include.end());
  return plan.pip;
}

}  // namespace sbx::templates
