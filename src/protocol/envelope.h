// Connect streaming envelopes: 1 flag byte + 4-byte big-endian payload length + payload.
// EnvelopeDecoder is a pure incremental state machine: feed it bytes as they arrive, in any
// chunking, and it yields complete frames. Compressed frames (flag 0x01) and oversized frames
// are rejected with kInvalidArgument / kResourceExhausted; after an error the decoder stays
// failed.
//
// Thread safety: an EnvelopeDecoder is not synchronised; use one per stream.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/result.h"

namespace sbx::protocol {

inline constexpr uint8_t kFlagData = 0x00;
inline constexpr uint8_t kFlagCompressed = 0x01;
inline constexpr uint8_t kFlagEndStream = 0x02;
inline constexpr size_t kEnvelopeHeaderSize = 5;
inline constexpr size_t kDefaultMaxEnvelope = 16u << 20;  // 16 MiB

struct Envelope {
  uint8_t flags = kFlagData;
  std::string payload;
  bool end_stream() const { return (flags & kFlagEndStream) != 0; }
};

// Frames payload with the given flags.
std::string EncodeEnvelope(uint8_t flags, std::string_view payload);
inline std::string EncodeData(std::string_view payload) {
  return EncodeEnvelope(kFlagData, payload);
}
inline std::string EncodeEndStream(std::string_view payload) {
  return EncodeEnvelope(kFlagEndStream, payload);
}

class EnvelopeDecoder {
 public:
  explicit EnvelopeDecoder(size_t max_payload = kDefaultMaxEnvelope) : max_payload_(max_payload) {}

  // Consumes all of data and appends every completed frame to *out (frames completed before
  // an error are still appended).
  Result<void> Feed(std::string_view data, std::vector<Envelope>* out);

  // True when no partial frame is buffered (a stream may end cleanly here).
  bool idle() const { return header_len_ == 0 && !in_payload_; }
  bool failed() const { return failed_; }

 private:
  size_t max_payload_;
  unsigned char header_[kEnvelopeHeaderSize] = {};
  size_t header_len_ = 0;
  bool in_payload_ = false;
  size_t need_ = 0;
  Envelope current_;
  bool failed_ = false;
};

// Decodes a body that must hold exactly one data envelope (a Connect server-streaming request).
Result<std::string> DecodeSingleEnvelope(std::string_view body,
                                         size_t max_payload = kDefaultMaxEnvelope);

}  // namespace sbx::protocol
