// batch: several files, or whole directories, between this machine and a sandbox in one
// request (docs/api.md "Batches"). Used by `sbx upload` and `sbx download`.
//
// Upload: one regular file goes through the single-file PUT (transfer.h). Anything else is
// packed locally into one tar.gz (a temporary file, streamed) and sent to
// POST /v1/sandboxes/{id}/files/batch; the sha256 the daemon reports for each member is
// compared with the one computed here while packing. Directories are walked without following
// symlinks: symlinks, devices, fifos and sockets inside them are skipped and listed. A path
// named on the command line is taken as what it points to.
//
// Download: one remote regular file goes through the single-file GET. Several paths, or a
// directory, come from POST /v1/sandboxes/{id}/files/archive into a temporary file, and are
// then unpacked below the local directory with src/archive's ExtractToDirectory: names that
// would leave it are refused, nothing is written through a symlink, and each member's
// sha256 (its PAX record) is checked before the file is renamed into place.
//
// Thread safety: like Client, one thread at a time.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "client/http_client.h"
#include "common/result.h"

namespace sbx::client {

struct BatchFile {
  std::string name;        // the member name (relative), or the base name for a single file
  std::string path;        // in the sandbox ("" when not known: downloads of a batch)
  std::string local_path;  // on this machine
  int64_t size = 0;
  std::string hash;         // sha256 hex, checked on both sides
  bool compressed = false;  // travelled gzip-compressed
  int64_t stored_size = 0;  // bytes stored at the destination
};

struct BatchResult {
  std::string sandbox_id;
  bool batch = false;            // one archive request (false: the single-file endpoint)
  bool compressed = false;       // the archive was gzip-compressed
  int64_t transferred_size = 0;  // bytes of the request or answer body
  std::vector<BatchFile> files;
  std::vector<std::string> directories;  // created: remote (upload) or local (download) paths
  std::vector<std::string> skipped;      // local paths not uploaded (symlinks, devices, ...)
};

// Uploads `locals` into `remote_dir` in the sandbox ("" for the user's home).
Result<BatchResult> UploadPaths(Client& client, const std::string& sandbox_id,
                                const std::vector<std::string>& locals,
                                const std::string& remote_dir, const std::string& user);

// Downloads `remotes` into `local_dir` (created when missing); each lands under its base name.
Result<BatchResult> DownloadPaths(Client& client, const std::string& sandbox_id,
                                  const std::vector<std::string>& remotes,
                                  const std::string& local_dir, const std::string& user);

}  // namespace sbx::client
