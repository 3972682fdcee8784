// TarWriter: writes a batch as a PAX tar (restricted: plain ustar headers unless a name, a size
// or the sha256 record needs PAX), optionally gzip-compressed (level 6), to a sink. A file's
// sha256, when given, is stored as the PAX record SCHILY.xattr.user.sbx.sha256 (kSha256Xattr)
// so a reader can check each member on its own (Python: member.pax_headers[...], libarchive:
// the entry's xattrs, GNU tar --xattrs).
//
// Every member is a regular file or a directory with a cleaned relative name (member.h);
// uid/gid are 0 with no owner names, so an extraction never gives files to a specific user.
//
// Thread safety: one writer per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "archive/member.h"
#include "common/result.h"

struct archive;

namespace sbx::archive {

class TarWriter {
 public:
  using Sink = std::function<Result<void>(std::string_view bytes)>;
  static Result<std::unique_ptr<TarWriter>> Open(Sink sink, bool gzip);
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  Result<void> AddDirectory(const std::string& name, uint32_t mode, int64_t mtime);
  // Writes the header of a file of exactly m.size bytes (m.sha256 may be empty), then the
  // content must follow through WriteData.
  Result<void> BeginFile(const Member& m);
  Result<void> WriteData(std::string_view chunk);
  // BeginFile + WriteData of the whole content.
  Result<void> AddFile(const Member& m, std::string_view content);
  // Ends the archive (two zero blocks, the gzip trailer). Nothing may be added afterwards.
  Result<void> Close();

  // Bytes handed to the sink so far.
  uint64_t bytes_out() const { return bytes_out_; }
  // libarchive's write callback (public for the C trampoline only).
  long Write(const void* data, size_t n);

 private:
  explicit TarWriter(Sink sink) : sink_(std::move(sink)) {}
  Result<void> WriteHeader(const Member& m);
  Error LibarchiveError(const std::string& what);

  Sink sink_;
  struct ::archive* a_ = nullptr;
  std::optional<Error> sink_error_;
  uint64_t bytes_out_ = 0;
  int64_t left_ = 0;  // content still owed for the current file
  std::string current_;
  bool closed_ = false;
};

}  // namespace sbx::archive
