// Base64 as protobuf JSON uses it for `bytes`: encoding is standard with padding; decoding
// accepts the standard and the URL-safe alphabet, with or without padding.
//
// Thread safety: pure functions.
#pragma once

#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::protocol {

std::string Base64Encode(std::string_view data);
std::string Base64UrlEncode(std::string_view data, bool pad = false);
// kInvalidArgument names the offending position on bad characters or a bad length.
Result<std::string> Base64Decode(std::string_view text);

}  // namespace sbx::protocol
