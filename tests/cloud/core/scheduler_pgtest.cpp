// The scheduler's daily jobs (cloud/core/scheduler.h, cloud/core/daily_jobs.h) on a fake clock:
// bonuses once on their local day, catch-up of missed days in order, the lease between replicas,
// a day that fails and is run again.
#include "cloud/core/scheduler.h"

#include <thread>

#include "cloud/core/audit.h"
#include "cloud/core/daily_jobs.h"
#include "common/civil_time.h"
#include "tests/cloud/cloud_app_fixture.h"
#include "tests/common/test_support.h"

namespace accrue::cloud {
namespace {

using namespace testing_support;
using accrue::testing::FakeClock;
using accrue::testing::FakeRandom;

// 2027-03-10, 03:00 in Warsaw (the demo programme's zone; UTC+1 in March).
const int64_t kDay = days_from_civil(2027, 3, 10);
const TimestampMs kAt = kDay * kMsPerDay + 2 * kMsPerHour;

class SchedulerTest : public CloudAppTest {
 protected:
  // The demo programme with an anniversary bonus.
  std::string program_json() override {
    std::string p = CloudAppTest::program_json();
    const std::string from = R"("birthday_bonus_points": 250)";
    p.replace(p.find(from), from.size(), from + R"(, "anniversary_bonus_points": 500)");
    return p;
  }

  void SetUp() override {
    CloudAppTest::SetUp();
    if (HasFatalFailure() || IsSkipped()) return;
    catalog_ = std::make_unique<ProgramCatalog>(zones_);
    ingest_ = std::make_unique<Ingest>(app_->pool(), *catalog_, clock_at_, random_at_, 1000);
  }

  std::unique_ptr<Scheduler> scheduler(std::string owner, std::vector<DailyJob> jobs = {}) {
    if (jobs.empty()) {
      jobs =
          daily_jobs({clock_at_, random_at_, *ingest_, [this](const std::vector<std::string>& ids) {
                        invalidated_.insert(invalidated_.end(), ids.begin(), ids.end());
                      }});
    }
    SchedulerOptions o;
    o.owner = std::move(owner);
    return std::make_unique<Scheduler>(app_->pool(), *catalog_, clock_at_, std::move(jobs), o);
  }

  // Member `id`, active unless told, with a birthday and an enrolment date.
  void member(const std::string& id, int month, int day, const std::string& enrolled = "2025-01-15",
              int status = 1) {
    auto c = db_.connect();
    ASSERT_TRUE(c);
    ASSERT_TRUE(c->exec(("INSERT INTO customer (customer_id, tier_id, status, enrolled_at) VALUES "
                         "('" +
                         id + "', 'bronze', " + std::to_string(status) + ", '" + enrolled +
                         " 12:00+01'); INSERT INTO balance (customer_id) VALUES ('" + id +
                         "'); INSERT INTO customer_pii (customer_id, birthday_month, birthday_day) "
                         "VALUES ('" +
                         id + "', " + std::to_string(month) + ", " + std::to_string(day) + ")")
                            .c_str()));
  }
  std::string bonuses(const std::string& id) {
    return db_.scalar(
        "SELECT coalesce(string_agg(reason || '=' || points, ',' ORDER BY reason), '') FROM ledger "
        "WHERE customer_id = '" +
        id + "' AND actor = 'scheduler'");
  }
  std::string job(const std::string& name, const std::string& column) {
    return db_.scalar("SELECT " + column + " FROM scheduled_job WHERE name = '" + name + "'");
  }

