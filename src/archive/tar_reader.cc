// TarReader: our gzip inflation with a cap, libarchive for the tar format (see tar_reader.h).
#include "archive/tar_reader.h"

#include <archive.h>
#include <archive_entry.h>
#include <unistd.h>
#include <zlib.h>

#include <cerrno>
#include <cstring>

#include "archive/utf8_locale.h"

namespace sbx::archive {
namespace {

constexpr size_t kChunk = 64 << 10;

la_ssize_t ReadCallback(struct ::archive*, void* self, const void** out) {
  return static_cast<TarReader*>(self)->Fill(out);
}

std::string Quote(std::string_view s) { return "'" + std::string(s.substr(0, 512)) + "'"; }

const char* RefusedTypeName(mode_t type) {
  switch (type) {
    case AE_IFLNK:
      return "a symbolic link";
    case AE_IFCHR:
      return "a character device";
    case AE_IFBLK:
      return "a block device";
    case AE_IFIFO:
      return "a fifo";
    case AE_IFSOCK:
      return "a socket";
    default:
      return "of an unknown type";
  }
}

bool IsHex64(const char* p, size_t n) {
  if (n != 64) return false;
  for (size_t i = 0; i < n; ++i) {
    char c = p[i];
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'))) return false;
  }
  return true;
}

}  // namespace

struct TarReader::Inflate {
  z_stream zs{};
  bool ready = false;
  bool started = false;    // a gzip member was begun (the next one needs inflateReset)
  bool in_member = false;  // inside a gzip member (its end not seen yet)
  ~Inflate() {
    if (ready) inflateEnd(&zs);
  }
};

TarReader::TarReader(const ReadLimits& limits)
    : limits_(limits),
      cap_(limits.max_total_bytes + limits.max_metadata_bytes),
      in_buf_(new char[kChunk]),
      out_buf_(new char[kChunk]),
      data_buf_(new char[kChunk]) {}

TarReader::~TarReader() {
  ScopedUtf8Locale utf8;
  if (a_ != nullptr) archive_read_free(a_);
}

Result<std::unique_ptr<TarReader>> TarReader::OpenMemory(std::string_view data,
                                                         const ReadLimits& limits) {
  std::unique_ptr<TarReader> r(new TarReader(limits));
  r->memory_ = data;
  RETURN_IF_ERROR(r->Open());
  return r;
}

Result<std::unique_ptr<TarReader>> TarReader::OpenFd(int fd, const ReadLimits& limits) {
  std::unique_ptr<TarReader> r(new TarReader(limits));
  r->fd_ = fd;
  RETURN_IF_ERROR(r->Open());
  return r;
}

Result<size_t> TarReader::ReadRaw() {
  if (fd_ < 0) {
    if (memory_used_) return size_t{0};
    memory_used_ = true;
    raw_ = memory_;
    return raw_.size();
  }
  for (;;) {
    ssize_t n = ::read(fd_, in_buf_.get(), kChunk);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) return SysError("read archive");
    raw_ = std::string_view(in_buf_.get(), static_cast<size_t>(n));
    return static_cast<size_t>(n);
  }
}

Result<void> TarReader::Open() {
  // Peek at the first bytes: gzip magic 1f 8b means tar.gz. (File inputs are regular files,
  // whose first read returns at least 2 bytes when there are that many.)
  ASSIGN_OR_RETURN(size_t first, ReadRaw());
  if (first == 0) raw_eof_ = true;
  if (raw_.empty())
    return MakeError(ErrorCode::kInvalidArgument,
                     "archive: empty input (expected a tar or tar.gz)");
  gzip_ = raw_.size() >= 2 && static_cast<unsigned char>(raw_[0]) == 0x1f &&
          static_cast<unsigned char>(raw_[1]) == 0x8b;
  if (gzip_) {
    z_ = std::make_unique<Inflate>();
    if (inflateInit2(&z_->zs, 16 + MAX_WBITS) != Z_OK)
      return MakeError(ErrorCode::kInternal, "archive: zlib inflateInit2 failed");
    z_->ready = true;
  }
  ScopedUtf8Locale utf8;
  a_ = archive_read_new();
  if (a_ == nullptr) return MakeError(ErrorCode::kInternal, "archive: archive_read_new failed");
  // Only the tar formats (ustar, pax, GNU); compression is handled above, so no filters.
  archive_read_support_format_tar(a_);
  if (archive_read_open(a_, this, nullptr, ReadCallback, nullptr) != ARCHIVE_OK)
    return Fail(LibarchiveError("open"));
  return Ok();
}

