// Type-checked protobuf-JSON field access.
#include "protocol/json_fields.h"

#include <charconv>

namespace sbx::protocol {
namespace {

Error TypeError(std::string_view field, const char* want) {
  return MakeError(ErrorCode::kInvalidArgument,
                   "field '" + std::string(field) + "' must be " + want);
}

}  // namespace

Result<Json> ParseJsonObject(std::string_view body) {
  if (body.find_first_not_of(" \t\r\n") == std::string_view::npos) return Json::object();
  Json j = Json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return MakeError(ErrorCode::kInvalidArgument, "malformed JSON body");
  if (!j.is_object()) {
    return MakeError(ErrorCode::kInvalidArgument, "JSON body must be an object");
  }
  return j;
}

std::string DumpJson(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

const Json* FindField(const Json& obj, std::string_view camel, std::string_view snake) {
  if (!obj.is_object()) return nullptr;
  auto it = obj.find(camel);
  if (it == obj.end() && !snake.empty()) it = obj.find(snake);
  if (it == obj.end() || it->is_null()) return nullptr;
  return &*it;
}

Result<std::optional<std::string>> OptString(const Json& obj, std::string_view camel,
                                             std::string_view snake) {
  const Json* v = FindField(obj, camel, snake);
  if (v == nullptr) return std::optional<std::string>();
  if (!v->is_string()) return TypeError(camel, "a string");
  return std::optional<std::string>(v->get<std::string>());
}

Result<std::optional<bool>> OptBool(const Json& obj, std::string_view camel,
                                    std::string_view snake) {
  const Json* v = FindField(obj, camel, snake);
  if (v == nullptr) return std::optional<bool>();
  if (!v->is_boolean()) return TypeError(camel, "a boolean");
  return std::optional<bool>(v->get<bool>());
}

Result<std::optional<uint64_t>> OptUint(const Json& obj, std::string_view camel, uint64_t max,
                                        std::string_view snake) {
  const Json* v = FindField(obj, camel, snake);
  if (v == nullptr) return std::optional<uint64_t>();
  uint64_t out = 0;
  if (v->is_number_unsigned()) {
    out = v->get<uint64_t>();
  } else if (v->is_number_integer()) {
    if (v->get<int64_t>() < 0) return TypeError(camel, "a non-negative integer");
    out = static_cast<uint64_t>(v->get<int64_t>());
  } else if (v->is_number_float()) {
    const double d = v->get<double>();
    if (d < 0 || d != static_cast<double>(static_cast<uint64_t>(d))) {
      return TypeError(camel, "a non-negative integer");
    }
    out = static_cast<uint64_t>(d);
  } else if (v->is_string()) {
    const auto& s = v->get_ref<const std::string&>();
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), out);
    if (s.empty() || ec != std::errc() || ptr != s.data() + s.size()) {
      return TypeError(camel, "an unsigned integer");
    }
  } else {
    return TypeError(camel, "an unsigned integer");
  }
  if (out > max) {
    return MakeError(ErrorCode::kInvalidArgument, "field '" + std::string(camel) +
                                                      "' is larger than " + std::to_string(max));
  }
  return std::optional<uint64_t>(out);
}

Result<const Json*> OptObject(const Json& obj, std::string_view camel, std::string_view snake) {
  const Json* v = FindField(obj, camel, snake);
  if (v == nullptr) return static_cast<const Json*>(nullptr);
  if (!v->is_object()) return TypeError(camel, "an object");
  return v;
}

Result<std::vector<std::string>> StringList(const Json& obj, std::string_view camel,
                                            std::string_view snake) {
  std::vector<std::string> out;
  const Json* v = FindField(obj, camel, snake);
  if (v == nullptr) return out;
  if (!v->is_array()) return TypeError(camel, "an array of strings");
  for (const auto& e : *v) {
    if (!e.is_string()) return TypeError(camel, "an array of strings");
    out.push_back(e.get<std::string>());
  }
  return out;
}

Result<std::map<std::string, std::string>> StringMap(const Json& obj, std::string_view camel,
                                                     std::string_view snake) {
  std::map<std::string, std::string> out;
  const Json* v = FindField(obj, camel, snake);
  if (v == nullptr) return out;
  if (!v->is_object()) return TypeError(camel, "an object of strings");
  for (auto it = v->begin(); it != v->end(); ++it) {
    if (!it.value().is_string()) return TypeError(camel, "an object of strings");
    out[it.key()] = it.value().get<std::string>();
  }
  return out;
}

}  // namespace sbx::protocol
