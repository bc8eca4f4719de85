#include "cloud/sync/changes.h"

#include <charconv>
#include <map>
#include <set>

#include "cloud/core/balance.h"
#include "cloud/core/customer_status.h"
#include "cloud/core/tiers.h"
#include "common/hex.h"
#include "common/sys/log.h"
#include "common/uuid.h"
#include "common/wire/loyalty_codec.h"

namespace accrue::cloud {

namespace sv1 = accrue::sync::v1;
namespace lv1 = accrue::loyalty::v1;

namespace {

struct Cursor {
  char mode = 'b';
  std::string xid;    // xid8 as decimal text
  std::string after;  // bootstrap: last customer id, then last coupon id; feed: last row id
};

std::optional<Cursor> parse_cursor(std::string_view s) {
  if (s.size() < 4 || s[1] != ':' || (s[0] != 'b' && s[0] != 'c' && s[0] != 'f')) {
    return std::nullopt;
  }
  auto colon = s.find(':', 2);
  if (colon == std::string_view::npos) return std::nullopt;
  Cursor c;
  c.mode = s[0];
  c.xid = std::string(s.substr(2, colon - 2));
  c.after = std::string(s.substr(colon + 1));
  uint64_t v = 0;
  auto [p, ec] = std::from_chars(c.xid.data(), c.xid.data() + c.xid.size(), v);
  if (ec != std::errc() || p != c.xid.data() + c.xid.size() || c.xid.empty()) return std::nullopt;
  if (c.mode == 'c' && !c.after.empty() && !Uuid::parse(c.after, "cursor")) return std::nullopt;
  if (c.mode == 'f') {
    int64_t id = 0;
    auto [p2, ec2] = std::from_chars(c.after.data(), c.after.data() + c.after.size(), id);
    if (ec2 != std::errc() || p2 != c.after.data() + c.after.size()) return std::nullopt;
  }
  return c;
}

// "In the store's scope": home customers, and customers the store has seen lately. A member who
// was erased or merged is in the scope of every store that ever saw her, however long ago: her
// removal reaches every replica that may still hold her name and identifiers.
const std::string kInScope =
    "(c.home_store_id = $1 OR EXISTS (SELECT 1 FROM store_customer s WHERE s.store_id = $1 AND "
    "s.customer_id = c.customer_id AND (s.last_seen_at > now() - make_interval(days => $2::int) "
    "OR c.status NOT IN " +
    kServedStatusesSql + ")))";

// The coupons the feed named (spent, or usable again), as their states now, in feed order.
Result<void> append_coupon_states(pg::Connection& c, const std::vector<std::string>& ids,
                                  sv1::ChangesPage& out) {
  if (ids.empty()) return {};
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query("SELECT coupon_id::text, (extract(epoch FROM expires_at) * 1000)::bigint, "
                      "status <> 'issued' FROM coupon WHERE coupon_id = ANY($1::uuid[])",
                      {pg::Param::text(pg::text_array(ids))}));
  std::map<std::string, sv1::CouponState, std::less<>> states;
  for (int i = 0; i < r.rows(); ++i) {
    sv1::CouponState s;
    s.set_coupon_id(std::string(r.text(i, 0)));
    s.set_expires_at_ms(r.int64(i, 1));
    s.set_spent(std::string_view(r.text(i, 2)) == "t");
    states.emplace(s.coupon_id(), std::move(s));
  }
  std::set<std::string> sent;
  for (const auto& id : ids) {
    auto it = states.find(id);
    if (it == states.end() || !sent.insert(id).second) continue;
    *out.add_changes()->mutable_coupon() = it->second;
  }
  return {};
}

// A bootstrap page of the coupons spent and not expired yet, by id after the cursor's; then
// the feed from the bootstrap's start.
Result<void> append_spent_coupons(pg::Connection& c, const Cursor& cur, uint32_t limit,
                                  sv1::ChangesPage& out) {
  const std::string lim = std::to_string(limit);
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query("SELECT coupon_id::text, (extract(epoch FROM expires_at) * 1000)::bigint "
                      "FROM coupon WHERE status <> 'issued' AND expires_at > now() AND "
                      "($1 = '' OR coupon_id > $1::uuid) ORDER BY coupon_id LIMIT $2::int",
                      {pg::Param::text(cur.after), pg::Param::text(lim)}));
  for (int i = 0; i < r.rows(); ++i) {
    auto* s = out.add_changes()->mutable_coupon();
    s->set_coupon_id(std::string(r.text(i, 0)));
    s->set_expires_at_ms(r.int64(i, 1));
    s->set_spent(true);
  }
  if (r.rows() == static_cast<int>(limit)) {
    out.set_next_cursor("c:" + cur.xid + ":" + std::string(r.text(r.rows() - 1, 0)));
  } else {
    // Bootstrap done: the feed resumes from the oldest transaction that might not have been
    // visible when the bootstrap began.
    out.set_next_cursor("f:" + cur.xid + ":0");
  }
  out.set_has_more(true);
  return {};
}

