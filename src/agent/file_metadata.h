// File metadata (envd >= 0.6.2): `X-Metadata-<key>: <value>` headers of POST /files are stored
// as extended attributes `user.e2b.<key>` (key lower-cased) of each written file and returned
// in EntryInfo.metadata. Bounded: kMaxMetadataKeys keys, kMaxMetadataKey bytes per key,
// kMaxMetadataValue per value; keys are HTTP token characters, values printable ASCII (what
// the SDK itself allows).
//
// Thread safety: pure functions and per-call system calls.
#pragma once

#include <map>
#include <string>

#include "common/result.h"

namespace sbx::agent {

inline constexpr size_t kMaxMetadataKeys = 16;
inline constexpr size_t kMaxMetadataKey = 64;
inline constexpr size_t kMaxMetadataValue = 512;
inline constexpr const char* kMetadataXattrPrefix = "user.e2b.";

using Metadata = std::map<std::string, std::string>;

// The metadata of a request's headers (names lower-cased, as HttpRequest has them).
// kInvalidArgument naming the key for a bad key or value, or too many.
Result<Metadata> MetadataFromHeaders(const std::map<std::string, std::string>& headers);

// Sets each key as user.e2b.<key> on the open file fd. An error (e.g. ENOTSUP on a file system
// without user xattrs) names the key.
Result<void> WriteMetadata(int fd, const Metadata& metadata);

// The user.e2b.* attributes of path (not following a final symlink); empty when there are
// none or they cannot be read. At most kMaxMetadataKeys are returned.
Metadata ReadMetadata(const std::string& path);

}  // namespace sbx::agent
