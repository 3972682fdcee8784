// Streaming gzip with zlib: a bounded Inflater for `Content-Encoding: gzip` uploads (refuses
// output beyond max_output, so a gzip bomb is stopped after max_output bytes) and a Deflater
// for gzip responses.
//
// Thread safety: one instance per request.
#pragma once

#include <zlib.h>

#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::protocol {

class Inflater {
 public:
  using Sink = std::function<Result<void>(std::string_view)>;
  explicit Inflater(uint64_t max_output);
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // Inflates `in` (gzip members may be concatenated) and passes output to sink.
  Result<void> Feed(std::string_view in, const Sink& sink);
  // Fails if the stream stopped inside a member.
  Result<void> Finish();

 private:
  z_stream zs_{};
  bool ok_ = false;
  bool in_member_ = false;
  uint64_t max_output_;
  uint64_t produced_ = 0;
};

class Deflater {
 public:
  Deflater();  // gzip format, level 6
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;
  // Compresses `in`; with finish, also flushes the gzip trailer.
  Result<std::string> Compress(std::string_view in, bool finish);

 private:
  z_stream zs_{};
  bool ok_ = false;
};

// Whether an Accept-Encoding header value admits gzip.
bool AcceptsGzip(std::string_view accept_encoding);

}  // namespace sbx::protocol
