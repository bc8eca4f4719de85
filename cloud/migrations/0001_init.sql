-- Accrue cloud, schema 1: the system of record.
--
-- Invariant 1: every balance.points equals the sum of that customer's ledger points, and the
-- ledger is append-only (`accrue-cloud audit` proves both). Invariant 2: an event is applied once:
-- ledger.event_id (a UUIDv7 made by the store) is the primary key.

-- Stores and their agents. An agent uploads its events with a gap-free seq starting at 1.
CREATE TABLE store (
  store_id    text PRIMARY KEY CHECK (store_id ~ '^[A-Za-z0-9._-]{1,64}$'),
  name        text NOT NULL DEFAULT '',
  country     text NOT NULL DEFAULT '',
  time_zone   text NOT NULL DEFAULT 'UTC',
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE agent (
  agent_id          text PRIMARY KEY,
  store_id          text NOT NULL REFERENCES store,
  last_seq          bigint NOT NULL DEFAULT 0,
  last_seen_at      timestamptz,
  cert_fingerprint  bytea
);

-- Seq numbers an agent skipped (seen as a jump past last_seq + 1): a sign of a lost replica.
CREATE TABLE agent_seq_gap (
  agent_id     text NOT NULL REFERENCES agent,
  from_seq     bigint NOT NULL,
  to_seq       bigint NOT NULL,
  detected_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agent_id, from_seq)
);

-- Programme versions as published (the JSON the domain core reads). Events carry the version
-- their points were computed with.
CREATE TABLE program_version (
  program_id   text NOT NULL,
  version      integer NOT NULL CHECK (version > 0),
  body         jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (program_id, version)
);

