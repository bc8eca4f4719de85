// The scheduler's daily jobs (cloud/core/scheduler.h), in the order they run each day:
//   claims             provisional points whose card has an owner now (cloud/core/claims.h)
//   expiry             lots past their expiry give up what remains (cloud/core/expiry.h)
//   tiers              the daily tier pass: downgrades after the grace (cloud/core/tiers.h)
//   birthday_bonus     the programme's birthday bonus to active members born on the day
//   anniversary_bonus  the anniversary bonus to active members enrolled on the day, years ago
// Bonuses are head-office adjustments (ledger kind 5, reason "birthday bonus 2026", actor
// "scheduler") booked through ingestion, so lots, balances, webhooks, the feed and the cache
// follow the usual path. Their event id is fixed by member, kind and year: a day run twice, or a
// birthday edited into a later day of the same year, books nothing twice. Days are
// programme-local, and so are birthdays and enrolment dates (the domain core decides, 29
// February counting on 28 February in other years).
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "cloud/core/scheduler.h"
#include "cloud/sync/ingest.h"
#include "common/uuid.h"

namespace accrue::cloud {

struct DailyJobDeps {
  const Clock& clock;
  Random& random;
  Ingest& ingest;
  // The members a job changed outside ingestion (expiry, tiers): the cache drops them.
  std::function<void(const std::vector<std::string>&)> invalidate;
};

std::vector<DailyJob> daily_jobs(DailyJobDeps deps);

enum class BonusKind { kBirthday, kAnniversary };

// The event id of a member's bonus of `kind` for `year`: a UUIDv7 whose time is 1 January of
// that year (UTC) and whose other bits come from SHA-256 of the three, so it is the same on
// every replica and every run.
Uuid bonus_event_id(BonusKind kind, std::string_view customer_id, int year);

}  // namespace accrue::cloud
