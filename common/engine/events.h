// Event rules: bonuses that come from something happening to the member rather than a basket.
#pragma once

#include <optional>

#include "common/clock.h"
#include "common/program.h"
#include "common/time_zone.h"

namespace accrue {

Points enrolment_bonus(const Program& program);

struct BirthdayFacts {
  int month = 0;  // 1..12; 0 = unknown birthday
  int day = 0;
  std::optional<int> last_awarded_year;  // local year of the last birthday bonus
  TimestampMs now_ms = 0;
};

struct BirthdayBonus {
  Points points = 0;
  int year = 0;  // local year the bonus belongs to, to remember as last_awarded_year
};

// The birthday bonus is due on the member's birthday in the store's local time (29 February
// counts on 28 February in other years), once per local year. Returns nullopt when none is due.
std::optional<BirthdayBonus> birthday_bonus(const Program& program, const TimeZone& zone,
                                            const BirthdayFacts& facts);

struct AnniversaryFacts {
  TimestampMs enrolled_at_ms = 0;
  std::optional<int> last_awarded_year;  // local year of the last anniversary bonus
  TimestampMs now_ms = 0;
};

// The anniversary bonus is due on each anniversary of the enrolment's local date (from the
// first; an enrolment on 29 February counts on 28 February in other years), once per local
// year. The bonus's `year` is the anniversary's local year. Returns nullopt when none is due.
std::optional<BirthdayBonus> anniversary_bonus(const Program& program, const TimeZone& zone,
                                               const AnniversaryFacts& facts);

}  // namespace accrue