-- Customers. status: 1 active, 2 blocked, 3 erased. Personal data lives in customer_pii so that
-- erasure deletes one row and leaves the ledger's arithmetic intact.
CREATE TABLE customer (
  customer_id        text PRIMARY KEY,
  status             smallint NOT NULL DEFAULT 1 CHECK (status IN (1, 2, 3)),
  tier_id            text NOT NULL DEFAULT '',
  tier_floor_id      text,
  home_store_id      text REFERENCES store,
  enrolled_at        timestamptz NOT NULL DEFAULT now(),
  enrolled_store_id  text,
  temp_customer_id   text UNIQUE,  -- the store's provisional id when enrolled at a till
  updated_at         timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE customer_pii (
  customer_id              text PRIMARY KEY REFERENCES customer ON DELETE CASCADE,
  display_name             text NOT NULL DEFAULT '',
  email                    text,
  phone                    text,
  birthday_month           smallint CHECK (birthday_month BETWEEN 1 AND 12),
  birthday_day             smallint CHECK (birthday_day BETWEEN 1 AND 31),
  sealed_contact           bytea,
  consent_terms            boolean NOT NULL DEFAULT false,
  consent_marketing_email  boolean NOT NULL DEFAULT false,
  consent_marketing_sms    boolean NOT NULL DEFAULT false
);

-- HMAC-SHA-256 of a normalised identifier (program key) -> customer. No identifier in clear.
CREATE TABLE identifier (
  hash         bytea PRIMARY KEY CHECK (length(hash) = 32),
  kind         text NOT NULL CHECK (kind IN ('card', 'phone', 'email', 'qr')),
  customer_id  text NOT NULL REFERENCES customer ON DELETE CASCADE,
  masked       text NOT NULL DEFAULT '',
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX identifier_customer ON identifier (customer_id);

-- One row per customer. points = sum(ledger.points) for the customer; version grows with every
-- change and is what cache entries are tagged with.
CREATE TABLE balance (
  customer_id        text PRIMARY KEY REFERENCES customer ON DELETE CASCADE,
  points             bigint NOT NULL DEFAULT 0,
  lifetime_earned    bigint NOT NULL DEFAULT 0,
  lifetime_redeemed  bigint NOT NULL DEFAULT 0,
  lifetime_expired   bigint NOT NULL DEFAULT 0,
  last_purchase_at   timestamptz,
  version            bigint NOT NULL DEFAULT 0,
  updated_at         timestamptz NOT NULL DEFAULT now()
) WITH (fillfactor = 80);  -- room for HOT updates: every event rewrites its customer's row

-- The lower bound of the UUIDv7 values minted at `ts` (48-bit unix milliseconds first): the
-- ledger is partitioned by event_id ranges that fall on month boundaries, so event_id stays the
-- primary key (a partition key must be part of it) and partitions stay monthly.
CREATE FUNCTION accrue_uuid7_floor(ts timestamptz) RETURNS uuid
  LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
  RETURN (lpad(to_hex(floor(extract(epoch FROM ts) * 1000)::bigint), 12, '0')
          || '00000000000000000000')::uuid;

-- The ledger: append-only, one row per applied event (and per cloud-side event: expiry,
-- provisional points claimed by a customer). kind: 1 accrual, 2 redemption, 3 return,
-- 4 enrolment bonus, 5 adjustment, 6 expiry, 7 provisional claimed. A provisional accrual (the
-- store did not know the identifier) has no customer_id, only owner_hash, until a kind-7 row
-- moves its points to the customer who owns the identifier.
CREATE TABLE ledger (
  event_id         uuid NOT NULL,
  customer_id      text,
  owner_hash       bytea,
  kind             smallint NOT NULL CHECK (kind BETWEEN 1 AND 7),
  points           bigint NOT NULL,
  agent_points     bigint,  -- the store's figure when the cloud's differs
  amount_minor     bigint,
  currency         text,
  store_id         text,
  agent_id         text,
  seq              bigint,
  till_id          text,
  pos_tx_id        text,
  ref_event_id     uuid,    -- the sale a return reverses, the provisional event claimed
  program_id       text,
  program_version  integer,
  local_day        integer, -- days since 1970-01-01 in the programme's zone (daily cap)
  reason           text,
  actor            text,
  occurred_at      timestamptz NOT NULL,
  recorded_at      timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (event_id),
  CHECK (customer_id IS NOT NULL OR owner_hash IS NOT NULL)
) PARTITION BY RANGE (event_id);
CREATE INDEX ledger_customer ON ledger (customer_id, occurred_at DESC, event_id DESC);
CREATE INDEX ledger_owner_hash ON ledger (owner_hash) WHERE owner_hash IS NOT NULL;
CREATE INDEX ledger_claims ON ledger (ref_event_id) WHERE kind = 7;

-- Append-only, enforced: no row of the ledger is ever updated or deleted.
CREATE FUNCTION accrue_ledger_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'the ledger is append-only: % refused', TG_OP USING ERRCODE = 'P0001';
END $$;
CREATE TRIGGER ledger_append_only BEFORE UPDATE OR DELETE ON ledger
  FOR EACH ROW EXECUTE FUNCTION accrue_ledger_append_only();
-- Events whose ids fall outside every monthly partition (a store with a wild clock) land here.
CREATE TABLE ledger_default PARTITION OF ledger DEFAULT;

-- Creates the monthly partition holding `month` (idempotent). `accrue-cloud migrate` keeps the
-- current month and the next three in place.
CREATE FUNCTION accrue_ensure_ledger_partition(month date) RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  lo date := date_trunc('month', month)::date;
  hi date := (date_trunc('month', month) + interval '1 month')::date;
  name text := 'ledger_' || to_char(lo, 'YYYY_MM');
BEGIN
  IF to_regclass(name) IS NULL THEN
    EXECUTE format('CREATE TABLE %I PARTITION OF ledger FOR VALUES FROM (%L) TO (%L)', name,
                   accrue_uuid7_floor(lo::timestamptz AT TIME ZONE 'UTC'),
                   accrue_uuid7_floor(hi::timestamptz AT TIME ZONE 'UTC'));
  END IF;
END $$;

DO $$
DECLARE m date;
BEGIN
  FOR m IN SELECT generate_series(date '2026-01-01', date '2027-12-01', interval '1 month')::date
  LOOP
    PERFORM accrue_ensure_ledger_partition(m);
  END LOOP;
END $$;

-- Points lots: each accrual opens one; pending before available_at, gone at expires_at (null:
-- never). Spending draws first-in-first-out (the domain core decides, this stores).
-- No foreign key to customer here or in store_customer: these take a row per event, and the
-- per-row referential check was the most expensive part of ingesting one (measured). Ingestion
-- only writes them for customers it has locked; erasure deletes them explicitly.
CREATE TABLE points_lot (
  lot_id        uuid PRIMARY KEY,  -- the event that opened it
  customer_id   text NOT NULL,
  earned_at     timestamptz NOT NULL,
  available_at  timestamptz NOT NULL,
  expires_at    timestamptz,
  points        bigint NOT NULL CHECK (points >= 0),
  remaining     bigint NOT NULL CHECK (remaining >= 0 AND remaining <= points)
) WITH (fillfactor = 90);
CREATE INDEX points_lot_open ON points_lot (customer_id, earned_at, lot_id) WHERE remaining > 0;

-- Points earned per customer and programme-local day, for the daily cap: kept beside the ledger
-- (one primary-key lookup) because a query over the ledger by customer would visit every monthly
-- partition.
CREATE TABLE customer_day (
  customer_id  text NOT NULL,
  local_day    integer NOT NULL,
  earned       bigint NOT NULL DEFAULT 0,
  PRIMARY KEY (customer_id, local_day)
);

-- Till sales, for the customer's transaction history and for returns.
CREATE TABLE receipt (
  event_id         uuid PRIMARY KEY,
  customer_id      text,
  store_id         text NOT NULL,
  till_id          text NOT NULL,
  pos_tx_id        text NOT NULL,
  occurred_at      timestamptz NOT NULL,
  amount_minor     bigint NOT NULL,
  currency         text NOT NULL,
  points_earned    bigint NOT NULL,
  points_reversed  bigint NOT NULL DEFAULT 0,
  UNIQUE (store_id, till_id, pos_tx_id)
);
CREATE INDEX receipt_customer ON receipt (customer_id, occurred_at DESC, event_id DESC);

-- Which customers a store has seen (any event of theirs uploaded by the store), for the scope of
-- its change feed: its home customers plus the ones seen there lately.
CREATE TABLE store_customer (
  store_id      text NOT NULL,
  customer_id   text NOT NULL,
  last_seen_at  timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (store_id, customer_id)
);
CREATE INDEX customer_home_store ON customer (home_store_id, customer_id);

-- The change feed agents download. xid is the writing transaction's id: a reader only moves its
-- cursor past transactions that had finished when its snapshot was taken
-- (pg_snapshot_xmin), so a row committed late is never skipped.
CREATE TABLE change_feed (
  id           bigserial PRIMARY KEY,
  xid          xid8 NOT NULL DEFAULT pg_current_xact_id(),
  kind         smallint NOT NULL CHECK (kind BETWEEN 1 AND 5),  -- customer, identifier, program, removed, mapping
  customer_id  text,
  store_id     text,
  created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX change_feed_xid ON change_feed (xid, id);

CREATE TABLE audit_log (
  id       bigserial PRIMARY KEY,
  at       timestamptz NOT NULL DEFAULT now(),
  actor    text NOT NULL,
  action   text NOT NULL,
  subject  text,
  detail   jsonb
);
