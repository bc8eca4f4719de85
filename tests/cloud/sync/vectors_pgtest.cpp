// The golden vectors through the cloud's ingestion: every earn vector, uploaded as an accrual of
// a customer holding the vector's tier (and, for capped cases, the points already earned that
// day), must be recorded with exactly the points the domain core gives, and the store's figure
// must agree (no mismatch). Anonymous baskets go in as provisional accruals.
#include <gtest/gtest.h>

#include <map>

#include "cloud/sync/ingest.h"
#include "common/civil_time.h"
#include "common/sys/system.h"
#include "common/wire/loyalty_codec.h"
#include "tests/cloud/cloud_fixture.h"
#include "tests/vectors/vector_runner.h"

namespace accrue::cloud {
namespace {

namespace sv1 = accrue::sync::v1;

TEST(CloudVectorsTest, EarnVectorsAreRecordedWithTheDomainCoresPoints) {
  ACCRUE_NEED_SERVICE("ACCRUE_TEST_PG_DSN");
  auto files = vectors::load_directory(ACCRUE_VECTORS_DIR);
  ASSERT_TRUE(files) << files.error().message;
  SystemClock clock;
  SystemRandom random;
  ZoneinfoSource zones;
  UuidV7Generator ids(clock, random);
  struct Env {
    std::unique_ptr<accrue::testing::TestDatabase> db;
    std::unique_ptr<pg::Pool> pool;
    std::unique_ptr<ProgramCatalog> catalog;
    std::unique_ptr<Ingest> ingest;
    Program program;
    uint64_t seq = 0;
  };
  std::map<std::string, Env> envs;  // one database per distinct programme
  int recorded = 0, with_cap_state = 0, provisional = 0;
  for (const auto& f : *files) {
    for (const auto& v : f.file.vectors()) {
      if (!v.has_earn() || !v.earn().error_code().empty()) continue;
      // A points-multiplier coupon counts in the cloud only with its coupon use, which a bare
      // accrual lacks: SyncFaults.APointsMultiplierCoupon... uploads both from a real agent.
      if (v.earn().coupon_multiplier_bp() != 0) continue;
      const auto& c = v.earn();
      SCOPED_TRACE(f.name + " / " + v.name());
      const auto& proto = v.has_program() ? v.program() : f.file.program();
      Env& env = envs[proto.SerializeAsString()];
      if (!env.db) {
        env.db = std::make_unique<accrue::testing::TestDatabase>();
        ASSERT_TRUE(env.db->ok());
        env.pool = std::make_unique<pg::Pool>(pg::PoolOptions{
            env.db->dsn(), 2, std::chrono::milliseconds(5000), std::chrono::seconds(5)});
        env.catalog = std::make_unique<ProgramCatalog>(zones);
        env.ingest = std::make_unique<Ingest>(*env.pool, *env.catalog, clock, random, 100);
        auto program = wire::program_from_proto(proto);
        ASSERT_TRUE(program) << program.error().message;
        auto conn = env.db->connect();
        ASSERT_TRUE(conn);
        ASSERT_TRUE(ProgramCatalog::publish(*conn, wire::program_to_json(*program)));
        env.program = std::move(*program);
      }
      loyalty::v1::Basket basket = c.basket();
      // The store's own zone (the registry's), else the programme's.
      auto zone =
          zones.load(c.store_time_zone().empty() ? env.program.time_zone : c.store_time_zone());
      ASSERT_TRUE(zone);
      if (!c.occurred_at_local().empty()) {
        basket.set_occurred_at_ms(
            zone->to_utc_ms(*parse_local_datetime(c.occurred_at_local(), "t")));
      }
      const std::string customer = "v" + std::to_string(recorded);
      auto conn = env.db->connect();
      ASSERT_TRUE(conn);
      // A member record when the vector names a tier or points already earned today (a member
      // without a tier earns like an anonymous basket); otherwise a provisional accrual.
      const bool member = !c.tier_id().empty() || c.earned_today() != 0;
      if (member) {
        ASSERT_TRUE(conn->query("INSERT INTO customer (customer_id, tier_id) VALUES ($1, $2)",
                                {pg::Param::text(customer), pg::Param::text(c.tier_id())}));
        ASSERT_TRUE(conn->query("INSERT INTO balance (customer_id) VALUES ($1)",
                                {pg::Param::text(customer)}));
        if (c.earned_today() != 0) {
          const TimestampMs at =
              basket.occurred_at_ms() > 0 ? basket.occurred_at_ms() : clock.now_ms();
          const std::string day = std::to_string(day_of_ms(zone->to_local_ms(at)));
          const std::string earned = std::to_string(c.earned_today());
          ASSERT_TRUE(conn->query(
              "INSERT INTO customer_day (customer_id, local_day, earned) VALUES ($1, $2, $3)",
              {pg::Param::text(customer), pg::Param::text(day), pg::Param::text(earned)}));
          ++with_cap_state;
        }
      }
      // The store's country and zone, as the registry has them (per-country rates; days,
      // windows and caps on the store's wall clock).
      ASSERT_TRUE(conn->query(
          "INSERT INTO store (store_id, country, time_zone) VALUES ('V', $1, $2) ON CONFLICT "
          "(store_id) DO UPDATE SET country = excluded.country, time_zone = excluded.time_zone",
          {pg::Param::text(c.country()), pg::Param::text(c.store_time_zone())}));
      sv1::EventBatch batch;
      batch.set_store_id("V");
      batch.set_agent_id("V-agent");
      auto* e = batch.add_events();
      e->set_event_id(ids.next().to_string());
      e->set_store_id("V");
      e->set_agent_id("V-agent");
      e->set_seq(++env.seq);
      // A vector without a time leaves the basket at the epoch; the envelope needs a real one.
      e->set_occurred_at_ms(basket.occurred_at_ms() > 0 ? basket.occurred_at_ms() : clock.now_ms());
      e->set_program_id(env.program.program_id);
      e->set_program_version(env.program.version);
      e->set_schema_version(1);
      auto* a = e->mutable_accrual();
      if (member) {
        a->set_customer_id(customer);
      } else {
        a->mutable_identifier()->set_kind("card");
        a->mutable_identifier()->set_hash(std::string(31, 'h') + static_cast<char>(recorded));
        a->set_provisional(true);
        ++provisional;
      }
      a->set_till_id("t");
      a->set_pos_tx_id("p" + std::to_string(recorded));
      *a->mutable_basket() = basket;
      a->set_points(c.points());
      auto r = env.ingest->apply(batch, "V");
      ASSERT_TRUE(r) << r.error().message;
      ASSERT_EQ(r->results(0).status(), sv1::EVENT_STATUS_APPLIED) << r->results(0).message();
      EXPECT_EQ(
          env.db->scalar("SELECT points FROM ledger WHERE event_id = '" + e->event_id() + "'"),
          std::to_string(c.points()));
      EXPECT_EQ(env.db->scalar("SELECT agent_points IS NULL FROM ledger WHERE event_id = '" +
                               e->event_id() + "'"),
                "t")
          << "the store's figure (the vector's) matches the cloud's";
      ++recorded;
    }
  }
  std::cout << "golden vectors through cloud ingestion: " << recorded << " recorded ("
            << with_cap_state << " with points already earned that day, " << provisional
            << " provisional) in " << envs.size() << " databases\n";
  EXPECT_GE(recorded, 30);
}

}  // namespace
}  // namespace accrue::cloud
