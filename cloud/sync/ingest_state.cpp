// Ingestion, part 2: the agent lock, duplicates, and the state the batch's events read.
#include <algorithm>

#include "cloud/core/balance.h"
#include "cloud/sync/ingest_parts.h"
#include "common/civil_time.h"
#include "common/hex.h"
#include "common/sys/log.h"
#include "common/uuid.h"

namespace accrue::cloud::ingest {

namespace json = boost::json;

namespace {

// pg_advisory_xact_lock(int4, int4)'s first key for claims ("clm" in ASCII); the two-key space
// does not overlap the one-key locks the service takes elsewhere.
constexpr int32_t kClaimLockSpace = 0x636c6d;

// Milliseconds since the epoch of a timestamptz column, in SQL.
std::string ms_of(std::string_view column) {
  return "(extract(epoch FROM " + std::string(column) + ")*1000)::bigint";
}

// bytea[] literal from raw byte strings.
std::string bytea_array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += "\"\\\\x" + to_hex(std::string_view(v[i])) + "\"";
  }
  out += '}';
  return out;
}

// The sale a return names by store, till and transaction (the return's own store and till by
// default).
SaleRef sale_ref_of(const sv1::EventEnvelope& e) {
  const auto& r = e.return_();
  return {r.original_store_id().empty() ? e.store_id() : r.original_store_id(),
          r.original_till_id().empty() ? r.till_id() : r.original_till_id(),
          r.original_pos_tx_id()};
}

// Who the new events are about: customer ids (or a store's temp ids), identifier hashes, and
// the sales that returns name.
struct References {
  std::vector<std::string> refs, hashes, originals;
  std::vector<SaleRef> sale_refs;          // sales returns name without their event id
  std::vector<std::string> claim_hashes;   // identifiers an enrolment or a claim claims for
  std::vector<std::string> redemptions;    // that sales name as having paid for them
  std::vector<std::string> coupon_uses;    // that sales name as multiplying their points
  std::vector<std::string> claim_coupons;  // the coupon ids reward claims would issue
};

References references_of(const sv1::EventBatch& batch, Verdicts& v) {
  References out;
  for (int i = 0; i < batch.events_size(); ++i) {
    if (!v.is_new(i)) continue;
    const auto& e = batch.events(i);
    switch (e.body_case()) {
      case sv1::EventEnvelope::kAccrual: {
        const auto& a = e.accrual();
        if (!a.customer_id().empty())
          out.refs.push_back(a.customer_id());
        else if (a.identifier().hash().size() == 32)
          out.hashes.push_back(a.identifier().hash());
        else
          v.reject(i, "bad_identifier", "accrual: customer_id or a 32-byte identifier hash");
        if (a.redemption_event_ids_size() > kMaxRedemptionsPerSale) {
          v.reject(i, "bad_accrual", "accrual: at most 8 redemptions pay for one sale");
        }
        for (const auto& id : a.redemption_event_ids()) {
          if (!Uuid::parse(id)) {
            v.reject(i, "bad_accrual", "accrual: redemption_event_ids must be event ids");
          } else {
            out.redemptions.push_back(id);
          }
        }
        if (a.points_multiplier_bp() != 0 || !a.multiplier_coupon_use_event_id().empty()) {
          if (!Uuid::parse(a.multiplier_coupon_use_event_id()) ||
              a.points_multiplier_bp() < kOneX || a.points_multiplier_bp() > kMaxMultiplierBp) {
            v.reject(i, "bad_accrual",
                     "accrual: a points multiplier needs its coupon use's event id and a factor "
                     "of 10000 (1x) to 10000000 basis points");
          } else {
            out.coupon_uses.push_back(a.multiplier_coupon_use_event_id());
          }
        }
        break;
      }
      case sv1::EventEnvelope::kRedemption:
        out.refs.push_back(e.redemption().customer_id());
        break;
      case sv1::EventEnvelope::kRewardClaim:
        out.refs.push_back(e.reward_claim().customer_id());
        out.claim_coupons.push_back(e.reward_claim().coupon_id());
        break;
      case sv1::EventEnvelope::kReturn: {
        const auto& r = e.return_();
        if (!r.customer_id().empty()) out.refs.push_back(r.customer_id());
        if (!r.original_event_id().empty()) {
          out.originals.push_back(r.original_event_id());
        } else {
          out.sale_refs.push_back(sale_ref_of(e));
        }
        break;
      }
      case sv1::EventEnvelope::kAdjustment:
        out.refs.push_back(e.adjustment().customer_id());
        break;
      case sv1::EventEnvelope::kEnrolment:
        for (const auto& h : e.enrolment().identifiers()) {
          if (h.hash().size() != 32) v.reject(i, "bad_identifier", "identifiers: 32-byte hashes");
          out.hashes.push_back(h.hash());
          out.claim_hashes.push_back(h.hash());
        }
        break;
      case sv1::EventEnvelope::kClaim:
        out.refs.push_back(e.claim().customer_id());
        for (const auto& h : e.claim().identifier_hashes()) {
          if (h.size() != 32) v.reject(i, "bad_identifier", "identifier_hashes: 32 bytes each");
          out.hashes.push_back(h);
          out.claim_hashes.push_back(h);
        }
        break;
      default:
        break;
    }
  }
  return out;
}