long TarReader::Produce(const char* data, size_t n, const void** out) {
  produced_ += n;
  if (produced_ > cap_) {
    source_error_ =
        MakeError(ErrorCode::kResourceExhausted,
                  "archive: more than " + std::to_string(cap_) + " bytes of tar data" +
                      (gzip_ ? " after decompression (a gzip bomb?)" : "") + "; the limit is " +
                      std::to_string(limits_.max_total_bytes) + " bytes of content plus " +
                      std::to_string(limits_.max_metadata_bytes) + " of headers");
    return -1;
  }
  *out = data;
  return static_cast<long>(n);
}

bool TarReader::RefillRaw() {
  if (!raw_.empty() || raw_eof_) return true;
  auto n = ReadRaw();
  if (!n.ok()) {
    source_error_ = n.error();
    return false;
  }
  if (*n == 0) raw_eof_ = true;
  return true;
}

long TarReader::Fill(const void** out) {
  if (!gzip_) {
    if (!RefillRaw()) return -1;
    std::string_view chunk = raw_;
    raw_ = {};
    return chunk.empty() ? 0 : Produce(chunk.data(), chunk.size(), out);
  }
  z_stream& zs = z_->zs;
  for (;;) {
    if (!RefillRaw()) return -1;
    if (raw_.empty()) {
      if (z_->in_member) {
        source_error_ = MakeError(ErrorCode::kInvalidArgument,
                                  "archive: truncated gzip stream (the input ends inside it)");
        return -1;
      }
      return 0;
    }
    if (!z_->in_member) {
      // Between gzip members: another member (concatenated gzip), zero padding, or garbage.
      if (static_cast<unsigned char>(raw_[0]) == 0) {
        size_t zeros = raw_.find_first_not_of('\0');
        raw_ = zeros == std::string_view::npos ? std::string_view() : raw_.substr(zeros);
        continue;
      }
      if (z_->started) inflateReset(&zs);
      z_->started = true;
      z_->in_member = true;
    }
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(raw_.data()));
    zs.avail_in = static_cast<uInt>(raw_.size());
    zs.next_out = reinterpret_cast<Bytef*>(out_buf_.get());
    zs.avail_out = static_cast<uInt>(kChunk);
    int rc = inflate(&zs, Z_NO_FLUSH);
    raw_ = raw_.substr(raw_.size() - zs.avail_in);
    size_t have = kChunk - zs.avail_out;
    if (rc == Z_STREAM_END) {
      z_->in_member = false;
    } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
      source_error_ = MakeError(ErrorCode::kInvalidArgument,
                                std::string("archive: corrupt gzip data (zlib: ") +
                                    (zs.msg ? zs.msg : "error " + std::to_string(rc)) + ")");
      return -1;
    }
    if (have > 0) return Produce(out_buf_.get(), have, out);
  }
}

Error TarReader::Fail(Error e) {
  failed_ = e;
  return e;
}

Error TarReader::LibarchiveError(const std::string& where) {
  if (source_error_) return *source_error_;
  const char* msg = archive_error_string(a_);
  std::string text = msg ? msg : "unknown libarchive error";
  if (text.find("Unrecognized archive format") != std::string::npos)
    text = "not a tar archive (" + text + ")";
  return MakeError(ErrorCode::kInvalidArgument, "archive: " + where + ": " + text);
}

