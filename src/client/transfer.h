// transfer: moving one file between this machine and a sandbox, with its SHA-256 checked at
// both ends. Used by `sbx cp` and by `sbx create --file`.
//
// Uploads stream the local file (no size limit here; the daemon enforces its own) and compare
// the size and hash that the daemon reports with what was sent. Downloads stream into a
// temporary file next to the destination, verify the size (X-Content-Size) and the sha256 (the
// X-Content-SHA256 trailer the daemon sends at the end of the stream when asked with
// "TE: trailers"), and rename the file into place, so the destination is never left
// half-written.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>

#include "client/http_client.h"
#include "common/result.h"
#include "digest/sha256.h"

namespace sbx::client {

// SHA-256 hex (src/digest), incremental and whole.
using digest::Sha256;
using digest::Sha256Hex;

// A local file that can be uploaded: exists, is a regular file, is readable.
Result<void> CheckReadableFile(const std::string& path);

struct TransferResult {
  std::string sandbox_id;
  std::string path;  // in the sandbox
  std::string local_path;
  int64_t size = 0;
  std::string hash;  // sha256 hex
};

// PUT /v1/sandboxes/{id}/files?path=remote[&user=root]&mode=<local permission bits> with the
// bytes of local.
Result<TransferResult> UploadFile(Client& client, std::string_view sandbox_id,
                                  const std::string& local, const std::string& remote,
                                  std::string_view user);

// Checks a finished download against what the daemon announced (headers and trailer, names in
// lower case): X-Content-Size must equal the bytes received, X-Content-SHA256 (when sent, and
// it must be when a Trailer header announced it) the hash of what was received.
Result<void> CheckDownload(const std::map<std::string, std::string>& headers,
                           const std::string& remote, const std::string& local, int64_t received,
                           const std::string& hash);

// GET /v1/sandboxes/{id}/files?path=remote into local (a file path, written atomically).
Result<TransferResult> DownloadFile(Client& client, std::string_view sandbox_id,
                                    const std::string& remote, const std::string& local,
                                    std::string_view user);

}  // namespace sbx::client
