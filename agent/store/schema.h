// The replica's schema, one entry per version: migration N brings a file from user_version N-1
// to N. Append new migrations; never edit a released one.
#pragma once

#include <array>
#include <string_view>

namespace accrue::agent {

inline constexpr std::array<std::string_view, 10> kMigrations = {
    // v1
    R"sql(
-- Agent state: last_sync_ms, offline_outstanding (points redeemed offline, not yet confirmed).
CREATE TABLE meta (
  key   TEXT PRIMARY KEY,
  value TEXT NOT NULL
) WITHOUT ROWID;

-- Program versions as received (serialised accrue.loyalty.v1.Program); the highest is in force.
CREATE TABLE program (
  program_id   TEXT NOT NULL,
  version      INTEGER NOT NULL,
  body         BLOB NOT NULL,
  installed_at INTEGER NOT NULL,
  PRIMARY KEY (program_id, version)
) WITHOUT ROWID;

-- Members as the store knows them: no contact data. Balances: confirmed_* come from the cloud;
-- local events on top of them live in lot and local_debit until the cloud confirms them.
CREATE TABLE customer (
  customer_id         TEXT PRIMARY KEY,
  status              INTEGER NOT NULL,          -- common/customer.h (v6: provisional 3 -> 5)
  tier_id             TEXT NOT NULL DEFAULT '',
  display_name        TEXT NOT NULL DEFAULT '',
  home_store_id       TEXT NOT NULL DEFAULT '',
  confirmed_available INTEGER NOT NULL DEFAULT 0,
  confirmed_pending   INTEGER NOT NULL DEFAULT 0,
  confirmed_as_of     INTEGER NOT NULL DEFAULT 0,
  qualifying_value    INTEGER NOT NULL DEFAULT 0, -- tier basis over the window, from the cloud
  local_debit         INTEGER NOT NULL DEFAULT 0, -- spent or reversed locally beyond local lots
  birthday_month      INTEGER NOT NULL DEFAULT 0,
  birthday_day        INTEGER NOT NULL DEFAULT 0,
  enrolled_at         INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;

-- HMAC-SHA-256 of a normalised identifier -> member. Never the identifier itself.
CREATE TABLE identifier (
  hash        BLOB PRIMARY KEY,
  customer_id TEXT NOT NULL
) WITHOUT ROWID;
CREATE INDEX identifier_customer ON identifier (customer_id);

-- Every local event, append-only. seq is the agent's gap-free upload sequence.
CREATE TABLE ledger (
  seq             INTEGER PRIMARY KEY,
  event_id        BLOB NOT NULL,      -- UUIDv7, unique by construction (one generator)
  kind            INTEGER NOT NULL,   -- accrue.pos.v1.TransactionKind
  owner           TEXT NOT NULL,      -- customer_id, or 'h:<hex hash>' for an unknown identifier
  points          INTEGER NOT NULL,   -- signed
  amount_minor    INTEGER,
  currency        TEXT,
  occurred_at     INTEGER NOT NULL,
  till_id         TEXT NOT NULL,
  pos_tx_id       TEXT NOT NULL,
  program_version INTEGER NOT NULL,
  confirmed       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX ledger_owner ON ledger (owner, seq);

-- Events waiting for upload (serialised accrue.sync.v1.EventEnvelope), oldest first.
CREATE TABLE outbox (
  seq        INTEGER PRIMARY KEY,
  event_id   BLOB NOT NULL,
  body       BLOB NOT NULL,
  created_at INTEGER NOT NULL
);

CREATE TABLE quarantine (
  seq            INTEGER PRIMARY KEY,
  event_id       BLOB NOT NULL,
  body           BLOB NOT NULL,
  reject_code    TEXT NOT NULL,
  message        TEXT NOT NULL,
  quarantined_at INTEGER NOT NULL
);

-- Local points lots (one per local accrual or bonus), for pending/available/expiry and FIFO.
CREATE TABLE lot (
  seq          INTEGER PRIMARY KEY,   -- ledger seq of the event that opened it
  owner        TEXT NOT NULL,
  earned_at    INTEGER NOT NULL,
  available_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL,
  points       INTEGER NOT NULL,
  remaining    INTEGER NOT NULL
);
CREATE INDEX lot_owner ON lot (owner, earned_at);

-- Till transactions: idempotency (same request -> same answer) and lost-response recovery.
CREATE TABLE receipt (
  till_id     TEXT NOT NULL,
  pos_tx_id   TEXT NOT NULL,
  kind        INTEGER NOT NULL,
  fingerprint BLOB NOT NULL,          -- SHA-256 of the request operation
  response    BLOB NOT NULL,          -- serialised accrue.pos.v1.Response
  seq         INTEGER,                -- ledger seq, when the operation made an event
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (till_id, pos_tx_id)
) WITHOUT ROWID;

-- What each sale line earned and how much of it came back, for returns.
CREATE TABLE sale_line (
  seq                     INTEGER NOT NULL,
  line_no                 INTEGER NOT NULL,
  quantity_milli          INTEGER NOT NULL,
  points                  INTEGER NOT NULL,
  returned_quantity_milli INTEGER NOT NULL DEFAULT 0,
  points_reversed         INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (seq, line_no)
) WITHOUT ROWID;

-- Per member and store-local day: points earned (daily cap), offline redemptions (limits).
CREATE TABLE daily (
  owner            TEXT NOT NULL,
  day              INTEGER NOT NULL,
  earned           INTEGER NOT NULL DEFAULT 0,
  redeemed_offline INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (owner, day)
) WITHOUT ROWID;
)sql",
    // v2: downloads from the cloud.
    R"sql(
-- The agent's highest seq the cloud had processed when this member's confirmed balance was
-- read (ChangesPage.agent_processed_seq): local events up to it are inside confirmed_*, later
-- ones are kept on top (invariant "local events stay on top", docs/architecture.md).
ALTER TABLE customer ADD COLUMN confirmed_through_seq INTEGER NOT NULL DEFAULT 0;
-- A return's sale (its ledger seq), to replay the reversal against the right lot.
ALTER TABLE ledger ADD COLUMN ref_seq INTEGER;
-- A member enrolled here under a temporary id keeps its ledger rows under that id (the ledger
-- is append-only); the cloud's id maps back to them through this table.
CREATE TABLE customer_alias (
  alias       TEXT PRIMARY KEY,
  customer_id TEXT NOT NULL
) WITHOUT ROWID;
)sql",
    // v3: online redemptions.
    R"sql(
-- An online redemption between asking the cloud and recording the answer (write-ahead): if the
-- agent stops in between, the outcome is unknown and the redemption is voided at the next start
-- (docs/architecture.md, Data flows: Redeem). At most one per till transaction.
CREATE TABLE online_redemption (
  till_id     TEXT NOT NULL,
  pos_tx_id   TEXT NOT NULL,
  event_id    BLOB NOT NULL,
  fingerprint BLOB NOT NULL,          -- of the till's request, as in receipt
  owner       TEXT NOT NULL,
  envelope    BLOB NOT NULL,          -- the accrue.sync.v1.EventEnvelope sent (seq 0)
  created_at  INTEGER NOT NULL,
  PRIMARY KEY (till_id, pos_tx_id)
) WITHOUT ROWID;
)sql",
    // v4: rebuilding the replica when the cloud says reset.
    R"sql(
-- The rebuild a member was last confirmed in (meta rebuild_generation): when the rebuild's last
-- page commits, members the cloud no longer sends are swept in the same transaction.
ALTER TABLE customer ADD COLUMN rebuild_mark INTEGER NOT NULL DEFAULT 0;
)sql",
    // v5: queue sizes without scanning the queue.
    R"sql(
