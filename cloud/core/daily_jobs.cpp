#include "cloud/core/daily_jobs.h"

#include <openssl/sha.h>

#include "cloud/core/claims.h"
#include "cloud/core/customer_status.h"
#include "cloud/core/expiry.h"
#include "cloud/core/tiers.h"
#include "cloud/core/webhooks.h"
#include "cloud/hq/head_office_events.h"
#include "common/civil_time.h"
#include "common/engine/events.h"

namespace accrue::cloud {

namespace {

namespace sv1 = accrue::sync::v1;

// A job's whole run for one day may take this long before it stops (the day stays due and runs
// again on the next round, where it continues: every job is idempotent).
constexpr auto kJobTimeLimit = std::chrono::minutes(30);
constexpr int kBatch = 500;

std::string_view kind_name(BonusKind k) {
  return k == BonusKind::kBirthday ? "birthday" : "anniversary";
}

// Active members (a blocked one earns nothing) whose birthday or enrolment falls on `month` and
// one of `days` in the programme's zone, after `after`, in id order, with the birthday's day or
// the enrolment's instant. $5 is the zone's name, $6 the first instant of the day's year (an
// enrolment that year has no anniversary yet).
std::string candidates_sql(BonusKind kind) {
  const std::string active = std::to_string(to_int(CustomerStatus::kActive));
  if (kind == BonusKind::kBirthday) {
    return "SELECT c.customer_id, p.birthday_day FROM customer c JOIN customer_pii p USING "
           "(customer_id) "
           "WHERE c.status = " +
           active +
           " AND c.customer_id > $1 AND p.birthday_month = $2::int AND p.birthday_day = "
           "ANY($3::int[]) AND $5::text IS NOT NULL AND $6::bigint IS NOT NULL "
           "ORDER BY c.customer_id LIMIT $4::int";
  }
  return "SELECT c.customer_id, (extract(epoch FROM c.enrolled_at)*1000)::bigint FROM customer c "
         "WHERE c.status = " +
         active +
         " AND c.customer_id > $1 AND c.enrolled_at < to_timestamp($6::bigint / 1000.0) AND "
         "extract(month FROM c.enrolled_at AT TIME ZONE $5::text) = $2::int AND "
         "extract(day FROM c.enrolled_at AT TIME ZONE $5::text) = ANY($3::int[]) "
         "ORDER BY c.customer_id LIMIT $4::int";
}

Result<JobCounts> run_bonus(JobRun& run, BonusKind kind, const DailyJobDeps& deps) {
  const Program& program = run.program.program;
  const int64_t points = kind == BonusKind::kBirthday
                             ? program.event_rules.birthday_bonus_points
                             : program.event_rules.anniversary_bonus_points;
  JobCounts counts{{"awarded", 0}, {"already_awarded", 0}, {"rejected", 0}};
  if (points <= 0) return counts;
  const CivilDate date = civil_from_days(run.day);
  // 29 February's members have theirs on 28 February in other years.
  std::string days = "{" + std::to_string(date.day);
  if (date.month == 2 && date.day == 28 && !is_leap_year(date.year)) days += ",29";
  days += "}";
  // The engine judges each candidate at noon of the day being run.
  const TimestampMs on_day = run.program.zone.to_utc_ms(run.day * kMsPerDay + 12 * kMsPerHour);
  const TimestampMs year_start =
      run.program.zone.to_utc_ms(days_from_civil(date.year, 1, 1) * kMsPerDay);
  const std::string sql = candidates_sql(kind);
  const std::string reason = std::string(kind_name(kind)) + " bonus " + std::to_string(date.year);
  const auto until = std::chrono::steady_clock::now() + kJobTimeLimit;
  std::string after;
  for (int round = 0; round < 1'000'000; ++round) {
    if (std::chrono::steady_clock::now() >= until) {
      return fail(ErrorCode::kDeadlineExceeded,
                  std::string(kind_name(kind)) + " bonus: stopped at the time limit");
    }
    ACCRUE_ASSIGN_OR_RETURN(
        auto due,
        run.c.query(sql, {pg::Param::text(after), pg::Param::text(std::to_string(date.month)),
                          pg::Param::text(days), pg::Param::text(std::to_string(kBatch)),
                          pg::Param::text(run.program.zone.name()),
                          pg::Param::text(std::to_string(year_start))}));
    if (due.rows() == 0) break;
    hq::HeadOfficeBatch batch(run.program, deps.clock.now_ms());
    for (int i = 0; i < due.rows(); ++i) {
      const std::string id(due.text(i, 0));
      std::optional<BirthdayBonus> bonus;
      if (kind == BonusKind::kBirthday) {
        bonus =
            birthday_bonus(program, run.program.zone,
                           {date.month, static_cast<int>(due.int64(i, 1)), std::nullopt, on_day});
      } else {
        bonus =
            anniversary_bonus(program, run.program.zone, {due.int64(i, 1), std::nullopt, on_day});
      }
      if (!bonus) continue;
      batch.adjustment(bonus_event_id(kind, id, bonus->year).to_string(), id, bonus->points, reason,
                       "scheduler");
    }
    after = std::string(due.text(due.rows() - 1, 0));
    if (batch.batch().events_size() > 0) {
      ACCRUE_ASSIGN_OR_RETURN(auto result, deps.ingest.apply_head_office(batch.batch()));
      for (const auto& r : result.results()) {
        const char* key = r.status() == sv1::EVENT_STATUS_APPLIED     ? "awarded"
                          : r.status() == sv1::EVENT_STATUS_DUPLICATE ? "already_awarded"
                                                                      : "rejected";
        ++counts[key];
      }
    }
    ACCRUE_TRY(run.renew());
    if (due.rows() < kBatch) break;
  }
  return counts;
}

}  // namespace

Uuid bonus_event_id(BonusKind kind, std::string_view customer_id, int year) {
  const std::string key = "accrue/bonus/" + std::string(kind_name(kind)) + "/" +
                          std::to_string(year) + "/" + std::string(customer_id);
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(key.data()), key.size(), md);
  std::array<uint8_t, 16> b{};
  int64_t ms = days_from_civil(year, 1, 1) * kMsPerDay;
  for (int i = 5; i >= 0; --i) {
    b[static_cast<size_t>(i)] = static_cast<uint8_t>(ms & 0xff);
    ms >>= 8;
  }
  for (size_t i = 6; i < 16; ++i) b[i] = md[i];
  b[6] = static_cast<uint8_t>(0x70 | (b[6] & 0x0f));  // version 7
  b[8] = static_cast<uint8_t>(0x80 | (b[8] & 0x3f));  // RFC 9562 variant
  return Uuid(b);
}

