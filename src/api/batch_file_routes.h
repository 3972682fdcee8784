// Batch file transfer (docs/api.md "Batches"): many files in one request, as a tar or tar.gz.
//
//   POST /v1/sandboxes/{id}/files/batch[?dir=DIR][&user=root]   body: tar or tar.gz
//        -> {"success", "files": [{"name","path","size","hash","compressed","stored_size"}],
//            "directories": [...], "count"}
//   POST /v1/sandboxes/{id}/files/archive   {"paths": [...], "gzip": true|false|"auto",
//                                            "user"?}
//        -> the tar (application/x-tar) or tar.gz (application/gzip), X-Files-Count
//
// Uploads are read twice from the request body (src/archive's bounded TarReader): the first
// pass checks every member, limit and the archive's integrity before anything is written, so
// a hostile or broken archive writes nothing; the second writes member by member through the
// agent (paths resolved by the kernel inside the sandbox). Downloads are streamed with bounded
// memory in two passes over the files: the first reads every file (size, sha256, limits, the
// archive's length and a gzip sample) before the answer starts, so every limit is answered
// (413) and a missing or unreadable file is an error status; the second makes the archive as
// it is sent, and cuts it (no end of body) at a file that changed in between.
//
// Limits: E2B_MAX_FILE_SIZE (ApiOptions::max_file_bytes) per file and for the content of a
// whole batch, kMaxBatchMembers members.
//
// Thread safety: the handlers may be called concurrently (SandboxManager is thread-safe).
#pragma once

#include <memory>

#include "api/routes.h"
#include "sandbox/manager.h"

namespace sbx::api {

inline constexpr size_t kMaxBatchMembers = 10000;
inline constexpr size_t kMaxArchivePaths = 1000;
// How deep a requested directory is listed (levels below it).
inline constexpr uint32_t kArchiveListDepth = 128;

std::unique_ptr<RouteGroup> MakeBatchFileRoutes(sandbox::SandboxManager* manager,
                                                const ApiOptions& options);

}  // namespace sbx::api
