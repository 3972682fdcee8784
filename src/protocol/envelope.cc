// Connect envelope encoder and incremental decoder.
#include "protocol/envelope.h"

#include <algorithm>

namespace sbx::protocol {

std::string EncodeEnvelope(uint8_t flags, std::string_view payload) {
  std::string out;
  out.reserve(kEnvelopeHeaderSize + payload.size());
  const auto n = static_cast<uint32_t>(payload.size());
  out.push_back(static_cast<char>(flags));
  out.push_back(static_cast<char>((n >> 24) & 0xff));
  out.push_back(static_cast<char>((n >> 16) & 0xff));
  out.push_back(static_cast<char>((n >> 8) & 0xff));
  out.push_back(static_cast<char>(n & 0xff));
  out.append(payload);
  return out;
}

Result<void> EnvelopeDecoder::Feed(std::string_view data, std::vector<Envelope>* out) {
  if (failed_) return MakeError(ErrorCode::kInvalidArgument, "envelope stream already failed");
  while (!data.empty()) {
    if (!in_payload_) {
      const size_t take = std::min(kEnvelopeHeaderSize - header_len_, data.size());
      std::copy_n(data.data(), take, header_ + header_len_);
      header_len_ += take;
      data.remove_prefix(take);
      if (header_len_ < kEnvelopeHeaderSize) break;
      const uint8_t flags = header_[0];
      const size_t len = (size_t{header_[1]} << 24) | (size_t{header_[2]} << 16) |
                         (size_t{header_[3]} << 8) | size_t{header_[4]};
      if (flags & kFlagCompressed) {
        failed_ = true;
        return MakeError(ErrorCode::kInvalidArgument,
                         "compressed envelope (flag 0x01) is not supported");
      }
      if (flags & ~(kFlagCompressed | kFlagEndStream)) {
        failed_ = true;
        return MakeError(ErrorCode::kInvalidArgument,
                         "envelope has unknown flags 0x" + std::to_string(flags));
      }
      if (len > max_payload_) {
        failed_ = true;
        return MakeError(ErrorCode::kResourceExhausted,
                         "envelope of " + std::to_string(len) + " bytes exceeds the limit of " +
                             std::to_string(max_payload_));
      }
      current_ = Envelope{flags, {}};
      current_.payload.reserve(len);
      need_ = len;
      in_payload_ = true;
      header_len_ = 0;
    }
    const size_t take = std::min(need_, data.size());
    current_.payload.append(data.data(), take);
    need_ -= take;
    data.remove_prefix(take);
    if (need_ == 0) {
      out->push_back(std::move(current_));
      current_ = Envelope{};
      in_payload_ = false;
    }
  }
  return Ok();
}

Result<std::string> DecodeSingleEnvelope(std::string_view body, size_t max_payload) {
  EnvelopeDecoder decoder(max_payload);
  std::vector<Envelope> frames;
  RETURN_IF_ERROR(decoder.Feed(body, &frames));
  if (!decoder.idle()) {
    return MakeError(ErrorCode::kInvalidArgument, "truncated envelope in request body");
  }
  if (frames.size() != 1 || frames[0].end_stream()) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "request body must hold exactly one data envelope, got " +
                         std::to_string(frames.size()) + " frames");
  }
  return std::move(frames[0].payload);
}

}  // namespace sbx::protocol
