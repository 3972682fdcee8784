// What a template's `baseImage` names, and how the builder obtains it:
//   host                        the runtime's host base (nothing to build)
//   debian:<suite>              mmdebstrap from the configured Debian mirror ("debian:12",
//                               "debian:bookworm-slim" and "debian:bookworm" all mean bookworm)
//   oci-archive:<path>          an OCI image layout saved as a tar (skopeo copy, docker save >= 25)
//   docker-archive:<path>       a `docker save` tar (manifest.json + layer tars)
//   rootfs:<path>               a directory or a tarball holding a root filesystem
//   anything else               a registry reference (python:3.11-slim, docker://...), pulled
//                               with skopeo when it is installed
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::templates {

enum class BaseKind { kHost, kDebian, kOciArchive, kDockerArchive, kRootfs, kRegistry };

struct BaseImage {
  BaseKind kind = BaseKind::kHost;
  std::string arg;  // suite, absolute path, or registry reference (without docker://)
};

// Rejects empty arguments, relative paths and suites that are not [a-z0-9-].
Result<BaseImage> ParseBaseImage(std::string_view text);
const char* BaseKindName(BaseKind k);

// The user-facing explanation for a registry image that cannot be pulled here.
std::string RegistryImportHelp(const std::string& ref);

}  // namespace sbx::templates
