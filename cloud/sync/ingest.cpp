#include "cloud/sync/ingest.h"

#include "cloud/core/balance.h"
#include "cloud/core/reward_rules.h"
#include "cloud/core/tiers.h"
#include "cloud/sync/ingest_parts.h"
#include "common/sys/log.h"

namespace accrue::cloud {

namespace sv1 = accrue::sync::v1;

struct Ingest::Entry {
  ingest::Flow flow = ingest::Flow::kStore;
  int64_t* available_after = nullptr;  // online: the redeeming customer's points after
  std::function<Result<void>(pg::Connection&)> prepare;
  std::function<Result<void>(pg::Connection&, const sv1::EventBatchResult&)> also;
};

namespace {

sv1::EventBatchResult results_of(const sv1::EventBatch& batch, const ingest::Verdicts& v) {
  sv1::EventBatchResult out;
  for (int i = 0; i < batch.events_size(); ++i) {
    auto* r = out.add_results();
    r->set_event_id(batch.events(i).event_id());
    if (const auto& rejected = v.rejection(i)) {
      r->set_status(sv1::EVENT_STATUS_REJECTED);
      r->set_reject_code(rejected->code);
      r->set_message(rejected->message);
    } else if (v.duplicate(i)) {
      r->set_status(sv1::EVENT_STATUS_DUPLICATE);
    } else {
      r->set_status(sv1::EVENT_STATUS_APPLIED);
    }
  }
  return out;
}

}  // namespace

Uuid Ingest::next_id() {
  std::lock_guard lock(ids_mu_);
  return ids_.next();
}

Result<sv1::EventBatchResult> Ingest::apply(const sv1::EventBatch& batch,
                                            std::string_view store_id) {
  auto result = apply(batch, store_id, Entry{});
  if (result) apply_returns_held_for(batch, *result);
  return result;
}

// Returns held because their sale was not known (the selling store was offline too) are applied
// as soon as the sale arrives, after its batch committed: each in a transaction of its own, like
// head office's retry. What fails here stays held for the daily `returns` job; the upload that
// brought the sale has its answer already.
void Ingest::apply_returns_held_for(const sv1::EventBatch& batch,
                                    const sv1::EventBatchResult& result) {
  std::vector<std::string> ids;
  boost::json::array named;
  for (int i = 0; i < batch.events_size() && i < result.results_size(); ++i) {
    const auto& e = batch.events(i);
    if (e.body_case() != sv1::EventEnvelope::kAccrual ||
        result.results(i).status() != sv1::EVENT_STATUS_APPLIED) {
      continue;
    }
    ids.push_back(e.event_id());
    named.push_back(boost::json::object{{"store_id", e.store_id()},
                                        {"till_id", e.accrual().till_id()},
                                        {"pos_tx_id", e.accrual().pos_tx_id()}});
  }
  if (ids.empty()) return;
  std::vector<std::pair<std::string, std::string>> held;  // (store, envelope)
  {
    auto lease = pool_.acquire();
    if (!lease) return;
    auto r = (*lease)->query(
        "SELECT store_id, envelope FROM sale_return WHERE status = 'held' AND "
        "(sale_event_id = ANY($1::uuid[]) OR (sale_store_id, sale_till_id, sale_pos_tx_id) IN "
        "(SELECT x.store_id, x.till_id, x.pos_tx_id FROM jsonb_to_recordset($2::jsonb) AS "
        "x(store_id text, till_id text, pos_tx_id text))) ORDER BY event_id",
        {pg::Param::text(pg::text_array(ids)), pg::Param::text(boost::json::serialize(named))});
    if (!r) {
      log(LogLevel::kWarn, "held_returns_not_read", {{"error", r.error().message}});
      return;
    }
    for (int k = 0; k < r->rows(); ++k) {
      auto envelope = pg::decode_bytea(r->text(k, 1));
      if (envelope) held.emplace_back(std::string(r->text(k, 0)), std::move(*envelope));
    }
  }
  for (const auto& [store, envelope] : held) {
    auto applied = apply_held_return(store, envelope);
    if (!applied) {
      log(LogLevel::kWarn, "held_return_not_applied", {{"error", applied.error().message}});
    }
  }
}

Result<sv1::EventBatchResult> Ingest::apply_head_office(
    const sv1::EventBatch& batch,
    std::function<Result<void>(pg::Connection&, const sv1::EventBatchResult&)> also,
    std::function<Result<void>(pg::Connection&)> prepare) {
  return apply(batch, batch.store_id() == kWebShopStore ? kWebShopStore : kHeadOfficeStore,
               Entry{ingest::Flow::kHeadOffice, nullptr, std::move(prepare), std::move(also)});
}

Result<sv1::OnlineRedeemResponse> Ingest::redeem_online(const sv1::OnlineRedeemRequest& request,
                                                        std::string_view store_id) {
  const auto& e = request.event();
  if (e.body_case() != sv1::EventEnvelope::kRedemption &&
      e.body_case() != sv1::EventEnvelope::kCouponUse) {
    return fail(ErrorCode::kInvalidArgument, "event: a redemption or a coupon use is required");
  }
  sv1::EventBatch batch;
  batch.set_store_id(e.store_id());
  batch.set_agent_id(e.agent_id());
  *batch.add_events() = e;
  int64_t available = -1;
  ACCRUE_ASSIGN_OR_RETURN(auto r,
                          apply(batch, store_id, Entry{ingest::Flow::kOnline, &available, {}, {}}));
  sv1::OnlineRedeemResponse out;
  *out.mutable_result() = r.results(0);
  if (e.has_coupon_use()) return out;  // no points move
  if (available < 0) {                 // duplicate, or rejected before the balance was read
    ACCRUE_ASSIGN_OR_RETURN(available, available_points(e.redemption().customer_id()));
  }
  out.set_available_points(std::max<int64_t>(0, available));
  return out;
}

Result<sv1::OnlineClaimResponse> Ingest::claim_online(const sv1::OnlineClaimRequest& request,
                                                      std::string_view store_id) {
  const auto& e = request.event();
  if (e.body_case() != sv1::EventEnvelope::kRewardClaim) {
    return fail(ErrorCode::kInvalidArgument, "event: a reward claim is required");
  }
  ACCRUE_TRY(Uuid::parse(e.event_id(), "event_id"));
  if (e.reward_claim().abandoned()) {
    return fail(ErrorCode::kInvalidArgument, "event: an abandoned claim is uploaded, not asked");
  }
  if (coupons_ == nullptr) {
    return fail(ErrorCode::kUnavailable,
                "rewards cannot be claimed: no coupon key is configured (auth.coupon_key_file)");
  }
  const auto& claim = e.reward_claim();
  sv1::OnlineClaimResponse out;
  auto fill_from_coupon = [&](pg::Connection& c) -> Result<bool> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto k, c.query("SELECT code, (extract(epoch FROM expires_at) * 1000)::bigint FROM coupon "
                        "WHERE claim_event_id = $1::uuid",
                        {pg::Param::text(e.event_id())}));
    if (k.rows() == 0) return false;
    out.set_code(std::string(k.text(0, 0)));
    out.set_expires_at_ms(k.int64(0, 1));
    return true;
  };
  // A claim decided already (the till's retry, the answer lost): its coupon, judged no further
  // (her limit now counts that very coupon).
  {
    ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
    ACCRUE_ASSIGN_OR_RETURN(bool seen, fill_from_coupon(*lease));
    if (seen) {
      out.mutable_result()->set_event_id(e.event_id());
      out.mutable_result()->set_status(sv1::EVENT_STATUS_DUPLICATE);
      ACCRUE_ASSIGN_OR_RETURN(auto available, available_points(claim.customer_id()));
      out.set_available_points(std::max<int64_t>(0, available));
      return out;
    }
  }
  // The reward's rules, judged with her row and the stock row locked for the transaction the
  // claim is booked in.
  std::optional<Error> refused;
  auto rules = [&](pg::Connection& c) -> Result<void> {
    auto published = programs_.get(c, e.program_id(), e.program_version());
    // A version never published, or no such reward in it: ingestion rejects the event with its
    // reason ("program_version", "bad_claim").
    if (!published && published.error().code == ErrorCode::kNotFound) return {};
    if (!published) return std::unexpected(published.error());
    const Reward* reward = (*published)->program.reward(claim.reward_id());
    if (reward == nullptr) return {};
    auto ok =
        check_reward_rules(c, (*published)->program, *reward, claim.customer_id(), clock_.now_ms());
    if (ok) return {};
    if (!ok.error().message_id.empty()) {
      refused = ok.error();
      return fail(ErrorCode::kFailedPrecondition, "claim refused");
    }
    // No such member: ingestion rejects the event ("unknown_customer").
    if (ok.error().code == ErrorCode::kNotFound) return {};
    return ok;
  };
  sv1::EventBatch batch;
  batch.set_store_id(e.store_id());
  batch.set_agent_id(e.agent_id());
  *batch.add_events() = e;
  int64_t available = -1;
  auto r = apply(batch, store_id, Entry{ingest::Flow::kOnline, &available, rules, {}});
  if (refused) {
    out.mutable_result()->set_event_id(e.event_id());
    out.mutable_result()->set_status(sv1::EVENT_STATUS_REJECTED);
    out.mutable_result()->set_reject_code("reward_refused");
    out.mutable_result()->set_message(refused->message);
    out.set_message_id(refused->message_id);
    return out;
  }
  if (!r) return std::unexpected(r.error());
  *out.mutable_result() = r->results(0);
  if (out.result().status() == sv1::EVENT_STATUS_REJECTED &&
      out.result().reject_code() == "insufficient_points") {
    out.set_message_id("points.insufficient");
  }
  if (out.result().status() != sv1::EVENT_STATUS_REJECTED) {
    ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
    ACCRUE_TRY(fill_from_coupon(*lease));
  }
  if (available < 0) {  // rejected before her balance was read
    ACCRUE_ASSIGN_OR_RETURN(available, available_points(claim.customer_id()));
  }
  out.set_available_points(std::max<int64_t>(0, available));
  return out;
}

