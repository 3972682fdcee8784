// Builder: produces a template's root filesystem from its definition and publishes it in the
// TemplateStore. Steps: obtain the base (mmdebstrap, archive import, directory copy, skopeo),
// Python packages (Debian python3-* where Debian has them, else pip in the root filesystem),
// npm packages, then finalize (the sandbox user, mount points, /etc files) and measure.
//
// A build runs in a staging directory and is switched in atomically only when every step
// succeeded; a failure leaves the current version serving and keeps the build log. A build of
// a definition whose hash is already current is a no-op unless forced.
//
// Thread safety: Build may be called from any thread; builds of one template are serialised
// (the second waits and is then usually a cache hit), builds of different templates run in
// parallel. Progress callbacks run on the building thread.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "common/result.h"
#include "spec/spec.h"
#include "templates/store.h"

namespace sbx::templates {

struct Progress {
  std::string step;     // "mmdebstrap", "layer 2/3", "pip", "finalize", ...
  std::string message;  // one line of text
  int64_t done = -1;    // bytes, when there are bytes
  int64_t total = -1;
  nlohmann::json ToJson() const;
};
using ProgressFn = std::function<void(const Progress&)>;

struct BuildOptions {
  std::string debian_mirror = "http://deb.debian.org/debian";
  std::string pip_index_url;  // empty: pip's default (PyPI)
  std::string npm_registry;   // empty: npm's default
};

struct BuildResult {
  bool cached = false;  // nothing was built: the current version already has this definition
  bool host = false;    // baseImage "host": the runtime's host base, nothing to build
  VersionInfo info;
  nlohmann::json ToJson() const;
};

class Builder {
 public:
  Builder(TemplateStore* store, BuildOptions options);

  Result<BuildResult> Build(const spec::Template& t, const ProgressFn& progress, bool force);

  // The hash Build would give the template now ("" for host templates): compared with the
  // current version's hash it tells whether the template is up to date.
  Result<std::string> WantedHash(const spec::Template& t) const;

  const BuildOptions& options() const { return options_; }

 private:
  TemplateStore* store_;
  BuildOptions options_;
};

}  // namespace sbx::templates