namespace {

// Held returns whose sale has arrived since are applied, in event order; one still held keeps
// the reason (cloud/hq/returns_api.cpp lists them).
Result<JobCounts> run_held_returns(JobRun& run, Ingest& ingest) {
  int64_t applied = 0, held = 0;
  std::string after = "00000000-0000-0000-0000-000000000000";
  for (;;) {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        run.c.query("SELECT r.event_id::text, r.store_id, r.envelope FROM sale_return r "
                    "WHERE r.status = 'held' AND r.event_id > $1::uuid AND EXISTS (SELECT 1 FROM "
                    "receipt s WHERE s.event_id = r.sale_event_id OR (s.store_id = "
                    "r.sale_store_id AND s.till_id = r.sale_till_id AND s.pos_tx_id = "
                    "r.sale_pos_tx_id)) ORDER BY r.event_id LIMIT 200",
                    {pg::Param::text(after)}));
    if (r.rows() == 0) break;
    for (int i = 0; i < r.rows(); ++i) {
      after = r.text(i, 0);
      auto envelope = pg::decode_bytea(r.text(i, 2));
      if (!envelope) return fail(ErrorCode::kDataLoss, "a held return's event is unreadable");
      ACCRUE_ASSIGN_OR_RETURN(auto why,
                              ingest.apply_held_return(std::string(r.text(i, 1)), *envelope));
      if (!why) {
        ++applied;
        continue;
      }
      ++held;
      ACCRUE_TRY(run.c.query("UPDATE sale_return SET note = $2 WHERE event_id = $1::uuid",
                             {pg::Param::text(after), pg::Param::text(*why)}));
    }
    ACCRUE_TRY(run.renew());
  }
  return JobCounts{{"applied", applied}, {"still_held", held}};
}

