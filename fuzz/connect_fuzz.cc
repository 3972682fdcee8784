// Fuzzes the agent protocol decoders that face untrusted bytes: the Connect envelope decoder
// (fed in two chunks at a fuzzer-chosen split), the multipart/form-data parser and base64.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "protocol/base64.h"
#include "protocol/envelope.h"
#include "protocol/multipart.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  std::string_view in(reinterpret_cast<const char*>(data) + 2, size - 2);
  size_t split = data[1] % (in.size() + 1);
  switch (data[0] % 3) {
    case 0: {
      sbx::protocol::EnvelopeDecoder dec(1 << 16);
      std::vector<sbx::protocol::Envelope> frames;
      if (dec.Feed(in.substr(0, split), &frames).ok()) (void)dec.Feed(in.substr(split), &frames);
      (void)sbx::protocol::DecodeSingleEnvelope(in, 1 << 16);
      break;
    }
    case 1: {
      size_t total = 0;
      sbx::protocol::MultipartCallbacks cb;
      cb.on_part_begin = [](const sbx::protocol::PartHeaders&) { return sbx::Ok(); };
      cb.on_part_data = [&total](std::string_view d) {
        total += d.size();
        return sbx::Ok();
      };
      cb.on_part_end = [] { return sbx::Ok(); };
      sbx::protocol::MultipartParser parser("XyZboundary", cb);
      if (parser.Feed(in.substr(0, split)).ok() && parser.Feed(in.substr(split)).ok())
        (void)parser.Finish();
      if (total > in.size()) __builtin_trap();  // a part can never hold more than the body
      (void)sbx::protocol::MultipartBoundary(in.substr(0, split));
      break;
    }
    case 2: {
      auto decoded = sbx::protocol::Base64Decode(in);
      if (decoded.ok() && sbx::protocol::Base64Decode(sbx::protocol::Base64Encode(*decoded)).value() != *decoded)
        __builtin_trap();  // round trip must hold
      break;
    }
  }
  return 0;
}
