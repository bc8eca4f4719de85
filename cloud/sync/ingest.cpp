#include "cloud/sync/ingest.h"

#include "cloud/core/webhooks.h"

#include <boost/json.hpp>
#include <cstdio>
#include <ctime>
#include <map>
#include <optional>
#include <set>

#include "cloud/core/balance.h"
#include "common/civil_time.h"
#include "common/engine/earn.h"
#include "common/engine/lots.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::cloud {

namespace sv1 = accrue::sync::v1;
namespace json = boost::json;

namespace {

enum LedgerKind : int {
  kAccrual = 1,
  kRedemption = 2,
  kReturn = 3,
  kEnrolmentBonus = 4,
  kAdjustment = 5,
  kClaimed = 7,
};

// Milliseconds since the epoch <-> timestamptz, in SQL.
constexpr const char* kMs = "(extract(epoch FROM {})*1000)::bigint";

std::string ms_of(const char* column) {
  std::string s = kMs;
  s.replace(s.find("{}"), 2, column);
  return s;
}

std::string hex(std::string_view bytes) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out.push_back(kHex[c >> 4]);
    out.push_back(kHex[c & 15]);
  }
  return out;
}

// "{a,b}" with every element quoted: a text[] literal for = ANY($1).

// bytea[] literal from raw byte strings.
std::string bytea_array(const std::vector<std::string>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += "\"\\\\x" + hex(v[i]) + "\"";
  }
  out += '}';
  return out;
}

struct Rejection {
  std::string code;
  std::string message;
};

struct LotState {
  std::string customer_id;
  Lot lot;
  bool is_new = false;
  bool dirty = false;
};

struct CustomerState {
  std::string customer_id;
  std::string tier_id;
  std::vector<size_t> lots;  // indexes into Work::lots, any order
  int64_t points = 0;        // balance.points as locked (before this batch)
};

struct BalanceDelta {
  int64_t points = 0;
  int64_t earned = 0;
  int64_t redeemed = 0;
  TimestampMs last_purchase_ms = 0;
};

// Everything one batch will write, gathered before any of it is written.
struct Work {
  json::array ledger, customers, pii, identifiers, lots_new, lots_update, receipts,
      receipt_reversals, receipt_claims, feed;
  std::map<std::string, BalanceDelta> balances;
  std::vector<LotState> lots;
  std::map<std::string, CustomerState> customers_by_id;
  std::map<std::string, std::string> temp_to_id;        // store temp id -> customer id
  std::map<std::string, std::string> hash_to_customer;  // identifier hash (raw) -> customer id
  // Provisional accruals not yet claimed, by identifier hash: (event id, points, occurred at).
  std::map<std::string, std::vector<std::tuple<std::string, int64_t, TimestampMs>>> unclaimed;
  std::map<std::string, std::pair<std::string, int64_t>> receipts_by_event;  // -> customer, left
  std::map<std::pair<std::string, int64_t>, int64_t> earned_on_day;  // (customer, day) -> points
  // What this batch adds to customer_day: the daily cap's accruals, tier qualification.
  struct DayDelta {
    int64_t earned = 0, qualifying_points = 0, spend_minor = 0;
  };
  std::map<std::pair<std::string, int64_t>, DayDelta> day_deltas;
  std::set<std::string> touched;
};

std::vector<Lot> lots_of(const Work& w, const CustomerState& c) {
  std::vector<Lot> out;
  out.reserve(c.lots.size());
  for (size_t i : c.lots) out.push_back(w.lots[i].lot);
  return out;
}

// Applies draws (lot id, points) to the customer's lots.
void take(Work& w, const CustomerState& c, const std::vector<Draw>& draws) {
  for (const Draw& d : draws) {
    for (size_t i : c.lots) {
      if (w.lots[i].lot.lot_id == d.lot_id) {
        w.lots[i].lot.remaining -= d.points;
        w.lots[i].dirty = true;
        break;
      }
    }
  }
}

// Draws up to `points` from the available lots, oldest first; what they cannot cover stays
// uncovered (an offline redemption the store allowed beyond what the cloud knew).
void draw_available(Work& w, const CustomerState& c, int64_t points, TimestampMs at) {
  auto lots = lots_of(w, c);
  auto plan = plan_reversal(lots, "", points, at);
  take(w, c, plan.draws);
}

void open_new_lot(Work& w, CustomerState& c, const LotPolicy& policy, const TimeZone& zone,
                  const std::string& lot_id, TimestampMs at, int64_t points) {
  if (points <= 0) return;
  LotState s;
  s.customer_id = c.customer_id;
  s.lot = open_lot(policy, zone, lot_id, at, points);
  s.is_new = true;
  w.lots.push_back(std::move(s));
  c.lots.push_back(w.lots.size() - 1);
}

json::object ledger_row(const sv1::EventEnvelope& e, int kind, int64_t points) {
  json::object r;
  r["event_id"] = e.event_id();
  r["kind"] = kind;
  r["points"] = points;
  r["store_id"] = e.store_id();
  r["agent_id"] = e.agent_id();
  if (e.seq() != 0) r["seq"] = e.seq();
  r["program_id"] = e.program_id();
  r["program_version"] = e.program_version();
  r["occurred_at_ms"] = e.occurred_at_ms();
  return r;
}

// COPY text format from the rows gathered as JSON objects: one line per row, the columns in
// `columns` order. A column is a JSON key and how to write it: as is, as a timestamp from
// milliseconds ("_ms" keys), or as bytea from hex ("hex:" prefix). Missing or null is \N.
void append_copy_value(std::string& out, const json::value* v, std::string_view how) {
  if (v == nullptr || v->is_null()) {
    out += "\\N";
    return;
  }
  if (how == "ms") {
    out += format_utc_iso8601(v->is_int64() ? v->as_int64() : static_cast<int64_t>(v->as_uint64()));
    return;
  }
  if (v->is_string()) {
    if (how == "hex") out += "\\\\x";
    for (char ch : v->as_string()) {
      switch (ch) {
        case '\\':
          out += "\\\\";
          break;
        case '\t':
          out += "\\t";
          break;
        case '\n':
          out += "\\n";
          break;
        case '\r':
          out += "\\r";
          break;
        default:
          out += ch;
      }
    }
    return;
  }
  if (v->is_int64()) {
    out += std::to_string(v->as_int64());
  } else if (v->is_uint64()) {
    out += std::to_string(v->as_uint64());
  } else if (v->is_bool()) {
    out += v->as_bool() ? "t" : "f";
  } else {
    out += json::serialize(*v);
  }
}

struct CopyColumn {
  const char* key;  // in the JSON rows
  const char* how;  // "", "ms" or "hex"
};

std::string copy_text(const json::array& rows, std::initializer_list<CopyColumn> columns) {
  std::string out;
  out.reserve(rows.size() * 160);
  for (const auto& row : rows) {
    const auto& o = row.as_object();
    bool first = true;
    for (const auto& col : columns) {
      if (!first) out += '\t';
      first = false;
      append_copy_value(out, o.if_contains(col.key), col.how);
    }
    out += '\n';
  }
  return out;
}

