// The golden vectors through the real agent: every earn vector priced by Preview over the
// socket (and, for anonymous baskets, recorded by Accrue against an unknown card) must give the
// points the domain core gives. Vectors that need state the seeded replica cannot set up
// (points already earned today) are counted and reported, not silently dropped.
#include <google/protobuf/util/json_util.h>
#include <gtest/gtest.h>

#include <fstream>
#include <map>

#include "agent/store/seed.h"
#include "common/civil_time.h"
#include "common/sys/system.h"
#include "common/wire/pos_error.h"
#include "tests/agent/agent_process.h"
#include "tests/vectors/vector_runner.h"

namespace accrue::testing {
namespace {

namespace pb = accrue::pos::v1;

// The seeded member holding ladder position k (see seed_replica): 10 -> top, 4 -> second,
// 1 -> first.
int64_t member_with_tier(const loyalty::v1::Program& p, const std::string& tier) {
  const auto& ladder = p.tiers().ladder();
  for (int k = 0; k < ladder.size(); ++k) {
    if (ladder[k].tier_id() != tier) continue;
    if (k == ladder.size() - 1) return 10;
    if (k == 1) return 4;
    return 1;
  }
  return -1;
}

TEST(AgentVectorsTest, EarnVectorsGiveTheSamePointsThroughTheSocket) {
  auto files = vectors::load_directory(ACCRUE_VECTORS_DIR);
  ASSERT_TRUE(files) << files.error().message;
  ZoneinfoSource zones;
  std::map<std::string, std::unique_ptr<AgentProcess>> agents;  // one per distinct program
  std::string dir = temp_dir("accrue-vectors-");
  int previewed = 0, accrued = 0, skipped = 0, unknown_card = 0;

  for (const auto& f : *files) {
    for (const auto& v : f.file.vectors()) {
      if (!v.has_earn()) continue;
      const auto& c = v.earn();
      SCOPED_TRACE(f.name + " / " + v.name());
      // Points already earned today, or a points-multiplier coupon (which the socket takes as
      // a coupon use: tests/agent/coupons_test.cpp), are not a basket alone.
      if (c.earned_today() != 0 || c.coupon_multiplier_bp() != 0) {
        ++skipped;
        continue;
      }
      const auto& program = v.has_program() ? v.program() : f.file.program();
      // One agent per programme, store country (per-country rates) and store zone: an agent that
      // never synced runs with its configuration's, as it would the registry's.
      std::string key = program.SerializeAsString() + "/" + c.country() + "/" + c.store_time_zone();
      auto& agent = agents[key];
      if (!agent) {
        std::string json;
        ASSERT_TRUE(google::protobuf::util::MessageToJsonString(program, &json).ok());
        std::string path = dir + "/program-" + std::to_string(agents.size()) + ".json";
        std::ofstream(path) << json;
        agent = std::make_unique<AgentProcess>(20, path);
        ASSERT_EQ(agent->seed_status(), 0) << agent->log_path();
        std::vector<std::string> flags;
        if (!c.country().empty()) flags = {"--default-country", c.country()};
        if (!c.store_time_zone().empty()) {
          flags.insert(flags.end(), {"--time-zone", c.store_time_zone()});
        }
        ASSERT_TRUE(agent->start(flags)) << agent->log_path();
      }
      loyalty::v1::Basket basket = c.basket();
      if (!c.occurred_at_local().empty()) {
        auto zone = zones.load(!c.store_time_zone().empty()  ? c.store_time_zone()
                               : program.time_zone().empty() ? "UTC"
                                                             : program.time_zone());
        ASSERT_TRUE(zone);
        basket.set_occurred_at_ms(
            zone->to_utc_ms(*parse_local_datetime(c.occurred_at_local(), "t")));
      }
      pb::Identifier who;
      if (!c.tier_id().empty()) {
        int64_t m = member_with_tier(program, c.tier_id());
        ASSERT_GE(m, 0) << "no seeded member for tier " << c.tier_id();
        who.set_kind(pb::IDENTIFIER_KIND_CARD);
        who.set_value(agent::seed_card_number(m));
      }

      pb::Request preview;
      preview.set_request_id("p");
      preview.set_till_id("vectors");
      if (!c.tier_id().empty()) *preview.mutable_preview()->mutable_identifier() = who;
      *preview.mutable_preview()->mutable_basket() = basket;
      auto client = agent->connect();
      auto r = client.call(preview);
      ASSERT_TRUE(r) << r.error().message;
      ++previewed;
      if (!c.error_code().empty()) {
        ASSERT_TRUE(r->has_error()) << r->DebugString();
        EXPECT_EQ(to_string(wire::error_code_from_pos(r->error().code())), c.error_code());
        continue;
      }
      ASSERT_TRUE(r->has_preview()) << r->DebugString();
      EXPECT_EQ(r->preview().points(), c.points());
      EXPECT_EQ(r->preview().base_points(), c.base_points());
      EXPECT_EQ(r->preview().bonus_points(), c.bonus_points());
      EXPECT_EQ(r->preview().capped_points(), c.capped_points());
      if (c.line_points_size() > 0) {
        ASSERT_EQ(r->preview().lines_size(), c.line_points_size());
        for (int i = 0; i < c.line_points_size(); ++i) {
          EXPECT_EQ(r->preview().lines(i).points(), c.line_points(i)) << "line " << i;
        }
      }
      EXPECT_EQ(std::vector<std::string>(r->preview().rules_fired().begin(),
                                         r->preview().rules_fired().end()),
                std::vector<std::string>(c.rules_fired().begin(), c.rules_fired().end()));

      if (c.tier_id().empty()) {
        // Record it for real against a card nobody holds: a provisional accrual.
        pb::Request acc;
        acc.set_request_id("a");
        acc.set_till_id("vectors");
        auto* a = acc.mutable_accrue();
        a->mutable_identifier()->set_kind(pb::IDENTIFIER_KIND_CARD);
        a->mutable_identifier()->set_value("7000" + std::to_string(100000000 + ++unknown_card));
        a->set_pos_tx_id("v-" + std::to_string(unknown_card));
        *a->mutable_basket() = basket;
        auto ar = client.call(acc);
        ASSERT_TRUE(ar);
        ASSERT_TRUE(ar->has_accrue()) << ar->DebugString();
        EXPECT_TRUE(ar->accrue().provisional());
        EXPECT_EQ(ar->accrue().points_earned(), c.points());
        ++accrued;
      }
    }
  }
  std::cout << "golden vectors through the agent: " << previewed << " previewed, " << accrued
            << " accrued, " << skipped
            << " skipped (need points already earned today, or a coupon)\n";
  EXPECT_GE(previewed, 30);
  for (auto& [k, a] : agents) EXPECT_EQ(a->stop(SIGTERM), 0);
  std::error_code ec;
  std::filesystem::remove_all(dir, ec);
}

}  // namespace
}  // namespace accrue::testing
