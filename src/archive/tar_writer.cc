// TarWriter over libarchive's pax_restricted format and gzip filter (see tar_writer.h).
#include "archive/tar_writer.h"

#include <archive.h>
#include <archive_entry.h>

#include "archive/utf8_locale.h"

namespace sbx::archive {
namespace {

la_ssize_t WriteCallback(struct ::archive*, void* self, const void* data, size_t n) {
  return static_cast<TarWriter*>(self)->Write(data, n);
}

// archive_entry owned for one header.
struct EntryPtr {
  struct archive_entry* e = archive_entry_new();
  ~EntryPtr() {
    if (e != nullptr) archive_entry_free(e);
  }
};

}  // namespace

Result<std::unique_ptr<TarWriter>> TarWriter::Open(Sink sink, bool gzip) {
  ScopedUtf8Locale utf8;
  std::unique_ptr<TarWriter> w(new TarWriter(std::move(sink)));
  w->a_ = archive_write_new();
  if (w->a_ == nullptr) return MakeError(ErrorCode::kInternal, "archive: archive_write_new failed");
  if (archive_write_set_format_pax_restricted(w->a_) != ARCHIVE_OK)
    return w->LibarchiveError("set format pax");
  // Only the SCHILY.xattr.* form of the sha256 record: GNU tar knows it (and warns about
  // libarchive's own LIBARCHIVE.xattr.* records on every member otherwise).
  if (archive_write_set_format_option(w->a_, "pax", "xattrheader", "SCHILY") != ARCHIVE_OK)
    return w->LibarchiveError("set pax xattrheader");
  // No padding of the last block to 10 KiB: the archive ends after its end-of-archive blocks.
  archive_write_set_bytes_in_last_block(w->a_, 1);
  if (gzip) {
    if (archive_write_add_filter_gzip(w->a_) != ARCHIVE_OK)
      return w->LibarchiveError("add gzip filter");
    archive_write_set_filter_option(w->a_, "gzip", "compression-level", "6");
  }
  if (archive_write_open(w->a_, w.get(), nullptr, WriteCallback, nullptr) != ARCHIVE_OK)
    return w->LibarchiveError("open");
  return w;
}

TarWriter::~TarWriter() {
  ScopedUtf8Locale utf8;
  // Without Close the archive is abandoned: nothing more reaches the sink.
  if (a_ != nullptr) {
    if (!closed_) sink_ = nullptr;
    archive_write_free(a_);
  }
}

long TarWriter::Write(const void* data, size_t n) {
  if (!sink_) return static_cast<long>(n);
  auto r = sink_(std::string_view(static_cast<const char*>(data), n));
  if (!r.ok()) {
    sink_error_ = r.error();
    return -1;
  }
  bytes_out_ += n;
  return static_cast<long>(n);
}

Error TarWriter::LibarchiveError(const std::string& what) {
  if (sink_error_) return *sink_error_;
  const char* msg = archive_error_string(a_);
  return MakeError(ErrorCode::kInternal,
                   "archive: writing " + what + ": " + (msg ? msg : "unknown libarchive error"));
}

Result<void> TarWriter::WriteHeader(const Member& m) {
  if (closed_) return MakeError(ErrorCode::kInternal, "archive: write after Close");
  if (left_ != 0)
    return MakeError(ErrorCode::kInternal, "archive: member '" + current_ + "' is missing " +
                                               std::to_string(left_) + " bytes of content");
  ASSIGN_OR_RETURN(std::string name, CleanMemberName(m.name));
  ScopedUtf8Locale utf8;
  if (name.empty()) return MakeError(ErrorCode::kInvalidArgument, "archive: empty member name");
  EntryPtr entry;
  if (entry.e == nullptr)
    return MakeError(ErrorCode::kInternal, "archive: archive_entry_new failed");
  archive_entry_set_pathname_utf8(entry.e, name.c_str());
  archive_entry_set_filetype(entry.e, m.type == MemberType::kDirectory ? AE_IFDIR : AE_IFREG);
  archive_entry_set_perm(entry.e, m.mode & 0777);
  archive_entry_set_mtime(entry.e, m.mtime, 0);
  archive_entry_set_uid(entry.e, 0);
  archive_entry_set_gid(entry.e, 0);
  archive_entry_set_size(entry.e, m.type == MemberType::kFile ? m.size : 0);
  if (m.type == MemberType::kFile && !m.sha256.empty())
    archive_entry_xattr_add_entry(entry.e, kSha256Xattr, m.sha256.data(), m.sha256.size());
  if (archive_write_header(a_, entry.e) != ARCHIVE_OK)
    return LibarchiveError("header of '" + name + "'");
  current_ = name;
  left_ = m.type == MemberType::kFile ? m.size : 0;
  return Ok();
}

Result<void> TarWriter::AddDirectory(const std::string& name, uint32_t mode, int64_t mtime) {
  Member m;
  m.name = name;
  m.type = MemberType::kDirectory;
  m.mode = mode;
  m.mtime = mtime;
  return WriteHeader(m);
}

Result<void> TarWriter::BeginFile(const Member& m) {
  if (m.type != MemberType::kFile || m.size < 0)
    return MakeError(ErrorCode::kInternal, "archive: BeginFile needs a file with a size");
  return WriteHeader(m);
}

Result<void> TarWriter::WriteData(std::string_view chunk) {
  if (static_cast<int64_t>(chunk.size()) > left_)
    return MakeError(ErrorCode::kInternal,
                     "archive: more content than announced for '" + current_ + "'");
  ScopedUtf8Locale utf8;
  while (!chunk.empty()) {
    la_ssize_t n = archive_write_data(a_, chunk.data(), chunk.size());
    if (n <= 0) return LibarchiveError("content of '" + current_ + "'");
    chunk.remove_prefix(static_cast<size_t>(n));
    left_ -= n;
  }
  return Ok();
}

Result<void> TarWriter::AddFile(const Member& m, std::string_view content) {
  if (static_cast<int64_t>(content.size()) != m.size)
    return MakeError(ErrorCode::kInternal, "archive: content of '" + m.name + "' is " +
                                               std::to_string(content.size()) +
                                               " bytes, the header says " + std::to_string(m.size));
  RETURN_IF_ERROR(BeginFile(m));
  return WriteData(content);
}

Result<void> TarWriter::Close() {
  if (closed_) return Ok();
  if (left_ != 0)
    return MakeError(ErrorCode::kInternal, "archive: member '" + current_ + "' is missing " +
                                               std::to_string(left_) + " bytes of content");
  closed_ = true;
  ScopedUtf8Locale utf8;
  if (archive_write_close(a_) != ARCHIVE_OK) return LibarchiveError("the end of the archive");
  return Ok();
}

}  // namespace sbx::archive
