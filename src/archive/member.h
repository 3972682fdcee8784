// archive members: what a batch may hold and how member names are checked.
//
// A batch holds regular files and directories only. Names are relative: an absolute name or a
// ".." component is refused (like `tar` refusing to extract "../x" without -P), so an archive
// can never address anything outside the directory it is unpacked in, whatever the receiving
// side does with the name. "." components, repeated and trailing slashes are dropped
// ("./a//b/" is "a/b"); the archive's own "./" entry becomes "" (the target directory itself).
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::archive {

enum class MemberType { kFile, kDirectory };

const char* MemberTypeName(MemberType type);  // "file", "directory"

inline constexpr size_t kMaxNameBytes = 4096;      // PATH_MAX
inline constexpr size_t kMaxComponentBytes = 255;  // NAME_MAX

// The extended attribute (a PAX record SCHILY.xattr.user.sbx.sha256 in the archive) carrying a
// member's sha256 in lower-case hex.
inline constexpr char kSha256Xattr[] = "user.sbx.sha256";

struct Member {
  std::string name;  // cleaned (see above); "" for the target directory itself
  MemberType type = MemberType::kFile;
  uint32_t mode = 0644;  // permission bits only (0777)
  int64_t size = 0;      // files: bytes of content
  int64_t mtime = 0;     // unix seconds
  std::string sha256;    // from kSha256Xattr when the archive carries it, else ""
};

// The cleaned form of `raw`, or kInvalidArgument naming the member and why it was refused.
Result<std::string> CleanMemberName(std::string_view raw);

// The directory part and the last component of a cleaned name ("a/b/c" -> "a/b", "c").
std::string_view NameParent(std::string_view name);
std::string_view NameBase(std::string_view name);

}  // namespace sbx::archive
