// TarReader: reads a tar or tar.gz batch from an untrusted peer, one member at a time, with
// every bound checked before the work it guards:
//   - gzip is recognised by its magic bytes and inflated here, capped at
//     max_total_bytes + max_metadata_bytes of output, so a gzip bomb stops at the cap (and
//     libarchive, which only parses the tar format, never sees more than that);
//   - at each header: the member count, the member's declared size (max_member_bytes) and the
//     running total of declared sizes (max_total_bytes), so an oversized member is refused
//     before its data is read;
//   - members other than regular files and directories (symlinks, hard links, devices, fifos,
//     sockets) and names that are absolute or contain ".." are refused, naming the member;
//   - a truncated archive, a damaged header or data that is not a tar is an error, never a
//     shorter result.
// Errors: kInvalidArgument for malformed or refused content, kResourceExhausted for a limit;
// messages name the member. After an error the reader stays failed.
//
// Thread safety: one reader per thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string_view>

#include "archive/member.h"
#include "common/result.h"

struct archive;

namespace sbx::archive {

struct ReadLimits {
  uint64_t max_member_bytes = 100ull << 20;  // content of one file
  uint64_t max_total_bytes = 100ull << 20;   // content of all files together
  uint64_t max_members = 10000;              // files and directories
  // Tar headers, PAX records and padding on top of the content (bounds decompression).
  uint64_t max_metadata_bytes = 64ull << 20;
};

using DataSink = std::function<Result<void>(std::string_view chunk)>;

class TarReader {
 public:
  // `data` must outlive the reader.
  static Result<std::unique_ptr<TarReader>> OpenMemory(std::string_view data,
                                                       const ReadLimits& limits);
  // Reads from `fd` (borrowed, must outlive the reader) from its current offset.
  static Result<std::unique_ptr<TarReader>> OpenFd(int fd, const ReadLimits& limits);
  ~TarReader();
  TarReader(const TarReader&) = delete;
  TarReader& operator=(const TarReader&) = delete;

  // The next member, or nullopt at the end of the archive. The data of the previous member is
  // skipped if it was not read.
  Result<std::optional<Member>> Next();
  // The content of the member Next returned last (nothing for a directory): exactly its size
  // in bytes, in chunks, or an error.
  Result<void> ReadData(const DataSink& sink);

  bool gzip() const { return gzip_; }  // the input was gzip-compressed
  uint64_t members() const { return members_; }
  uint64_t total_bytes() const { return total_; }  // declared content so far

  // libarchive's read callback (public for the C trampoline only).
  long Fill(const void** out);

 private:
  explicit TarReader(const ReadLimits& limits);
  Result<void> Open();
  Result<size_t> ReadRaw();  // refills raw_ from the input; 0 at its end
  // ReadRaw when raw_ is used up and the input is not at its end; false (source_error_ set)
  // when reading failed.
  bool RefillRaw();
  long Produce(const char* data, size_t n, const void** out);
  Error Fail(Error e);
  Error LibarchiveError(const std::string& where);

  ReadLimits limits_;
  uint64_t cap_ = 0;  // bytes of tar data allowed out of the input
  std::string_view memory_;
  bool memory_used_ = false;
  int fd_ = -1;
  std::unique_ptr<char[]> in_buf_;
  std::unique_ptr<char[]> out_buf_;   // inflated bytes handed to libarchive
  std::unique_ptr<char[]> data_buf_;  // member content handed to ReadData's sink
  std::string_view raw_;              // unconsumed raw input
  bool raw_eof_ = false;
  bool gzip_ = false;
  struct Inflate;
  std::unique_ptr<Inflate> z_;
  uint64_t produced_ = 0;
  std::optional<Error> source_error_;  // why the callback failed
  std::optional<Error> failed_;        // sticky
  struct ::archive* a_ = nullptr;
  uint64_t members_ = 0;
  uint64_t total_ = 0;
  std::optional<Member> current_;
  bool current_read_ = false;
};

}  // namespace sbx::archive
