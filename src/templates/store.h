// TemplateStore: the built root filesystems of templates, on disk, one directory per version.
//
//   <root>/<name>/current            symlink to the current version (switched atomically:
//                                    a new symlink under a temporary name, then rename(2))
//   <root>/<name>/<version>/rootfs   the root filesystem, the sandboxes' read-only lower layer
//   <root>/<name>/<version>/meta.json  what was built: hash, definition, size, duration, env
//   <root>/<name>/logs/<version>.log   the build log (kept for failed builds too)
//   <root>/<name>/.build-<version>/  a build in progress (removed on failure or at start)
//
// A version is "<hash16>-<nonce>": the definition hash names the content, the nonce makes a
// forced rebuild of the same definition a new directory, so a lower layer that a running
// sandbox has mounted is never rewritten in place.
//
// Sandboxes pin the version they run on with a Lease; a version that is neither current nor
// pinned is removed (after each build, when its last lease ends, and by GarbageCollect).
//
// Thread safety: all methods may be called from any thread. One mutex guards the pins and every
// change of `current` or of the version directories; builds of one template are serialised by
// LockBuild. The store must outlive every Lease it hands out.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "spec/spec.h"

namespace sbx::templates {

struct VersionInfo {
  std::string name;        // template key
  std::string version;     // "<hash16>-<nonce>"
  std::string hash;        // DefinitionHash, 64 hex
  std::string base_image;
  int64_t built_at_ms = 0;
  int64_t size_bytes = 0;
  double duration_s = 0;
  spec::Env env;           // from the image (ENV of an OCI config) and the build (NODE_PATH)
  std::vector<std::string> debian_packages;  // what apt installed on request
  std::vector<std::string> pip_packages;     // what pip installed
  std::vector<std::string> npm_packages;
  bool current = false;
  int pins = 0;            // sandboxes using it now
  std::string rootfs_dir;
  std::string log_path;

  nlohmann::json ToJson() const;
  static Result<VersionInfo> FromJson(const nlohmann::json& j);
};

class TemplateStore;

// A pinned version: it is not removed while the lease lives. Move-only.
class Lease {
 public:
  Lease() = default;
  Lease(Lease&& o) noexcept;
  Lease& operator=(Lease&& o) noexcept;
  Lease(const Lease&) = delete;
  Lease& operator=(const Lease&) = delete;
  ~Lease();
  bool valid() const { return store_ != nullptr; }
  const VersionInfo& info() const { return info_; }
  void reset();

 private:
  friend class TemplateStore;
  Lease(TemplateStore* store, VersionInfo info) : store_(store), info_(std::move(info)) {}
  TemplateStore* store_ = nullptr;
  VersionInfo info_;
};

class TemplateStore {
 public:
  explicit TemplateStore(std::string root);
  TemplateStore(const TemplateStore&) = delete;
  TemplateStore& operator=(const TemplateStore&) = delete;

  const std::string& root() const { return root_; }
  // Creates the root and removes builds that a crash interrupted (.build-*, .trash-*).
  Result<void> Init();

  // [A-Za-z0-9_.-]{1,64}, not starting with '.'.
  static Result<void> ValidateName(const std::string& name);
  static bool IsVersionName(const std::string& s);

  // The current version of `name`, pinned. kFailedPrecondition when it was never built.
  Result<Lease> Acquire(const std::string& name);
  // Pins a known version (a sandbox that survived a daemon restart). kNotFound when gone.
  Result<Lease> AcquireVersion(const std::string& name, const std::string& version);

  // The current version, or nullopt when not built.
  Result<std::optional<VersionInfo>> Current(const std::string& name);
  // Every version on disk, current first.
  Result<std::vector<VersionInfo>> Versions(const std::string& name);
  // Templates with at least one built version.
  std::vector<std::string> BuiltNames();
  // Removes every version of `name` and its logs. kFailedPrecondition while a sandbox uses one
  // of them or a build runs.
  Result<void> Remove(const std::string& name);
  // Removes the versions of `name` (all templates when empty) that are neither current nor
  // pinned. Returns "name/version" of what was removed.
  Result<std::vector<std::string>> GarbageCollect(const std::string& name = "");

  // Builder side. A staging directory <root>/<name>/.build-<version> with rootfs_dir inside
  // (not created: the base step creates it) and the log path.
  struct Staging {
    std::string name;
    std::string version;
    std::string dir;
    std::string rootfs_dir;
    std::string log_path;
  };
  Result<Staging> BeginBuild(const std::string& name, const std::string& hash);
  // Writes meta.json, renames the staging directory to <version>, switches `current` to it,
  // then removes unpinned old versions. Fills `info` with paths and flags.
  Result<VersionInfo> Publish(const Staging& staging, VersionInfo info);
  // Removes the staging directory; keeps the log.
  void Abandon(const Staging& staging);
  // Serialises builds of one template; `contended` tells whether another build held it.
  std::unique_lock<std::mutex> LockBuild(const std::string& name, bool* contended);

 private:
  friend class Lease;
  void Release(const std::string& name, const std::string& version);
  std::string Dir(const std::string& name) const { return root_ + "/" + name; }
  Result<std::string> CurrentVersionLocked(const std::string& name);
  Result<VersionInfo> LoadLocked(const std::string& name, const std::string& version);
  // Moves unpinned non-current versions to .trash-* under mu_; the caller removes them.
  std::vector<std::string> CollectLocked(const std::string& name, std::vector<std::string>* gone);
  static std::string Key(const std::string& n, const std::string& v) { return n + "/" + v; }

  std::string root_;
  std::mutex mu_;
  std::map<std::string, int> pins_;  // "name/version" -> leases
  std::set<std::string> building_;   // names with a staging directory
  std::mutex build_mu_map_mu_;
  std::map<std::string, std::unique_ptr<std::mutex>> build_mu_;
};

}  // namespace sbx::templates
