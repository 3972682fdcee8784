// zlib-based gzip streaming.
#include "protocol/gzip.h"

#include <cctype>

namespace sbx::protocol {

Inflater::Inflater(uint64_t max_output) : max_output_(max_output) {
  ok_ = inflateInit2(&zs_, 15 + 16) == Z_OK;
}

Inflater::~Inflater() {
  if (ok_) inflateEnd(&zs_);
}

Result<void> Inflater::Feed(std::string_view in, const Sink& sink) {
  if (!ok_) return MakeError(ErrorCode::kInternal, "inflateInit failed");
  char out[64 * 1024];
  zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs_.avail_in = static_cast<uInt>(in.size());
  while (zs_.avail_in > 0) {
    zs_.next_out = reinterpret_cast<Bytef*>(out);
    zs_.avail_out = sizeof out;
    in_member_ = true;
    int rc = inflate(&zs_, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END && rc != Z_BUF_ERROR) {
      return MakeError(ErrorCode::kInvalidArgument,
                       std::string("bad gzip body: ") + (zs_.msg ? zs_.msg : "inflate error"));
    }
    const size_t n = sizeof out - zs_.avail_out;
    produced_ += n;
    if (produced_ > max_output_) {
      return MakeError(ErrorCode::kResourceExhausted,
                       "gzip body inflates beyond " + std::to_string(max_output_) + " bytes");
    }
    if (n > 0) RETURN_IF_ERROR(sink(std::string_view(out, n)));
    if (rc == Z_STREAM_END) {
      in_member_ = false;
      inflateReset(&zs_);  // a following gzip member continues the stream
    } else if (rc == Z_BUF_ERROR && n == 0) {
      break;
    }
  }
  // Output may still be pending inside zlib with no input left.
  while (in_member_) {
    zs_.next_out = reinterpret_cast<Bytef*>(out);
    zs_.avail_out = sizeof out;
    int rc = inflate(&zs_, Z_NO_FLUSH);
    const size_t n = sizeof out - zs_.avail_out;
    if (n == 0) break;
    produced_ += n;
    if (produced_ > max_output_) {
      return MakeError(ErrorCode::kResourceExhausted,
                       "gzip body inflates beyond " + std::to_string(max_output_) + " bytes");
    }
    RETURN_IF_ERROR(sink(std::string_view(out, n)));
    if (rc == Z_STREAM_END) {
      in_member_ = false;
      inflateReset(&zs_);
    } else if (rc != Z_OK) {
      break;
    }
  }
  return Ok();
}

Result<void> Inflater::Finish() {
  if (in_member_) return MakeError(ErrorCode::kInvalidArgument, "truncated gzip body");
  return Ok();
}

Deflater::Deflater() {
  ok_ = deflateInit2(&zs_, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
}

Deflater::~Deflater() {
  if (ok_) deflateEnd(&zs_);
}

Result<std::string> Deflater::Compress(std::string_view in, bool finish) {
  if (!ok_) return MakeError(ErrorCode::kInternal, "deflateInit failed");
  std::string out;
  char buf[64 * 1024];
  zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
  zs_.avail_in = static_cast<uInt>(in.size());
  while (true) {
    zs_.next_out = reinterpret_cast<Bytef*>(buf);
    zs_.avail_out = sizeof buf;
    int rc = deflate(&zs_, finish ? Z_FINISH : Z_NO_FLUSH);
    if (rc == Z_STREAM_ERROR) return MakeError(ErrorCode::kInternal, "deflate failed");
    out.append(buf, sizeof buf - zs_.avail_out);
    if (finish ? rc == Z_STREAM_END : (zs_.avail_in == 0 && zs_.avail_out != 0)) break;
  }
  return out;
}

bool AcceptsGzip(std::string_view v) {
  size_t i = 0;
  while (i < v.size()) {
    size_t end = v.find(',', i);
    if (end == std::string_view::npos) end = v.size();
    std::string_view item = v.substr(i, end - i);
    i = end + 1;
    std::string token;
    size_t semi = item.find(';');
    for (char c : item.substr(0, semi)) {
      if (c != ' ' && c != '\t') token.push_back(static_cast<char>(std::tolower(c)));
    }
    if (token != "gzip" && token != "*") continue;
    if (semi != std::string_view::npos) {
      std::string params;
      for (char c : item.substr(semi + 1)) {
        if (c != ' ' && c != '\t') params.push_back(c);
      }
      if (params == "q=0" || params == "q=0.0" || params == "q=0.00" || params == "q=0.000") {
        continue;
      }
    }
    return true;
  }
  return false;
}

}  // namespace sbx::protocol
