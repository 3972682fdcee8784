// ExtractToDirectory: unpacks a batch (a TarReader) below a local directory, for `sbx
// download`. The archive comes from a daemon but is treated as hostile all the same:
//   - names are checked by the reader (no absolute names, no "..", files and directories only);
//   - every path is walked component by component from the directory's fd with O_NOFOLLOW, so
//     nothing is ever created or written through a symlink, whoever planted it; a symlink or a
//     non-directory on the way is an error naming the member;
//   - a file is written to a temporary name in its directory, its sha256 checked against the
//     member's (kSha256Xattr; required when `require_sha256`), then renamed into place
//     (rename replaces a symlink at the destination instead of following it); a mismatch
//     leaves nothing behind;
//   - modes are the members' permission bits less the umask, as tar does for a non-root user;
//     owners are the caller's.
// Members extracted before an error stay; the error names the member that failed.
//
// Thread safety: reentrant.
#pragma once

#include <string>
#include <vector>

#include "archive/member.h"
#include "archive/tar_reader.h"
#include "common/result.h"

namespace sbx::archive {

struct ExtractedMember {
  std::string name;  // the member name
  MemberType type = MemberType::kFile;
  int64_t size = 0;
  std::string sha256;  // computed while writing (files)
};

// `dir_fd` is borrowed; `dir_path` is used in messages only.
Result<std::vector<ExtractedMember>> ExtractToDirectory(TarReader& reader, int dir_fd,
                                                        const std::string& dir_path,
                                                        bool require_sha256);

}  // namespace sbx::archive