// Coupons that expired unused, each reported once (webhook coupon.expired) a day after its
// expiry: a use made offline on the last day has had time to arrive. Batches of 500, each in a
// transaction of its own with its webhooks.
Result<JobCounts> run_coupon_expiry(JobRun& run) {
  constexpr int kExpiryBatch = 500;
  int64_t reported = 0;
  for (;;) {
    int rows = 0;
    auto batch = pg::in_transaction(run.c, [&]() -> Result<void> {
      ACCRUE_ASSIGN_OR_RETURN(
          auto r,
          run.c.query(
              "UPDATE coupon k SET expiry_reported_at = now() FROM (SELECT coupon_id FROM coupon "
              "WHERE status = 'issued' AND expiry_reported_at IS NULL AND expires_at < "
              "to_timestamp($1::bigint / 1000.0) - interval '1 day' ORDER BY expires_at LIMIT "
              "$2::int FOR UPDATE SKIP LOCKED) due WHERE k.coupon_id = due.coupon_id RETURNING "
              "k.coupon_id::text, k.reward_id, k.customer_id, k.program_id, "
              "(extract(epoch FROM k.expires_at)*1000)::bigint",
              {pg::Param::text(std::to_string(run.now)),
               pg::Param::text(std::to_string(kExpiryBatch))}));
      rows = r.rows();
      for (int i = 0; i < rows; ++i) {
        boost::json::object data{
            {"coupon_id", r.text(i, 0)},
            {"reward_id", r.text(i, 1)},
            {"customer_id",
             r.is_null(i, 2) ? boost::json::value(nullptr) : boost::json::value(r.text(i, 2))},
            {"program_id", r.text(i, 3)},
            {"expires_at", format_utc_iso8601(r.int64(i, 4))}};
        ACCRUE_TRY(
            queue_webhook(run.c, "coupon.expired", r.text(i, 0), boost::json::serialize(data)));
      }
      return {};
    });
    if (!batch) return std::unexpected(batch.error());
    reported += rows;
    if (rows < kExpiryBatch) break;
    ACCRUE_TRY(run.renew());
  }
  return JobCounts{{"reported", reported}};
}

}  // namespace

std::vector<DailyJob> daily_jobs(DailyJobDeps deps) {
  auto d = std::make_shared<DailyJobDeps>(std::move(deps));
  auto keep_lease = [d](JobRun& run) {
    return [d, &run](const std::vector<std::string>& ids) {
      if (d->invalidate) d->invalidate(ids);
      (void)run.renew();  // a lost lease shows when the day is marked done
    };
  };
  return {
      {"claims",
       [d](JobRun& run) -> Result<JobCounts> {
         UuidV7Generator ids(d->clock, d->random);
         ClaimOptions o{run.program, run.now, [&ids] { return ids.next().to_string(); },
                        "scheduler", {},      run.renew};
         ACCRUE_ASSIGN_OR_RETURN(auto r, claim_unclaimed(run.c, d->ingest, o));
         return JobCounts{{"members", r.members}, {"claimed", r.claimed}, {"refused", r.refused}};
       },
       false},
      {"returns", [d](JobRun& run) { return run_held_returns(run, d->ingest); }, false},
      {"expiry",
       [d, keep_lease](JobRun& run) -> Result<JobCounts> {
         ACCRUE_ASSIGN_OR_RETURN(
             auto r, run_expiry(run.c, d->clock, d->random, kJobTimeLimit, 1000, keep_lease(run)));
         if (!r.complete)
           return fail(ErrorCode::kDeadlineExceeded, "expiry: stopped at the time limit");
         return JobCounts{{"customers", r.customers}, {"lots", r.lots}, {"points", r.points}};
       },
       false},
      {"tiers",
       [keep_lease](JobRun& run) -> Result<JobCounts> {
         ACCRUE_ASSIGN_OR_RETURN(auto r, run_tier_pass(run.c, run.program, run.now, kJobTimeLimit,
                                                       1000, keep_lease(run)));
         if (!r.complete)
           return fail(ErrorCode::kDeadlineExceeded, "tiers: stopped at the time limit");
         return JobCounts{{"customers", r.customers},
                          {"upgraded", r.upgraded},
                          {"downgraded", r.downgraded},
                          {"placed", r.placed}};
       },
       false},
      {"coupon_expiry", [](JobRun& run) { return run_coupon_expiry(run); }, false},
      {"birthday_bonus", [d](JobRun& run) { return run_bonus(run, BonusKind::kBirthday, *d); }},
      {"anniversary_bonus",
       [d](JobRun& run) { return run_bonus(run, BonusKind::kAnniversary, *d); }},
  };
}

}  // namespace accrue::cloud