// Snapshots (and, where asked, identifier links and temp-id mappings) of `customers`, in order;
// a customer that no longer exists or was erased becomes a removal. The qualifying value is over
// `program`'s tier window (0 without a programme).
Result<void> append_customers(pg::Connection& c, const std::vector<std::string>& customers,
                              const std::set<std::string>& identifiers_of,
                              const std::set<std::string>& mappings_of, TimestampMs now,
                              const PublishedProgram* program, sv1::ChangesPage& out) {
  if (customers.empty()) return {};
  std::string arr = "{";
  for (size_t i = 0; i < customers.size(); ++i) {
    if (i) arr += ',';
    arr += '"';
    for (char ch : customers[i]) {
      if (ch == '"' || ch == '\\') arr += '\\';
      arr += ch;
    }
    arr += '"';
  }
  arr += '}';
  ACCRUE_ASSIGN_OR_RETURN(
      auto snap,
      c.query(
          std::string("SELECT c.customer_id, c.status, c.tier_id, coalesce(p.display_name, ''), "
                      "coalesce(c.home_store_id, ''), b.points, coalesce(p.birthday_month, 0), "
                      "coalesce(p.birthday_day, 0), coalesce(c.temp_customer_id, ''), ") +
              kOpenLotsColumn +
              ", (SELECT coalesce(sum(CASE WHEN $3 THEN d.spend_minor ELSE d.qualifying_points "
              "END), 0) FROM customer_day d WHERE d.customer_id = c.customer_id AND d.local_day > "
              "$2::int) FROM customer c JOIN balance b USING (customer_id) LEFT JOIN customer_pii "
              "p USING (customer_id) WHERE c.customer_id = ANY($1::text[])",
          {pg::Param::text(arr),
           pg::Param::text(std::to_string(program ? last_day_before_tier_window(*program, now)
                                                  : int64_t{INT32_MAX})),
           pg::Param::text(program && program->program.tiers.basis == TierBasis::kAmountSpent
                               ? "true"
                               : "false")}));
  std::map<std::string, int> row_of;
  for (int i = 0; i < snap.rows(); ++i) row_of[std::string(snap.text(i, 0))] = i;
  ACCRUE_ASSIGN_OR_RETURN(
      auto ids,
      c.query("SELECT customer_id, kind, hash FROM identifier WHERE customer_id = ANY($1::text[])",
              {pg::Param::text(arr)}));
  std::multimap<std::string, std::pair<std::string, std::string>> links;
  for (int i = 0; i < ids.rows(); ++i) {
    auto raw = pg::decode_bytea(ids.text(i, 2));
    if (raw)
      links.emplace(std::string(ids.text(i, 0)), std::make_pair(std::string(ids.text(i, 1)), *raw));
  }
  for (const auto& id : customers) {
    auto it = row_of.find(id);
    if (it == row_of.end()) {  // gone since (erased): the store drops it
      out.add_changes()->mutable_removed()->set_customer_id(id);
      continue;
    }
    const int i = it->second;
    const int64_t status = snap.int64(i, 1);
    if (is_closed(status)) {  // erased, or merged into another member
      out.add_changes()->mutable_removed()->set_customer_id(id);
      continue;
    }
    if (mappings_of.contains(id) && !snap.text(i, 8).empty()) {
      auto* m = out.add_changes()->mutable_mapping();
      m->set_temp_customer_id(std::string(snap.text(i, 8)));
      m->set_customer_id(id);
    }
    auto* s = out.add_changes()->mutable_customer();
    s->set_customer_id(id);
    s->set_status(status == to_int(CustomerStatus::kBlocked) ? lv1::CUSTOMER_STATUS_BLOCKED
                                                             : lv1::CUSTOMER_STATUS_ACTIVE);
    s->set_tier_id(std::string(snap.text(i, 2)));
    s->set_display_name(std::string(snap.text(i, 3)));
    s->set_home_store_id(std::string(snap.text(i, 4)));
    const CustomerPoints pts =
        customer_points(snap.int64(i, 5), parse_open_lots(snap.text(i, 9)), now);
    s->set_available_points(pts.available);
    s->set_pending_points(pts.pending);
    s->set_as_of_ms(now);
    s->set_birthday_month(static_cast<uint32_t>(snap.int64(i, 6)));
    s->set_birthday_day(static_cast<uint32_t>(snap.int64(i, 7)));
    s->set_qualifying_value(snap.int64(i, 10));
    if (identifiers_of.contains(id) || mappings_of.contains(id)) {
      s->set_identifiers_follow(true);  // all of hers, read with the snapshot
      auto [lo, hi] = links.equal_range(id);
      for (auto l = lo; l != hi; ++l) {
        auto* link = out.add_changes()->mutable_identifier();
        link->mutable_identifier()->set_kind(l->second.first);
        link->mutable_identifier()->set_hash(l->second.second);
        link->set_customer_id(id);
      }
    }
  }
  return {};
}

