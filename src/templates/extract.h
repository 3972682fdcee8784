// Safe archive extraction (libarchive) into a directory given by fd, for image layers and
// root filesystem tarballs that come from other machines and may be hostile.
//
// Every path is resolved component by component from the root fd with O_NOFOLLOW: nothing is
// ever written through a symlink, whatever earlier entries or layers planted. Entries with an
// absolute name or a ".." component, hardlinks whose target is not a plain path inside the
// root, and entries whose parent is a symlink are refused (the extraction fails, naming the
// entry). Symlink targets are stored as they are (they are data, resolved only inside the
// sandbox). Device nodes and sockets are skipped. Owners and modes are kept when asked.
//
// With `whiteouts` (OCI / docker layers): ".wh.NAME" removes NAME of the lower layers and
// ".wh..wh..opq" empties its directory of what lower layers put there; both only affect what
// earlier layers extracted, never entries of the same layer.
//
// Thread safety: reentrant.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "common/result.h"

namespace sbx::templates {

struct ExtractOptions {
  bool whiteouts = false;
  bool keep_owners = true;
  std::string what;  // for messages: "layer 2/3 (sha256:ab12...)"
  // Called now and then with compressed bytes read so far and the archive's size.
  std::function<void(int64_t done, int64_t total)> on_bytes;
};

struct ExtractStats {
  int64_t entries = 0;
  int64_t bytes = 0;     // file data written
  int64_t skipped = 0;   // device nodes, sockets
  int64_t whiteouts = 0;
};

// Extracts the archive read from `archive_fd` (any format and compression libarchive knows)
// into the directory `root_fd`.
Result<ExtractStats> ExtractArchiveFd(int archive_fd, int root_fd, const ExtractOptions& options);
Result<ExtractStats> ExtractArchive(const std::string& archive_path, int root_fd,
                                    const ExtractOptions& options);

// Opens `path` (relative) below `dir_fd` with symlinks resolved as if dir_fd were "/"
// (openat2 RESOLVE_IN_ROOT): for reading files of an unpacked image whose own symlinks must
// not lead out of it.
Result<int> OpenInRoot(int dir_fd, const std::string& path, int flags);

}  // namespace sbx::templates
