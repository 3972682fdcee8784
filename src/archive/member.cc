// Member name checks (see member.h).
#include "archive/member.h"

namespace sbx::archive {

const char* MemberTypeName(MemberType type) {
  return type == MemberType::kDirectory ? "directory" : "file";
}

Result<std::string> CleanMemberName(std::string_view raw) {
  auto refuse = [&](const std::string& why) {
    return MakeError(ErrorCode::kInvalidArgument,
                     "archive member '" + std::string(raw.substr(0, 512)) + "' refused: " + why);
  };
  if (raw.empty()) return refuse("empty name");
  if (raw.size() > kMaxNameBytes)
    return refuse("name longer than " + std::to_string(kMaxNameBytes) + " bytes");
  if (raw.find('\0') != std::string_view::npos) return refuse("NUL byte in the name");
  if (raw[0] == '/') return refuse("absolute name (names are relative to the target directory)");
  std::string out;
  size_t i = 0;
  while (i <= raw.size()) {
    size_t j = raw.find('/', i);
    if (j == std::string_view::npos) j = raw.size();
    std::string_view part = raw.substr(i, j - i);
    i = j + 1;
    if (part.empty() || part == ".") continue;
    if (part == "..") return refuse("'..' component (would leave the target directory)");
    if (part.size() > kMaxComponentBytes)
      return refuse("a component longer than " + std::to_string(kMaxComponentBytes) + " bytes");
    if (!out.empty()) out += '/';
    out.append(part);
  }
  return out;
}

std::string_view NameParent(std::string_view name) {
  size_t at = name.rfind('/');
  return at == std::string_view::npos ? std::string_view() : name.substr(0, at);
}

std::string_view NameBase(std::string_view name) {
  size_t at = name.rfind('/');
  return at == std::string_view::npos ? name : name.substr(at + 1);
}

}  // namespace sbx::archive