Result<int64_t> Ingest::available_points(const std::string& customer_id) {
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  ACCRUE_ASSIGN_OR_RETURN(
      auto b, lease->query(std::string("SELECT b.points, ") + kOpenLotsColumn +
                               " FROM balance b JOIN customer c USING (customer_id) WHERE "
                               "c.customer_id = $1 OR c.temp_customer_id = $1",
                           {pg::Param::text(customer_id)}));
  if (b.rows() == 0) return -1;
  return customer_points(b.int64(0, 0), parse_open_lots(b.text(0, 1)), clock_.now_ms()).available;
}

Result<sv1::OnlineReturnResponse> Ingest::return_online(const sv1::OnlineReturnRequest& request,
                                                        std::string_view store_id) {
  const auto& e = request.event();
  if (e.body_case() != sv1::EventEnvelope::kReturn) {
    return fail(ErrorCode::kInvalidArgument, "event: a return is required");
  }
  sv1::EventBatch batch;
  batch.set_store_id(e.store_id());
  batch.set_agent_id(e.agent_id());
  *batch.add_events() = e;
  ACCRUE_ASSIGN_OR_RETURN(auto r,
                          apply(batch, store_id, Entry{ingest::Flow::kOnline, nullptr, {}, {}}));
  sv1::OnlineReturnResponse out;
  *out.mutable_result() = r.results(0);
  if (out.result().status() == sv1::EVENT_STATUS_REJECTED) return out;
  // Applied, held, or seen before (perhaps under another event id): what the cloud recorded.
  std::string customer;
  {
    ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
    ACCRUE_ASSIGN_OR_RETURN(
        auto seen, lease->query("SELECT status, points_reversed, coalesce(customer_id, ''), "
                                "points_refunded FROM sale_return WHERE store_id = $1 AND "
                                "till_id = $2 AND pos_tx_id = $3",
                                {pg::Param::text(store_id), pg::Param::text(e.return_().till_id()),
                                 pg::Param::text(e.return_().pos_tx_id())}));
    if (seen.rows() == 0) return out;  // a duplicate of a return made before returns were kept
    out.set_held_for_review(seen.text(0, 0) == "held");
    out.set_points_reversed(seen.int64(0, 1));
    out.set_points_refunded(seen.int64(0, 3));
    customer = std::string(seen.text(0, 2));
  }
  out.set_customer_id(customer);
  if (!customer.empty()) {
    ACCRUE_ASSIGN_OR_RETURN(auto available, available_points(customer));
    out.set_available_points(std::max<int64_t>(0, available));
  }
  return out;
}