// The programme versions the new events name, in the store's time zone (the registry's, as the
// agent has it from the feed); an event whose version is not published here is rejected (the
// store resubmits it once it is).
Result<void> load_programs(pg::Connection& c, ProgramCatalog& catalog, const sv1::EventBatch& batch,
                           const std::string& store_zone, Verdicts& v, BatchState& s) {
  for (int i = 0; i < batch.events_size(); ++i) {
    if (!v.is_new(i)) continue;
    const auto& e = batch.events(i);
    auto key = std::make_pair(e.program_id(), e.program_version());
    if (!s.programs.contains(key)) {
      auto p = catalog.get(c, key.first, key.second);
      if (!p && p.error().code != ErrorCode::kNotFound) return std::unexpected(p.error());
      if (p) {
        auto zoned = catalog.in_zone(*p, store_zone);
        if (zoned) {
          p = std::move(zoned);
        } else {  // the agent falls back the same way
          log(LogLevel::kError, "store_time_zone_unknown",
              {{"store_id", batch.store_id()}, {"reason", zoned.error().message}});
        }
      }
      s.programs[key] = p ? *p : nullptr;
    }
    if (!s.programs[key]) {
      v.reject(i, "program_version",
               "program " + key.first + " version " + std::to_string(key.second) +
                   " is not published here yet; resubmit once it is");
    }
  }
  return {};
}

// Customers by id or temp id. A member merged into another: her events go to the survivor.
Result<void> load_customers(pg::Connection& c, const std::vector<std::string>& refs,
                            BatchState& s) {
  if (refs.empty()) return {};
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.query("SELECT c.customer_id, coalesce(c.temp_customer_id, ''), c.tier_id, "
              "coalesce(c.merged_into, ''), coalesce(m.tier_id, '') FROM customer c LEFT JOIN "
              "customer m ON m.customer_id = c.merged_into "
              "WHERE c.customer_id = ANY($1::text[]) OR c.temp_customer_id = ANY($1::text[])",
              {pg::Param::text(pg::text_array(refs))}));
  for (int k = 0; k < r.rows(); ++k) {
    std::string id(r.text(k, 0));
    const std::string survivor(r.text(k, 3));
    if (!survivor.empty()) {
      s.customers_by_id.try_emplace(survivor,
                                    CustomerState{survivor, std::string(r.text(k, 4)), {}});
      s.temp_to_id[id] = survivor;
      if (!r.text(k, 1).empty()) s.temp_to_id[std::string(r.text(k, 1))] = survivor;
      continue;
    }
    s.customers_by_id[id] = {id, std::string(r.text(k, 2)), {}};
    if (!r.text(k, 1).empty()) s.temp_to_id[std::string(r.text(k, 1))] = id;
  }
  return {};
}