// Why an event's fields cannot be stored, or nullopt.
std::optional<std::string> field_problem(const sv1::EventEnvelope& e) {
  auto too_long = [](const std::string& v, size_t max) { return v.size() > max; };
  auto points_ok = [](int64_t p) { return p >= -kMaxPoints && p <= kMaxPoints; };
  if (too_long(e.program_id(), 64)) return "program_id: at most 64 characters";
  switch (e.body_case()) {
    case sv1::EventEnvelope::kAccrual: {
      const auto& a = e.accrual();
      if (too_long(a.customer_id(), 64) || too_long(a.till_id(), 64) ||
          too_long(a.pos_tx_id(), 128)) {
        return "accrual: customer_id and till_id at most 64, pos_tx_id at most 128 characters";
      }
      if (!points_ok(a.points())) return "accrual: points out of range";
      break;
    }
    case sv1::EventEnvelope::kRedemption: {
      const auto& r = e.redemption();
      if (too_long(r.customer_id(), 64) || too_long(r.till_id(), 64) ||
          too_long(r.pos_tx_id(), 128) || too_long(r.value().currency(), 3)) {
        return "redemption: field too long";
      }
      if (!points_ok(r.points())) return "redemption: points out of range";
      break;
    }
    case sv1::EventEnvelope::kReturn: {
      const auto& r = e.return_();
      if (too_long(r.customer_id(), 64) || too_long(r.till_id(), 64) ||
          too_long(r.pos_tx_id(), 128) || too_long(r.original_event_id(), 36)) {
        return "return: field too long";
      }
      if (!points_ok(r.points_reversed())) return "return: points out of range";
      break;
    }
    case sv1::EventEnvelope::kAdjustment: {
      const auto& a = e.adjustment();
      if (too_long(a.customer_id(), 64) || too_long(a.reason(), 500) || too_long(a.actor(), 128)) {
        return "adjustment: field too long";
      }
      if (!points_ok(a.points())) return "adjustment: points out of range";
      break;
    }
    case sv1::EventEnvelope::kEnrolment: {
      const auto& n = e.enrolment();
      if (too_long(n.temp_customer_id(), 64) || too_long(n.display_name(), 200) ||
          n.sealed_contact().size() > 4096 || n.identifiers_size() > 16) {
        return "enrolment: field too long or too many identifiers";
      }
      break;
    }
    default:
      break;
  }
  return std::nullopt;
}

}  // namespace

Uuid Ingest::next_id() {
  std::lock_guard lock(ids_mu_);
  return ids_.next();
}

Result<sv1::EventBatchResult> Ingest::apply(const sv1::EventBatch& batch,
                                            std::string_view store_id) {
  return apply(batch, store_id, {});
}

Result<sv1::EventBatchResult> Ingest::apply_head_office(
    const sv1::EventBatch& batch,
    std::function<Result<void>(pg::Connection&, const sv1::EventBatchResult&)> also,
    std::function<Result<void>(pg::Connection&)> prepare) {
  ApplyOptions o;
  o.head_office = true;
  o.also = std::move(also);
  o.prepare = std::move(prepare);
  return apply(batch, kHeadOfficeStore, std::move(o));
}

Result<sv1::OnlineRedeemResponse> Ingest::redeem_online(const sv1::OnlineRedeemRequest& request,
                                                        std::string_view store_id) {
  const auto& e = request.event();
  if (e.body_case() != sv1::EventEnvelope::kRedemption) {
    return fail(ErrorCode::kInvalidArgument, "event: a redemption is required");
  }
  sv1::EventBatch batch;
  batch.set_store_id(e.store_id());
  batch.set_agent_id(e.agent_id());
  *batch.add_events() = e;
  int64_t available = -1;
  auto r = apply(batch, store_id, {true, &available, false, {}, {}});
  if (!r) return std::unexpected(r.error());
  sv1::OnlineRedeemResponse out;
  *out.mutable_result() = r->results(0);
  if (available < 0) {  // duplicate, or rejected before the balance was read
    auto lease = pool_.acquire();
    if (!lease) return std::unexpected(lease.error());
    auto b = (*lease)->query(
        std::string("SELECT b.points, ") + kOpenLotsColumn +
            " FROM balance b JOIN customer c USING (customer_id) WHERE c.customer_id = $1 "
            "OR c.temp_customer_id = $1",
        {pg::Param::text(e.redemption().customer_id())});
    if (!b) return std::unexpected(b.error());
    if (b->rows() > 0) {
      available = customer_points(b->int64(0, 0), parse_open_lots(b->text(0, 1)), clock_.now_ms())
                      .available;
    }
  }
  out.set_available_points(std::max<int64_t>(0, available));
  return out;
}

