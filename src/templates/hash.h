// The identity of a template's root filesystem: a sha256 over exactly what determines its
// content (base image, Debian, Python and npm packages, the builder's version), and nothing
// that only matters at run time (cpus, memory, timeout, environment, startup).
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"
#include "digest/sha256.h"
#include "spec/spec.h"

namespace sbx::templates {

// Bump when the builder's output for the same definition changes (new dpkg excludes, new
// finalize step): every template is then rebuilt once.
inline constexpr int kBuilderVersion = 1;

// sha256 (64 lowercase hex) of the definition. `source_fingerprint` identifies the content of a
// file-based base image ("size:mtime" of an archive), empty for the others, so that replacing
// the archive triggers a rebuild.
std::string DefinitionHash(const spec::Template& t, std::string_view source_fingerprint = "");

// The first 16 hex digits, used in directory names.
std::string ShortHash(std::string_view hash);

// sha256 of data, and of a whole file read from offset 0 with pread (the fd's offset is
// untouched): src/digest's, named here for the builder's files.
using digest::Sha256Hex;
using digest::Sha256OfFd;

}  // namespace sbx::templates
