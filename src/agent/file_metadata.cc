// user.e2b.* extended attributes for file metadata.
#include "agent/file_metadata.h"

#include <sys/xattr.h>

#include <cerrno>
#include <cstring>
#include <vector>

namespace sbx::agent {
namespace {

constexpr std::string_view kHeaderPrefix = "x-metadata-";

bool IsTokenChar(unsigned char c) {
  return std::isalnum(c) || std::strchr("!#$%&'*+-.^_`|~", c) != nullptr;
}

}  // namespace

Result<Metadata> MetadataFromHeaders(const std::map<std::string, std::string>& headers) {
  Metadata out;
  for (auto it = headers.lower_bound(std::string(kHeaderPrefix));
       it != headers.end() && it->first.rfind(kHeaderPrefix, 0) == 0; ++it) {
    const std::string key = it->first.substr(kHeaderPrefix.size());
    const std::string& value = it->second;
    if (key.empty() || key.size() > kMaxMetadataKey) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "metadata key must be 1-" + std::to_string(kMaxMetadataKey) + " bytes");
    }
    for (unsigned char c : key) {
      if (!IsTokenChar(c) || c == '\0') {
        return MakeError(ErrorCode::kInvalidArgument,
                         "metadata key '" + key + "' has a character outside HTTP tokens");
      }
    }
    if (value.size() > kMaxMetadataValue) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "metadata value of '" + key + "' is over " +
                           std::to_string(kMaxMetadataValue) + " bytes");
    }
    for (unsigned char c : value) {
      if (c < 0x20 || c > 0x7e) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "metadata value of '" + key + "' is not printable ASCII");
      }
    }
    if (out.size() >= kMaxMetadataKeys) {
      return MakeError(ErrorCode::kInvalidArgument,
                       "more than " + std::to_string(kMaxMetadataKeys) + " metadata keys");
    }
    out.emplace(key, value);
  }
  return out;
}

Result<void> WriteMetadata(int fd, const Metadata& metadata) {
  for (const auto& [key, value] : metadata) {
    const std::string name = kMetadataXattrPrefix + key;
    if (fsetxattr(fd, name.c_str(), value.data(), value.size(), 0) != 0) {
      return SysError("storing metadata '" + key + "'");
    }
  }
  return Ok();
}

Metadata ReadMetadata(const std::string& path) {
  Metadata out;
  std::vector<char> names(4096);
  ssize_t n = llistxattr(path.c_str(), names.data(), names.size());
  if (n < 0 && errno == ERANGE) {
    names.resize(64 * 1024);  // the most Linux allows for a list
    n = llistxattr(path.c_str(), names.data(), names.size());
  }
  if (n <= 0) return out;
  const size_t prefix = std::strlen(kMetadataXattrPrefix);
  for (size_t at = 0; at < static_cast<size_t>(n) && out.size() < kMaxMetadataKeys;) {
    const std::string name(names.data() + at);
    at += name.size() + 1;
    if (name.rfind(kMetadataXattrPrefix, 0) != 0 || name.size() == prefix) continue;
    char value[kMaxMetadataValue];
    ssize_t v = lgetxattr(path.c_str(), name.c_str(), value, sizeof value);
    if (v < 0) continue;  // vanished, or larger than anything this agent writes
    out.emplace(name.substr(prefix), std::string(value, static_cast<size_t>(v)));
  }
  return out;
}

}  // namespace sbx::agent