Result<std::optional<std::string>> Ingest::apply_held_return(const std::string& store_id,
                                                             const std::string& envelope) {
  sv1::EventEnvelope e;
  if (!e.ParseFromString(envelope) || e.body_case() != sv1::EventEnvelope::kReturn) {
    return fail(ErrorCode::kDataLoss, "a held return's event does not parse");
  }
  sv1::EventBatch batch;
  batch.set_store_id(e.store_id());
  batch.set_agent_id(e.agent_id());
  *batch.add_events() = std::move(e);
  ACCRUE_ASSIGN_OR_RETURN(auto r,
                          apply(batch, store_id, Entry{ingest::Flow::kReview, nullptr, {}, {}}));
  if (r.results(0).status() == sv1::EVENT_STATUS_REJECTED) return r.results(0).message();
  return std::nullopt;
}

// Members whose qualifying value the batch changed rise to the tier it earns them, in the batch's
// transaction (cloud/core/tiers.h); a downgrade waits for the daily pass.
Result<void> Ingest::promote(pg::Connection& c, ingest::Writes& w, TimestampMs now) {
  std::vector<std::string> qualifying;
  for (const auto& [key, delta] : w.day_deltas) {
    if ((delta.qualifying_points != 0 || delta.spend_minor != 0) &&
        (qualifying.empty() || qualifying.back() != key.first)) {
      qualifying.push_back(key.first);
    }
  }
  if (qualifying.empty()) return {};
  ACCRUE_ASSIGN_OR_RETURN(auto program, programs_.latest(c, now));
  ACCRUE_ASSIGN_OR_RETURN(
      auto moves, reevaluate_tiers(c, *program, qualifying, now, TierPass::kIngest, "ingest"));
  for (const auto& m : moves) w.touched.insert(m.customer_id);
  counters_.tier_moves.fetch_add(moves.size(), std::memory_order_relaxed);
  return {};
}

