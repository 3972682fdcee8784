// envd's plain-HTTP file endpoints (E2B-PROTOCOL.md 3.4):
//   GET /files?path=&username=   raw bytes (gzip when accepted and it pays)
//   POST /files?path=&username=  multipart/form-data parts named "file", or a raw
//                                application/octet-stream body, optionally gzip-encoded
// Both run under the user's file-system identity; writes create parent directories, truncate,
// refuse a symlink as the final component, and answer [{"path","name","type":"file"}].
// sandboxd extension (not in envd; the E2B SDK never sends it): POST /files?mode=755 gives
// every written file those permission bits (octal, 0-0777; setuid/setgid/sticky and anything
// else -> 400), applied with fchmod on the open file after the write. Without it, files are
// created 0644 (umask applied) and an existing file keeps its mode, as in envd.
// Errors are {"code":<http status>,"message":...}; ENOSPC/EDQUOT/EFBIG give 507.
//
// Thread safety: the handlers may run concurrently on many connection threads.
#pragma once

#include "agent/http_types.h"
#include "agent/users.h"

namespace sbx::agent {

inline constexpr uint64_t kMaxInflatedUpload = 4ull << 30;  // gzip bomb cut-off

void HandleGetFile(const HttpRequest& req, ResponseWriter& w, const User& user);
void HandlePostFiles(const HttpRequest& req, BodyReader& body, ResponseWriter& w,
                     const User& user);

}  // namespace sbx::agent