// Batches that may claim provisional accruals for the same identifier (an enrolment, head
// office, the daily sweep) run one after the other, so that the second finds them claimed: each
// takes a transaction-level advisory lock per identifier it claims for (key: the hash's first 4
// bytes, in a key space of its own), in key order and before any balance, so two batches never
// wait on each other in a circle. Advisory, not row locks: a merge locks balances before it moves
// identifiers, and must not deadlock with a claim.
Result<void> lock_claims(pg::Connection& c, const std::vector<std::string>& hashes) {
  if (hashes.empty()) return {};
  std::vector<int32_t> keys;
  for (const auto& h : hashes) {
    uint32_t k = 0;
    for (size_t i = 0; i < 4 && i < h.size(); ++i) k = (k << 8) | static_cast<uint8_t>(h[i]);
    keys.push_back(static_cast<int32_t>(k));
  }
  std::ranges::sort(keys);
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  std::string arr = "{";
  for (size_t i = 0; i < keys.size(); ++i) arr += (i ? "," : "") + std::to_string(keys[i]);
  arr += "}";
  ACCRUE_TRY(c.query("SELECT pg_advisory_xact_lock(" + std::to_string(kClaimLockSpace) +
                         ", k) FROM unnest($1::int4[]) AS k",
                     {pg::Param::text(arr)}));
  return {};
}

// Members by identifier hash, and the provisional accruals against those hashes that nobody has
// claimed yet.
Result<void> load_identifiers(pg::Connection& c, const std::vector<std::string>& hashes,
                              BatchState& s) {
  if (hashes.empty()) return {};
  const std::string arr = bytea_array(hashes);
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query("SELECT i.hash, i.customer_id, c.tier_id FROM identifier i "
                      "JOIN customer c USING (customer_id) WHERE i.hash = ANY($1::bytea[])",
                      {pg::Param::text(arr)}));
  for (int k = 0; k < r.rows(); ++k) {
    auto raw = pg::decode_bytea(r.text(k, 0));
    if (!raw) continue;
    std::string id(r.text(k, 1));
    s.hash_to_customer[*raw] = id;
    s.customers_by_id.try_emplace(id, CustomerState{id, std::string(r.text(k, 2)), {}});
  }
  ACCRUE_ASSIGN_OR_RETURN(
      auto u, c.query("SELECT l.owner_hash, l.event_id::text, l.points, " + ms_of("l.occurred_at") +
                          " FROM ledger l WHERE l.owner_hash = ANY($1::bytea[]) AND l.customer_id "
                          "IS NULL AND NOT EXISTS (SELECT 1 FROM ledger c WHERE c.kind = " +
                          std::to_string(to_int(LedgerKind::kClaimed)) +
                          " AND c.ref_event_id = l.event_id) ORDER BY l.occurred_at, l.event_id",
                      {pg::Param::text(arr)}));
  for (int k = 0; k < u.rows(); ++k) {
    auto raw = pg::decode_bytea(u.text(k, 0));
    if (raw) {
      s.unclaimed[*raw].emplace_back(std::string(u.text(k, 1)), u.int64(k, 2), u.int64(k, 3));
    }
  }
  return {};
}

// The redemptions new sales name (Accrual.redemption_event_ids): whose they were, where, how many
// points, and whether a sale already names them.
Result<void> load_named_redemptions(pg::Connection& c, const References& refs, BatchState& s) {
  if (refs.redemptions.empty()) return {};
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query("SELECT l.event_id::text, l.customer_id, l.store_id, -l.points, "
                      "sr.sale_event_id IS NOT NULL FROM ledger l LEFT JOIN sale_redemption sr "
                      "ON sr.redemption_event_id = l.event_id WHERE l.event_id = ANY($1::uuid[]) "
                      "AND l.kind = " +
                          std::to_string(to_int(LedgerKind::kRedemption)),
                      {pg::Param::text(pg::text_array(refs.redemptions))}));
  for (int k = 0; k < r.rows(); ++k) {
    s.redemptions[std::string(r.text(k, 0))] = {
        std::string(r.text(k, 1)), std::string(r.text(k, 2)), r.int64(k, 3), r.text(k, 4) == "t"};
  }
  return {};
}

