#include "cloud/core/tiers.h"

#include <boost/json.hpp>

#include "cloud/core/customer_status.h"
#include "cloud/sync/feed.h"
#include "common/civil_time.h"
#include "common/engine/tiers.h"

namespace accrue::cloud {

namespace json = boost::json;

namespace {

// The members with what evaluate_tier needs, their rows locked in id order. $1 the ids, $2 the
// last programme-local day before the window, $3 whether the ladder counts spend.
const std::string kLoadFacts =
    "SELECT c.customer_id, c.tier_id, coalesce(c.tier_floor_id, ''), "
    "(extract(epoch FROM c.tier_below_since)*1000)::bigint, "
    "(SELECT coalesce(sum(CASE WHEN $3 THEN d.spend_minor ELSE d.qualifying_points END), 0) "
    "FROM customer_day d WHERE d.customer_id = c.customer_id AND d.local_day > $2::int) "
    "FROM customer c WHERE c.customer_id = ANY($1::text[]) AND c.status IN " +
    kServedStatusesSql + " ORDER BY c.customer_id FOR UPDATE OF c";

constexpr const char* kStore =
    "UPDATE customer c SET tier_id = x.tier_id, tier_below_since = "
    "to_timestamp(x.below_ms / 1000.0), revision = c.revision + x.moved::int, "
    "updated_at = CASE WHEN x.moved THEN now() ELSE c.updated_at END "
    "FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text, tier_id text, below_ms bigint, "
    "moved boolean) WHERE c.customer_id = x.customer_id";

constexpr const char* kHistory =
    "INSERT INTO tier_history (customer_id, from_tier, to_tier, reason, actor) "
    "SELECT x.customer_id, x.from, x.to, x.reason, $2 FROM jsonb_to_recordset($1::jsonb) AS "
    "x(customer_id text, \"from\" text, \"to\" text, reason text)";

constexpr const char* kWebhooks =
    "INSERT INTO webhook_outbox (subscription_id, event_type, event_id, payload) "
    "SELECT s.subscription_id, 'tier.changed', x.customer_id, jsonb_build_object('customer_id', "
    "x.customer_id, 'from', x.from, 'to', x.to, 'reason', x.reason, 'at', to_char(now() AT TIME "
    "ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')) FROM jsonb_to_recordset($1::jsonb) AS "
    "x(customer_id text, \"from\" text, \"to\" text, reason text) JOIN webhook_subscription s "
    "ON s.active AND 'tier.changed' = ANY(s.event_types)";

const std::string kFeed =
    "INSERT INTO change_feed (kind, customer_id) SELECT " +
    std::to_string(to_int(FeedKind::kCustomer)) +
    ", x.customer_id FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text)";

std::optional<TierReason> reason_of(TierChange change) {
  switch (change) {
    case TierChange::kUpgrade:
      return TierReason::kQualified;
    case TierChange::kDowngrade:
      return TierReason::kGraceEnded;
    case TierChange::kPlaced:
      return TierReason::kPlaced;
    case TierChange::kNone:
      break;
  }
  return std::nullopt;
}

}  // namespace

int64_t last_day_before_tier_window(const PublishedProgram& p, TimestampMs now) {
  const int64_t today = day_of_ms(p.zone.to_local_ms(now));
  return today - static_cast<int64_t>(std::max<uint32_t>(1, p.program.tiers.window_days));
}

std::string_view tier_reason_name(TierReason r) {
  switch (r) {
    case TierReason::kQualified:
      return "qualified";
    case TierReason::kGraceEnded:
      return "grace_ended";
    case TierReason::kPlaced:
      return "placed";
    case TierReason::kManualFloor:
      return "manual_floor";
  }
  return "qualified";
}

Result<void> record_tier_moves(pg::Connection& c, const std::vector<TierMove>& moves,
                               std::string_view actor) {
  if (moves.empty()) return {};
  json::array rows;
  for (const auto& m : moves) {
    rows.push_back(json::object{{"customer_id", m.customer_id},
                                {"from", m.from},
                                {"to", m.to},
                                {"reason", tier_reason_name(m.reason)}});
  }
  const std::string js = json::serialize(rows);
  ACCRUE_TRY(c.query(kHistory, {pg::Param::text(js), pg::Param::text(actor)}));
  ACCRUE_TRY(c.query(kWebhooks, {pg::Param::text(js)}));
  return {};
}

Result<std::vector<TierMove>> reevaluate_tiers(pg::Connection& c, const PublishedProgram& program,
                                               const std::vector<std::string>& customers,
                                               TimestampMs now, TierPass pass,
                                               std::string_view actor) {
  std::vector<TierMove> moves;
  const TierPolicy& policy = program.program.tiers;
  if (customers.empty() || policy.ladder.empty()) return moves;
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.query(kLoadFacts,
              {pg::Param::text(pg::text_array(customers)),
               pg::Param::text(std::to_string(last_day_before_tier_window(program, now))),
               pg::Param::text(policy.basis == TierBasis::kAmountSpent ? "true" : "false")}));
  json::array changed;  // rows whose tier or grace clock changes
  for (int i = 0; i < r.rows(); ++i) {
    TierFacts facts;
    facts.current_tier = std::string(r.text(i, 1));
    // A floor the ladder no longer has lifts nobody (head office sets floors from the ladder).
    if (program.program.tier_index(r.text(i, 2))) facts.manual_floor = std::string(r.text(i, 2));
    if (!r.is_null(i, 3)) facts.below_since_ms = r.int64(i, 3);
    facts.qualifying_value = r.int64(i, 4);
    facts.now_ms = now;
    ACCRUE_ASSIGN_OR_RETURN(auto d, evaluate_tier(policy, facts));
    if (d.change == TierChange::kDowngrade && pass == TierPass::kIngest) continue;
    const auto reason = reason_of(d.change);
    const bool moved = reason.has_value() && d.tier_id != facts.current_tier;
    if (!moved && d.below_since_ms == facts.below_since_ms) continue;
    json::object row{{"customer_id", r.text(i, 0)}, {"tier_id", d.tier_id}, {"moved", moved}};
    row["below_ms"] = d.below_since_ms ? json::value(*d.below_since_ms) : json::value(nullptr);
    changed.push_back(std::move(row));
    if (moved) moves.push_back({std::string(r.text(i, 0)), facts.current_tier, d.tier_id, *reason});
  }
  if (changed.empty()) return moves;
  ACCRUE_TRY(c.query(kStore, {pg::Param::text(json::serialize(changed))}));
  ACCRUE_TRY(record_tier_moves(c, moves, actor));
  if (pass == TierPass::kDaily && !moves.empty()) {
    // Ingestion's members have a feed row already: the batch's events changed them.
    json::array ids;
    for (const auto& m : moves) ids.push_back(json::object{{"customer_id", m.customer_id}});
    ACCRUE_TRY(c.query(kFeed, {pg::Param::text(json::serialize(ids))}));
  }
  return moves;
}