Result<std::optional<Member>> TarReader::Next() {
  if (failed_) return *failed_;
  current_.reset();
  ScopedUtf8Locale utf8;
  struct archive_entry* entry = nullptr;
  int rc = archive_read_next_header(a_, &entry);
  if (rc == ARCHIVE_EOF) return std::optional<Member>();
  std::string where =
      members_ == 0 ? "first header" : "header after member " + std::to_string(members_);
  if (rc < ARCHIVE_WARN) return Fail(LibarchiveError(where));
  if (++members_ > limits_.max_members)
    return Fail(
        MakeError(ErrorCode::kResourceExhausted,
                  "archive: more than " + std::to_string(limits_.max_members) + " members"));
  const char* name = archive_entry_pathname_utf8(entry);
  if (name == nullptr) name = archive_entry_pathname(entry);
  if (name == nullptr)
    return Fail(MakeError(ErrorCode::kInvalidArgument,
                          "archive: member " + std::to_string(members_) + " has no readable name"));
  if (const char* link = archive_entry_hardlink(entry); link != nullptr)
    return Fail(MakeError(ErrorCode::kInvalidArgument,
                          "archive member " + Quote(name) + " refused: a hard link (to " +
                              Quote(link) + "); only regular files and directories are accepted"));
  Member m;
  mode_t type = archive_entry_filetype(entry);
  if (type == AE_IFREG) {
    m.type = MemberType::kFile;
  } else if (type == AE_IFDIR) {
    m.type = MemberType::kDirectory;
  } else {
    return Fail(MakeError(ErrorCode::kInvalidArgument,
                          "archive member " + Quote(name) + " refused: " + RefusedTypeName(type) +
                              "; only regular files and directories are accepted"));
  }
  auto clean = CleanMemberName(name);
  if (!clean.ok()) return Fail(clean.error());
  m.name = std::move(clean).value();
  m.mode = static_cast<uint32_t>(archive_entry_perm(entry)) & 0777;
  m.mtime = archive_entry_mtime(entry);
  if (m.type == MemberType::kFile) {
    int64_t size = archive_entry_size(entry);
    if (size < 0)
      return Fail(MakeError(ErrorCode::kInvalidArgument,
                            "archive member " + Quote(name) + ": negative size"));
    if (static_cast<uint64_t>(size) > limits_.max_member_bytes)
      return Fail(MakeError(ErrorCode::kResourceExhausted,
                            "archive member " + Quote(name) + " of " + std::to_string(size) +
                                " bytes exceeds the limit of " +
                                std::to_string(limits_.max_member_bytes) + " bytes per file"));
    total_ += static_cast<uint64_t>(size);
    if (total_ > limits_.max_total_bytes)
      return Fail(MakeError(ErrorCode::kResourceExhausted,
                            "archive: the content exceeds the limit of " +
                                std::to_string(limits_.max_total_bytes) +
                                " bytes in total (at member " + Quote(name) + ")"));
    m.size = size;
  }
  archive_entry_xattr_reset(entry);
  const char* xname = nullptr;
  const void* xvalue = nullptr;
  size_t xsize = 0;
  while (archive_entry_xattr_next(entry, &xname, &xvalue, &xsize) == ARCHIVE_OK) {
    if (xname != nullptr && std::strcmp(xname, kSha256Xattr) == 0 &&
        IsHex64(static_cast<const char*>(xvalue), xsize)) {
      m.sha256.assign(static_cast<const char*>(xvalue), xsize);
      for (char& c : m.sha256) c = static_cast<char>(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
  }
  current_ = m;
  current_read_ = false;
  return std::optional<Member>(std::move(m));
}

Result<void> TarReader::ReadData(const DataSink& sink) {
  if (failed_) return *failed_;
  if (!current_ || current_read_)
    return MakeError(ErrorCode::kInternal, "archive: ReadData without a current member");
  current_read_ = true;
  if (current_->type != MemberType::kFile) return Ok();
  const std::string& name = current_->name;
  const uint64_t want = static_cast<uint64_t>(current_->size);
  ScopedUtf8Locale utf8;
  uint64_t got = 0;
  for (;;) {
    la_ssize_t n = archive_read_data(a_, data_buf_.get(), kChunk);
    if (n < 0) return Fail(LibarchiveError("data of member " + Quote(name)));
    if (n == 0) break;
    got += static_cast<uint64_t>(n);
    if (got > want)
      return Fail(MakeError(ErrorCode::kInvalidArgument, "archive member " + Quote(name) +
                                                             " holds more data than its size " +
                                                             std::to_string(want)));
    if (auto r = sink(std::string_view(data_buf_.get(), static_cast<size_t>(n))); !r.ok())
      return Fail(r.error());
  }
  if (got != want)
    return Fail(MakeError(ErrorCode::kInvalidArgument,
                          "archive member " + Quote(name) + " is truncated: " +
                              std::to_string(got) + " of " + std::to_string(want) + " bytes"));
  return Ok();
}

}  // namespace sbx::archive
