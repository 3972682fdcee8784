// GET and POST /files.
#include "agent/files_http.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <memory>
#include <optional>
#include <set>

#include "agent/file_metadata.h"
#include "agent/fs_identity.h"
#include "protocol/gzip.h"
#include "agent/paths.h"
#include "protocol/fs_messages.h"
#include "common/log.h"
#include "common/unique_fd.h"
#include "protocol/json_fields.h"
#include "protocol/multipart.h"

namespace sbx::agent {
using ::sbx::protocol::AcceptsGzip;
using ::sbx::protocol::Deflater;
using ::sbx::protocol::Inflater;
namespace {

constexpr size_t kIoChunk = 64 * 1024;
constexpr size_t kGzipSample = 256 * 1024;

std::string ContentDisposition(const std::string& name) {
  bool plain = !name.empty();
  for (unsigned char c : name) {
    if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\') plain = false;
  }
  if (plain) return "inline; filename=\"" + name + "\"";
  static const char kHex[] = "0123456789ABCDEF";
  std::string enc;
  for (unsigned char c : name) {
    if (std::isalnum(c) || c == '.' || c == '-' || c == '_' || c == '~') {
      enc.push_back(static_cast<char>(c));
    } else {
      enc.push_back('%');
      enc.push_back(kHex[c >> 4]);
      enc.push_back(kHex[c & 15]);
    }
  }
  return "inline; filename*=UTF-8''" + enc;
}

void SendError(ResponseWriter& w, const Error& e) {
  log::Info("files_error", {{"error", e.ToString()}});
  (void)SendJsonError(w, RestStatusForError(e), e.ToString());
}

Result<size_t> ReadFull(int fd, char* buf, size_t n) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = read(fd, buf + got, n - got);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return SysError("read");
    if (r == 0) break;
    got += static_cast<size_t>(r);
  }
  return got;
}

// Writes one uploaded file: mkdir -p of the parent, open with O_TRUNC and O_NOFOLLOW. With a
// mode, the file is created 0600 (its content is never readable by others while it is being
// written, whatever the final mode) and fchmod'ed on the open descriptor before it is closed,
// so the mode lands on the file that was written, never on whatever the path names by then.
class FileSink {
 public:
  static Result<std::unique_ptr<FileSink>> Open(const std::string& path,
                                                std::optional<uint32_t> mode,
                                                const Metadata& metadata) {
    const std::string dir = DirName(path);
    for (size_t at = 1; at <= dir.size(); ++at) {
      if (at != dir.size() && dir[at] != '/') continue;
      const std::string prefix = dir.substr(0, at);
      if (mkdir(prefix.c_str(), 0755) != 0 && errno != EEXIST) {
        return SysError("mkdir " + prefix);
      }
    }
    UniqueFd fd(open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC |
                                       O_NOCTTY | O_NONBLOCK, mode ? 0600 : 0644));
    if (!fd) {
      if (errno == ELOOP) {
        return MakeError(ErrorCode::kInvalidArgument, "'" + path + "' is a symbolic link");
      }
      return SysError("open " + path);
    }
    struct stat st {};
    if (fstat(fd.get(), &st) != 0) return SysError("fstat " + path);
    if (!S_ISREG(st.st_mode)) {
      return MakeError(ErrorCode::kInvalidArgument, "'" + path + "' is not a regular file");
    }
    auto sink = std::make_unique<FileSink>();
    sink->fd_ = std::move(fd);
    sink->path_ = path;
    sink->mode_ = mode;
    sink->metadata_ = &metadata;
    return sink;
  }
  Result<void> Write(std::string_view data) {
    while (!data.empty()) {
      ssize_t n = write(fd_.get(), data.data(), data.size());
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return SysError("write " + path_);
      data.remove_prefix(static_cast<size_t>(n));
    }
    return Ok();
  }
  Result<void> Close() {
    // Runs under the user's fs identity: the kernel lets only the file's owner change its mode
    // (an existing file of another user that this user may write: EPERM, unless it already has
    // the mode asked for, which is then left alone).
    if (mode_) {
      struct stat st {};
      if (fstat(fd_.get(), &st) != 0) return SysError("fstat " + path_);
      if ((st.st_mode & 07777) != *mode_ && fchmod(fd_.get(), static_cast<mode_t>(*mode_)) != 0) {
        return SysError("chmod " + path_);
      }
    }
    // Also on the descriptor written through; setting user.* xattrs needs write permission,
    // which the user had to open it.
    RETURN_IF_ERROR(WriteMetadata(fd_.get(), *metadata_));
    if (close(fd_.release()) != 0) return SysError("close " + path_);
    return Ok();
  }

 private:
  UniqueFd fd_;
  std::string path_;
  std::optional<uint32_t> mode_;
  const Metadata* metadata_ = nullptr;
};

