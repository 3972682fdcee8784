// The cron parser and the next-time search (see cron.h).
#include "lifecycle/cron.h"

#include <time.h>

#include <cctype>
#include <vector>

namespace sbx::lifecycle {
namespace {

constexpr const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                   "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr const char* kDays[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

struct FieldSpec {
  const char* name;
  int lo, hi;
  const char* const* names;  // nullptr, or names for lo.. (months from 1, days from 0)
  int n_names;
};

Error Bad(const FieldSpec& f, const std::string& why) {
  return MakeError(ErrorCode::kInvalidArgument, std::string("cron: ") + f.name + ": " + why);
}

Result<int> Value(const FieldSpec& f, const std::string& tok) {
  if (tok.empty()) return Bad(f, "empty value");
  if (std::isdigit(static_cast<unsigned char>(tok[0]))) {
    for (char c : tok)
      if (!std::isdigit(static_cast<unsigned char>(c)))
        return Bad(f, "'" + tok + "' is not a number");
    if (tok.size() > 4) return Bad(f, tok + " is out of range");
    int v = std::stoi(tok);
    if (v < f.lo || v > f.hi)
      return Bad(f, tok + " is out of range " + std::to_string(f.lo) + "-" + std::to_string(f.hi));
    return v;
  }
  std::string lower;
  for (char c : tok) lower += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (int i = 0; i < f.n_names; ++i)
    if (lower == f.names[i]) return f.names == kMonths ? i + 1 : i;
  return Bad(f, "'" + tok + "' is not a value");
}

std::vector<std::string> Split(std::string_view s, char sep) {
  std::vector<std::string> out;
  size_t start = 0;
  while (true) {
    size_t p = s.find(sep, start);
    out.emplace_back(s.substr(start, p == std::string_view::npos ? s.npos : p - start));
    if (p == std::string_view::npos) return out;
    start = p + 1;
  }
}

// Sets bits lo..hi of `bits` for one field; `star` is set when the field starts with '*'.
template <size_t N>
Result<void> ParseField(const FieldSpec& f, const std::string& text, std::bitset<N>* bits,
                        bool* star) {
  *star = !text.empty() && text[0] == '*';
  for (const std::string& part : Split(text, ',')) {
    std::string range = part;
    int step = 1;
    size_t slash = part.find('/');
    if (slash != std::string::npos) {
      range = part.substr(0, slash);
      std::string st = part.substr(slash + 1);
      if (st.empty() || st.size() > 4 || st.find_first_not_of("0123456789") != std::string::npos ||
          std::stoi(st) == 0)
        return Bad(f, "bad step in '" + part + "'");
      step = std::stoi(st);
    }
    int lo, hi;
    if (range == "*") {
      lo = f.lo;
      hi = f.hi;
    } else {
      size_t dash = range.find('-');
      if (dash == std::string::npos) {
        ASSIGN_OR_RETURN(lo, Value(f, range));
        hi = slash != std::string::npos ? f.hi : lo;  // "a/n": from a to the end
      } else {
        ASSIGN_OR_RETURN(lo, Value(f, range.substr(0, dash)));
        ASSIGN_OR_RETURN(hi, Value(f, range.substr(dash + 1)));
        if (hi < lo) return Bad(f, "range '" + range + "' goes backwards");
      }
    }
    for (int v = lo; v <= hi; v += step) bits->set(static_cast<size_t>(v));
  }
  return Ok();
}

}  // namespace

Result<CronExpr> CronExpr::Parse(std::string_view text) {
  std::string t(text);
  while (!t.empty() && std::isspace(static_cast<unsigned char>(t.back()))) t.pop_back();
  size_t first = t.find_first_not_of(" \t");
  t = first == std::string::npos ? "" : t.substr(first);
  std::string expanded = t;
  if (t == "@yearly" || t == "@annually")
    expanded = "0 0 1 1 *";
  else if (t == "@monthly")
    expanded = "0 0 1 * *";
  else if (t == "@weekly")
    expanded = "0 0 * * 0";
  else if (t == "@daily" || t == "@midnight")
    expanded = "0 0 * * *";
  else if (t == "@hourly")
    expanded = "0 * * * *";
  else if (!t.empty() && t[0] == '@')
    return MakeError(ErrorCode::kInvalidArgument, "cron: unknown macro '" + t + "'");
  std::vector<std::string> fields;
  std::string cur;
  for (char c : expanded) {
    if (c == ' ' || c == '\t') {
      if (!cur.empty()) fields.push_back(cur);
      cur.clear();
    } else {
      cur += c;
    }
  }
  if (!cur.empty()) fields.push_back(cur);
  if (fields.size() != 5)
    return MakeError(ErrorCode::kInvalidArgument,
                     "cron: '" + t + "' must have 5 fields (minute hour day month weekday)");
  CronExpr e;
  e.text_ = t;
  bool unused;
  RETURN_IF_ERROR(
      ParseField(FieldSpec{"minute", 0, 59, nullptr, 0}, fields[0], &e.minutes_, &unused));
  RETURN_IF_ERROR(ParseField(FieldSpec{"hour", 0, 23, nullptr, 0}, fields[1], &e.hours_, &unused));
  RETURN_IF_ERROR(ParseField(FieldSpec{"day of month", 1, 31, nullptr, 0}, fields[2], &e.mdays_,
                             &e.mday_star_));
  RETURN_IF_ERROR(
      ParseField(FieldSpec{"month", 1, 12, kMonths, 12}, fields[3], &e.months_, &unused));
  std::bitset<8> wd;
  RETURN_IF_ERROR(
      ParseField(FieldSpec{"day of week", 0, 7, kDays, 7}, fields[4], &wd, &e.wday_star_));
  if (wd.test(7)) wd.set(0);
  wd.reset(7);
  e.wdays_ = wd;
  return e;
}

bool CronExpr::DayMatches(int mday, int month, int wday) const {
  if (!months_.test(static_cast<size_t>(month))) return false;
  bool dom = mdays_.test(static_cast<size_t>(mday));
  bool dow = wdays_.test(static_cast<size_t>(wday));
  if (mday_star_ || wday_star_) return dom && dow;
  return dom || dow;
}

bool CronExpr::Matches(int64_t t_s) const {
  time_t t = static_cast<time_t>(t_s);
  struct tm tm;
  gmtime_r(&t, &tm);
  return minutes_.test(static_cast<size_t>(tm.tm_min)) &&
         hours_.test(static_cast<size_t>(tm.tm_hour)) &&
         DayMatches(tm.tm_mday, tm.tm_mon + 1, tm.tm_wday);
}

std::optional<int64_t> CronExpr::Next(int64_t t_s) const {
  int64_t t = (t_s / 60 + 1) * 60;  // the next whole minute
  const int64_t limit = t + 5LL * 366 * 24 * 3600;
  while (t <= limit) {
    time_t tt = static_cast<time_t>(t);
    struct tm tm;
    gmtime_r(&tt, &tm);
    if (!DayMatches(tm.tm_mday, tm.tm_mon + 1, tm.tm_wday)) {
      tm.tm_mday += 1;  // midnight of the next day
      tm.tm_hour = tm.tm_min = tm.tm_sec = 0;
      t = static_cast<int64_t>(timegm(&tm));
      continue;
    }
    if (!hours_.test(static_cast<size_t>(tm.tm_hour))) {
      tm.tm_hour += 1;
      tm.tm_min = tm.tm_sec = 0;
      t = static_cast<int64_t>(timegm(&tm));
      continue;
    }
    if (!minutes_.test(static_cast<size_t>(tm.tm_min))) {
      t += 60;
      continue;
    }
    return t;
  }
  return std::nullopt;
}

}  // namespace sbx::lifecycle