Result<TierRunReport> run_tier_pass(
    pg::Connection& c, const PublishedProgram& program, TimestampMs now,
    std::chrono::milliseconds time_limit, int batch_customers,
    const std::function<void(const std::vector<std::string>&)>& after_batch) {
  const auto until = std::chrono::steady_clock::now() + time_limit;
  TierRunReport report;
  if (program.program.tiers.ladder.empty()) return report;
  const std::string first = program.program.tiers.ladder.front().tier_id;
  const std::string after_day = std::to_string(last_day_before_tier_window(program, now));
  // Members at the first tier with no clock running move only by what they earn, which
  // ingestion sees, or by a new ladder: those with activity in the window are looked at too.
  const std::string select =
      "SELECT c.customer_id FROM customer c WHERE c.customer_id > $1 AND c.status IN " +
      kServedStatusesSql +
      " AND (c.tier_id <> $3 OR c.tier_below_since IS NOT NULL OR c.tier_floor_id IS NOT NULL "
      "OR EXISTS (SELECT 1 FROM customer_day d WHERE d.customer_id = c.customer_id AND "
      "d.local_day > $4::int)) ORDER BY c.customer_id LIMIT $2::int";
  std::string after;
  for (int round = 0; round < 1'000'000; ++round) {
    if (std::chrono::steady_clock::now() >= until) {
      report.complete = false;
      break;
    }
    ACCRUE_ASSIGN_OR_RETURN(
        auto due,
        c.query(select, {pg::Param::text(after), pg::Param::text(std::to_string(batch_customers)),
                         pg::Param::text(first), pg::Param::text(after_day)}));
    if (due.rows() == 0) break;
    std::vector<std::string> ids;
    for (int i = 0; i < due.rows(); ++i) ids.emplace_back(due.text(i, 0));
    ACCRUE_ASSIGN_OR_RETURN(auto moves, pg::in_transaction(c, [&] {
                              return reevaluate_tiers(c, program, ids, now, TierPass::kDaily,
                                                      "scheduler");
                            }));
    report.customers += static_cast<int64_t>(ids.size());
    std::vector<std::string> moved;
    for (const auto& m : moves) {
      moved.push_back(m.customer_id);
      auto& count = m.reason == TierReason::kGraceEnded ? report.downgraded
                    : m.reason == TierReason::kPlaced   ? report.placed
                                                        : report.upgraded;
      ++count;
    }
    if (after_batch && !moved.empty()) after_batch(moved);
    after = ids.back();
  }
  return report;
}

}  // namespace accrue::cloud
