#include "lifecycle/cron.h"

#include <gtest/gtest.h>
#include <time.h>

#include "lifecycle/scheduler.h"

namespace sbx::lifecycle {
namespace {

int64_t At(int y, int mo, int d, int h, int mi) {
  struct tm tm {};
  tm.tm_year = y - 1900;
  tm.tm_mon = mo - 1;
  tm.tm_mday = d;
  tm.tm_hour = h;
  tm.tm_min = mi;
  return static_cast<int64_t>(timegm(&tm));
}

CronExpr P(const char* s) {
  auto c = CronExpr::Parse(s);
  EXPECT_TRUE(c.ok()) << s << ": " << (c.ok() ? "" : c.error().message);
  return *c;
}

TEST(Cron, EveryMinuteAndStrictNext) {
  auto c = P("* * * * *");
  EXPECT_EQ(*c.Next(At(2026, 1, 1, 0, 0)), At(2026, 1, 1, 0, 1));
  EXPECT_EQ(*c.Next(At(2026, 1, 1, 0, 0) + 59), At(2026, 1, 1, 0, 1));
}

TEST(Cron, RangesStepsAndLists) {
  auto c = P("*/15 9-17 * * *");
  EXPECT_EQ(*c.Next(At(2026, 3, 2, 8, 59)), At(2026, 3, 2, 9, 0));
  EXPECT_EQ(*c.Next(At(2026, 3, 2, 9, 0)), At(2026, 3, 2, 9, 15));
  EXPECT_EQ(*c.Next(At(2026, 3, 2, 17, 45)), At(2026, 3, 3, 9, 0));
  auto l = P("5,10,50-52 * * * *");
  EXPECT_EQ(*l.Next(At(2026, 1, 1, 0, 5)), At(2026, 1, 1, 0, 10));
  EXPECT_EQ(*l.Next(At(2026, 1, 1, 0, 10)), At(2026, 1, 1, 0, 50));
  EXPECT_EQ(*l.Next(At(2026, 1, 1, 0, 52)), At(2026, 1, 1, 1, 5));
  auto s = P("10-40/10 * * * *");
  EXPECT_TRUE(s.Matches(At(2026, 1, 1, 0, 30)));
  EXPECT_FALSE(s.Matches(At(2026, 1, 1, 0, 50)));
  auto from = P("50/5 * * * *");  // 50, 55
  EXPECT_EQ(*from.Next(At(2026, 1, 1, 0, 55)), At(2026, 1, 1, 1, 50));
}

TEST(Cron, NamesAndSundayAsSeven) {
  auto c = P("0 12 * JAN,mar Mon-Fri");
  // 2026-01-03 is a Saturday: next is Monday the 5th.
  EXPECT_EQ(*c.Next(At(2026, 1, 3, 0, 0)), At(2026, 1, 5, 12, 0));
  EXPECT_EQ(*c.Next(At(2026, 1, 30, 12, 0)), At(2026, 3, 2, 12, 0));  // Feb skipped
  auto sun = P("0 0 * * 7");
  EXPECT_EQ(*sun.Next(At(2026, 1, 1, 0, 0)), At(2026, 1, 4, 0, 0));
  EXPECT_EQ(P("0 0 * * sun").Next(0), P("0 0 * * 0").Next(0));
}

TEST(Cron, DayOfMonthOrDayOfWeekWhenBothRestricted) {
  auto c = P("0 0 13 * fri");                                      // the 13th, or any Friday
  EXPECT_EQ(*c.Next(At(2026, 2, 1, 0, 0)), At(2026, 2, 6, 0, 0));  // Friday the 6th
  EXPECT_TRUE(c.Matches(At(2026, 2, 13, 0, 0)));
  EXPECT_TRUE(c.Matches(At(2026, 1, 13, 0, 0)));  // a Tuesday, but the 13th
  auto dom_only = P("0 0 13 * *");
  EXPECT_FALSE(dom_only.Matches(At(2026, 2, 6, 0, 0)));
}

TEST(Cron, MacrosLeapDaysAndImpossibleDates) {
  EXPECT_EQ(*P("@hourly").Next(At(2026, 1, 1, 0, 30)), At(2026, 1, 1, 1, 0));
  EXPECT_EQ(*P("@daily").Next(At(2026, 1, 1, 0, 30)), At(2026, 1, 2, 0, 0));
  EXPECT_EQ(*P("@yearly").Next(At(2026, 6, 1, 0, 0)), At(2027, 1, 1, 0, 0));
  EXPECT_EQ(*P("0 0 29 2 *").Next(At(2026, 1, 1, 0, 0)), At(2028, 2, 29, 0, 0));
  EXPECT_FALSE(P("0 0 30 2 *").Next(At(2026, 1, 1, 0, 0)).has_value());
}

TEST(Cron, RejectsBadExpressions) {
  for (const char* bad : {"", "* * * *", "* * * * * *", "60 * * * *", "* 24 * * *", "* * 0 * *",
                          "* * * 13 *", "* * * * 8", "*/0 * * * *", "5-1 * * * *", "a * * * *",
                          "* * * foo *", "@sometimes", "1,,2 * * * *"}) {
    EXPECT_FALSE(CronExpr::Parse(bad).ok()) << bad;
  }
  auto e = CronExpr::Parse("61 * * * *");
  EXPECT_NE(e.error().message.find("minute"), std::string::npos);
}

TEST(Schedule, NothingDueBeforeTheNextFireTime) {
  auto c = P("0 * * * *");
  auto p = PlanSchedule(c, At(2026, 1, 1, 10, 0) * 1000, At(2026, 1, 1, 10, 59) * 1000);
  EXPECT_EQ(p.due, 0);
  EXPECT_EQ(p.missed, 0);
}

TEST(Schedule, OneDueOnTime) {
  auto c = P("0 * * * *");
  auto p = PlanSchedule(c, At(2026, 1, 1, 10, 59) * 1000 + 500, At(2026, 1, 1, 11, 0) * 1000 + 200);
  EXPECT_EQ(p.due, 1);
  EXPECT_EQ(p.missed, 0);
  EXPECT_EQ(p.last_fire_s, At(2026, 1, 1, 11, 0));
  // Handled: the cursor is now past 11:00, so it is not due again.
  EXPECT_EQ(PlanSchedule(c, At(2026, 1, 1, 11, 0) * 1000 + 200, At(2026, 1, 1, 11, 30) * 1000).due,
            0);
}

TEST(Schedule, MissedRunsWhileDown) {
  auto c = P("0 * * * *");
  // Down from 10:30 to 15:10: 11, 12, 13, 14, 15 o'clock were due: one catch-up, four missed.
  auto p = PlanSchedule(c, At(2026, 1, 1, 10, 30) * 1000, At(2026, 1, 1, 15, 10) * 1000);
  EXPECT_EQ(p.due, 5);
  EXPECT_EQ(p.missed, 4);
  EXPECT_EQ(p.last_fire_s, At(2026, 1, 1, 15, 0));
}

}  // namespace
}  // namespace sbx::lifecycle