// The coupon uses new sales name as multiplying their points, uploaded in earlier batches (or
// decided online) and not voided: where and of which reward.
Result<void> load_multiplier_uses(pg::Connection& c, const References& refs, BatchState& s) {
  if (refs.coupon_uses.empty()) return {};
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query("SELECT u.event_id::text, u.store_id, coalesce(u.reward_id, '') FROM "
                      "coupon_event u WHERE u.event_id = ANY($1::uuid[]) AND u.kind = 'use' AND "
                      "NOT EXISTS (SELECT 1 FROM coupon_event v WHERE v.kind = 'void' AND "
                      "v.use_event_id = u.event_id)",
                      {pg::Param::text(pg::text_array(refs.coupon_uses))}));
  for (int k = 0; k < r.rows(); ++k) {
    s.multiplier_uses[std::string(r.text(k, 0))] = {std::string(r.text(k, 1)),
                                                    std::string(r.text(k, 2))};
  }
  return {};
}

// The sales returns name: their member, the points they have not given back yet and their
// lines; their members join the batch's references (a return made in another store does not
// know her).
Result<void> load_original_sales(pg::Connection& c, References& refs, BatchState& s) {
  if (refs.originals.empty() && refs.sale_refs.empty()) return {};
  json::array named;
  for (const auto& [store, till, tx] : refs.sale_refs) {
    named.push_back(json::object{{"store_id", store}, {"till_id", till}, {"pos_tx_id", tx}});
  }
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.query("SELECT event_id::text, coalesce(customer_id, ''), points_earned - points_reversed, "
              "coalesce(lines::text, ''), store_id, till_id, pos_tx_id, redeemed_points, "
              "refunded_points FROM receipt "
              "WHERE event_id::text = ANY($1::text[]) OR (store_id, till_id, pos_tx_id) IN "
              "(SELECT x.store_id, x.till_id, x.pos_tx_id FROM jsonb_to_recordset($2::jsonb) "
              "AS x(store_id text, till_id text, pos_tx_id text))",
              {pg::Param::text(pg::text_array(refs.originals)),
               pg::Param::text(json::serialize(named))}));
  for (int k = 0; k < r.rows(); ++k) {
    std::string id(r.text(k, 0));
    SaleState sale{std::string(r.text(k, 1)),
                   r.int64(k, 2),
                   std::nullopt,
                   false,
                   r.int64(k, 7),
                   r.int64(k, 8)};
    if (!r.text(k, 3).empty()) sale.lines = sale_lines_from_json(r.text(k, 3));
    if (!sale.customer_id.empty()) refs.refs.push_back(sale.customer_id);
    s.sales_by_ref[{std::string(r.text(k, 4)), std::string(r.text(k, 5)),
                    std::string(r.text(k, 6))}] = id;
    s.sales[std::move(id)] = std::move(sale);
  }
  return {};
}

// Balances locked in customer order (no deadlock between concurrent batches), then their open
// lots.
Result<void> lock_balances(pg::Connection& c, BatchState& s) {
  if (s.customers_by_id.empty()) return {};
  std::vector<std::string> locked;
  for (const auto& [id, _] : s.customers_by_id) locked.push_back(id);
  const std::string arr = pg::text_array(locked);
  ACCRUE_ASSIGN_OR_RETURN(
      auto rows,
      c.query("SELECT customer_id, points FROM balance WHERE customer_id = ANY($1::text[]) "
              "ORDER BY customer_id FOR UPDATE",
              {pg::Param::text(arr)}));
  for (int k = 0; k < rows.rows(); ++k) {
    s.customers_by_id[std::string(rows.text(k, 0))].points = rows.int64(k, 1);
  }
  ACCRUE_ASSIGN_OR_RETURN(auto lots,
                          c.query("SELECT lot_id::text, customer_id, " + ms_of("earned_at") + ", " +
                                      ms_of("available_at") + ", coalesce(" + ms_of("expires_at") +
                                      ", -1), points, remaining FROM points_lot "
                                      "WHERE customer_id = ANY($1::text[]) AND remaining > 0",
                                  {pg::Param::text(arr)}));
  for (int k = 0; k < lots.rows(); ++k) {
    LotState l;
    l.customer_id = std::string(lots.text(k, 1));
    l.lot.lot_id = std::string(lots.text(k, 0));
    l.lot.earned_at_ms = lots.int64(k, 2);
    l.lot.available_at_ms = lots.int64(k, 3);
    const int64_t exp = lots.int64(k, 4);
    l.lot.expires_at_ms = exp < 0 ? kNeverExpires : exp;
    l.lot.points = lots.int64(k, 5);
    l.lot.remaining = lots.int64(k, 6);
    s.lots.push_back(std::move(l));
    s.customers_by_id[s.lots.back().customer_id].lots.push_back(s.lots.size() - 1);
  }
  return {};
}