-- Rows in outbox and quarantine, kept by triggers in the transaction that changes them: a status
-- call after a long outage counted 100k outbox rows by reading every page of their bodies.
CREATE TABLE queue_size (
  name TEXT PRIMARY KEY,
  rows INTEGER NOT NULL
) WITHOUT ROWID;
INSERT INTO queue_size SELECT 'outbox', COUNT(*) FROM outbox;
INSERT INTO queue_size SELECT 'quarantine', COUNT(*) FROM quarantine;
CREATE TRIGGER outbox_added AFTER INSERT ON outbox BEGIN
  UPDATE queue_size SET rows = rows + 1 WHERE name = 'outbox';
END;
CREATE TRIGGER outbox_removed AFTER DELETE ON outbox BEGIN
  UPDATE queue_size SET rows = rows - 1 WHERE name = 'outbox';
END;
CREATE TRIGGER quarantine_added AFTER INSERT ON quarantine BEGIN
  UPDATE queue_size SET rows = rows + 1 WHERE name = 'quarantine';
END;
CREATE TRIGGER quarantine_removed AFTER DELETE ON quarantine BEGIN
  UPDATE queue_size SET rows = rows - 1 WHERE name = 'quarantine';
END;
-- The oldest pending event (a resubmitted event is pending since its resubmission).
CREATE INDEX outbox_created ON outbox (created_at);
)sql",
    // v6: one numbering of customer status with the cloud (common/customer.h), where 3 is
    // "erased": provisional moves from 3 to 5.
    R"sql(
