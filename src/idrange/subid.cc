// Parsing of id ranges and of subordinate id files.
#include "idrange/subid.h"

#include <charconv>

#include "common/util.h"

namespace sbx::idrange {
namespace {

bool ParseNumber(std::string_view s, uint64_t* out) {
  int base = 10;
  if (s.size() > 2 && s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
    s.remove_prefix(2);
    base = 16;
  }
  if (s.empty()) return false;
  auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), *out, base);
  return ec == std::errc() && p == s.data() + s.size();
}

}  // namespace

std::string IdRange::ToString() const { return std::to_string(start) + ":" + std::to_string(count); }

std::string SubidEntry::ToString() const { return owner + ":" + range.ToString(); }

Result<IdRange> ParseIdRange(std::string_view text, const std::string& what) {
  size_t colon = text.find(':');
  IdRange r;
  if (colon == std::string_view::npos || !ParseNumber(text.substr(0, colon), &r.start) ||
      !ParseNumber(text.substr(colon + 1), &r.count))
    return MakeError(ErrorCode::kInvalidArgument,
                     what + " wants START:COUNT (e.g. 268435456:67108864), got '" +
                         std::string(text) + "'");
  if (r.count == 0 || r.count % kIdsPerSlot != 0)
    return MakeError(ErrorCode::kInvalidArgument,
                     what + " " + r.ToString() + ": COUNT must be a positive multiple of 65536 " +
                         "(each sandbox maps 65536 ids)");
  if (r.start < kIdsPerSlot)
    return MakeError(ErrorCode::kInvalidArgument,
                     what + " " + r.ToString() +
                         ": START must be at least 65536 (the host's own users live below)");
  if (r.start > kIdLimit || r.count > kIdLimit || r.end() > kIdLimit)
    return MakeError(ErrorCode::kInvalidArgument,
                     what + " " + r.ToString() + " ends past 4294967295, the largest host id");
  return r;
}

Result<std::vector<SubidEntry>> ParseSubidFile(std::string_view text, const std::string& path) {
  std::vector<SubidEntry> out;
  int number = 0;
  while (!text.empty()) {
    size_t nl = text.find('\n');
    std::string_view line = text.substr(0, nl);
    text.remove_prefix(nl == std::string_view::npos ? text.size() : nl + 1);
    ++number;
    while (!line.empty() && (line.back() == '\r' || line.back() == ' ' || line.back() == '\t'))
      line.remove_suffix(1);
    if (line.empty() || line[0] == '#') continue;
    size_t a = line.find(':');
    size_t b = a == std::string_view::npos ? a : line.find(':', a + 1);
    SubidEntry e;
    e.line = number;
    if (a == 0 || b == std::string_view::npos ||
        !ParseNumber(line.substr(a + 1, b - a - 1), &e.range.start) ||
        !ParseNumber(line.substr(b + 1), &e.range.count) || e.range.end() > kIdLimit + 1)
      return MakeError(ErrorCode::kInvalidArgument,
                       path + " line " + std::to_string(number) + ": '" + std::string(line) +
                           "' is not owner:start:count");
    e.owner = std::string(line.substr(0, a));
    out.push_back(std::move(e));
  }
  return out;
}

Result<std::vector<SubidEntry>> ReadSubidFile(const std::string& path) {
  auto text = ReadFile(path);
  if (!text.ok()) {
    if (text.error().sys_errno == ENOENT) return std::vector<SubidEntry>{};
    return text.error();
  }
  return ParseSubidFile(*text, path);
}

}  // namespace sbx::idrange