// Points earned so far on store-local days, for programmes with a daily cap: one query for every
// (customer, day) the batch's accruals fall on. A customer created inside this batch has earned
// nothing yet (earned_today answers 0).
Result<void> load_daily_caps(pg::Connection& c, const sv1::EventBatch& batch, const Verdicts& v,
                             BatchState& s) {
  std::vector<std::string> cids, days;
  std::set<std::pair<std::string, int64_t>> wanted;
  for (int i = 0; i < batch.events_size(); ++i) {
    if (!v.is_new(i) || batch.events(i).body_case() != sv1::EventEnvelope::kAccrual) continue;
    const auto& e = batch.events(i);
    const auto& p = s.program_of(e);
    if (p.program.daily_cap_points <= 0) continue;
    const CustomerState* cs = s.accrual_customer(e.accrual());
    if (!cs) continue;
    const int64_t day = day_of_ms(p.zone.to_local_ms(e.occurred_at_ms()));
    if (wanted.emplace(cs->customer_id, day).second) {
      cids.push_back(cs->customer_id);
      days.push_back(std::to_string(day));
    }
  }
  if (cids.empty()) return {};
  ACCRUE_ASSIGN_OR_RETURN(
      auto r,
      c.query("SELECT d.customer_id, d.local_day, d.earned FROM customer_day d JOIN "
              "unnest($1::text[], $2::int[]) AS k(c, day) ON d.customer_id = k.c AND "
              "d.local_day = k.day",
              {pg::Param::text(pg::text_array(cids)), pg::Param::text(pg::text_array(days))}));
  for (int k = 0; k < r.rows(); ++k) {
    s.earned_on_day[{std::string(r.text(k, 0)), r.int64(k, 1)}] = r.int64(k, 2);
  }
  return {};
}

}  // namespace

CustomerState* BatchState::customer(const std::string& ref) {
  auto it = customers_by_id.find(ref);
  if (it != customers_by_id.end()) return &it->second;
  auto t = temp_to_id.find(ref);
  if (t != temp_to_id.end()) return &customers_by_id[t->second];
  return nullptr;
}

CustomerState* BatchState::accrual_customer(const sv1::Accrual& a) {
  if (!a.customer_id().empty()) return customer(a.customer_id());
  if (auto h = hash_to_customer.find(a.identifier().hash()); h != hash_to_customer.end()) {
    return &customers_by_id[h->second];
  }
  return nullptr;
}

std::vector<Lot> BatchState::lots_of(const CustomerState& c) const {
  std::vector<Lot> open;
  open.reserve(c.lots.size());
  for (size_t i : c.lots) open.push_back(lots[i].lot);
  return open;
}

int64_t BatchState::earned_today(const std::string& customer_id, int64_t day) {
  return earned_on_day[{customer_id, day}];  // absent: a customer created in this batch
}

SaleState* BatchState::sale_of(const sv1::EventEnvelope& e, std::string* event_id) {
  std::string id = e.return_().original_event_id();
  if (id.empty()) {
    auto named = sales_by_ref.find(sale_ref_of(e));
    if (named == sales_by_ref.end()) return nullptr;
    id = named->second;
  }
  auto it = sales.find(id);
  if (it == sales.end()) return nullptr;
  if (event_id) *event_id = id;
  return &it->second;
}

