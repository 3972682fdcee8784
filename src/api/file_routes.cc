// File transfer endpoints (docs/api.md "Files"): one file in or out of a sandbox, with gzip
// in both directions where it pays, sha256 of the content on both sides, the size limit
// (E2B_MAX_FILE_SIZE) answered with 413, and decompression bounded by that limit so a gzip
// bomb is refused after at most that many bytes. Downloads are streamed from the agent to the
// client through one 64 KiB buffer (and a gzip stream's): the size is learnt first, from the
// agent's Content-Length, so a file over the limit is a 413 before any content is sent.
#include <algorithm>
#include <cctype>

#include <memory>
#include <vector>

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
// A download is judged on its first 64 KiB (all of a smaller file): read ahead, compressed
// once to see, then sent first. Compressing all of a 10 MiB random file only to throw the
// result away cost ~6x the transfer itself (bench/api_bench), and a stream cannot look ahead.
constexpr size_t kGzipSampleBytes = 64 << 10;
// One read from the agent, one write to the client.
constexpr size_t kDownloadChunk = 64 << 10;

// One download on its way from the agent to the client (lives in the response's stream).
struct Download {
  std::unique_ptr<agentclient::FileStream> file;
  std::string ahead;  // read ahead to judge gzip, sent first
  std::unique_ptr<protocol::Deflater> deflater;  // set: the body is gzip
  digest::Sha256 hash;                           // of the content, as sent
  std::optional<Error> failure;                  // why the body stopped short
  bool done = false;

  // Passes content on (hashed, compressed when gzip); false once the client is gone or it
  // failed.
  bool Emit(std::string_view content, bool last, const ChunkWriter& write) {
    hash.Update(content);
    if (!deflater) return content.empty() || write(content);
    auto gz = deflater->Compress(content, last);
    if (!gz.ok()) {
      failure = gz.error();
      return false;
    }
    return gz->empty() || write(*gz);
  }

  void Run(const ChunkWriter& write) {
    if (!ahead.empty() && !Emit(ahead, false, write)) return;
    std::string().swap(ahead);
    std::vector<char> buf(kDownloadChunk);
    for (;;) {
      auto n = file->Read(buf.data(), buf.size());
      if (!n.ok()) {
        failure = n.error();
        return;
      }
      if (*n == 0) break;
      if (!Emit(std::string_view(buf.data(), *n), false, write)) return;
    }
    if (deflater && !Emit({}, true, write)) return;
    done = true;
  }
};

// Reads up to n bytes of the file ahead into d->ahead.
Result<void> ReadAhead(Download* d, size_t n) {
  d->ahead.resize(n);
  size_t at = 0;
  while (at < n) {
    ASSIGN_OR_RETURN(size_t got, d->file->Read(d->ahead.data() + at, n - at));
    if (got == 0) break;
    at += got;
  }
  d->ahead.resize(at);
  return Ok();
}

// Whether gzip pays on the sample read ahead.
bool GzipPays(std::string_view sample) {
  if (sample.size() < kGzipMinBytes) return false;
  protocol::Deflater probe;
  auto gz = probe.Compress(sample, /*finish=*/true);
  return gz.ok() &&
         static_cast<double>(gz->size()) < kGzipPaysRatio * static_cast<double>(sample.size());
}

// Whether the request's TE header accepts trailer fields ("TE: trailers", RFC 9110 10.1.4).
bool AcceptsTrailers(std::string te) {
  for (char& c : te) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t at = 0;
  while (at <= te.size()) {
    size_t comma = te.find(',', at);
    std::string item = te.substr(at, comma == std::string::npos ? std::string::npos : comma - at);
    item.erase(0, item.find_first_not_of(" \t"));
    item.erase(item.find_last_not_of(" \t") + 1);
    if (item == "trailers") return true;
    if (comma == std::string::npos) break;
    at = comma + 1;
  }
  return false;
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
  auto file = manager_->OpenFile(id, path, req.Query("user", "user"));
  if (!file.ok()) return ErrorResponse(file.error());
  const uint64_t size = (*file)->size();
  // Before anything is sent: the agent's connection closes unread.
  if (size > options_.max_file_bytes) return TooLarge(size, options_.max_file_bytes, false);
  auto d = std::make_shared<Download>();
  d->file = std::move(*file);
  if (protocol::AcceptsGzip(req.Header("accept-encoding")) && size >= kGzipMinBytes) {
    if (auto r = ReadAhead(d.get(), static_cast<size_t>(std::min<uint64_t>(size, kGzipSampleBytes)));
        !r.ok())
      return ErrorResponse(r.error());
    if (GzipPays(d->ahead)) d->deflater = std::make_unique<protocol::Deflater>();
  }
  Response r;
  r.status = 200;
  r.content_type = "application/octet-stream";
  r.headers.push_back({"X-Content-Size", std::to_string(size)});
  // The hash is known only at the end: it is the trailer of a chunked body. A gzip body is
  // chunked anyway; a plain one is chunked when the client accepts trailers, else it has its
  // Content-Length and no hash.
  const bool chunked = d->deflater || AcceptsTrailers(req.Header("te"));
  if (d->deflater) r.headers.push_back({"Content-Encoding", "gzip"});
  if (chunked) {
    r.headers.push_back({"Trailer", "X-Content-SHA256"});
  } else {
    r.content_length = size;
  }
  r.stream = [d](const ChunkWriter& write) { d->Run(write); };
  r.finish = [d]() -> Result<std::vector<std::pair<std::string, std::string>>> {
    if (!d->done) {
      if (d->failure) return *d->failure;
      return MakeError(ErrorCode::kUnavailable, "the client stopped reading");
    }
    return std::vector<std::pair<std::string, std::string>>{
        {"X-Content-SHA256", d->hash.HexDigest()}};
  };
  return r;
}

}  // namespace sbx::api
