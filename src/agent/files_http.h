// envd's plain-HTTP file endpoints (E2B-PROTOCOL.md 3.4):
//   GET /files?path=&username=   raw bytes (gzip when accepted and it pays)
//   POST /files?path=&username=  multipart/form-data parts named "file", or a raw
//                                application/octet-stream body, optionally gzip-encoded
// Both run under the user's file-system identity; writes create parent directories, truncate,
// refuse a symlink as the final component, and answer [{"path","name","type":"file"}].
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