// Feeds the request body, inflated when gzip-encoded, to `consume`.
Result<void> PumpBody(const HttpRequest& req, BodyReader& body,
                      const std::function<Result<void>(std::string_view)>& consume) {
  std::string enc = req.Header("content-encoding");
  for (auto& c : enc) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  std::unique_ptr<Inflater> inflater;
  if (enc == "gzip" || enc == "x-gzip") {
    inflater = std::make_unique<Inflater>(kMaxInflatedUpload);
  } else if (!enc.empty() && enc != "identity") {
    return MakeError(ErrorCode::kInvalidArgument, "unsupported Content-Encoding '" + enc + "'");
  }
  std::vector<char> buf(kIoChunk);
  while (true) {
    ASSIGN_OR_RETURN(size_t n, body.Read(buf.data(), buf.size()));
    if (n == 0) break;
    std::string_view chunk(buf.data(), n);
    if (inflater) {
      RETURN_IF_ERROR(inflater->Feed(chunk, consume));
    } else {
      RETURN_IF_ERROR(consume(chunk));
    }
  }
  if (inflater) RETURN_IF_ERROR(inflater->Finish());
  return Ok();
}

Result<protocol::Json> WriteUpload(const HttpRequest& req, BodyReader& body, const User& user) {
  // sandboxd's extension: `mode` applies to every file of the upload. Checked before any write.
  std::optional<uint32_t> mode;
  if (req.HasQuery("mode")) {
    ASSIGN_OR_RETURN(mode, protocol::ParsePermissionMode(req.Query("mode")));
  }
  // envd 0.6.2: X-Metadata-<key> headers, stored on every file of the upload.
  ASSIGN_OR_RETURN(const Metadata metadata, MetadataFromHeaders(req.headers));
  protocol::Json written = protocol::Json::array();
  auto record = [&](const std::string& path) {
    protocol::Json entry = {{"path", path}, {"name", BaseName(path)}, {"type", "file"}};
    if (!metadata.empty()) entry["metadata"] = metadata;
    written.push_back(std::move(entry));
  };
  const std::string ct = req.Header("content-type");
  const bool query_path = req.HasQuery("path") && !req.Query("path").empty();
  if (ct.rfind("multipart/", 0) == 0) {
    ASSIGN_OR_RETURN(std::string boundary, protocol::MultipartBoundary(ct));
    std::unique_ptr<FileSink> sink;
    std::string sink_path;
    std::set<std::string> seen;
    protocol::MultipartCallbacks cb;
    cb.on_part_begin = [&](const protocol::PartHeaders& h) -> Result<void> {
      if (h.name != "file") return Ok();  // other form fields are ignored
      std::string target = query_path ? req.Query("path") : h.filename.value_or("");
      if (target.empty()) {
        return MakeError(ErrorCode::kInvalidArgument, "file part without a path or filename");
      }
      sink_path = ResolveUserPath(user, target);
      if (!seen.insert(sink_path).second) {
        return MakeError(ErrorCode::kInvalidArgument,
                         "two parts target the same path '" + sink_path + "'");
      }
      ASSIGN_OR_RETURN(sink, FileSink::Open(sink_path, mode, metadata));
      return Ok();
    };
    cb.on_part_data = [&](std::string_view data) -> Result<void> {
      return sink ? sink->Write(data) : Ok();
    };
    cb.on_part_end = [&]() -> Result<void> {
      if (!sink) return Ok();
      RETURN_IF_ERROR(sink->Close());
      sink.reset();
      record(sink_path);
      return Ok();
    };
    protocol::MultipartParser parser(boundary, std::move(cb));
    RETURN_IF_ERROR(PumpBody(req, body, [&](std::string_view d) { return parser.Feed(d); }));
    RETURN_IF_ERROR(parser.Finish());
  } else {
    if (!query_path) {
      return MakeError(ErrorCode::kInvalidArgument, "a raw upload needs the path query parameter");
    }
    const std::string path = ResolveUserPath(user, req.Query("path"));
    ASSIGN_OR_RETURN(auto sink, FileSink::Open(path, mode, metadata));
    RETURN_IF_ERROR(PumpBody(req, body, [&](std::string_view d) { return sink->Write(d); }));
    RETURN_IF_ERROR(sink->Close());
    record(path);
  }
  if (written.empty()) {
    return MakeError(ErrorCode::kInvalidArgument, "the upload contained no file part");
  }
  return written;
}

}  // namespace