// What the balances read in this snapshot hold of the agent's events: its highest processed
// seq (W), and its online redemptions already applied but not uploaded yet. For a ChangesPage
// or a LookupResponse.
template <class Answer>
Result<void> agent_watermark(pg::Connection& c, const std::string& store_id,
                             const std::string& agent_id, Answer& out) {
  ACCRUE_ASSIGN_OR_RETURN(
      auto seq, c.query("SELECT last_seq FROM agent WHERE agent_id = $1 AND store_id = $2",
                        {pg::Param::text(agent_id), pg::Param::text(store_id)}));
  if (seq.rows() == 1) out.set_agent_processed_seq(static_cast<uint64_t>(seq.int64(0, 0)));
  ACCRUE_ASSIGN_OR_RETURN(
      auto r, c.query("SELECT event_id::text FROM agent_online_event WHERE agent_id = $1",
                      {pg::Param::text(agent_id)}));
  for (int k = 0; k < r.rows(); ++k) out.add_online_applied_event_ids(std::string(r.text(k, 0)));
  return {};
}

}  // namespace

Result<sv1::ChangesPage> ChangeFeed::page(const std::string& store_id, const std::string& cursor,
                                          uint32_t max_changes, const std::string& agent_id) {
  const uint32_t limit = std::clamp<uint32_t>(max_changes == 0 ? 500 : max_changes, 1, 5000);
  std::optional<Cursor> cur;
  sv1::ChangesPage out;
  if (!contact_key_.empty()) out.set_contact_key(contact_key_);
  if (!cursor.empty()) {
    cur = parse_cursor(cursor);
    if (!cur) return fail(ErrorCode::kInvalidArgument, "cursor: not one this service handed out");
  }
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  pg::Connection& c = *lease;
  const std::string days = std::to_string(scope_days_);
  const TimestampMs now = clock_.now_ms();

  // One snapshot for the whole page: its xmin bounds what the feed may deliver.
  ACCRUE_TRY(c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY"));
  auto body = [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(auto xmin,
                            c.exec("SELECT pg_snapshot_xmin(pg_current_snapshot())::text"));
    const std::string snapshot_xmin(xmin.text(0, 0));
    if (!agent_id.empty()) ACCRUE_TRY(agent_watermark(c, store_id, agent_id, out));
    ACCRUE_ASSIGN_OR_RETURN(auto store,
                            c.query("SELECT country, time_zone FROM store WHERE store_id = $1",
                                    {pg::Param::text(store_id)}));
    if (store.rows() == 1) {
      out.mutable_store()->set_country(std::string(store.text(0, 0)));
      out.mutable_store()->set_time_zone(std::string(store.text(0, 1)));
    }
    // Every coupon key the chain has used (a few rows), on every page.
    ACCRUE_ASSIGN_OR_RETURN(auto keys,
                            c.exec("SELECT key_id, public_key FROM coupon_key ORDER BY key_id"));
    for (int i = 0; i < keys.rows(); ++i) {
      auto* k = out.add_coupon_keys();
      k->set_key_id(static_cast<uint32_t>(keys.int64(i, 0)));
      k->set_public_key(pg::decode_bytea(keys.text(i, 1)).value_or(""));
    }

    // A cursor the pruning has overtaken has missed changes: start over, as on day one.
    if (cur && cur->mode == 'f') {
      ACCRUE_ASSIGN_OR_RETURN(auto h,
                              c.query("SELECT 1 FROM feed_horizon WHERE ($1::xid8, $2::bigint) < "
                                      "(pruned_through_xid, pruned_through_id)",
                                      {pg::Param::text(cur->xid), pg::Param::text(cur->after)}));
      if (h.rows() > 0) {
        log(LogLevel::kWarn, "feed_cursor_expired", {{"store_id", store_id}});
        cur.reset();
      }
    }

    std::vector<std::string> customers;  // to send as snapshots, in order
    std::set<std::string> wanted;
    std::set<std::string> identifiers_of, mappings_of;
    std::vector<std::string> coupons;  // spent or given back, in feed order
    bool send_program = false;
    if (!cur || cur->mode == 'b') {
      if (!cur) {
        out.set_reset(true);  // from scratch: the store rebuilds its replica from these pages
        send_program = true;
        cur = Cursor{'b', snapshot_xmin, ""};
      }
      const std::string lim = std::to_string(limit);
      ACCRUE_ASSIGN_OR_RETURN(
          auto r,
          c.query(std::string("SELECT c.customer_id FROM customer c WHERE c.customer_id > $3 "
                              "AND c.status IN ") +
                      kServedStatusesSql + " AND " + kInScope + " ORDER BY c.customer_id LIMIT $4",
                  {pg::Param::text(store_id), pg::Param::text(days), pg::Param::text(cur->after),
                   pg::Param::text(lim)}));
      for (int i = 0; i < r.rows(); ++i) {
        std::string id(r.text(i, 0));
        customers.push_back(id);
        identifiers_of.insert(id);
      }
      if (r.rows() == static_cast<int>(limit)) {
        out.set_next_cursor("b:" + cur->xid + ":" + customers.back());
        out.set_has_more(true);
      } else {
        // Customers done: the coupons spent and not expired, then the feed.
        out.set_next_cursor("c:" + cur->xid + ":");
        out.set_has_more(true);
      }
    } else if (cur->mode == 'c') {
      ACCRUE_TRY(append_spent_coupons(c, *cur, limit, out));
    } else {
      const std::string lim = std::to_string(limit);
      // Rows at or after the cursor's transaction, from transactions finished before this
      // snapshot, in the store's scope (programme versions are everyone's).
      ACCRUE_ASSIGN_OR_RETURN(
          auto r,
          c.query(std::string("SELECT f.id, f.xid::text, f.kind, coalesce(f.customer_id, ''), "
                              "coalesce(f.coupon_id::text, '') FROM change_feed f LEFT JOIN "
                              "customer c ON c.customer_id = f.customer_id WHERE (f.xid, f.id) > "
                              "($3::xid8, $4::bigint) AND f.xid < "
                              "pg_snapshot_xmin(pg_current_snapshot()) AND (f.kind IN (" +
                              std::to_string(to_int(FeedKind::kProgram)) + ", " +
                              std::to_string(to_int(FeedKind::kCoupon)) + ") OR ") +
                      kInScope + ") ORDER BY f.xid, f.id LIMIT $5",
                  {pg::Param::text(store_id), pg::Param::text(days), pg::Param::text(cur->xid),
                   pg::Param::text(cur->after), pg::Param::text(lim)}));
      for (int i = 0; i < r.rows(); ++i) {
        const int64_t kind = r.int64(i, 2);
        std::string id(r.text(i, 3));
        if (kind == to_int(FeedKind::kProgram)) {
          send_program = true;
          continue;
        }
        if (kind == to_int(FeedKind::kCoupon)) {
          coupons.emplace_back(r.text(i, 4));
          continue;
        }
        if (id.empty()) continue;
        // A customer's identifiers always travel with its snapshot: a store that sees a
        // customer for the first time (a sale there put it in scope) must also learn which
        // cards and phones are hers, or the next scan would still be "unknown".
        identifiers_of.insert(id);
        if (kind == to_int(FeedKind::kMapping)) mappings_of.insert(id);
        if (wanted.insert(id).second) customers.push_back(id);
      }
      if (r.rows() > 0) {
        const int last = r.rows() - 1;
        out.set_next_cursor("f:" + std::string(r.text(last, 1)) + ":" +
                            std::to_string(r.int64(last, 0)));
      } else {
        out.set_next_cursor("f:" + cur->xid + ":" + cur->after);
      }
      out.set_has_more(r.rows() == static_cast<int>(limit));
    }

    ACCRUE_TRY(append_coupon_states(c, coupons, out));
    auto p = programs_.latest(c, now);
    if (!p && p.error().code != ErrorCode::kNotFound) return std::unexpected(p.error());
    if (send_program && p) {
      *out.add_changes()->mutable_program() = wire::program_to_proto((*p)->program);
    }
    return append_customers(c, customers, identifiers_of, mappings_of, now, p ? p->get() : nullptr,
                            out);
  };
  auto r = body();
  (void)c.exec(r ? "COMMIT" : "ROLLBACK");
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<ChangeFeed::PruneResult> ChangeFeed::prune(pg::Connection& c, std::chrono::seconds retention,
                                                  int batch) {
  // Session-level advisory lock (key: "feedprun"), released below whatever happens.
  constexpr const char* kLock = "7378415046574110062";
  ACCRUE_ASSIGN_OR_RETURN(
      auto locked, c.query("SELECT pg_try_advisory_lock($1::bigint)", {pg::Param::text(kLock)}));
  PruneResult out;
  if (locked.text(0, 0) != "t") {
    out.skipped = true;
    return out;
  }
  auto body = [&]() -> Result<void> {
    const std::string age = std::to_string(retention.count());
    const std::string limit = std::to_string(std::max(batch, 1));
    for (int round = 0; round < 100'000; ++round) {  // bounded: 10^9 rows at the default batch
      ACCRUE_TRY(c.exec("BEGIN"));
      auto step = [&]() -> Result<int64_t> {
        ACCRUE_ASSIGN_OR_RETURN(
            auto r,
            c.query("WITH gone AS (DELETE FROM change_feed WHERE id IN (SELECT id FROM change_feed "
                    "WHERE created_at < now() - make_interval(secs => $1::double precision) ORDER "
                    "BY id "
                    "LIMIT $2::int) RETURNING xid, id) SELECT (SELECT count(*) FROM gone), "
                    "xid::text, id "
                    "FROM gone ORDER BY xid DESC, id DESC LIMIT 1",
                    {pg::Param::text(age), pg::Param::text(limit)}));
        if (r.rows() == 0) return 0;
        const int64_t n = r.int64(0, 0);
        ACCRUE_TRY(c.query(
            "INSERT INTO feed_horizon (pruned_through_xid, pruned_through_id) VALUES ($1::xid8, "
            "$2::bigint) ON CONFLICT (only_row) DO UPDATE SET pruned_through_xid = "
            "excluded.pruned_through_xid, pruned_through_id = excluded.pruned_through_id, "
            "pruned_at = now() WHERE (feed_horizon.pruned_through_xid, "
            "feed_horizon.pruned_through_id) < (excluded.pruned_through_xid, "
            "excluded.pruned_through_id)",
            {pg::Param::text(std::string(r.text(0, 1))),
             pg::Param::text(std::string(r.text(0, 2)))}));
        return n;
      };
      auto n = step();
      if (!n) {
        (void)c.exec("ROLLBACK");
        return std::unexpected(n.error());
      }
      ACCRUE_TRY(c.exec("COMMIT"));
      out.deleted += *n;
      if (*n < std::max(batch, 1)) break;
    }
    return {};
  };
  auto r = body();
  (void)c.query("SELECT pg_advisory_unlock($1::bigint)", {pg::Param::text(kLock)});
  if (!r) return std::unexpected(r.error());
  return out;
}

Result<sv1::LookupResponse> ChangeFeed::lookup(const std::string& store_id, const std::string& hash,
                                               const std::string& agent_id) {
  if (hash.size() != 32) return fail(ErrorCode::kInvalidArgument, "identifier: a 32-byte hash");
  ACCRUE_ASSIGN_OR_RETURN(auto lease, pool_.acquire());
  pg::Connection& c = *lease;
  const std::string hex = "\\x" + to_hex(hash);
  sv1::LookupResponse out;
  // One snapshot: the agent's watermark and the balance it describes are read together.
  ACCRUE_TRY(c.exec("BEGIN ISOLATION LEVEL REPEATABLE READ"));
  auto body = [&]() -> Result<void> {
    ACCRUE_ASSIGN_OR_RETURN(
        auto r,
        c.query("SELECT i.customer_id FROM identifier i JOIN customer c USING (customer_id) "
                "WHERE i.hash = $1::bytea AND c.status IN " +
                    kServedStatusesSql,
                {pg::Param::text(hex)}));
    if (r.rows() == 0) return {};
    const std::string id(r.text(0, 0));
    if (!agent_id.empty()) ACCRUE_TRY(agent_watermark(c, store_id, agent_id, out));
    // The store keeps this customer from now on: it joins the store's scope.
    ACCRUE_TRY(c.query("INSERT INTO store (store_id) VALUES ($1) ON CONFLICT DO NOTHING",
                       {pg::Param::text(store_id)}));
    ACCRUE_TRY(
        c.query("INSERT INTO store_customer (store_id, customer_id) VALUES ($1, $2) ON CONFLICT "
                "(store_id, customer_id) DO UPDATE SET last_seen_at = now()",
                {pg::Param::text(store_id), pg::Param::text(id)}));
    sv1::ChangesPage page;
    const TimestampMs now = clock_.now_ms();
    auto program = programs_.latest(c, now);
    if (!program && program.error().code != ErrorCode::kNotFound) {
      return std::unexpected(program.error());
    }
    ACCRUE_TRY(append_customers(c, {id}, {id}, {}, now, program ? program->get() : nullptr, page));
    for (const auto& ch : page.changes()) {
      if (ch.has_customer()) {
        out.set_found(true);
        *out.mutable_customer() = ch.customer();
      }
      if (ch.has_identifier()) *out.add_identifiers() = ch.identifier();
    }
    return {};
  };
  auto r = body();
  (void)c.exec(r ? "COMMIT" : "ROLLBACK");
  if (!r) return std::unexpected(r.error());
  return out;
}

}  // namespace accrue::cloud