  FakeClock clock_at_{kAt};
  FakeRandom random_at_{7};
  std::unique_ptr<ProgramCatalog> catalog_;
  std::unique_ptr<Ingest> ingest_;
  std::vector<std::string> invalidated_;
};

TEST_F(SchedulerTest, BirthdaysAndAnniversariesAreAwardedOnceOnTheirLocalDay) {
  member("born-today", 3, 10);
  member("born-tomorrow", 3, 11);
  member("enrolled-today", 7, 1, "2025-03-10");
  member("enrolled-this-year", 7, 1, "2027-03-10");
  member("blocked", 3, 10, "2025-01-15", 2);
  auto s = scheduler("replica-a");
  auto days = s->run_due();
  ASSERT_TRUE(days) << days.error().message;
  EXPECT_EQ(*days, 7) << "each job's first run is today's";
  EXPECT_EQ(bonuses("born-today"), "birthday bonus 2027=250");
  EXPECT_EQ(bonuses("born-tomorrow"), "");
  EXPECT_EQ(bonuses("enrolled-today"), "anniversary bonus 2027=500");
  EXPECT_EQ(bonuses("enrolled-this-year"), "") << "no anniversary in the enrolment's year";
  EXPECT_EQ(bonuses("blocked"), "") << "a blocked member earns nothing";
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = 'born-today'"), "250");
  EXPECT_EQ(job("birthday_bonus", "last_counts->>'awarded'"), "1");
  EXPECT_EQ(job("birthday_bonus", "done_through_day"), std::to_string(kDay));
  EXPECT_EQ(job("birthday_bonus", "lease_owner IS NULL"), "t") << "the lease is given back";

  // Later the same day: nothing is due. The day run again by hand books nothing twice.
  EXPECT_EQ(*s->run_due(), 0);
  auto c = db_.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(
      c->exec(("UPDATE scheduled_job SET done_through_day = " + std::to_string(kDay - 1)).c_str()));
  EXPECT_EQ(*s->run_due(), 7);
  EXPECT_EQ(job("birthday_bonus", "last_counts->>'already_awarded'"), "1");
  EXPECT_EQ(bonuses("born-today"), "birthday bonus 2027=250");

  // The status the HQ API and `accrue-cloud jobs` show.
  auto status = job_status(*c, *catalog_->latest(*c, kAt).value(), 120);
  ASSERT_TRUE(status);
  ASSERT_EQ(status->size(), 7u);
  const auto doc = jobs_json(*status, true, "02:00", "Europe/Warsaw");
  const auto& first = doc.at("jobs").as_array()[0].as_object();
  EXPECT_EQ(first.at("name").as_string(), "anniversary_bonus");
  EXPECT_EQ(first.at("done_through").as_string(), "2027-03-10");
  EXPECT_EQ(first.at("next_run_at").as_string(), "2027-03-11T01:00:00.000Z") << "02:00 in Warsaw";

  auto res = get("/v1/scheduler/jobs", hq_token({"hq-analyst"}));
  ASSERT_EQ(res.result_int(), 200u) << res.body();
  auto api = boost::json::parse(res.body());
  EXPECT_EQ(api.at("jobs").as_array().size(), 7u);
  EXPECT_EQ(api.at("time_zone").as_string(), "Europe/Warsaw");
  EXPECT_EQ(api.at("enabled").as_bool(), false) << "the test's service runs no scheduler";
  EXPECT_EQ(get("/v1/scheduler/jobs", hq_token({"hq-support"})).result_int(), 403u);
}

TEST_F(SchedulerTest, BeforeTheRunTimeTheDayIsNotDueYet) {
  member("born-today", 3, 10);
  clock_at_.set(kDay * kMsPerDay);  // 01:00 in Warsaw, before 02:00
  auto s = scheduler("replica-a");
  ASSERT_TRUE(s->run_due());
  EXPECT_EQ(job("birthday_bonus", "done_through_day"), std::to_string(kDay - 1));
  EXPECT_EQ(bonuses("born-today"), "");
  clock_at_.set(kAt);
  ASSERT_TRUE(s->run_due());
  EXPECT_EQ(bonuses("born-today"), "birthday bonus 2027=250");
}

TEST_F(SchedulerTest, AMissedWeekIsCaughtUpDayByDayInOrder) {
  member("born-5-days-ago", 3, 5);
  member("born-2-days-ago", 3, 8);
  member("born-8-days-ago", 3, 2);
  auto s = scheduler("replica-a");
  clock_at_.set(kAt - 7 * kMsPerDay);  // a first run a week ago, then the service was down
  ASSERT_TRUE(s->run_due());
  clock_at_.set(kAt);
  auto days = s->run_due();
  ASSERT_TRUE(days) << days.error().message;
  EXPECT_EQ(*days, 2 * 7 + 5) << "each missed day's bonuses; the claims and returns sweeps, "
                                 "expiry, coupon expiry and the tier pass once";
  EXPECT_EQ(bonuses("born-5-days-ago"), "birthday bonus 2027=250");
  EXPECT_EQ(bonuses("born-2-days-ago"), "birthday bonus 2027=250");
  EXPECT_EQ(bonuses("born-8-days-ago"), "") << "before the first run";
  EXPECT_EQ(job("birthday_bonus", "runs"), "8");
  EXPECT_EQ(job("birthday_bonus", "done_through_day"), std::to_string(kDay));
  EXPECT_EQ(job("tiers", "runs"), "2") << "a pass judges everything as of now: once is enough";
  EXPECT_EQ(job("tiers", "done_through_day"), std::to_string(kDay));
}

TEST_F(SchedulerTest, TwoReplicasRacingRunEachDayOnce) {
  for (int i = 0; i < 40; ++i) member("m" + std::to_string(i), 3, 10);
  auto a = scheduler("replica-a");
  auto b = scheduler("replica-b");
  Result<int> ra = 0, rb = 0;
  std::thread ta([&] { ra = a->run_due(); });
  std::thread tb([&] { rb = b->run_due(); });
  ta.join();
  tb.join();
  ASSERT_TRUE(ra) << ra.error().message;
  ASSERT_TRUE(rb) << rb.error().message;
  EXPECT_EQ(*ra + *rb, 7) << "each job's day ran on one replica";
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE actor = 'scheduler'"), "40");
  EXPECT_EQ(job("birthday_bonus", "runs"), "1");
}

TEST_F(SchedulerTest, TheClaimsSweepGivesProvisionalPointsToTheCardsOwnerOnce) {
  // A till booked a sale for a card nobody had; the card was registered later without a claim
  // (an import that died between its batch and the batch's claims).
  auto sale = accrual(1, "", 5000, "walk-in");
  sale.mutable_accrual()->mutable_identifier()->set_kind("card");
  sale.mutable_accrual()->mutable_identifier()->set_hash(std::string(32, 'a'));
  sale.mutable_accrual()->set_provisional(true);
  auto r = results(post(batch_of({sale}), token_));
  ASSERT_EQ(r.results(0).status(), sv1::EVENT_STATUS_APPLIED) << r.results(0).message();
  member("card-owner", 7, 1);
  auto c = db_.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->exec(
      "INSERT INTO identifier (hash, kind, customer_id) VALUES (decode(repeat('61', 32), 'hex'), "
      "'card', 'card-owner')"));

