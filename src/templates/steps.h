// The steps of a build, one file each, sharing a BuildContext. Internal to the templates
// component (tests include it to drive single steps).
//
//   debian.cc           mmdebstrap --variant=minbase with the packages and mapped python3-*
//   python_packages.cc  pip-name -> Debian-name mapping, the availability query, pip install
//   npm.cc              npm install -g --prefix <rootfs>/usr/local
//   oci.cc              oci-archive and docker-archive import, layer by layer
//   rootfs_import.cc    rootfs:<dir or tarball>, and registry pulls through skopeo
//   finalize.cc         the sandbox user, mount points and /etc files; the size
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/result.h"
#include "common/unique_fd.h"
#include "spec/spec.h"
#include "templates/builder.h"
#include "templates/command.h"

namespace sbx::templates {

// Append-only build log: one timestamped line per event or helper output line.
class BuildLog {
 public:
  BuildLog() = default;
  explicit BuildLog(UniqueFd fd) : fd_(std::move(fd)) {}
  static Result<BuildLog> Open(const std::string& path);
  void Line(std::string_view text);

 private:
  UniqueFd fd_;
};

struct BuildContext {
  const spec::Template* tpl = nullptr;
  const BuildOptions* options = nullptr;
  std::string rootfs_dir;  // the root filesystem being built
  std::string work_dir;    // scratch space in the staging directory (removed with it)
  BuildLog* log = nullptr;
  ProgressFn progress;     // may be empty
  // What the steps record for meta.json.
  spec::Env env;
  std::vector<std::string> debian_packages;
  std::vector<std::string> pip_packages;
  std::vector<std::string> npm_packages;

  // A new step: logged and reported.
  void Step(const std::string& step, const std::string& message);
  // A line of helper output: logged and reported as a message of `step`.
  void Output(const std::string& step, std::string_view line);
  // Byte progress (reported, logged only at the end).
  void Bytes(const std::string& step, int64_t done, int64_t total);
  // Runs a helper with its output in the log and the progress stream.
  Result<CommandResult> Run(const std::string& step, const std::vector<std::string>& argv,
                            const std::vector<std::string>& env = {});
};

// debian.cc: mmdebstrap <suite> into ctx.rootfs_dir with `packages` plus the Debian halves of
// the Python packages; the rest of the Python packages are returned for pip.
Result<std::vector<std::string>> BuildDebianBase(BuildContext& ctx, const std::string& suite);

// python_packages.cc: pip install inside the root filesystem (chroot), as root.
Result<void> PipInstall(BuildContext& ctx, const std::vector<std::string>& packages);
// The names in `candidates` that `suite` on `mirror` has (a private apt index in work_dir).
Result<std::vector<std::string>> DebianHas(BuildContext& ctx, const std::string& suite,
                                           const std::vector<std::string>& candidates);

// npm.cc
Result<void> NpmInstall(BuildContext& ctx, const std::vector<std::string>& packages);

// oci.cc: the image's layers applied in order, its config's Env recorded in ctx.env.
Result<void> ImportOciArchive(BuildContext& ctx, const std::string& archive);
Result<void> ImportDockerArchive(BuildContext& ctx, const std::string& archive);

// rootfs_import.cc
Result<void> ImportRootfs(BuildContext& ctx, const std::string& path);
Result<void> PullRegistryImage(BuildContext& ctx, const std::string& ref);

// finalize.cc: makes the tree usable as a sandbox lower layer; returns its size in bytes.
Result<void> FinalizeRootfs(BuildContext& ctx);
Result<int64_t> TreeSize(const std::string& dir);

}  // namespace sbx::templates