void HandleGetFile(const HttpRequest& req, ResponseWriter& w, const User& user) {
  if (!req.HasQuery("path") || req.Query("path").empty()) {
    return SendError(w, MakeError(ErrorCode::kInvalidArgument, "path query parameter required"));
  }
  const std::string path = ResolveUserPath(user, req.Query("path"));
  UniqueFd fd;
  {
    ScopedFsIdentity identity(user);
    if (!identity.status().ok()) return SendError(w, identity.status().error());
    fd.reset(open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK));
    if (!fd) {
      Error e = SysError("open " + path);
      if (errno == ENOENT || errno == ENOTDIR) e.message = "file '" + path + "' not found";
      return SendError(w, e);
    }
  }
  struct stat st {};
  if (fstat(fd.get(), &st) != 0) return SendError(w, SysError("fstat " + path));
  if (S_ISDIR(st.st_mode)) {
    return SendError(w, MakeError(ErrorCode::kInvalidArgument,
                                  "path '" + path + "' is a directory"));
  }
  if (!S_ISREG(st.st_mode)) {
    return SendError(w, MakeError(ErrorCode::kInvalidArgument,
                                  "path '" + path + "' is not a regular file"));
  }
  HeaderList headers = {{"Content-Type", "application/octet-stream"},
                        {"Content-Disposition", ContentDisposition(BaseName(path))}};
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  std::vector<char> buf(std::max(kIoChunk, kGzipSample));
  size_t first = 0;
  if (AcceptsGzip(req.Header("accept-encoding")) && size >= 1024) {
    auto got = ReadFull(fd.get(), buf.data(), kGzipSample);
    if (!got.ok()) return SendError(w, got.error());
    first = got.value();
    Deflater probe;
    auto sample = probe.Compress(std::string_view(buf.data(), first), true);
    if (sample.ok() && sample->size() < first * 9 / 10) {
      // It pays: stream the whole file through gzip with chunked encoding.
      headers.emplace_back("Content-Encoding", "gzip");
      if (!w.BeginChunked(200, headers).ok()) return;
      Deflater deflater;
      size_t n = first;
      while (true) {
        const bool last = n == 0;
        auto out = deflater.Compress(std::string_view(buf.data(), n), last);
        if (!out.ok() || (!out->empty() && !w.Write(*out).ok())) return;
        if (last) break;
        auto r = ReadFull(fd.get(), buf.data(), kIoChunk);
        if (!r.ok()) return;  // mid-body: the connection is closed without the last chunk
        n = r.value();
      }
      (void)w.End();
      return;
    }
  }
  if (!w.BeginFixed(200, headers, size).ok()) return;
  uint64_t sent = 0;
  size_t n = first;
  while (sent < size) {
    if (n == 0) {
      auto r = ReadFull(fd.get(), buf.data(), std::min<uint64_t>(kIoChunk, size - sent));
      if (!r.ok() || r.value() == 0) return;  // file shrank: abort the connection
      n = r.value();
    }
    n = static_cast<size_t>(std::min<uint64_t>(n, size - sent));
    if (!w.Write(std::string_view(buf.data(), n)).ok()) return;
    sent += n;
    n = 0;
  }
  (void)w.End();
}

void HandlePostFiles(const HttpRequest& req, BodyReader& body, ResponseWriter& w,
                     const User& user) {
  Result<protocol::Json> result = MakeError(ErrorCode::kInternal, "unset");
  {
    ScopedFsIdentity identity(user);
    if (!identity.status().ok()) return SendError(w, identity.status().error());
    result = WriteUpload(req, body, user);
  }
  if (!result.ok()) return SendError(w, result.error());
  log::Info("files_written", {{"count", static_cast<int64_t>(result->size())},
                              {"user", user.name}});
  (void)w.Send(200, {{"Content-Type", "application/json"}}, protocol::DumpJson(result.value()));
}

}  // namespace sbx::agent
