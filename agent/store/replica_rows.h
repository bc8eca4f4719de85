// What the replica's two source files share (replica.cpp: opening and the reads;
// replica_writes.cpp: the writer's changes and the reads that go with them): the statement macro,
// the column lists and the row readers. Internal to agent/store/replica*.cpp.
#pragma once

#include <string_view>

#include "agent/store/replica.h"

namespace accrue::agent::replica_rows {

// Fetches the prepared statement for `sql` into `name`, or returns its error.
#define ACCRUE_STMT(name, sql)                       \
  auto name##_prepared = q(sql);                     \
  if (!name##_prepared) {                            \
    return std::unexpected(name##_prepared.error()); \
  }                                                  \
  sqlite::Stmt& name = **name##_prepared

// Column lists shared by the queries that read whole rows, in the order customer_from and
// ledger_from read them. Macros, so each query stays one string literal (statements are cached
// by the literal's address).
#define ACCRUE_CUSTOMER_COLUMNS(t)                                                            \
#t "customer_id, " #t "status, " #t "tier_id, " #t "display_name, " #t "home_store_id, " #t \
     "confirmed_available, " #t "confirmed_pending, " #t "confirmed_as_of, " #t               \
     "qualifying_value, " #t "local_debit, " #t "birthday_month, " #t "birthday_day, " #t     \
     "enrolled_at"
#define ACCRUE_LEDGER_COLUMNS                                                          \
  "seq, event_id, kind, owner, points, amount_minor, currency, occurred_at, till_id, " \
  "pos_tx_id, program_version, confirmed"

inline std::string_view bytes(const IdentifierHash& h) {
  return {reinterpret_cast<const char*>(h.data()), h.size()};
}

inline CustomerRow customer_from(const sqlite::Stmt& st) {
  CustomerRow c;
  c.customer_id = st.text(0);
  c.status = static_cast<int>(st.int64(1));
  c.tier_id = st.text(2);
  c.display_name = st.text(3);
  c.home_store_id = st.text(4);
  c.confirmed_available = st.int64(5);
  c.confirmed_pending = st.int64(6);
  c.confirmed_as_of = st.int64(7);
  c.qualifying_value = st.int64(8);
  c.local_debit = st.int64(9);
  c.birthday_month = static_cast<int>(st.int64(10));
  c.birthday_day = static_cast<int>(st.int64(11));
  c.enrolled_at = st.int64(12);
  return c;
}

inline LedgerRow ledger_from(const sqlite::Stmt& st) {
  LedgerRow r;
  r.seq = st.int64(0);
  r.event_id = st.blob(1);
  r.kind = static_cast<int>(st.int64(2));
  r.owner = st.text(3);
  r.points = st.int64(4);
  if (!st.is_null(5)) r.amount_minor = st.int64(5);
  r.currency = st.text(6);
  r.occurred_at = st.int64(7);
  r.till_id = st.text(8);
  r.pos_tx_id = st.text(9);
  r.program_version = st.int64(10);
  r.confirmed = st.int64(11) != 0;
  return r;
}

}  // namespace accrue::agent::replica_rows