  ingest_->on_commit([this](const std::vector<std::string>& ids) {  // as the service's does
    invalidated_.insert(invalidated_.end(), ids.begin(), ids.end());
  });
  auto s = scheduler("replica-a");
  ASSERT_TRUE(s->run_due());
  const std::string points = std::to_string(sale.accrual().points());
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = 'card-owner'"), points);
  EXPECT_EQ(job("claims", "last_counts->>'claimed'"), "1");
  EXPECT_NE(std::ranges::find(invalidated_, "card-owner"), invalidated_.end())
      << "the cache forgets her balance";

  // The day run again claims nothing twice.
  ASSERT_TRUE(
      c->exec(("UPDATE scheduled_job SET done_through_day = " + std::to_string(kDay - 1)).c_str()));
  ASSERT_TRUE(s->run_due());
  EXPECT_EQ(job("claims", "last_counts->>'members'"), "0");
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = 'card-owner'"), points);
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM ledger WHERE kind = 7"), "1");
}

TEST_F(SchedulerTest, TheReturnsSweepAppliesAHeldReturnOnceItsSaleHasArrived) {
  member("buyer", 7, 1);
  // Store S2 took back a sale of S1 that S1 had not uploaded yet: held for review.
  auto ret = envelope(1);
  ret.set_store_id("S2");
  ret.set_agent_id("S2-agent");
  auto* r = ret.mutable_return_();
  r->set_till_id("till-9");
  r->set_pos_tx_id("back-1");
  r->set_original_store_id(kStore);
  r->set_original_till_id("till-1");
  r->set_original_pos_tx_id("sold-1");
  auto* line = r->add_lines();
  line->set_line_no(1);
  line->set_quantity_milli(1000);
  sv1::EventBatch b;
  b.set_store_id("S2");
  b.set_agent_id("S2-agent");
  *b.add_events() = ret;
  ASSERT_EQ(results(post(b, other_token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  auto s = scheduler("replica-a");
  ASSERT_TRUE(s->run_due());
  EXPECT_EQ(job("returns", "last_counts->>'applied'"), "0") << "its sale is not there yet";

  // The sale arrives for a card nobody had yet: its points are provisional, so the return stays
  // held when the sale lands (a sale with a member would apply it at once).
  auto sale = accrual(1, "", 5000, "sold-1");
  sale.mutable_accrual()->mutable_identifier()->set_kind("card");
  sale.mutable_accrual()->mutable_identifier()->set_hash(std::string(32, 'b'));
  sale.mutable_accrual()->set_provisional(true);
  ASSERT_EQ(results(post(batch_of({sale}), token_)).results(0).status(), sv1::EVENT_STATUS_APPLIED);
  EXPECT_EQ(db_.scalar("SELECT status FROM sale_return WHERE event_id = '" + ret.event_id() + "'"),
            "held");
  // The card is the buyer's (registered without a claim): the claims job gives her the sale,
  // then the returns job, after it, applies the return.
  auto c = db_.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->exec(
      "INSERT INTO identifier (hash, kind, customer_id) VALUES (decode(repeat('62', 32), 'hex'), "
      "'card', 'buyer')"));
  ASSERT_TRUE(
      c->exec(("UPDATE scheduled_job SET done_through_day = " + std::to_string(kDay - 1)).c_str()));
  ASSERT_TRUE(s->run_due());
  EXPECT_EQ(job("returns", "last_counts->>'applied'"), "1");
  EXPECT_EQ(db_.scalar("SELECT status FROM sale_return WHERE event_id = '" + ret.event_id() + "'"),
            "applied");
  EXPECT_EQ(db_.scalar("SELECT points FROM balance WHERE customer_id = 'buyer'"), "0")
      << "the whole sale came back";
  EXPECT_EQ(job("returns", "last_counts->>'still_held'"), "0");
}

TEST_F(SchedulerTest, ALeaseHeldByALiveReplicaIsLeftAloneAndAnExpiredOneIsTakenOver) {
  member("born-today", 3, 10);
  auto s = scheduler("replica-a");
  auto c = db_.connect();
  ASSERT_TRUE(c);
  const std::string held =
      "INSERT INTO scheduled_job (name, done_through_day, lease_owner, lease_until) SELECT n, " +
      std::to_string(kDay - 1) +
      ", 'replica-dead', now() + interval '1 hour' FROM unnest(ARRAY['claims', 'returns', "
      "'expiry', 'coupon_expiry', 'tiers', 'birthday_bonus', 'anniversary_bonus']) n";
  ASSERT_TRUE(c->exec(held.c_str()));
  EXPECT_EQ(*s->run_due(), 0) << "another replica is running them";
  // It died mid-run: its lease runs out, and the day runs again here.
  ASSERT_TRUE(c->exec("UPDATE scheduled_job SET lease_until = now() - interval '1 second'"));
  EXPECT_EQ(*s->run_due(), 7);
  EXPECT_EQ(bonuses("born-today"), "birthday bonus 2027=250");
}

TEST_F(SchedulerTest, AFailedDayKeepsItsErrorAndRunsAgainOnTheNextRound) {
  int calls = 0;
  std::vector<int64_t> days_seen;
  std::vector<DailyJob> jobs{{"flaky", [&](JobRun& run) -> Result<JobCounts> {
                                days_seen.push_back(run.day);
                                if (++calls == 1) return fail(ErrorCode::kUnavailable, "db gone");
                                return JobCounts{{"done", 1}};
                              }}};
  auto s = scheduler("replica-a", jobs);
  auto first = s->run_due();
  ASSERT_FALSE(first);
  EXPECT_EQ(job("flaky", "last_error"), "db gone");
  EXPECT_EQ(job("flaky", "done_through_day IS NULL"), "t");
  EXPECT_EQ(job("flaky", "lease_owner IS NULL"), "t") << "the lease is given up on failure";
  auto second = s->run_due();
  ASSERT_TRUE(second) << second.error().message;
  EXPECT_EQ(*second, 1);
  EXPECT_EQ(days_seen, (std::vector<int64_t>{kDay, kDay}));
  EXPECT_EQ(job("flaky", "last_error IS NULL"), "t");
  EXPECT_EQ(s->counters().failures.load(), 1u);
}

TEST_F(SchedulerTest, TheDailyTierPassRunsAsAJob) {
  member("gold-without-points", 7, 1);
  auto c = db_.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(
      c->exec("UPDATE customer SET tier_id = 'gold', tier_below_since = "
              "'2027-01-01' WHERE customer_id = 'gold-without-points'"));
  auto s = scheduler("replica-a");
  ASSERT_TRUE(s->run_due());
  EXPECT_EQ(db_.scalar("SELECT tier_id FROM customer WHERE customer_id = 'gold-without-points'"),
            "bronze");
  EXPECT_EQ(job("tiers", "last_counts->>'downgraded'"), "1");
  EXPECT_EQ(invalidated_, std::vector<std::string>{"gold-without-points"})
      << "the moved member leaves the cache";
}

TEST_F(SchedulerTest, CouponsThatExpiredUnusedAreReportedOnceADayAfterTheirExpiry) {
  member("has-coupons", 7, 1);
  auto c = db_.connect();
  ASSERT_TRUE(c);
  ASSERT_TRUE(c->exec(
      "INSERT INTO webhook_subscription (subscription_id, url, event_types, secret, active, "
      "created_by) VALUES (gen_random_uuid(), 'https://hooks.example.invalid/x', "
      "'{coupon.expired}', 'secret', true, 'test')"));
  // Expired two days ago unused (reported), an hour ago (a use may still arrive: not yet),
  // two days ago but used, two days ago but voided, and a bearer coupon of a batch.
  const std::string at = "to_timestamp(" + std::to_string(kAt) + " / 1000.0)";
  auto coupon = [&](const std::string& id, const std::string& customer, const std::string& ago,
                    const std::string& status) {
    ASSERT_TRUE(c->exec(("INSERT INTO coupon (coupon_id, program_id, program_version, reward_id, "
                         "customer_id, key_id, code, status, issued_at, issued_by, expires_at) "
                         "VALUES ('" +
                         id + "', 'fashion-rewards', 3, 'five-off', " + customer +
                         ", 1, 'code', '" + status + "', " + at +
                         " - interval '30 days', 'test', " + at + " - interval '" + ago + "')")
                            .c_str()));
  };
  coupon("00000000-0000-4000-8000-000000000001", "'has-coupons'", "2 days", "issued");
  coupon("00000000-0000-4000-8000-000000000002", "'has-coupons'", "1 hour", "issued");
  coupon("00000000-0000-4000-8000-000000000003", "'has-coupons'", "2 days", "used");
  coupon("00000000-0000-4000-8000-000000000004", "'has-coupons'", "2 days", "voided");
  coupon("00000000-0000-4000-8000-000000000005", "NULL", "3 days", "issued");
  auto s = scheduler("replica-a");
  ASSERT_TRUE(s->run_due());
  EXPECT_EQ(job("coupon_expiry", "last_counts->>'reported'"), "2");
  EXPECT_EQ(db_.scalar("SELECT string_agg(event_id, ',' ORDER BY event_id) FROM webhook_outbox "
                       "WHERE event_type = 'coupon.expired'"),
            "00000000-0000-4000-8000-000000000001,00000000-0000-4000-8000-000000000005");
  EXPECT_EQ(db_.scalar("SELECT payload->>'customer_id' FROM webhook_outbox WHERE event_id = "
                       "'00000000-0000-4000-8000-000000000001'"),
            "has-coupons");
  // The day run again: each coupon is reported once.
  ASSERT_TRUE(c->exec(("UPDATE scheduled_job SET done_through_day = " + std::to_string(kDay - 1) +
                       " WHERE name = 'coupon_expiry'")
                          .c_str()));
  ASSERT_TRUE(s->run_due());
  EXPECT_EQ(job("coupon_expiry", "last_counts->>'reported'"), "0");
  EXPECT_EQ(db_.scalar("SELECT count(*) FROM webhook_outbox WHERE event_type = 'coupon.expired'"),
            "2");
}

// A year of the programme on an injected clock, the scheduler running every day as the service
// does: members earn through ingestion, cross, keep and lose tiers, lots mature and expire,
// birthdays fire once; at every month end the audit is clean (every balance equal to its
// ledger). The demo programme with a 90-day tier window (30 days' grace) and points that expire
// at the end of the year they were earned in, so that all of it happens within the year.
class SimulatedYearTest : public SchedulerTest {
 protected:
  std::string program_json() override {
    std::string p = SchedulerTest::program_json();
    auto swap = [&p](const std::string& from, const std::string& to) {
      const auto at = p.find(from);
      ASSERT_NE(at, std::string::npos) << from;
      p.replace(at, from.size(), to);
    };
    swap(R"("window_days": 365)", R"("window_days": 90)");
    swap(R"("expiry": "EXPIRY_KIND_END_OF_YEAR", "count": 1)",
         R"("expiry": "EXPIRY_KIND_END_OF_YEAR", "count": 0)");
    return p;
  }

  // Ingests one event of the store's agent, as of the clock.
  void ingest(sv1::EventEnvelope e) {
    e.set_seq(++seq_);
    e.set_occurred_at_ms(clock_at_.now_ms());
    sv1::EventBatch b;
    b.set_store_id(kStore);
    b.set_agent_id(kAgent);
    *b.add_events() = std::move(e);
    auto r = ingest_->apply(b, kStore);
    ASSERT_TRUE(r) << r.error().message;
    ASSERT_EQ(r->results(0).status(), sv1::EVENT_STATUS_APPLIED) << r->results(0).message();
  }
  void buy(const std::string& customer, int64_t euros) {
    auto e = accrual(0, customer, euros * 100, "sale-" + std::to_string(seq_ + 1));
    e.mutable_accrual()->mutable_basket()->set_occurred_at_ms(clock_at_.now_ms());
    ingest(std::move(e));
  }
  void redeem(const std::string& customer, int64_t points) {
    auto e = envelope(0);
    auto* r = e.mutable_redemption();
    r->set_customer_id(customer);
    r->set_till_id("till-1");
    r->set_pos_tx_id("redeem-" + std::to_string(seq_ + 1));
    r->set_points(points);
    r->set_offline(true);
    ingest(std::move(e));
  }
  std::string tier(const std::string& id) {
    return db_.scalar("SELECT tier_id FROM customer WHERE customer_id = '" + id + "'");
  }
  int64_t points(const std::string& id) {
    return std::stoll(db_.scalar("SELECT points FROM balance WHERE customer_id = '" + id + "'"));
  }
  // Points of lots not available yet (pending) at the clock.
  int64_t pending(const std::string& id) {
    return std::stoll(db_.scalar(
        "SELECT coalesce(sum(remaining), 0) FROM points_lot WHERE customer_id = '" + id +
        "' AND available_at > to_timestamp(" + std::to_string(clock_at_.now_ms()) + " / 1000.0)"));
  }
  int64_t rows(const std::string& id, const std::string& where) {
    return std::stoll(
        db_.scalar("SELECT count(*) FROM ledger WHERE customer_id = '" + id + "' AND " + where));
  }

  uint64_t seq_ = 0;
};

TEST_F(SimulatedYearTest, AYearOfEarningTiersExpiryAndBirthdaysKeepsEveryBalanceEqualToItsLedger) {
  const int64_t first = days_from_civil(2027, 1, 1), last = days_from_civil(2028, 1, 2);
  member("steady", 6, 15);  // 150 EUR every Monday
  member("spree", 3, 10);   // 6000 EUR on 5 January, then nothing
  member("saver", 9, 1);    // 40 EUR a month, redeems in October
  auto s = scheduler("replica-a");
  auto c = db_.connect();
  ASSERT_TRUE(c);
  int month_ends = 0;
  for (int64_t day = first; day <= last; ++day) {
    const CivilDate d = civil_from_days(day);
    // 11:00 in Warsaw (UTC+1 or +2): after the 02:00 run time, so the day's jobs are due.
    clock_at_.set(day * kMsPerDay + 9 * kMsPerHour);
    ASSERT_TRUE(s->run_due()) << d.year << "-" << d.month << "-" << d.day;
    if (d.year == 2027) {
      if (iso_weekday(day) == 1) buy("steady", 150);
      if (d.month == 1 && d.day == 5) buy("spree", 6000);
      if (d.day == 20) buy("saver", 40);
      if (d.month == 10 && d.day == 21) redeem("saver", 300);
      ASSERT_FALSE(HasFatalFailure());
    }
    if (d.month == 1 && d.day == 5 && d.year == 2027) {
      EXPECT_EQ(tier("spree"), "gold") << "upgraded in the ingesting transaction";
      EXPECT_GE(pending("spree"), 6000) << "the sale's points are pending for 14 days";
    }
    if (d.month == 1 && d.day == 19 && d.year == 2027) {
      EXPECT_EQ(pending("spree"), 0) << "matured after 14 days";
    }
    if (day + 1 <= last && civil_from_days(day + 1).day == 1) {  // a month end
      ++month_ends;
      auto report = audit(*c);
      ASSERT_TRUE(report) << report.error().message;
      EXPECT_TRUE(report->ok()) << d.year << "-" << d.month << ": " << report->mismatches
                                << " balances differ from their ledger";
      if (d.month == 3 && d.year == 2027) {
        EXPECT_EQ(tier("spree"), "gold") << "inside the 90-day window";
      }
      if (d.month == 6 && d.year == 2027) {
        EXPECT_EQ(tier("spree"), "bronze") << "the window and the grace period are over";
        EXPECT_EQ(tier("steady"), "silver");
        EXPECT_EQ(rows("steady", "reason = 'birthday bonus 2027'"), 1);
      }
    }
  }
  EXPECT_EQ(month_ends, 12);
  // Tiers: steady crossed into silver and kept it; spree went up at once and came down once.
  EXPECT_EQ(tier("steady"), "silver");
  EXPECT_EQ(db_.scalar("SELECT string_agg(from_tier || '>' || to_tier || ':' || reason, ',' ORDER "
                       "BY change_id) FROM tier_history WHERE customer_id = 'spree'"),
            "bronze>gold:qualified,gold>bronze:grace_ended");
  EXPECT_EQ(db_.scalar("SELECT string_agg(to_tier, ',' ORDER BY change_id) FROM tier_history "
                       "WHERE customer_id = 'steady'"),
            "silver");
  // Birthdays and membership anniversaries once each, in their year.
  for (const char* who : {"steady", "spree", "saver"}) {
    EXPECT_EQ(rows(who, "reason LIKE 'birthday bonus%'"), 1) << who;
    EXPECT_EQ(rows(who, "reason LIKE 'anniversary bonus%'"), 1) << who;
  }
  // Every point of 2027 expired at the turn of the year, nothing more: the balances are what
  // 2028 has earned (nothing yet) and each equals its ledger.
  for (const char* who : {"steady", "spree", "saver"}) {
    EXPECT_EQ(points(who), 0) << who;
    EXPECT_EQ(rows(who, "kind = 6"), 1) << who << ": one expiry row for the year's lots";
  }
  EXPECT_EQ(db_.scalar("SELECT -sum(points) FROM ledger WHERE customer_id = 'saver' AND kind = 6"),
            std::to_string(12 * 40 + 250 + 500 - 300))
      << "what the redemption did not spend: 12 sales, birthday, anniversary";
  auto report = audit(*c);
  ASSERT_TRUE(report);
  EXPECT_TRUE(report->ok());
}

}  // namespace
}  // namespace accrue::cloud
