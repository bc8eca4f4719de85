// The writer's changes to the replica (replica.h), and the reads that go with them: online
// redemptions, a member's events after a sequence number, the confirmed-through mark.
#include "agent/store/replica.h"

#include <algorithm>
#include <utility>

#include "agent/store/replica_rows.h"

namespace accrue::agent {

using namespace replica_rows;

Result<void> Replica::set_meta(std::string_view key, std::string_view value) {
  ACCRUE_STMT(st,
              "INSERT INTO meta (key, value) VALUES (?, ?) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value");
  return st.bind(1, key).bind(2, value).run();
}

Result<void> Replica::insert_program(std::string_view program_id, int64_t version,
                                     std::string_view body, TimestampMs now) {
  ACCRUE_STMT(st,
              "INSERT OR REPLACE INTO program (program_id, version, body, installed_at) "
              "VALUES (?, ?, ?, ?)");
  return st.bind(1, program_id).bind(2, version).bind_blob(3, body).bind(4, now).run();
}

Result<void> Replica::upsert_customer(const CustomerRow& c) {
  ACCRUE_STMT(st,
              "INSERT OR REPLACE INTO customer (customer_id, status, tier_id, display_name, "
              "home_store_id, confirmed_available, confirmed_pending, confirmed_as_of, "
              "qualifying_value, local_debit, birthday_month, birthday_day, enrolled_at) "
              "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  return st.bind(1, c.customer_id)
      .bind(2, c.status)
      .bind(3, c.tier_id)
      .bind(4, c.display_name)
      .bind(5, c.home_store_id)
      .bind(6, c.confirmed_available)
      .bind(7, c.confirmed_pending)
      .bind(8, c.confirmed_as_of)
      .bind(9, c.qualifying_value)
      .bind(10, c.local_debit)
      .bind(11, c.birthday_month)
      .bind(12, c.birthday_day)
      .bind(13, c.enrolled_at)
      .run();
}

Result<void> Replica::link_identifier(const IdentifierHash& hash, std::string_view customer_id) {
  ACCRUE_STMT(st, "INSERT INTO identifier (hash, customer_id) VALUES (?, ?)");
  return st.bind_blob(1, bytes(hash)).bind(2, customer_id).run();
}

Result<void> Replica::add_local_debit(std::string_view customer_id, int64_t points) {
  ACCRUE_STMT(st, "UPDATE customer SET local_debit = local_debit + ? WHERE customer_id = ?");
  return st.bind(1, points).bind(2, customer_id).run();
}

Result<int64_t> Replica::insert_ledger(const LedgerRow& r) {
  ACCRUE_STMT(st,
              "INSERT INTO ledger (seq, event_id, kind, owner, points, amount_minor, currency, "
              "occurred_at, till_id, pos_tx_id, program_version, confirmed) "
              "VALUES (NULL, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, 0)");
  st.bind_blob(2, r.event_id).bind(3, r.kind).bind(4, r.owner).bind(5, r.points);
  if (r.amount_minor) {
    st.bind(6, *r.amount_minor).bind(7, r.currency);
  } else {
    st.bind_null(6).bind_null(7);
  }
  ACCRUE_TRY(st.bind(8, r.occurred_at)
                 .bind(9, r.till_id)
                 .bind(10, r.pos_tx_id)
                 .bind(11, r.program_version)
                 .run());
  return static_cast<int64_t>(sqlite3_last_insert_rowid(db_.raw()));
}

Result<void> Replica::insert_outbox(int64_t seq, std::string_view event_id, std::string_view body,
                                    TimestampMs now) {
  ACCRUE_STMT(st, "INSERT INTO outbox (seq, event_id, body, created_at) VALUES (?, ?, ?, ?)");
  return st.bind(1, seq).bind_blob(2, event_id).bind_blob(3, body).bind(4, now).run();
}

Result<bool> Replica::confirm_uploaded(int64_t seq) {
  ACCRUE_STMT(del, "DELETE FROM outbox WHERE seq = ?");
  ACCRUE_TRY(del.bind(1, seq).run());
  if (sqlite3_changes(db_.raw()) == 0) return false;
  ACCRUE_STMT(mark, "UPDATE ledger SET confirmed = 1 WHERE seq = ?");
  ACCRUE_TRY(mark.bind(1, seq).run());
  return true;
}

Result<bool> Replica::quarantine_event(int64_t seq, std::string_view code, std::string_view message,
                                       TimestampMs now) {
  ACCRUE_STMT(move,
              "INSERT INTO quarantine (seq, event_id, body, reject_code, message, quarantined_at) "
              "SELECT seq, event_id, body, ?, ?, ? FROM outbox WHERE seq = ?");
  ACCRUE_TRY(move.bind(1, code).bind(2, message).bind(3, now).bind(4, seq).run());
  if (sqlite3_changes(db_.raw()) == 0) return false;
  ACCRUE_STMT(del, "DELETE FROM outbox WHERE seq = ?");
  ACCRUE_TRY(del.bind(1, seq).run());
  return true;
}

Result<bool> Replica::resubmit_quarantined(int64_t seq, TimestampMs now) {
  ACCRUE_STMT(move,
              "INSERT INTO outbox (seq, event_id, body, created_at) "
              "SELECT seq, event_id, body, ? FROM quarantine WHERE seq = ?");
  ACCRUE_TRY(move.bind(1, now).bind(2, seq).run());
  if (sqlite3_changes(db_.raw()) == 0) return false;
  return drop_quarantined(seq);
}

Result<bool> Replica::drop_quarantined(int64_t seq) {
  ACCRUE_STMT(del, "DELETE FROM quarantine WHERE seq = ?");
  ACCRUE_TRY(del.bind(1, seq).run());
  return sqlite3_changes(db_.raw()) > 0;
}

Result<void> Replica::insert_lot(int64_t seq, std::string_view owner, const Lot& lot) {
  ACCRUE_STMT(st,
              "INSERT INTO lot (seq, owner, earned_at, available_at, expires_at, points, "
              "remaining) VALUES (?, ?, ?, ?, ?, ?, ?)");
  return st.bind(1, seq)
      .bind(2, owner)
      .bind(3, lot.earned_at_ms)
      .bind(4, lot.available_at_ms)
      .bind(5, lot.expires_at_ms)
      .bind(6, lot.points)
      .bind(7, lot.remaining)
      .run();
}

Result<void> Replica::set_lot_remaining(int64_t seq, int64_t remaining) {
  ACCRUE_STMT(st, "UPDATE lot SET remaining = ? WHERE seq = ?");
  return st.bind(1, remaining).bind(2, seq).run();
}

Result<void> Replica::insert_till_write(std::string_view till_id, std::string_view pos_tx_id,
                                        int kind, std::string_view fingerprint,
                                        std::string_view response, std::optional<int64_t> seq,
                                        TimestampMs now) {
  ACCRUE_STMT(st,
              "INSERT INTO receipt (till_id, pos_tx_id, kind, fingerprint, response, seq, "
              "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, till_id).bind(2, pos_tx_id).bind(3, kind).bind_blob(4, fingerprint);
  st.bind_blob(5, response);
  if (seq) {
    st.bind(6, *seq);
  } else {
    st.bind_null(6);
  }
  return st.bind(7, now).run();
}

Result<void> Replica::insert_online_redemption(const OnlineRedemptionRow& row) {
  ACCRUE_STMT(st,
              "INSERT INTO online_redemption (till_id, pos_tx_id, event_id, fingerprint, owner, "
              "envelope, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)");
  st.bind(1, row.till_id).bind(2, row.pos_tx_id).bind_blob(3, row.event_id);
  st.bind_blob(4, row.fingerprint).bind(5, row.owner).bind_blob(6, row.envelope);
  return st.bind(7, row.created_at).run();
}

namespace {
OnlineRedemptionRow online_redemption_from(const sqlite::Stmt& s) {
  return {std::string(s.text(0)),
          std::string(s.text(1)),
          std::string(s.blob(2)),
          std::string(s.blob(3)),
          std::string(s.text(4)),
          std::string(s.blob(5)),
          s.int64(6)};
}
}  // namespace

Result<std::optional<OnlineRedemptionRow>> Replica::online_redemption(std::string_view till_id,
                                                                      std::string_view pos_tx_id) {
  ACCRUE_STMT(st,
              "SELECT till_id, pos_tx_id, event_id, fingerprint, owner, envelope, created_at "
              "FROM online_redemption WHERE till_id = ? AND pos_tx_id = ?");
  st.bind(1, till_id).bind(2, pos_tx_id);
  return st.first(online_redemption_from);
}

Result<std::vector<OnlineRedemptionRow>> Replica::online_redemptions() {
  ACCRUE_STMT(st,
              "SELECT till_id, pos_tx_id, event_id, fingerprint, owner, envelope, created_at "
              "FROM online_redemption ORDER BY created_at");
  return st.all(online_redemption_from);
}

Result<std::optional<int64_t>> Replica::oldest_online_redemption() {
  ACCRUE_STMT(st, "SELECT MIN(created_at) FROM online_redemption");
  ACCRUE_ASSIGN_OR_RETURN(auto row, st.first([](const sqlite::Stmt& s) {
    return s.is_null(0) ? std::optional<int64_t>() : std::optional<int64_t>(s.int64(0));
  }));
  return row.value_or(std::nullopt);
}

Result<void> Replica::delete_online_redemption(std::string_view till_id,
                                               std::string_view pos_tx_id) {
  ACCRUE_STMT(st, "DELETE FROM online_redemption WHERE till_id = ? AND pos_tx_id = ?");
  return st.bind(1, till_id).bind(2, pos_tx_id).run();
}

Result<void> Replica::mark_in_flight(std::string_view event_id) {
  ACCRUE_STMT(st, "INSERT OR IGNORE INTO online_in_flight (event_id, customer_id) VALUES (?, '')");
  return st.bind_blob(1, event_id).run();
}

Result<std::set<std::string>> Replica::in_flight() {
  ACCRUE_STMT(st, "SELECT event_id FROM online_in_flight WHERE customer_id = ''");
  ACCRUE_ASSIGN_OR_RETURN(auto ids,
                          st.all([](const sqlite::Stmt& s) { return std::string(s.blob(0)); }));
  return std::set<std::string>(ids.begin(), ids.end());
}

Result<void> Replica::held_in_snapshot(std::string_view event_id, std::string_view customer_id) {
  ACCRUE_STMT(st, "INSERT OR IGNORE INTO online_in_flight (event_id, customer_id) VALUES (?, ?)");
  return st.bind_blob(1, event_id).bind(2, customer_id).run();
}

Result<std::set<std::string>> Replica::land_in_flight(std::string_view event_id) {
  std::set<std::string> holders;
  {
    ACCRUE_STMT(
        st, "SELECT customer_id FROM online_in_flight WHERE event_id = ? AND customer_id <> ''");
    st.bind_blob(1, event_id);
    ACCRUE_ASSIGN_OR_RETURN(auto ids,
                            st.all([](const sqlite::Stmt& s) { return std::string(s.text(0)); }));
    holders.insert(ids.begin(), ids.end());
  }
  ACCRUE_STMT(del, "DELETE FROM online_in_flight WHERE event_id = ?");
  ACCRUE_TRY(del.bind_blob(1, event_id).run());
  return holders;
}

Result<void> Replica::clear_in_flight() {
  ACCRUE_STMT(st, "DELETE FROM online_in_flight");
  return st.run();
}

Result<void> Replica::insert_sale_line(int64_t seq, const SaleLineRow& l) {
  ACCRUE_STMT(st,
              "INSERT INTO sale_line (seq, line_no, quantity_milli, points, amount_minor) "
              "VALUES (?, ?, ?, ?, ?)");
  return st.bind(1, seq)
      .bind(2, l.line_no)
      .bind(3, l.quantity_milli)
      .bind(4, l.points)
      .bind(5, l.amount_minor)
      .run();
}

Result<void> Replica::link_redemption(int64_t sale_seq, int64_t redemption_seq, int64_t points) {
  ACCRUE_STMT(st,
              "INSERT INTO sale_redemption (redemption_seq, sale_seq, points) VALUES (?, ?, ?)");
  return st.bind(1, redemption_seq).bind(2, sale_seq).bind(3, points).run();
}

Result<void> Replica::add_refunded(int64_t sale_seq, int64_t points) {
  ACCRUE_STMT(st,
              "INSERT INTO sale_refund (sale_seq, refunded) VALUES (?, ?) ON CONFLICT (sale_seq) "
              "DO UPDATE SET refunded = refunded + excluded.refunded");
  return st.bind(1, sale_seq).bind(2, points).run();
}

Result<void> Replica::add_returned(int64_t seq, uint32_t line_no, int64_t quantity_milli,
                                   int64_t points) {
  ACCRUE_STMT(st,
              "UPDATE sale_line SET returned_quantity_milli = returned_quantity_milli + ?, "
              "points_reversed = points_reversed + ? WHERE seq = ? AND line_no = ?");
  return st.bind(1, quantity_milli).bind(2, points).bind(3, seq).bind(4, line_no).run();
}

Result<void> Replica::add_daily(std::string_view owner, int64_t day, int64_t earned,
                                int64_t redeemed_offline) {
  ACCRUE_STMT(st,
              "INSERT INTO daily (owner, day, earned, redeemed_offline) VALUES (?, ?, ?, ?) "
              "ON CONFLICT (owner, day) DO UPDATE SET earned = earned + excluded.earned, "
              "redeemed_offline = redeemed_offline + excluded.redeemed_offline");
  return st.bind(1, owner).bind(2, day).bind(3, earned).bind(4, redeemed_offline).run();
}

Result<void> Replica::set_ledger_ref(int64_t seq, int64_t ref_seq) {
  ACCRUE_STMT(st, "UPDATE ledger SET ref_seq = ? WHERE seq = ?");
  return st.bind(1, ref_seq).bind(2, seq).run();
}

Result<std::optional<int64_t>> Replica::ledger_ref(int64_t seq) {
  ACCRUE_STMT(st, "SELECT ref_seq FROM ledger WHERE seq = ? AND ref_seq IS NOT NULL");
  st.bind(1, seq);
  return st.first([](const sqlite::Stmt& s) { return s.int64(0); });
}

Result<std::vector<LedgerRow>> Replica::member_events_after(std::string_view customer_id,
                                                            int64_t after_seq) {
  ACCRUE_STMT(ids, "SELECT hash FROM identifier WHERE customer_id = ?");
  ids.bind(1, customer_id);
  ACCRUE_ASSIGN_OR_RETURN(auto hashes,
                          ids.all([](const sqlite::Stmt& s) { return std::string(s.blob(0)); }));
  std::vector<std::string> owners = {std::string(customer_id)};
  ACCRUE_STMT(aliases, "SELECT alias FROM customer_alias WHERE customer_id = ?");
  aliases.bind(1, customer_id);
  ACCRUE_ASSIGN_OR_RETURN(
      auto alias_rows, aliases.all([](const sqlite::Stmt& s) { return std::string(s.text(0)); }));
  owners.insert(owners.end(), alias_rows.begin(), alias_rows.end());
  for (const auto& h : hashes) {
    owners.push_back("h:" +
                     to_hex(std::span(reinterpret_cast<const uint8_t*>(h.data()), h.size())));
  }
  std::vector<LedgerRow> out;
  ACCRUE_STMT(st, "SELECT " ACCRUE_LEDGER_COLUMNS " FROM ledger WHERE owner = ? AND seq > ?");
  for (const auto& owner : owners) {
    st.bind(1, owner).bind(2, after_seq);
    ACCRUE_ASSIGN_OR_RETURN(auto rows, st.all(ledger_from));
    out.insert(out.end(), rows.begin(), rows.end());
  }
  std::ranges::sort(out, {}, &LedgerRow::seq);
  return out;
}

Result<int64_t> Replica::watermark(std::string_view customer_id) {
  ACCRUE_STMT(st, "SELECT confirmed_through_seq FROM customer WHERE customer_id = ?");
  st.bind(1, customer_id);
  ACCRUE_ASSIGN_OR_RETURN(auto v, st.first([](const sqlite::Stmt& s) { return s.int64(0); }));
  return v.value_or(0);
}

Result<void> Replica::set_watermark(std::string_view customer_id, int64_t seq) {
  ACCRUE_STMT(st, "UPDATE customer SET confirmed_through_seq = ? WHERE customer_id = ?");
  return st.bind(1, seq).bind(2, customer_id).run();
}

Result<void> Replica::set_local_debit(std::string_view customer_id, int64_t points) {
  ACCRUE_STMT(st, "UPDATE customer SET local_debit = ? WHERE customer_id = ?");
  return st.bind(1, points).bind(2, customer_id).run();
}

Result<void> Replica::remove_lot(int64_t seq, std::string_view owner) {
  ACCRUE_STMT(st, "DELETE FROM lot WHERE seq = ? AND owner = ?");
  return st.bind(1, seq).bind(2, owner).run();
}

Result<void> Replica::rebase_lots(std::string_view owner, int64_t seq) {
  ACCRUE_STMT(del, "DELETE FROM lot WHERE owner = ? AND seq <= ?");
  ACCRUE_TRY(del.bind(1, owner).bind(2, seq).run());
  ACCRUE_STMT(reset, "UPDATE lot SET remaining = points WHERE owner = ? AND seq > ?");
  return reset.bind(1, owner).bind(2, seq).run();
}

Result<void> Replica::remove_customer(std::string_view customer_id) {
  ACCRUE_STMT(ids, "DELETE FROM identifier WHERE customer_id = ?");
  ACCRUE_TRY(ids.bind(1, customer_id).run());
  ACCRUE_STMT(st, "DELETE FROM customer WHERE customer_id = ?");
  return st.bind(1, customer_id).run();
}

Result<void> Replica::keep_only_identifiers(std::string_view customer_id,
                                            const std::set<std::string>& hashes) {
  ACCRUE_STMT(ids, "SELECT hash FROM identifier WHERE customer_id = ?");
  ids.bind(1, customer_id);
  ACCRUE_ASSIGN_OR_RETURN(auto held,
                          ids.all([](const sqlite::Stmt& s) { return std::string(s.blob(0)); }));
  ACCRUE_STMT(drop, "DELETE FROM identifier WHERE hash = ? AND customer_id = ?");
  for (const auto& h : held) {
    if (hashes.contains(h)) continue;
    ACCRUE_TRY(drop.bind_blob(1, h).bind(2, customer_id).run());
  }
  return {};
}

Result<void> Replica::mark_rebuilt(std::string_view customer_id, int64_t generation) {
  ACCRUE_STMT(st, "UPDATE customer SET rebuild_mark = ? WHERE customer_id = ?");
  return st.bind(1, generation).bind(2, customer_id).run();
}

Result<int64_t> Replica::sweep_not_rebuilt(int64_t generation) {
  // Kept: members of this rebuild, provisional members, and members with local events the
  // cloud has not confirmed.
  ACCRUE_STMT(ids,
              "DELETE FROM identifier WHERE customer_id IN (SELECT c.customer_id FROM "
              "customer c WHERE c.rebuild_mark <> ? AND c.status <> ? AND NOT EXISTS "
              "(SELECT 1 FROM ledger l WHERE l.owner = c.customer_id AND l.confirmed = 0))");
  ACCRUE_TRY(ids.bind(1, generation).bind(2, kStatusProvisional).run());
  ACCRUE_STMT(del,
              "DELETE FROM customer WHERE rebuild_mark <> ? AND status <> ? AND NOT EXISTS "
              "(SELECT 1 FROM ledger l WHERE l.owner = customer.customer_id AND "
              "l.confirmed = 0)");
  ACCRUE_TRY(del.bind(1, generation).bind(2, kStatusProvisional).run());
  return static_cast<int64_t>(sqlite3_changes(db_.raw()));
}

Result<void> Replica::relink_identifier(const IdentifierHash& hash, std::string_view customer_id) {
  ACCRUE_STMT(st, "UPDATE identifier SET customer_id = ? WHERE hash = ?");
  return st.bind(1, customer_id).bind_blob(2, bytes(hash)).run();
}

Result<void> Replica::map_temporary_id(std::string_view temp_id, std::string_view customer_id) {
  ACCRUE_STMT(alias,
              "INSERT INTO customer_alias (alias, customer_id) VALUES (?, ?) "
              "ON CONFLICT (alias) DO UPDATE SET customer_id = excluded.customer_id");
  ACCRUE_TRY(alias.bind(1, temp_id).bind(2, customer_id).run());
  ACCRUE_STMT(ids, "UPDATE identifier SET customer_id = ? WHERE customer_id = ?");
  ACCRUE_TRY(ids.bind(1, customer_id).bind(2, temp_id).run());
  ACCRUE_TRY(reassign_owner(temp_id, customer_id));
  ACCRUE_ASSIGN_OR_RETURN(auto real, customer(customer_id));
  if (real) {
    ACCRUE_STMT(del, "DELETE FROM customer WHERE customer_id = ?");
    return del.bind(1, temp_id).run();
  }
  ACCRUE_STMT(rename, "UPDATE customer SET customer_id = ? WHERE customer_id = ?");
  return rename.bind(1, customer_id).bind(2, temp_id).run();
}

Result<bool> Replica::reassign_owner(std::string_view from, std::string_view to) {
  ACCRUE_STMT(a, "UPDATE lot SET owner = ? WHERE owner = ?");
  ACCRUE_TRY(a.bind(1, to).bind(2, from).run());
  const bool moved = sqlite3_changes(db_.raw()) > 0;
  ACCRUE_STMT(c,
              "UPDATE daily SET owner = ? WHERE owner = ? AND NOT EXISTS "
              "(SELECT 1 FROM daily d WHERE d.owner = ? AND d.day = daily.day)");
  ACCRUE_TRY(c.bind(1, to).bind(2, from).bind(3, to).run());
  return moved;
}

}  // namespace accrue::agent
