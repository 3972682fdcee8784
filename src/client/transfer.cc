// transfer: streamed, hash-checked file upload and download (see transfer.h).
#include "client/transfer.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>

#include "common/scope_exit.h"
#include "common/unique_fd.h"

namespace sbx::client {
namespace {

// A transfer in which no byte moves for this long is abandoned.
constexpr double kStallTimeoutS = 120;

// File transfers may be large: no overall deadline, but one that grows with the size.
double TransferTimeout(int64_t size) {
  return 600.0 + static_cast<double>(size) / (1 << 20);  // 10 min + 1 s per MiB
}

std::string DirName(const std::string& path) {
  size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

Result<void> CheckDownload(const std::map<std::string, std::string>& headers,
                           const std::string& remote, const std::string& local, int64_t received,
                           const std::string& hash) {
  const std::string not_written = "; '" + local + "' was not written";
  if (auto s = headers.find("x-content-size"); s != headers.end() &&
                                               s->second != std::to_string(received))
    return MakeError(ErrorCode::kInternal, "download of " + remote + " is incomplete: sandboxd " +
                                               "announced " + s->second + " bytes, received " +
                                               std::to_string(received) + not_written);
  auto h = headers.find("x-content-sha256");
  if (h == headers.end()) {
    // Announced in the header ("Trailer: X-Content-SHA256") but missing at the end.
    auto t = headers.find("trailer");
    std::string announced = t == headers.end() ? "" : t->second;
    for (char& c : announced) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    if (announced.find("x-content-sha256") != std::string::npos)
      return MakeError(ErrorCode::kInternal, "download of " + remote + " is incomplete: sandboxd " +
                                                 "announced its sha256 but did not send it" +
                                                 not_written);
    return Ok();
  }
  std::string expected = h->second;
  for (char& c : expected) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (expected != hash)
    return MakeError(ErrorCode::kInternal,
                     "download of " + remote + " is corrupt: sandboxd announced sha256 " +
                         expected + ", received " + hash + " (" + std::to_string(received) +
                         " bytes)" + not_written);
  return Ok();
}

Result<void> CheckReadableFile(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return SysError("cannot read local file '" + path + "'");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return SysError("fstat '" + path + "'");
  if (S_ISDIR(st.st_mode))
    return MakeError(ErrorCode::kInvalidArgument,
                     "local path '" + path + "' is a directory; only single files are copied");
  if (!S_ISREG(st.st_mode))
    return MakeError(ErrorCode::kInvalidArgument,
                     "local path '" + path + "' is not a regular file");
  return Ok();
}

Result<TransferResult> UploadFile(Client& client, std::string_view sandbox_id,
                                  const std::string& local, const std::string& remote,
                                  std::string_view user) {
  RETURN_IF_ERROR(CheckReadableFile(local));
  UniqueFd fd(::open(local.c_str(), O_RDONLY | O_CLOEXEC));
  if (!fd) return SysError("cannot read local file '" + local + "'");
  struct stat st;
  if (::fstat(fd.get(), &st) != 0) return SysError("fstat '" + local + "'");

  Sha256 hash;
  int64_t sent = 0;
  HttpRequest req;
  req.method = "PUT";
  // The local permission bits go along (an uploaded script stays executable); set-id and
  // sticky bits are not sent: sandboxd refuses them.
  char mode[16];
  std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 0777));
  req.target = FilesTarget(sandbox_id, remote, user) + "&mode=" + mode;
  req.content_type = "application/octet-stream";
  req.source_size = st.st_size;
  req.timeout_s = TransferTimeout(st.st_size);
  req.stall_timeout_s = kStallTimeoutS;
  req.source = [&](char* buf, size_t cap) -> Result<size_t> {
    // Never send more than announced, even if the file grows meanwhile.
    int64_t left = req.source_size - sent;
    if (left <= 0) return size_t{0};
    if (static_cast<int64_t>(cap) > left) cap = static_cast<size_t>(left);
    for (;;) {
      ssize_t n = ::read(fd.get(), buf, cap);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return SysError("read '" + local + "'");
      if (n == 0) return MakeError(ErrorCode::kInternal, "'" + local + "' shrank while uploading");
      hash.Update(std::string_view(buf, static_cast<size_t>(n)));
      sent += n;
      return static_cast<size_t>(n);
    }
  };
  ASSIGN_OR_RETURN(HttpResponse resp, client.Send(req));
  if (resp.status < 200 || resp.status >= 300) return ErrorFromHttp(resp.status, resp.body);

