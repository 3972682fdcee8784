// Incremental multipart/form-data parser (RFC 7578) for uploads in the format undici sends
// (E2B-PROTOCOL.md 3.4). Feed the body in any chunking; part headers and data arrive through
// callbacks, so a part's data is never buffered whole. Memory stays bounded: at most one
// header block (max_header_bytes) plus one boundary length of look-behind.
//
// Thread safety: a MultipartParser is not synchronised; use one per request.
#pragma once

#include <cstddef>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::protocol {

struct PartHeaders {
  std::string name;                     // form field name ("file")
  std::optional<std::string> filename;  // WHATWG-escaped %0A %0D %22 are decoded
  std::string content_type;
};

struct MultipartCallbacks {
  std::function<Result<void>(const PartHeaders&)> on_part_begin;
  std::function<Result<void>(std::string_view data)> on_part_data;
  std::function<Result<void>()> on_part_end;
};

struct MultipartLimits {
  size_t max_header_bytes = 16 * 1024;
  size_t max_parts = 1000;
};

// Extracts the boundary parameter from a multipart/form-data Content-Type.
Result<std::string> MultipartBoundary(std::string_view content_type);

class MultipartParser {
 public:
  MultipartParser(std::string boundary, MultipartCallbacks callbacks,
                  MultipartLimits limits = {});

  // Consumes data. A callback's error is returned as is and stops the parser.
  Result<void> Feed(std::string_view data);
  // Call at the end of the body: fails unless the closing boundary was seen.
  Result<void> Finish();
  bool done() const { return state_ == State::kEpilogue; }

 private:
  enum class State { kPreamble, kAfterBoundary, kHeaders, kBody, kEpilogue, kFailed };
  Result<void> Run();
  Result<void> ParseHeaders(std::string_view block);
  Result<void> Fail(Error e);

  std::string delimiter_;  // "\r\n--" + boundary
  MultipartCallbacks cb_;
  MultipartLimits limits_;
  State state_ = State::kPreamble;
  std::string buf_;
  size_t parts_ = 0;
};

}  // namespace sbx::protocol