json::array sale_lines_json(const std::vector<SaleLine>& lines) {
  json::array out;
  for (const auto& l : lines) {
    json::object o{
        {"line_no", l.line_no}, {"quantity_milli", l.quantity_milli}, {"points", l.points}};
    if (l.returned_quantity_milli != 0) o["returned_quantity_milli"] = l.returned_quantity_milli;
    if (l.points_reversed != 0) o["points_reversed"] = l.points_reversed;
    if (l.amount_minor != 0) o["amount_minor"] = l.amount_minor;
    out.push_back(std::move(o));
  }
  return out;
}

std::optional<std::vector<SaleLine>> sale_lines_from_json(std::string_view text) {
  boost::system::error_code ec;
  auto v = json::parse(text, ec);
  if (ec || !v.is_array()) return std::nullopt;
  auto int_of = [](const json::object& o, std::string_view key) -> std::optional<int64_t> {
    const auto* f = o.if_contains(key);
    if (!f) return int64_t{0};
    if (f->is_int64()) return f->as_int64();
    if (f->is_uint64()) return static_cast<int64_t>(f->as_uint64());
    return std::nullopt;
  };
  std::vector<SaleLine> out;
  for (const auto& l : v.as_array()) {
    if (!l.is_object()) return std::nullopt;
    const auto& o = l.as_object();
    auto no = int_of(o, "line_no"), q = int_of(o, "quantity_milli"), p = int_of(o, "points"),
         rq = int_of(o, "returned_quantity_milli"), rp = int_of(o, "points_reversed"),
         amount = int_of(o, "amount_minor");
    if (!no || !q || !p || !rq || !rp || !amount || *no < 0 || *no > UINT32_MAX) {
      return std::nullopt;
    }
    out.push_back({static_cast<uint32_t>(*no), *q, *p, *rq, *rp, *amount});
  }
  return out;
}

int64_t BatchState::available(const CustomerState& c, TimestampMs now) {
  return customer_points(c.points + out.balances[c.customer_id].points, lots_of(c), now).available;
}

Result<AgentRow> lock_agent(pg::Connection& c, const sv1::EventBatch& batch,
                            std::string_view store_id) {
  const std::string sid(store_id);
  ACCRUE_TRY(c.query("INSERT INTO store (store_id) VALUES ($1) ON CONFLICT DO NOTHING",
                     {pg::Param::text(sid)}));
  ACCRUE_TRY(
      c.query("INSERT INTO agent (agent_id, store_id) VALUES ($1, $2) ON CONFLICT DO NOTHING",
              {pg::Param::text(batch.agent_id()), pg::Param::text(sid)}));
  ACCRUE_ASSIGN_OR_RETURN(
      auto agent,
      c.query(
          "SELECT a.store_id, a.last_seq, a.revoked_at IS NOT NULL, s.country, s.time_zone FROM "
          "agent a JOIN store s USING (store_id) WHERE a.agent_id = $1 FOR UPDATE OF a",
          {pg::Param::text(batch.agent_id())}));
  if (agent.text(0, 0) != sid) {
    return fail(ErrorCode::kPermissionDenied,
                "agent " + batch.agent_id() + " belongs to another store");
  }
  if (agent.boolean(0, 2)) {
    return fail(ErrorCode::kPermissionDenied,
                "agent " + batch.agent_id() + " was revoked by head office");
  }
  return AgentRow{agent.int64(0, 1), std::string(agent.text(0, 3)), std::string(agent.text(0, 4))};
}