UPDATE customer SET status = 5 WHERE status = 3;
)sql",
    // v7: refunds of redeemed points on returns (docs/lifecycle.md, "Returns").
    R"sql(
-- What each line cost, so that a return refunds its share of the value (0: sold before v7).
ALTER TABLE sale_line ADD COLUMN amount_minor INTEGER NOT NULL DEFAULT 0;
-- The redemptions that paid for a sale (AccrueRequest.redemption_pos_tx_ids): each pays for one.
CREATE TABLE sale_redemption (
  redemption_seq INTEGER PRIMARY KEY,
  sale_seq       INTEGER NOT NULL,
  points         INTEGER NOT NULL
);
CREATE INDEX sale_redemption_sale ON sale_redemption (sale_seq);
-- What the sale's returns gave back of those points so far.
CREATE TABLE sale_refund (
  sale_seq INTEGER PRIMARY KEY,
  refunded INTEGER NOT NULL
);
)sql",
    // v8: coupons (docs/rewards.md).
    R"sql(
-- The cloud's coupon verification keys (ChangesPage.coupon_keys), every one ever received.
CREATE TABLE coupon_key (
  key_id     INTEGER PRIMARY KEY,
  public_key BLOB NOT NULL              -- raw Ed25519, 32 bytes
);
-- Coupons spent elsewhere (used in another store, voided by head office), from the change feed:
-- refused here. Forgotten once expired.
CREATE TABLE coupon_spent (
  coupon_id  BLOB PRIMARY KEY,          -- 16 bytes
  expires_at INTEGER NOT NULL
) WITHOUT ROWID;
-- Every download forgets the expired ones: a range, not a scan of the list.
CREATE INDEX coupon_spent_expiry ON coupon_spent (expires_at);
-- Coupons used at this store's tills, one row per use; a voided use keeps its row (voided_seq).
-- At most one live use per coupon.
CREATE TABLE coupon_use (
  seq        INTEGER PRIMARY KEY,       -- ledger seq of the CouponUse event
  coupon_id  BLOB NOT NULL,
  expires_at INTEGER NOT NULL,
  voided_seq INTEGER                    -- ledger seq of the CouponUseVoid, when voided
);
CREATE UNIQUE INDEX coupon_use_live ON coupon_use (coupon_id) WHERE voided_seq IS NULL;
)sql",
    // v9: online decisions the cloud's snapshots may hold before the till's wait ends.
    R"sql(
-- An online redemption or return between asking the cloud and recording the outcome: the row
-- with customer_id '' says it is in flight; one per member whose snapshot from the cloud already
-- holds it (the event was in ChangesPage.online_applied_event_ids when her snapshot was applied).
-- The outcome is then recorded without touching her balance a second time (docs/architecture.md,
-- invariant "local events stay on top"). Emptied at every start: what was in flight is voided.
CREATE TABLE online_in_flight (
  event_id    BLOB NOT NULL,
  customer_id TEXT NOT NULL,
  PRIMARY KEY (event_id, customer_id)
) WITHOUT ROWID;
)sql",
    // v10: points-multiplier coupons counted for a sale (AccrueRequest.coupon_pos_tx_ids).
    R"sql(
-- The sale (its ledger seq) whose points a coupon use multiplied: a use counts for one sale.
ALTER TABLE coupon_use ADD COLUMN sale_seq INTEGER;
)sql",
};

}  // namespace accrue::agent