Result<sv1::EventBatchResult> Ingest::apply(const sv1::EventBatch& batch, std::string_view store_id,
                                            ApplyOptions options) {
  if (batch.store_id() != store_id) {
    return fail(ErrorCode::kPermissionDenied, "store " + std::string(store_id) +
                                                  " may only upload its own events (the batch "
                                                  "names store " +
                                                  batch.store_id() + ")");
  }
  if (batch.agent_id().empty() || batch.agent_id().size() > 128) {
    return fail(ErrorCode::kInvalidArgument, "agent_id: required, at most 128 characters");
  }
  if (static_cast<size_t>(batch.events_size()) > max_batch_events_) {
    return fail(ErrorCode::kInvalidArgument,
                "events: at most " + std::to_string(max_batch_events_) + " per batch");
  }
  const int n = batch.events_size();
  std::vector<std::optional<Rejection>> rejected(static_cast<size_t>(n));
  std::vector<bool> duplicate(static_cast<size_t>(n), false);
  auto reject = [&](int i, std::string code, std::string message) {
    if (!rejected[static_cast<size_t>(i)]) {
      rejected[static_cast<size_t>(i)] = Rejection{std::move(code), std::move(message)};
    }
  };

  // Checks that need no database.
  std::vector<std::string> ids;
  std::set<std::string> seen_in_batch;
  for (int i = 0; i < n; ++i) {
    const auto& e = batch.events(i);
    auto id = Uuid::parse(e.event_id(), "event_id");
    if (!id || id->version() != 7) {
      reject(i, "bad_event_id", "event_id: expected a UUIDv7");
      continue;
    }
    if (e.store_id() != batch.store_id() || e.agent_id() != batch.agent_id()) {
      reject(i, "wrong_agent", "the event names another store or agent than its batch");
      continue;
    }
    // An online redemption has no seq yet: the agent gives it one when it records the event.
    if (e.seq() == 0 && !options.online && !options.head_office) {
      reject(i, "bad_seq", "seq: starts at 1");
    }
    if (e.schema_version() != 1) {
      reject(i, "schema_version",
             "schema_version " + std::to_string(e.schema_version()) +
                 " is not supported (this service reads 1)");
    }
    if (e.occurred_at_ms() <= 0 || e.occurred_at_ms() >= kMaxTimestampMs) {
      reject(i, "bad_time", "occurred_at_ms: out of range");
    }
    if (e.body_case() == sv1::EventEnvelope::BODY_NOT_SET) reject(i, "no_body", "empty event");
    if (e.program_id().empty() || e.program_version() == 0) {
      reject(i, "program_version", "program_id and program_version are required");
    }
    // Field sizes and point magnitudes the database could refuse (an over-long key in a unique
    // index, a sum out of bigint range) would fail the whole batch and block the store's queue:
    // such an event is rejected on its own instead.
    if (auto bad = field_problem(e)) reject(i, "bad_field", *bad);
    if (!seen_in_batch.insert(id->to_string()).second) {
      duplicate[static_cast<size_t>(i)] = true;  // the same event twice in one batch
      continue;
    }
    ids.push_back(id->to_string());
  }

  auto lease = pool_.acquire();
  if (!lease) return std::unexpected(lease.error());
  pg::Connection& c = **lease;
  uint64_t gaps = 0;
  std::vector<std::string> touched;

  auto result = pg::in_transaction(c, [&]() -> Result<sv1::EventBatchResult> {
    // 1. The agent, locked for the whole batch.
    const std::string sid(store_id);
    ACCRUE_TRY(c.query("INSERT INTO store (store_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       {pg::Param::text(sid)}));
    ACCRUE_TRY(
        c.query("INSERT INTO agent (agent_id, store_id) VALUES ($1, $2) "
                "ON CONFLICT DO NOTHING",
                {pg::Param::text(batch.agent_id()), pg::Param::text(sid)}));
    // With the store's country, for programmes with per-country rates (the registry's, which
    // the store's agent is configured with too).
    auto agent = c.query(
        "SELECT a.store_id, a.last_seq, a.revoked_at IS NOT NULL, s.country FROM agent a JOIN "
        "store s USING (store_id) WHERE a.agent_id = $1 FOR UPDATE OF a",
        {pg::Param::text(batch.agent_id())});
    if (!agent) return std::unexpected(agent.error());
    if (agent->text(0, 0) != sid) {
      return fail(ErrorCode::kPermissionDenied,
                  "agent " + batch.agent_id() + " belongs to another store");
    }
    if (agent->boolean(0, 2)) {
      return fail(ErrorCode::kPermissionDenied,
                  "agent " + batch.agent_id() + " was revoked by head office");
    }
    int64_t last_seq = agent->int64(0, 1);
    const std::string country(agent->text(0, 3));
    if (options.prepare) ACCRUE_TRY(options.prepare(c));

    // 2. Duplicates.
    if (!ids.empty()) {
      auto dup = c.query("SELECT event_id::text FROM ledger WHERE event_id = ANY($1::uuid[])",
                         {pg::Param::text(pg::text_array(ids))});
      if (!dup) return std::unexpected(dup.error());
      std::set<std::string, std::less<>> known;
      for (int r = 0; r < dup->rows(); ++r) known.emplace(dup->text(r, 0));
      for (int i = 0; i < n; ++i) {
        if (!rejected[static_cast<size_t>(i)] && known.contains(batch.events(i).event_id())) {
          duplicate[static_cast<size_t>(i)] = true;
        }
      }
    }
    auto is_new = [&](int i) {
      return !rejected[static_cast<size_t>(i)] && !duplicate[static_cast<size_t>(i)];
    };

    // 3. Programmes.
    std::map<std::pair<std::string, uint32_t>, std::shared_ptr<const PublishedProgram>> programs;
    for (int i = 0; i < n; ++i) {
      if (!is_new(i)) continue;
      const auto& e = batch.events(i);
      auto key = std::make_pair(e.program_id(), e.program_version());
      if (!programs.contains(key)) {
        auto p = programs_.get(c, key.first, key.second);
        if (!p && p.error().code != ErrorCode::kNotFound) return std::unexpected(p.error());
        programs[key] = p ? *p : nullptr;
      }
      if (!programs[key]) {
        reject(i, "program_version",
               "program " + key.first + " version " + std::to_string(key.second) +
                   " is not published here yet; resubmit once it is");
      }
    }
    auto program_of = [&](const sv1::EventEnvelope& e) -> const PublishedProgram& {
      return *programs.at({e.program_id(), e.program_version()});
    };

    // 4. Who the events are about: customer ids (or a store's temp ids) and identifier hashes.
    Work w;
    std::vector<std::string> refs, hashes, originals;
    for (int i = 0; i < n; ++i) {
      if (!is_new(i)) continue;
      const auto& e = batch.events(i);
      switch (e.body_case()) {
        case sv1::EventEnvelope::kAccrual:
          if (!e.accrual().customer_id().empty())
            refs.push_back(e.accrual().customer_id());
          else if (e.accrual().identifier().hash().size() == 32)
            hashes.push_back(e.accrual().identifier().hash());
          else
            reject(i, "bad_identifier", "accrual: customer_id or a 32-byte identifier hash");
          break;
        case sv1::EventEnvelope::kRedemption:
          refs.push_back(e.redemption().customer_id());
          break;
        case sv1::EventEnvelope::kReturn:
          refs.push_back(e.return_().customer_id());
          originals.push_back(e.return_().original_event_id());
          break;
        case sv1::EventEnvelope::kAdjustment:
          refs.push_back(e.adjustment().customer_id());
          break;
        case sv1::EventEnvelope::kEnrolment:
          for (const auto& h : e.enrolment().identifiers()) {
            if (h.hash().size() != 32) reject(i, "bad_identifier", "identifiers: 32-byte hashes");
            hashes.push_back(h.hash());
          }
          break;
        default:
          break;
      }
    }
    if (!refs.empty()) {
      // A member merged into another (status 4): its events go to the survivor.
      auto r = c.query(
          "SELECT c.customer_id, coalesce(c.temp_customer_id, ''), c.tier_id, "
          "coalesce(c.merged_into, ''), coalesce(m.tier_id, '') FROM customer c LEFT JOIN "
          "customer m ON m.customer_id = c.merged_into "
          "WHERE c.customer_id = ANY($1::text[]) OR c.temp_customer_id = ANY($1::text[])",
          {pg::Param::text(pg::text_array(refs))});
      if (!r) return std::unexpected(r.error());
      for (int k = 0; k < r->rows(); ++k) {
        std::string id(r->text(k, 0));
        const std::string survivor(r->text(k, 3));
        if (!survivor.empty()) {
          w.customers_by_id.try_emplace(survivor,
                                        CustomerState{survivor, std::string(r->text(k, 4)), {}});
          w.temp_to_id[id] = survivor;
          if (!r->text(k, 1).empty()) w.temp_to_id[std::string(r->text(k, 1))] = survivor;
          continue;
        }
        w.customers_by_id[id] = {id, std::string(r->text(k, 2)), {}};
        if (!r->text(k, 1).empty()) w.temp_to_id[std::string(r->text(k, 1))] = id;
      }
    }
    if (!hashes.empty()) {
      auto r = c.query(
          "SELECT i.hash, i.customer_id, c.tier_id FROM identifier i "
          "JOIN customer c USING (customer_id) WHERE i.hash = ANY($1::bytea[])",
          {pg::Param::text(bytea_array(hashes))});
      if (!r) return std::unexpected(r.error());
      for (int k = 0; k < r->rows(); ++k) {
        auto raw = pg::decode_bytea(r->text(k, 0));
        if (!raw) continue;
        std::string id(r->text(k, 1));
        w.hash_to_customer[*raw] = id;
        w.customers_by_id.try_emplace(id, CustomerState{id, std::string(r->text(k, 2)), {}});
      }
      auto u = c.query(
          "SELECT l.owner_hash, l.event_id::text, l.points, " + ms_of("l.occurred_at") +
              " FROM ledger l WHERE l.owner_hash = ANY($1::bytea[]) AND l.customer_id IS NULL "
              "AND NOT EXISTS (SELECT 1 FROM ledger c WHERE c.kind = 7 AND "
              "c.ref_event_id = l.event_id) ORDER BY l.occurred_at, l.event_id",
          {pg::Param::text(bytea_array(hashes))});
      if (!u) return std::unexpected(u.error());
      for (int k = 0; k < u->rows(); ++k) {
        auto raw = pg::decode_bytea(u->text(k, 0));
        if (raw) {
          w.unclaimed[*raw].emplace_back(std::string(u->text(k, 1)), u->int64(k, 2),
                                         u->int64(k, 3));
        }
      }
    }
    if (!originals.empty()) {
      auto r = c.query(
          "SELECT event_id::text, coalesce(customer_id, ''), points_earned - points_reversed "
          "FROM receipt WHERE event_id::text = ANY($1::text[])",
          {pg::Param::text(pg::text_array(originals))});
      if (!r) return std::unexpected(r.error());
      for (int k = 0; k < r->rows(); ++k) {
        w.receipts_by_event[std::string(r->text(k, 0))] = {std::string(r->text(k, 1)),
                                                           r->int64(k, 2)};
      }
    }
    // Balances locked in customer order (no deadlock between concurrent batches), then their
    // open lots.
    if (!w.customers_by_id.empty()) {
      std::vector<std::string> locked;
      for (const auto& [id, _] : w.customers_by_id) locked.push_back(id);
      const std::string arr = pg::text_array(locked);
      auto locked_rows = c.query(
          "SELECT customer_id, points FROM balance WHERE customer_id = ANY($1::text[]) "
          "ORDER BY customer_id FOR UPDATE",
          {pg::Param::text(arr)});
      if (!locked_rows) return std::unexpected(locked_rows.error());
      for (int k = 0; k < locked_rows->rows(); ++k) {
        w.customers_by_id[std::string(locked_rows->text(k, 0))].points = locked_rows->int64(k, 1);
      }
      auto lots = c.query("SELECT lot_id::text, customer_id, " + ms_of("earned_at") + ", " +
                              ms_of("available_at") + ", coalesce(" + ms_of("expires_at") +
                              ", -1), points, remaining FROM points_lot "
                              "WHERE customer_id = ANY($1::text[]) AND remaining > 0",
                          {pg::Param::text(arr)});
      if (!lots) return std::unexpected(lots.error());
      for (int k = 0; k < lots->rows(); ++k) {
        LotState s;
        s.customer_id = std::string(lots->text(k, 1));
        s.lot.lot_id = std::string(lots->text(k, 0));
        s.lot.earned_at_ms = lots->int64(k, 2);
        s.lot.available_at_ms = lots->int64(k, 3);
        int64_t exp = lots->int64(k, 4);
        s.lot.expires_at_ms = exp < 0 ? kNeverExpires : exp;
        s.lot.points = lots->int64(k, 5);
        s.lot.remaining = lots->int64(k, 6);
        w.lots.push_back(std::move(s));
        w.customers_by_id[w.lots.back().customer_id].lots.push_back(w.lots.size() - 1);
      }
    }
    auto customer = [&](const std::string& ref) -> CustomerState* {
      auto it = w.customers_by_id.find(ref);
      if (it != w.customers_by_id.end()) return &it->second;
      auto t = w.temp_to_id.find(ref);
      if (t != w.temp_to_id.end()) return &w.customers_by_id[t->second];
      return nullptr;
    };
    // Points earned so far on store-local days, for programmes with a daily cap: one query for
    // every (customer, day) the batch's accruals fall on; earned_today() only falls back to a
    // query of its own for a customer created inside this batch.
    {
      std::vector<std::string> cids, days;
      std::set<std::pair<std::string, int64_t>> wanted;
      for (int i = 0; i < n; ++i) {
        if (!is_new(i) || batch.events(i).body_case() != sv1::EventEnvelope::kAccrual) continue;
        const auto& e = batch.events(i);
        const auto& p = program_of(e);
        if (p.program.daily_cap_points <= 0) continue;
        CustomerState* cs = nullptr;
        if (!e.accrual().customer_id().empty()) {
          cs = customer(e.accrual().customer_id());
        } else if (auto h = w.hash_to_customer.find(e.accrual().identifier().hash());
                   h != w.hash_to_customer.end()) {
          cs = &w.customers_by_id[h->second];
        }
        if (!cs) continue;
        const int64_t day = day_of_ms(p.zone.to_local_ms(e.occurred_at_ms()));
        if (wanted.emplace(cs->customer_id, day).second) {
          cids.push_back(cs->customer_id);
          days.push_back(std::to_string(day));
        }
      }
      if (!cids.empty()) {
        auto r = c.query(
            "SELECT d.customer_id, d.local_day, d.earned FROM customer_day d JOIN "
            "unnest($1::text[], $2::int[]) AS k(c, day) ON d.customer_id = k.c AND "
            "d.local_day = k.day",
            {pg::Param::text(pg::text_array(cids)), pg::Param::text(pg::text_array(days))});
        if (!r) return std::unexpected(r.error());
        for (int k = 0; k < r->rows(); ++k) {
          w.earned_on_day[{std::string(r->text(k, 0)), r->int64(k, 1)}] = r->int64(k, 2);
        }
      }
    }
    auto earned_today = [&](const std::string& customer_id, int64_t day) -> Result<int64_t> {
      auto key = std::make_pair(customer_id, day);
      if (auto it = w.earned_on_day.find(key); it != w.earned_on_day.end()) return it->second;
      return w.earned_on_day[key] = 0;  // a customer created in this batch: nothing earned yet
    };
    auto feed_customer = [&](const std::string& id) {
      if (w.touched.insert(id).second) {
        json::object f;
        f["kind"] = 1;
        f["customer_id"] = id;
        w.feed.push_back(std::move(f));
      }
    };
    auto claim = [&](const sv1::EventEnvelope& e, CustomerState& cs, const std::string& hash) {
      auto it = w.unclaimed.find(hash);
      if (it == w.unclaimed.end()) return;
      const auto& p = program_of(e);
      for (const auto& [event_id, points, at] : it->second) {
        json::object row = ledger_row(e, kClaimed, points);
        row["event_id"] = next_id().to_string();
        row["customer_id"] = cs.customer_id;
        row["ref_event_id"] = event_id;
        row["occurred_at_ms"] = at;
        row["seq"] = nullptr;
        w.ledger.push_back(std::move(row));
        auto& d = w.balances[cs.customer_id];
        d.points += points;
        d.earned += points;
        w.day_deltas[{cs.customer_id, day_of_ms(p.zone.to_local_ms(at))}].qualifying_points +=
            points;
        open_new_lot(w, cs, p.program.lots, p.zone, event_id, at, points);
        json::object rc;
        rc["event_id"] = event_id;
        rc["customer_id"] = cs.customer_id;
        w.receipt_claims.push_back(std::move(rc));
        w.receipts_by_event[event_id] = {cs.customer_id, points};
      }
      w.unclaimed.erase(it);
    };

    // 5. Each new event, in order.
    for (int i = 0; i < n; ++i) {
      if (!is_new(i)) continue;
      const auto& e = batch.events(i);
      const TimestampMs at = e.occurred_at_ms();
      switch (e.body_case()) {
        case sv1::EventEnvelope::kAccrual: {
          const auto& a = e.accrual();
          const auto& p = program_of(e);
          auto basket = wire::basket_from_proto(a.basket());
          if (!basket) {
            reject(i, "bad_basket", basket.error().message);
            break;
          }
          CustomerState* cs = nullptr;
          if (!a.customer_id().empty()) {
            cs = customer(a.customer_id());
            if (!cs) {
              reject(i, "unknown_customer", "customer " + a.customer_id() + " is not known");
              break;
            }
          } else if (auto h = w.hash_to_customer.find(a.identifier().hash());
                     h != w.hash_to_customer.end()) {
            cs = &w.customers_by_id[h->second];
          }
          const int64_t day = day_of_ms(p.zone.to_local_ms(at));
          int64_t today = 0;
          if (cs && p.program.daily_cap_points > 0) {
            auto t = earned_today(cs->customer_id, day);
            if (!t) return std::unexpected(t.error());
            today = *t;
          }
          auto earn =
              compute_earn(p.program, *basket, {cs ? cs->tier_id : "", today, &p.zone, country});
          if (!earn) {
            reject(i, "bad_basket", earn.error().message);
            break;
          }
          const int64_t points = earn->points;
          int64_t total = 0;
          for (const auto& l : basket->lines) total += l.amount_minor;
          json::object row = ledger_row(e, kAccrual, points);
          if (points != a.points()) {
            row["agent_points"] = a.points();
            counters_.mismatched.fetch_add(1, std::memory_order_relaxed);
          }
          row["amount_minor"] = total;
          row["currency"] = std::string(basket->currency.code());
          row["till_id"] = a.till_id();
          row["pos_tx_id"] = a.pos_tx_id();
          row["local_day"] = day;
          if (cs) {
            row["customer_id"] = cs->customer_id;
            auto& d = w.balances[cs->customer_id];
            d.points += points;
            d.earned += points;
            d.last_purchase_ms = std::max(d.last_purchase_ms, at);
            w.earned_on_day[{cs->customer_id, day}] = today + points;
            auto& dd = w.day_deltas[{cs->customer_id, day}];
            dd.earned += points;
            dd.qualifying_points += points;
            dd.spend_minor += total;
            open_new_lot(w, *cs, p.program.lots, p.zone, e.event_id(), at, points);
            feed_customer(cs->customer_id);
          } else {
            row["owner_hash"] = hex(a.identifier().hash());
            w.unclaimed[a.identifier().hash()].emplace_back(e.event_id(), points, at);
          }
          w.ledger.push_back(std::move(row));
          json::object rc;
          rc["event_id"] = e.event_id();
          if (cs) rc["customer_id"] = cs->customer_id;
          rc["store_id"] = e.store_id();
          rc["till_id"] = a.till_id();
          rc["pos_tx_id"] = a.pos_tx_id();
          rc["occurred_at_ms"] = at;
          rc["amount_minor"] = total;
          rc["currency"] = std::string(basket->currency.code());
          rc["points_earned"] = points;
          w.receipts.push_back(std::move(rc));
          if (cs) w.receipts_by_event[e.event_id()] = {cs->customer_id, points};
          break;
        }
        case sv1::EventEnvelope::kRedemption: {
          const auto& r = e.redemption();
          CustomerState* cs = customer(r.customer_id());
          if (!cs) {
            reject(i, "unknown_customer", "customer " + r.customer_id() + " is not known");
            break;
          }
          if (r.points() <= 0) {
            reject(i, "bad_points", "redemption: points must be positive");
            break;
          }
          auto available_now = [&] {
            return customer_points(cs->points + w.balances[cs->customer_id].points, lots_of(w, *cs),
                                   clock_.now_ms())
                .available;
          };
          if (options.online) {
            // Online: the cloud decides, atomically (the balance row is locked).
            const int64_t available = available_now();
            if (available < r.points()) {
              reject(i, "insufficient_points",
                     "Not enough points: " + std::to_string(available) + " available, " +
                         std::to_string(r.points()) + " asked.");
              if (options.available_after) *options.available_after = available;
              break;
            }
          }
          json::object row = ledger_row(e, kRedemption, -r.points());
          row["customer_id"] = cs->customer_id;
          row["till_id"] = r.till_id();
          row["pos_tx_id"] = r.pos_tx_id();
          if (r.has_value()) {
            row["amount_minor"] = r.value().minor_units();
            row["currency"] = r.value().currency();
          }
          w.ledger.push_back(std::move(row));
          auto& d = w.balances[cs->customer_id];
          d.points -= r.points();
          d.redeemed += r.points();
          draw_available(w, *cs, r.points(), at);
          if (options.available_after) *options.available_after = available_now();
          feed_customer(cs->customer_id);
          break;
        }
        case sv1::EventEnvelope::kReturn: {
          const auto& r = e.return_();
          auto orig = w.receipts_by_event.find(r.original_event_id());
          if (orig == w.receipts_by_event.end()) {
            reject(i, "unknown_original_sale",
                   "the sale " + r.original_event_id() + " is not known here");
            break;
          }
          CustomerState* cs = customer(orig->second.first);
          if (!cs) {
            reject(i, "unknown_customer", "the sale's customer is not known");
            break;
          }
          if (r.points_reversed() < 0) {
            reject(i, "bad_points", "return: points_reversed must not be negative");
            break;
          }
          // Never more than the sale earned and has not yet given back.
          const int64_t points = std::min(r.points_reversed(), orig->second.second);
          orig->second.second -= points;
          json::object row = ledger_row(e, kReturn, -points);
          if (points != r.points_reversed()) {
            row["agent_points"] = -r.points_reversed();
            counters_.mismatched.fetch_add(1, std::memory_order_relaxed);
          }
          row["customer_id"] = cs->customer_id;
          row["till_id"] = r.till_id();
          row["pos_tx_id"] = r.pos_tx_id();
          row["ref_event_id"] = r.original_event_id();
          w.ledger.push_back(std::move(row));
          auto& d = w.balances[cs->customer_id];
          d.points -= points;
          d.earned -= points;
          w.day_deltas[{cs->customer_id, day_of_ms(program_of(e).zone.to_local_ms(at))}]
              .qualifying_points -= points;
          auto plan = plan_reversal(lots_of(w, *cs), r.original_event_id(), points, at);
          take(w, *cs, plan.draws);
          json::object rr;
          rr["event_id"] = r.original_event_id();
          rr["points"] = points;
          w.receipt_reversals.push_back(std::move(rr));
          feed_customer(cs->customer_id);
          break;
        }
        case sv1::EventEnvelope::kAdjustment: {
          const auto& a = e.adjustment();
          CustomerState* cs = customer(a.customer_id());
          if (!cs) {
            reject(i, "unknown_customer", "customer " + a.customer_id() + " is not known");
            break;
          }
          if (a.reason().empty()) {
            reject(i, "bad_adjustment", "adjustment: a reason is required");
            break;
          }
          if (a.enrolment_bonus()) {
            // A member head office created gets the bonus a store's enrolment gives: the same
            // ledger kind, an available lot, counted towards the tier.
            if (!options.head_office || a.points() != 0) {
              reject(i, "bad_adjustment",
                     "adjustment: an enrolment bonus comes from head office, with points 0");
              break;
            }
            const auto& p = program_of(e);
            const int64_t bonus = p.program.event_rules.enrolment_bonus_points;
            if (bonus <= 0) break;
            json::object row = ledger_row(e, kEnrolmentBonus, bonus);
            row["customer_id"] = cs->customer_id;
            row["reason"] = a.reason();
            row["actor"] = a.actor();
            w.ledger.push_back(std::move(row));
            auto& d = w.balances[cs->customer_id];
            d.points += bonus;
            d.earned += bonus;
            w.day_deltas[{cs->customer_id, day_of_ms(p.zone.to_local_ms(at))}].qualifying_points +=
                bonus;
            LotPolicy immediate = p.program.lots;
            immediate.pending_days = 0;
            open_new_lot(w, *cs, immediate, p.zone, e.event_id(), at, bonus);
            feed_customer(cs->customer_id);
            break;
          }
          if (options.head_office && a.points() < 0) {
            const int64_t available =
                customer_points(cs->points + w.balances[cs->customer_id].points, lots_of(w, *cs),
                                clock_.now_ms())
                    .available;
            if (available < -a.points()) {
              reject(i, "insufficient_points",
                     "Not enough points: " + std::to_string(available) + " available, " +
                         std::to_string(-a.points()) + " to deduct.");
              break;
            }
          }
          const auto& p = program_of(e);
          json::object row = ledger_row(e, kAdjustment, a.points());
          row["customer_id"] = cs->customer_id;
          row["reason"] = a.reason();
          row["actor"] = a.actor();
          w.ledger.push_back(std::move(row));
          auto& d = w.balances[cs->customer_id];
          d.points += a.points();
          if (a.points() > 0) {
            LotPolicy immediate = p.program.lots;
            immediate.pending_days = 0;
            open_new_lot(w, *cs, immediate, p.zone, e.event_id(), at, a.points());
          } else {
            draw_available(w, *cs, -a.points(), at);
          }
          feed_customer(cs->customer_id);
          break;
        }
        case sv1::EventEnvelope::kEnrolment: {
          const auto& en = e.enrolment();
          const auto& p = program_of(e);
          if (en.temp_customer_id().empty()) {
            reject(i, "bad_enrolment", "enrolment: temp_customer_id is required");
            break;
          }
          // A member who already exists (one of the identifiers is known, or this temp id was
          // mapped before): the enrolment joins that member instead of creating a second one.
          std::string existing;
          if (auto t = w.temp_to_id.find(en.temp_customer_id()); t != w.temp_to_id.end()) {
            existing = t->second;
          }
          for (const auto& h : en.identifiers()) {
            if (auto k = w.hash_to_customer.find(h.hash());
                existing.empty() && k != w.hash_to_customer.end()) {
              existing = k->second;
            }
          }
          std::string id = existing;
          if (id.empty()) {
            id = next_id().to_string();
            const std::string tier =
                p.program.tiers.ladder.empty() ? "" : p.program.tiers.ladder.front().tier_id;
            json::object cu;
            cu["customer_id"] = id;
            cu["tier_id"] = tier;
            cu["home_store_id"] = e.store_id();
            cu["enrolled_at_ms"] = at;
            cu["temp_customer_id"] = en.temp_customer_id();
            w.customers.push_back(std::move(cu));
            json::object pi;
            pi["customer_id"] = id;
            pi["display_name"] = en.display_name();
            if (en.birthday_month() >= 1 && en.birthday_month() <= 12 && en.birthday_day() >= 1 &&
                en.birthday_day() <= 31) {
              pi["birthday_month"] = en.birthday_month();
              pi["birthday_day"] = en.birthday_day();
            }
            if (!en.sealed_contact().empty()) pi["sealed_contact"] = hex(en.sealed_contact());
            pi["consent_terms"] = en.consent_terms();
            pi["consent_marketing_email"] = en.consent_marketing_email();
            pi["consent_marketing_sms"] = en.consent_marketing_sms();
            w.pii.push_back(std::move(pi));
            w.customers_by_id[id] = {id, tier, {}};
          }
          w.temp_to_id[en.temp_customer_id()] = id;
          CustomerState& cs = w.customers_by_id[id];
          for (const auto& h : en.identifiers()) {
            if (w.hash_to_customer.contains(h.hash())) continue;
            static const std::set<std::string, std::less<>> kKinds = {"card", "phone", "email",
                                                                      "qr"};
            if (!kKinds.contains(h.kind())) continue;
            w.hash_to_customer[h.hash()] = id;
            json::object ir;
            ir["hash"] = hex(h.hash());
            ir["kind"] = h.kind();
            ir["customer_id"] = id;
            w.identifiers.push_back(std::move(ir));
            json::object f;
            f["kind"] = 2;
            f["customer_id"] = id;
            w.feed.push_back(std::move(f));
          }
          json::object map;
          map["kind"] = 5;
          map["customer_id"] = id;
          w.feed.push_back(std::move(map));
          const int64_t bonus = existing.empty() ? p.program.event_rules.enrolment_bonus_points : 0;
          json::object row = ledger_row(e, kEnrolmentBonus, bonus);
          if (bonus != en.bonus_points()) {
            row["agent_points"] = en.bonus_points();
            counters_.mismatched.fetch_add(1, std::memory_order_relaxed);
          }
          row["customer_id"] = id;
          w.ledger.push_back(std::move(row));
          auto& d = w.balances[id];
          d.points += bonus;
          d.earned += bonus;
          w.day_deltas[{id, day_of_ms(p.zone.to_local_ms(at))}].qualifying_points += bonus;
          LotPolicy immediate = p.program.lots;
          immediate.pending_days = 0;
          open_new_lot(w, cs, immediate, p.zone, e.event_id(), at, bonus);
          for (const auto& h : en.identifiers()) claim(e, cs, h.hash());
          feed_customer(id);
          break;
        }
        default:
          reject(i, "no_body", "unknown event type");
      }
    }

    // 6. Writes.
    auto run = [&](const char* sql, const json::array& rows) -> Result<int64_t> {
      if (rows.empty()) return 0;
      auto r = c.query(sql, {pg::Param::text(json::serialize(rows))});
      if (!r) return std::unexpected(r.error());
      return r->affected();
    };
    auto run_obj = [&](const char* sql, const json::array& rows) -> Result<void> {
      auto r = run(sql, rows);
      if (!r) return std::unexpected(r.error());
      return {};
    };
    ACCRUE_TRY(run_obj(
        "INSERT INTO customer (customer_id, tier_id, home_store_id, enrolled_at, "
        "enrolled_store_id, temp_customer_id) "
        "SELECT x.customer_id, x.tier_id, x.home_store_id, to_timestamp(x.enrolled_at_ms/1000.0), "
        "x.home_store_id, x.temp_customer_id FROM jsonb_to_recordset($1::jsonb) AS "
        "x(customer_id text, tier_id text, home_store_id text, enrolled_at_ms bigint, "
        "temp_customer_id text)",
        w.customers));
    ACCRUE_TRY(
        run_obj("INSERT INTO balance (customer_id) SELECT x.customer_id FROM "
                "jsonb_to_recordset($1::jsonb) AS x(customer_id text)",
                w.customers));
    ACCRUE_TRY(run_obj(
        "INSERT INTO customer_pii (customer_id, display_name, birthday_month, birthday_day, "
        "sealed_contact, consent_terms, consent_marketing_email, consent_marketing_sms) "
        "SELECT x.customer_id, x.display_name, x.birthday_month, x.birthday_day, "
        "decode(x.sealed_contact, 'hex'), x.consent_terms, x.consent_marketing_email, "
        "x.consent_marketing_sms FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text, "
        "display_name text, birthday_month smallint, birthday_day smallint, sealed_contact text, "
        "consent_terms boolean, consent_marketing_email boolean, consent_marketing_sms boolean)",
        w.pii));
    ACCRUE_TRY(run_obj(
        "INSERT INTO identifier (hash, kind, customer_id) SELECT decode(x.hash, 'hex'), x.kind, "
        "x.customer_id FROM jsonb_to_recordset($1::jsonb) AS x(hash text, kind text, "
        "customer_id text) ON CONFLICT (hash) DO NOTHING",
        w.identifiers));
    for (const auto& s : w.lots) {
      if (!s.is_new && !s.dirty) continue;
      json::object o;
      o["lot_id"] = s.lot.lot_id;
      o["remaining"] = s.lot.remaining;
      if (s.is_new) {
        o["customer_id"] = s.customer_id;
        o["earned_at_ms"] = s.lot.earned_at_ms;
        o["available_at_ms"] = s.lot.available_at_ms;
        if (s.lot.expires_at_ms != kNeverExpires) o["expires_at_ms"] = s.lot.expires_at_ms;
        o["points"] = s.lot.points;
        w.lots_new.push_back(std::move(o));
      } else {
        w.lots_update.push_back(std::move(o));
      }
    }
    // Append-only rows go in by COPY, several times cheaper than INSERT ... SELECT from JSON. A
    // conflict (an event id or a till receipt some other upload wrote: not the agent's own
    // retries, which the agent lock and the duplicate check already caught) undoes the COPYs and
    // the statements below, which skip conflicting rows, run instead.
    bool copied = false;
    ACCRUE_TRY(c.exec("SAVEPOINT bulk"));
    auto bulk = [&]() -> Result<void> {
      if (!w.ledger.empty()) {
        ACCRUE_TRY(c.copy_in(
            "COPY ledger (event_id, customer_id, owner_hash, kind, points, agent_points, "
            "amount_minor, currency, store_id, agent_id, seq, till_id, pos_tx_id, ref_event_id, "
            "program_id, program_version, local_day, reason, actor, occurred_at) FROM STDIN",
            copy_text(w.ledger, {{"event_id", ""},      {"customer_id", ""},
                                 {"owner_hash", "hex"}, {"kind", ""},
                                 {"points", ""},        {"agent_points", ""},
                                 {"amount_minor", ""},  {"currency", ""},
                                 {"store_id", ""},      {"agent_id", ""},
                                 {"seq", ""},           {"till_id", ""},
                                 {"pos_tx_id", ""},     {"ref_event_id", ""},
                                 {"program_id", ""},    {"program_version", ""},
                                 {"local_day", ""},     {"reason", ""},
                                 {"actor", ""},         {"occurred_at_ms", "ms"}})));
      }
      if (!w.lots_new.empty()) {
        ACCRUE_TRY(c.copy_in(
            "COPY points_lot (lot_id, customer_id, earned_at, available_at, expires_at, points, "
            "remaining) FROM STDIN",
            copy_text(w.lots_new, {{"lot_id", ""},
                                   {"customer_id", ""},
                                   {"earned_at_ms", "ms"},
                                   {"available_at_ms", "ms"},
                                   {"expires_at_ms", "ms"},
                                   {"points", ""},
                                   {"remaining", ""}})));
      }
      if (!w.receipts.empty()) {
        ACCRUE_TRY(c.copy_in(
            "COPY receipt (event_id, customer_id, store_id, till_id, pos_tx_id, occurred_at, "
            "amount_minor, currency, points_earned) FROM STDIN",
            copy_text(w.receipts, {{"event_id", ""},
                                   {"customer_id", ""},
                                   {"store_id", ""},
                                   {"till_id", ""},
                                   {"pos_tx_id", ""},
                                   {"occurred_at_ms", "ms"},
                                   {"amount_minor", ""},
                                   {"currency", ""},
                                   {"points_earned", ""}})));
      }
      return {};
    };
    if (auto b = bulk(); b) {
      ACCRUE_TRY(c.exec("RELEASE SAVEPOINT bulk"));
      copied = true;
    } else if (b.error().code == ErrorCode::kAlreadyExists) {
      ACCRUE_TRY(c.exec("ROLLBACK TO SAVEPOINT bulk"));
    } else {
      return std::unexpected(b.error());
    }
    if (!copied) {
      auto inserted = run(
          "INSERT INTO ledger (event_id, customer_id, owner_hash, kind, points, agent_points, "
          "amount_minor, currency, store_id, agent_id, seq, till_id, pos_tx_id, ref_event_id, "
          "program_id, program_version, local_day, reason, actor, occurred_at) "
          "SELECT x.event_id, x.customer_id, decode(x.owner_hash, 'hex'), x.kind, x.points, "
          "x.agent_points, x.amount_minor, x.currency, x.store_id, x.agent_id, x.seq, x.till_id, "
          "x.pos_tx_id, x.ref_event_id, x.program_id, x.program_version, x.local_day, x.reason, "
          "x.actor, to_timestamp(x.occurred_at_ms/1000.0) FROM jsonb_to_recordset($1::jsonb) AS "
          "x(event_id uuid, customer_id text, owner_hash text, kind smallint, points bigint, "
          "agent_points bigint, amount_minor bigint, currency text, store_id text, agent_id text, "
          "seq bigint, till_id text, pos_tx_id text, ref_event_id uuid, program_id text, "
          "program_version integer, local_day integer, reason text, actor text, "
          "occurred_at_ms bigint) ON CONFLICT (event_id) DO NOTHING",
          w.ledger);
      if (!inserted) return std::unexpected(inserted.error());
      if (*inserted != static_cast<int64_t>(w.ledger.size())) {
        // Someone else wrote one of these event ids since we looked (another agent reusing ids):
        // nothing of this batch is kept; the agent's retry sorts it out.
        return fail(ErrorCode::kUnavailable, "a concurrent upload wrote the same events; retry");
      }
    }
    json::array deltas;
    for (const auto& [id, d] : w.balances) {
      json::object o;
      o["customer_id"] = id;
      o["points"] = d.points;
      o["earned"] = d.earned;
      o["redeemed"] = d.redeemed;
      if (d.last_purchase_ms > 0) o["last_purchase_ms"] = d.last_purchase_ms;
      deltas.push_back(std::move(o));
    }
    ACCRUE_TRY(run_obj(
        "UPDATE balance b SET points = b.points + x.points, "
        "lifetime_earned = b.lifetime_earned + x.earned, "
        "lifetime_redeemed = b.lifetime_redeemed + x.redeemed, "
        "last_purchase_at = greatest(b.last_purchase_at, "
        "to_timestamp(x.last_purchase_ms/1000.0)), version = b.version + 1, updated_at = now() "
        "FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text, points bigint, earned bigint, "
        "redeemed bigint, last_purchase_ms bigint) WHERE b.customer_id = x.customer_id",
        deltas));
    if (!copied)
      ACCRUE_TRY(run_obj(
          "INSERT INTO points_lot (lot_id, customer_id, earned_at, available_at, expires_at, "
          "points, remaining) SELECT x.lot_id, x.customer_id, to_timestamp(x.earned_at_ms/1000.0), "
          "to_timestamp(x.available_at_ms/1000.0), to_timestamp(x.expires_at_ms/1000.0), x.points, "
          "x.remaining FROM jsonb_to_recordset($1::jsonb) AS x(lot_id uuid, customer_id text, "
          "earned_at_ms bigint, available_at_ms bigint, expires_at_ms bigint, points bigint, "
          "remaining bigint)",
          w.lots_new));
    ACCRUE_TRY(run_obj(
        "UPDATE points_lot l SET remaining = x.remaining FROM jsonb_to_recordset($1::jsonb) AS "
        "x(lot_id uuid, remaining bigint) WHERE l.lot_id = x.lot_id",
        w.lots_update));
    if (!copied)
      ACCRUE_TRY(run_obj(
          "INSERT INTO receipt (event_id, customer_id, store_id, till_id, pos_tx_id, occurred_at, "
          "amount_minor, currency, points_earned) SELECT x.event_id, x.customer_id, x.store_id, "
          "x.till_id, x.pos_tx_id, to_timestamp(x.occurred_at_ms/1000.0), x.amount_minor, "
          "x.currency, x.points_earned FROM jsonb_to_recordset($1::jsonb) AS x(event_id uuid, "
          "customer_id text, store_id text, till_id text, pos_tx_id text, occurred_at_ms bigint, "
          "amount_minor bigint, currency text, points_earned bigint) "
          "ON CONFLICT DO NOTHING",
          w.receipts));
    ACCRUE_TRY(run_obj(
        "UPDATE receipt r SET customer_id = x.customer_id FROM jsonb_to_recordset($1::jsonb) AS "
        "x(event_id uuid, customer_id text) WHERE r.event_id = x.event_id",
        w.receipt_claims));
    ACCRUE_TRY(run_obj(
        "UPDATE receipt r SET points_reversed = r.points_reversed + x.points FROM "
        "(SELECT event_id, sum(points) AS points FROM jsonb_to_recordset($1::jsonb) AS "
        "y(event_id uuid, points bigint) GROUP BY event_id) AS x WHERE r.event_id = x.event_id",
        w.receipt_reversals));
    // The store has seen these customers: they stay in its change feed's scope.
    if (!w.touched.empty()) {
      std::vector<std::string> seen(w.touched.begin(), w.touched.end());
      ACCRUE_TRY(
          c.query("INSERT INTO store_customer (store_id, customer_id) SELECT $1, x FROM "
                  "unnest($2::text[]) AS x ON CONFLICT (store_id, customer_id) DO UPDATE SET "
                  "last_seen_at = now() WHERE store_customer.last_seen_at < now() - "
                  "interval '1 hour'",
                  {pg::Param::text(sid), pg::Param::text(pg::text_array(seen))}));
    }
    json::array days;
    for (const auto& [key, delta] : w.day_deltas) {
      json::object o;
      o["customer_id"] = key.first;
      o["local_day"] = key.second;
      o["earned"] = delta.earned;
      o["qualifying_points"] = delta.qualifying_points;
      o["spend_minor"] = delta.spend_minor;
      days.push_back(std::move(o));
    }
    ACCRUE_TRY(run_obj(
        "INSERT INTO customer_day (customer_id, local_day, earned, qualifying_points, "
        "spend_minor) SELECT x.customer_id, x.local_day, x.earned, x.qualifying_points, "
        "x.spend_minor FROM jsonb_to_recordset($1::jsonb) AS x(customer_id text, local_day "
        "integer, earned bigint, qualifying_points bigint, spend_minor bigint) ON CONFLICT "
        "(customer_id, local_day) DO UPDATE SET earned = customer_day.earned + excluded.earned, "
        "qualifying_points = customer_day.qualifying_points + excluded.qualifying_points, "
        "spend_minor = customer_day.spend_minor + excluded.spend_minor",
        days));
    // Webhooks for the points events and the new members, queued with them.
    ACCRUE_TRY(run_obj(kQueueLedgerWebhooksSql, w.ledger));
    ACCRUE_TRY(run_obj(kQueueEnrolmentWebhooksSql, w.customers));
    ACCRUE_TRY(run_obj(
        "INSERT INTO change_feed (kind, customer_id, store_id) SELECT x.kind, x.customer_id, "
        "x.store_id FROM jsonb_to_recordset($1::jsonb) AS x(kind smallint, customer_id text, "
        "store_id text)",
        w.feed));

    // 7. The agent's seq: record jumps past last_seq + 1. An online redemption stays out of
    // it (it has no seq); it is listed beside the watermark until its upload arrives.
    if (options.online) {
      for (int i = 0; i < n; ++i) {
        if (!is_new(i)) continue;
        ACCRUE_TRY(c.query(
            "INSERT INTO agent_online_event (agent_id, event_id) VALUES ($1, $2::uuid) "
            "ON CONFLICT DO NOTHING",
            {pg::Param::text(batch.agent_id()), pg::Param::text(batch.events(i).event_id())}));
      }
    } else if (!options.head_office && std::ranges::find(duplicate, true) != duplicate.end()) {
      std::vector<std::string> uploaded;
      for (int i = 0; i < n; ++i) {
        if (duplicate[static_cast<size_t>(i)]) uploaded.push_back(batch.events(i).event_id());
      }
      ACCRUE_TRY(c.query(
          "DELETE FROM agent_online_event WHERE agent_id = $1 AND event_id = ANY($2::uuid[])",
          {pg::Param::text(batch.agent_id()), pg::Param::text(pg::text_array(uploaded))}));
    }
    json::array gap_rows;
    for (int i = 0; !options.online && !options.head_office && i < n; ++i) {
      if (rejected[static_cast<size_t>(i)] &&
          rejected[static_cast<size_t>(i)]->code == "wrong_agent") {
        continue;
      }
      const int64_t seq = static_cast<int64_t>(batch.events(i).seq());
      if (seq <= 0) continue;
      if (seq > last_seq + 1) {
        json::object g;
        g["from_seq"] = last_seq + 1;
        g["to_seq"] = seq - 1;
        gap_rows.push_back(std::move(g));
        ++gaps;
      }
      last_seq = std::max(last_seq, seq);
    }
    if (!gap_rows.empty()) {
      auto r = c.query(
          "INSERT INTO agent_seq_gap (agent_id, from_seq, to_seq) SELECT $2, x.from_seq, "
          "x.to_seq FROM jsonb_to_recordset($1::jsonb) AS x(from_seq bigint, to_seq bigint) "
          "ON CONFLICT DO NOTHING",
          {pg::Param::text(json::serialize(gap_rows)), pg::Param::text(batch.agent_id())});
      if (!r) return std::unexpected(r.error());
    }
    const std::string seq_text = std::to_string(last_seq);
    ACCRUE_TRY(c.query("UPDATE agent SET last_seq = $2, last_seen_at = now() WHERE agent_id = $1",
                       {pg::Param::text(batch.agent_id()), pg::Param::text(seq_text)}));
    if (!options.online && batch.events_size() > 0 && batch.events(0).seq() % 1000 == 1) {
      // Now and then: online redemptions whose upload never came (a replica replaced).
      ACCRUE_TRY(
          c.query("DELETE FROM agent_online_event WHERE agent_id = $1 "
                  "AND applied_at < now() - interval '30 days'",
                  {pg::Param::text(batch.agent_id())}));
    }

    touched.assign(w.touched.begin(), w.touched.end());
    sv1::EventBatchResult out;
    for (int i = 0; i < n; ++i) {
      auto* r = out.add_results();
      r->set_event_id(batch.events(i).event_id());
      if (rejected[static_cast<size_t>(i)]) {
        r->set_status(sv1::EVENT_STATUS_REJECTED);
        r->set_reject_code(rejected[static_cast<size_t>(i)]->code);
        r->set_message(rejected[static_cast<size_t>(i)]->message);
      } else if (duplicate[static_cast<size_t>(i)]) {
        r->set_status(sv1::EVENT_STATUS_DUPLICATE);
      } else {
        r->set_status(sv1::EVENT_STATUS_APPLIED);
      }
    }
    if (options.also) ACCRUE_TRY(options.also(c, out));
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
  return result;
}

}  // namespace accrue::cloud
