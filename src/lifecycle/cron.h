// Cron: 5-field cron expressions (minute hour day-of-month month day-of-week), evaluated in UTC
// at minute resolution. Pure: parsing and "the next time after t", with no clock of its own.
//
// Each field: `*`, a value, a range `a-b`, a step `*/n` or `a-b/n` or `a/n` (from a to the
// end), or a comma list of those. Months take jan..dec, weekdays sun..sat (0 and 7 are both
// Sunday), in any case. Macros: @yearly (@annually), @monthly, @weekly, @daily (@midnight),
// @hourly. As in Vixie cron, when both day-of-month and day-of-week are restricted (neither
// starts with `*`), a day matches if EITHER matches.
//
// Thread safety: a parsed CronExpr is immutable; share it freely.
#pragma once

#include <bitset>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/result.h"

namespace sbx::lifecycle {

class CronExpr {
 public:
  // kInvalidArgument naming the field: "cron: minute: 61 is out of range 0-59".
  static Result<CronExpr> Parse(std::string_view text);

  // Does the minute containing unix time t_s match?
  bool Matches(int64_t t_s) const;
  // The first matching minute strictly after t_s (unix seconds, UTC); nullopt if none within
  // the next 5 years (e.g. "0 0 30 2 *").
  std::optional<int64_t> Next(int64_t t_s) const;
  const std::string& text() const { return text_; }

 private:
  bool DayMatches(int mday, int month, int wday) const;

  std::string text_;
  std::bitset<60> minutes_;
  std::bitset<24> hours_;
  std::bitset<32> mdays_;   // 1..31
  std::bitset<13> months_;  // 1..12
  std::bitset<8> wdays_;    // 0..6 (7 folded into 0)
  bool mday_star_ = false;
  bool wday_star_ = false;
};

}  // namespace sbx::lifecycle