Result<sv1::EventBatchResult> Ingest::apply(const sv1::EventBatch& batch, std::string_view store_id,
                                            const Entry& entry) {
  ACCRUE_TRY(ingest::check_batch(batch, store_id, max_batch_events_));
  ingest::Verdicts verdicts(batch.events_size());
  const std::vector<std::string> ids = ingest::check_events(batch, entry.flow, verdicts);

  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  pg::Connection& c = *lease;
  uint64_t gaps = 0, overdrafts = 0, overdraft_points = 0, double_uses = 0;
  std::vector<std::string> touched;
  auto result = pg::in_transaction(c, [&]() -> Result<sv1::EventBatchResult> {
    ACCRUE_ASSIGN_OR_RETURN(auto agent, ingest::lock_agent(c, batch, store_id));
    if (entry.prepare) ACCRUE_TRY(entry.prepare(c));
    ACCRUE_TRY(ingest::mark_duplicates(c, batch, ids, entry.flow, verdicts));
    ingest::BatchState state;
    ACCRUE_TRY(ingest::load_state(c, programs_, batch, agent.time_zone, verdicts, state));
    const ingest::EventContext ctx{
        entry.flow,
        agent.country,
        clock_.now_ms(),
        [this] { return next_id(); },
        [this] { counters_.mismatched.fetch_add(1, std::memory_order_relaxed); },
        entry.available_after,
        contact_.get(),
        [this] { counters_.unreadable_contacts.fetch_add(1, std::memory_order_relaxed); }};
    for (int i = 0; i < batch.events_size(); ++i) {
      if (!verdicts.is_new(i)) continue;
      if (auto refused = ingest::apply_event(state, batch.events(i), ctx, i)) {
        verdicts.reject(i, std::move(*refused));
      }
    }
    ACCRUE_TRY(ingest::write_batch(c, state, store_id));
    // Claims before uses: a gift claimed at a till is used by the claim's next event.
    ACCRUE_TRY(ingest::write_reward_claims(c, state.out.reward_claims, coupons_));
    ACCRUE_ASSIGN_OR_RETURN(auto coupons,
                            ingest::write_coupon_events(c, state.out.coupon_events, entry.flow));
    for (auto& [i, why] : coupons.refused) verdicts.reject(i, std::move(why));
    double_uses = coupons.double_uses;
    ACCRUE_TRY(promote(c, state.out, ctx.now_ms));
    ACCRUE_ASSIGN_OR_RETURN(
        auto g, ingest::track_agent_seq(c, batch, verdicts, entry.flow, agent.watermark));
    gaps = g;
    touched.assign(state.out.touched.begin(), state.out.touched.end());
    overdrafts = state.out.overdrafts.size();
    overdraft_points = 0;
    for (const auto& o : state.out.overdrafts) {
      overdraft_points += static_cast<uint64_t>(o.as_object().at("points").as_int64());
    }
    sv1::EventBatchResult out = results_of(batch, verdicts);
    if (entry.also) ACCRUE_TRY(entry.also(c, out));
    return out;
  });
  if (!result) return result;
  if (after_commit_ && !touched.empty()) after_commit_(touched);
  for (const auto& r : result->results()) {
    auto& counter = r.status() == sv1::EVENT_STATUS_APPLIED     ? counters_.applied
                    : r.status() == sv1::EVENT_STATUS_DUPLICATE ? counters_.duplicate
                                                                : counters_.rejected;
    counter.fetch_add(1, std::memory_order_relaxed);
  }
  counters_.seq_gaps.fetch_add(gaps, std::memory_order_relaxed);
  counters_.overdrafts.fetch_add(overdrafts, std::memory_order_relaxed);
  counters_.overdraft_points.fetch_add(overdraft_points, std::memory_order_relaxed);
  counters_.coupon_double_uses.fetch_add(double_uses, std::memory_order_relaxed);
  return result;
}

}  // namespace accrue::cloud
