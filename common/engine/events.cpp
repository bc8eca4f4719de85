#include "common/engine/events.h"

#include "common/civil_time.h"

namespace accrue {

Points enrolment_bonus(const Program& program) {
  return program.event_rules.enrolment_bonus_points;
}

std::optional<BirthdayBonus> birthday_bonus(const Program& program, const TimeZone& zone,
                                            const BirthdayFacts& f) {
  if (program.event_rules.birthday_bonus_points <= 0) return std::nullopt;
  if (f.month < 1 || f.month > 12 || f.day < 1 || f.day > days_in_month(2000, f.month)) {
    return std::nullopt;
  }
  CivilDate today = civil_from_days(day_of_ms(zone.to_local_ms(f.now_ms)));
  int day = f.day;
  if (f.month == 2 && f.day == 29 && !is_leap_year(today.year)) day = 28;
  if (today.month != f.month || today.day != day) return std::nullopt;
  if (f.last_awarded_year && *f.last_awarded_year >= today.year) return std::nullopt;
  return BirthdayBonus{program.event_rules.birthday_bonus_points, today.year};
}

std::optional<BirthdayBonus> anniversary_bonus(const Program& program, const TimeZone& zone,
                                               const AnniversaryFacts& f) {
  if (program.event_rules.anniversary_bonus_points <= 0) return std::nullopt;
  const CivilDate enrolled = civil_from_days(day_of_ms(zone.to_local_ms(f.enrolled_at_ms)));
  const CivilDate today = civil_from_days(day_of_ms(zone.to_local_ms(f.now_ms)));
  if (today.year <= enrolled.year) return std::nullopt;
  int day = enrolled.day;
  if (enrolled.month == 2 && enrolled.day == 29 && !is_leap_year(today.year)) day = 28;
  if (today.month != enrolled.month || today.day != day) return std::nullopt;
  if (f.last_awarded_year && *f.last_awarded_year >= today.year) return std::nullopt;
  return BirthdayBonus{program.event_rules.anniversary_bonus_points, today.year};
}

}  // namespace accrue
