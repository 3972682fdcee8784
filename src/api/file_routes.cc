// File transfer endpoints (docs/api.md "Files"): one file in or out of a sandbox, with gzip
// in both directions where it pays, sha256 of the content on both sides, the size limit
// (E2B_MAX_FILE_SIZE) answered with 413, and decompression bounded by that limit so a gzip
// bomb is refused after at most that many bytes.
#include <algorithm>
#include <cctype>

#include "api/routes.h"
#include "protocol/fs_messages.h"
#include "protocol/gzip.h"
#include "digest/sha256.h"

namespace sbx::api {
namespace {

using nlohmann::json;

// The guide's rule: compress only when it pays, i.e. the gzip size is under 90% of the original.
constexpr double kGzipPaysRatio = 0.9;
constexpr size_t kGzipMinBytes = 512;
// Large files are first judged on a sample: compressing all of a 10 MiB random file only to
// throw the result away costs ~6x the transfer itself (bench/api_bench).
constexpr size_t kGzipSampleBytes = 64 << 10;

// Whether gzip is worth trying on data: a sample of a large file must already compress below
// the ratio (the whole file is still measured before gzip is used).
bool GzipMayPay(std::string_view data) {
  if (data.size() < kGzipMinBytes) return false;
  if (data.size() <= 4 * kGzipSampleBytes) return true;
  protocol::Deflater sample;
  auto gz = sample.Compress(data.substr(0, kGzipSampleBytes), /*finish=*/true);
  return gz.ok() && static_cast<double>(gz->size()) <
                        kGzipPaysRatio * static_cast<double>(kGzipSampleBytes);
}

Response TooLarge(size_t size_or_limit, size_t limit, bool decompressed) {
  std::string what = decompressed ? "decompressed body exceeds the limit of "
                                  : "file of " + std::to_string(size_or_limit) +
                                        " bytes exceeds the limit of ";
  return JsonResponse(413, {{"success", false},
                            {"error",
                             {{"code", "resource_exhausted"},
                              {"message", what + std::to_string(limit) +
                                              " bytes (E2B_MAX_FILE_SIZE)"}}}});
}

std::string Lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

}  // namespace

Response Router::PutFile(const std::string& id, const Request& req) {
  std::string path = req.Query("path");
  if (path.empty())
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "query parameter 'path' is required"));
  std::optional<uint32_t> mode;
  if (req.query.count("mode")) {
    auto parsed = protocol::ParsePermissionMode(req.Query("mode"));
    if (!parsed.ok()) return ErrorResponse(parsed.error());
    mode = *parsed;
  }
  if (auto denied = CheckTenant(req, id)) return *denied;
  const size_t limit = options_.max_file_bytes;
  std::string encoding = Lower(req.Header("content-encoding"));
  std::string content;
  bool compressed = false;
  if (encoding == "gzip" || encoding == "x-gzip") {
    protocol::Inflater inflater(limit);
    auto fed = inflater.Feed(req.body, [&content](std::string_view chunk) {
      content.append(chunk);
      return Ok();
    });
    if (fed.ok()) fed = inflater.Finish();
    if (!fed.ok()) {
      if (fed.error().code == ErrorCode::kResourceExhausted) return TooLarge(0, limit, true);
      return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                     "Content-Encoding gzip: " + fed.error().message));
    }
    compressed = true;
  } else if (encoding.empty() || encoding == "identity") {
    if (req.body.size() > limit) return TooLarge(req.body.size(), limit, false);
    content = req.body;
  } else {
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                   "unsupported Content-Encoding '" + encoding +
                                       "' (send gzip or no encoding)"));
  }
  // Checked before anything is written: a corrupted transfer changes nothing in the sandbox.
  std::string hash = digest::Sha256Hex(content);
  std::string sent = Lower(req.Header("x-content-sha256"));
  if (!sent.empty() && sent != hash)
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument,
                                   "sha256 mismatch: the client sent " + sent +
                                       ", the received content hashes to " + hash +
                                       "; nothing was written"));
  auto r = manager_->WriteFile(id, path, content, req.Query("user", "user"), mode);
  if (!r.ok()) return ErrorResponse(r.error());
  return JsonResponse(200, {{"success", true},
                            {"sandbox_id", id},
                            {"path", r->path},
                            {"size", r->size},
                            {"hash", r->sha256},
                            {"compressed", compressed},
                            {"stored_size", r->size},
                            {"transferred_size", req.body.size()}});
}

Response Router::GetFile(const std::string& id, const Request& req) {
  std::string path = req.Query("path");
  if (path.empty())
    return ErrorResponse(MakeError(ErrorCode::kInvalidArgument, "query parameter 'path' is required"));
  if (auto denied = CheckTenant(req, id)) return *denied;
  auto data = manager_->ReadFile(id, path, req.Query("user", "user"));
  if (!data.ok()) return ErrorResponse(data.error());
  Response r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.headers.push_back({"X-Content-SHA256", digest::Sha256Hex(*data)});
  r.headers.push_back({"X-Content-Size", std::to_string(data->size())});
  if (protocol::AcceptsGzip(req.Header("accept-encoding")) && GzipMayPay(*data)) {
    protocol::Deflater deflater;
    auto gz = deflater.Compress(*data, /*finish=*/true);
    if (gz.ok() && static_cast<double>(gz->size()) <
                       kGzipPaysRatio * static_cast<double>(data->size())) {
      r.headers.push_back({"Content-Encoding", "gzip"});
      r.body = std::move(*gz);
      return r;
    }
  }
  r.body = std::move(*data);
  return r;
}

}  // namespace sbx::api