Result<void> mark_duplicates(pg::Connection& c, const sv1::EventBatch& batch,
                             const std::vector<std::string>& ids, Flow flow, Verdicts& v) {
  if (ids.empty()) return {};
  ACCRUE_ASSIGN_OR_RETURN(
      auto dup, c.query("SELECT event_id::text FROM ledger WHERE event_id = ANY($1::uuid[]) "
                        "UNION ALL SELECT event_id::text FROM coupon_event WHERE event_id = "
                        "ANY($1::uuid[]) UNION ALL SELECT claim_event_id::text FROM coupon "
                        "WHERE claim_event_id = ANY($1::uuid[])",
                        {pg::Param::text(pg::text_array(ids))}));
  std::set<std::string, std::less<>> known;
  for (int r = 0; r < dup.rows(); ++r) known.emplace(dup.text(r, 0));
  // Returns: also those held for review, and a retry of one under another event id.
  json::array returns;
  for (int i = 0; flow != Flow::kReview && i < batch.events_size(); ++i) {
    const auto& e = batch.events(i);
    if (v.rejection(i) || e.body_case() != sv1::EventEnvelope::kReturn) continue;
    returns.push_back(json::object{{"event_id", e.event_id()},
                                   {"till_id", e.return_().till_id()},
                                   {"pos_tx_id", e.return_().pos_tx_id()}});
  }
  std::set<std::pair<std::string, std::string>> seen_returns;  // (till, transaction)
  if (!returns.empty()) {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        c.query("SELECT s.event_id::text, s.till_id, s.pos_tx_id FROM sale_return s JOIN "
                "jsonb_to_recordset($2::jsonb) AS x(event_id uuid, till_id text, "
                "pos_tx_id text) ON s.event_id = x.event_id OR (s.store_id = $1 AND "
                "s.till_id = x.till_id AND s.pos_tx_id = x.pos_tx_id)",
                {pg::Param::text(batch.store_id()), pg::Param::text(json::serialize(returns))}));
    for (int k = 0; k < r.rows(); ++k) {
      known.emplace(r.text(k, 0));
      seen_returns.emplace(r.text(k, 1), r.text(k, 2));
    }
  }
  for (int i = 0; i < batch.events_size(); ++i) {
    if (v.rejection(i)) continue;
    const auto& e = batch.events(i);
    bool dup_return = false;
    if (flow != Flow::kReview && e.body_case() == sv1::EventEnvelope::kReturn) {
      // The same till transaction twice in the batch: the second is a retry.
      dup_return = !seen_returns.emplace(e.return_().till_id(), e.return_().pos_tx_id()).second;
    }
    if (dup_return || known.contains(e.event_id())) v.mark_duplicate(i);
  }
  return {};
}

// Which coupon ids new reward claims name are held by a coupon already (a claim must issue a
// coupon of its own).
Result<void> load_taken_coupon_ids(pg::Connection& c, const References& refs, BatchState& s) {
  if (refs.claim_coupons.empty()) return {};
  ACCRUE_ASSIGN_OR_RETURN(auto r, c.query("SELECT coupon_id::text FROM coupon WHERE coupon_id = "
                                          "ANY($1::uuid[])",
                                          {pg::Param::text(pg::text_array(refs.claim_coupons))}));
  for (int k = 0; k < r.rows(); ++k) s.taken_coupon_ids.insert(std::string(r.text(k, 0)));
  return {};
}

Result<void> load_state(pg::Connection& c, ProgramCatalog& programs, const sv1::EventBatch& batch,
                        const std::string& store_zone, Verdicts& v, BatchState& s) {
  ACCRUE_TRY(load_programs(c, programs, batch, store_zone, v, s));
  References r = references_of(batch, v);
  ACCRUE_TRY(load_original_sales(c, r, s));
  ACCRUE_TRY(load_named_redemptions(c, r, s));
  ACCRUE_TRY(load_multiplier_uses(c, r, s));
  ACCRUE_TRY(load_taken_coupon_ids(c, r, s));
  ACCRUE_TRY(load_customers(c, r.refs, s));
  ACCRUE_TRY(lock_claims(c, r.claim_hashes));
  ACCRUE_TRY(load_identifiers(c, r.hashes, s));
  ACCRUE_TRY(lock_balances(c, s));
  return load_daily_caps(c, batch, v, s);
}

}  // namespace accrue::cloud::ingest
