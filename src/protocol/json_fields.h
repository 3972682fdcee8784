// Exception-free access to protobuf-JSON request fields. nlohmann::json throws on type
// mismatches; these helpers check types and return kInvalidArgument naming the field. They
// follow the protobuf JSON mapping: null means "absent", integers may be numbers or decimal
// strings, and both the lowerCamel and the proto (snake_case) field names are accepted.
//
// Thread safety: pure functions.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "common/result.h"

namespace sbx::protocol {

using Json = nlohmann::json;

// Parses a request body that must be a JSON object; an empty body is {}.
Result<Json> ParseJsonObject(std::string_view body);

// Serialises without throwing: invalid UTF-8 in strings (file names) is replaced by U+FFFD.
std::string DumpJson(const Json& j);

// Looks up `camel`, then `snake` when given. Returns null when absent or JSON null.
const Json* FindField(const Json& obj, std::string_view camel, std::string_view snake = {});

Result<std::optional<std::string>> OptString(const Json& obj, std::string_view camel,
                                             std::string_view snake = {});
Result<std::optional<bool>> OptBool(const Json& obj, std::string_view camel,
                                    std::string_view snake = {});
// An unsigned integer no larger than max (number or decimal string).
Result<std::optional<uint64_t>> OptUint(const Json& obj, std::string_view camel, uint64_t max,
                                        std::string_view snake = {});
// A JSON object field (absent or null gives nullptr).
Result<const Json*> OptObject(const Json& obj, std::string_view camel,
                              std::string_view snake = {});
Result<std::vector<std::string>> StringList(const Json& obj, std::string_view camel,
                                            std::string_view snake = {});
Result<std::map<std::string, std::string>> StringMap(const Json& obj, std::string_view camel,
                                                     std::string_view snake = {});

}  // namespace sbx::protocol
