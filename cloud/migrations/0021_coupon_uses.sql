-- Coupons used at the tills (docs/rewards.md). Stores decide a use themselves (signature, expiry,
-- their list of spent coupons, their offline budget) and upload it; the cloud reconciles here.

-- The use that spent the coupon (status 'used'); a void of that use makes it 'issued' again.
ALTER TABLE coupon ADD COLUMN use_event_id uuid;

-- Every coupon event a store uploaded (CouponUse, CouponUseVoid): each applied once (event_id),
-- like the ledger's rows. No points move, so they are not ledger rows.
CREATE TABLE coupon_event (
  event_id      uuid        PRIMARY KEY,
  kind          text        NOT NULL CHECK (kind IN ('use', 'void')),
  coupon_id     uuid        NOT NULL,
  use_event_id  uuid,                    -- a void: the use it voids
  store_id      text        NOT NULL,
  agent_id      text        NOT NULL,
  till_id       text        NOT NULL,
  pos_tx_id     text        NOT NULL,
  customer_id   text,
  reward_id     text,
  discount_minor bigint,
  currency      text,
  offline       boolean     NOT NULL DEFAULT false,
  occurred_at   timestamptz NOT NULL,
  recorded_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX coupon_event_coupon ON coupon_event (coupon_id);

-- A use of a coupon that was spent already (used elsewhere while the stores were offline, or
-- voided by head office before the store heard of it), or that the cloud never issued: the
-- discount was given, so the use is applied and recorded here, the realized offline exposure
-- head office sees per store and day. A void of the use clears it (voided_at).
CREATE TABLE coupon_double_use (
  event_id       uuid        PRIMARY KEY,  -- the CouponUse
  coupon_id      uuid        NOT NULL,
  store_id       text        NOT NULL,
  customer_id    text,
  reason         text        NOT NULL CHECK (reason IN ('used', 'voided', 'unknown')),
  first_event_id uuid,                     -- the use that spent it first ('used')
  discount_minor bigint,
  currency       text,
  occurred_at    timestamptz NOT NULL,
  recorded_at    timestamptz NOT NULL DEFAULT now(),
  voided_at      timestamptz
);
CREATE INDEX coupon_double_use_store ON coupon_double_use (store_id, occurred_at);

-- The change feed names coupons too: kind 6, a coupon spent or usable again (for every store).
ALTER TABLE change_feed ADD COLUMN coupon_id uuid;
ALTER TABLE change_feed DROP CONSTRAINT change_feed_kind_check;
ALTER TABLE change_feed ADD CONSTRAINT change_feed_kind_check CHECK (kind BETWEEN 1 AND 6);