  TransferResult out{std::string(sandbox_id), remote, local, sent, hash.HexDigest()};
  nlohmann::json j = nlohmann::json::parse(resp.body, nullptr, /*allow_exceptions=*/false);
  if (j.is_object()) {
    if (auto p = j.find("path"); p != j.end() && p->is_string()) out.path = p->get<std::string>();
    if (auto h = j.find("hash"); h != j.end() && h->is_string() && *h != out.hash)
      return MakeError(ErrorCode::kInternal, "upload of '" + local + "' to " + remote +
                                                 " is corrupt: sent sha256 " + out.hash +
                                                 ", sandboxd stored " + h->get<std::string>());
    if (auto s = j.find("size"); s != j.end() && s->is_number_integer() && *s != out.size)
      return MakeError(ErrorCode::kInternal,
                       "upload of '" + local + "' to " + remote + " is incomplete: sent " +
                           std::to_string(out.size) + " bytes, sandboxd stored " + s->dump());
  }
  return out;
}

Result<TransferResult> DownloadFile(Client& client, std::string_view sandbox_id,
                                    const std::string& remote, const std::string& local,
                                    std::string_view user) {
  // The temporary file lives next to the destination so that rename(2) is atomic.
  std::string tmpl = DirName(local) + "/." + BaseName(local) + ".sbx-XXXXXX";
  UniqueFd fd(::mkostemp(tmpl.data(), O_CLOEXEC));
  if (!fd) return SysError("cannot write '" + local + "' (creating " + tmpl + ")");
  const std::string tmp = tmpl;
  ScopeExit remove_tmp([&] { ::unlink(tmp.c_str()); });

  Sha256 hash;
  int64_t received = 0;
  HttpRequest req;
  req.method = "GET";
  req.target = FilesTarget(sandbox_id, remote, user);
  // The daemon streams the file and knows its sha256 only at the end: asked for, it comes as
  // the trailer of a chunked body (docs/api.md).
  req.headers = {"TE: trailers"};
  req.timeout_s = 0;  // unknown size: no overall deadline, but one for a stalled transfer
  req.stall_timeout_s = kStallTimeoutS;
  req.sink = [&](std::string_view chunk) -> Result<void> {
    const char* p = chunk.data();
    size_t left = chunk.size();
    while (left > 0) {
      ssize_t n = ::write(fd.get(), p, left);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return SysError("write '" + tmp + "'");
      p += n;
      left -= static_cast<size_t>(n);
    }
    hash.Update(chunk);
    received += static_cast<int64_t>(chunk.size());
    return Ok();
  };
  ASSIGN_OR_RETURN(HttpResponse resp, client.Send(req));
  if (resp.status < 200 || resp.status >= 300) return ErrorFromHttp(resp.status, resp.body);

  TransferResult out{std::string(sandbox_id), remote, local, received, hash.HexDigest()};
  RETURN_IF_ERROR(CheckDownload(resp.headers, remote, local, received, out.hash));
  // mkostemp creates 0600: give the file the mode a new file would get (0666 & ~umask).
  mode_t mask = ::umask(0);
  ::umask(mask);
  if (::fchmod(fd.get(), 0666 & ~mask) != 0) return SysError("fchmod '" + tmp + "'");
  if (::fsync(fd.get()) != 0) return SysError("fsync '" + tmp + "'");
  fd.reset();
  if (::rename(tmp.c_str(), local.c_str()) != 0)
    return SysError("rename '" + tmp + "' to '" + local + "'");
  remove_tmp.Dismiss();
  return out;
}

}  // namespace sbx::client
