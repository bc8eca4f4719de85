-- Rewards claimed and the coupons they issue (docs/rewards.md). A claim that costs points books
-- a head-office adjustment in the same transaction; the coupon row names it.

-- Coupons of a reward issued and not voided, chain-wide: the row a claim locks, so that N
-- concurrent claims for a stock of K issue exactly K.
CREATE TABLE reward_stock (
  program_id text   NOT NULL,
  reward_id  text   NOT NULL,
  issued     bigint NOT NULL DEFAULT 0 CHECK (issued >= 0),
  PRIMARY KEY (program_id, reward_id)
);

CREATE TABLE coupon (
  coupon_id       uuid        PRIMARY KEY,
  program_id      text        NOT NULL,
  program_version integer     NOT NULL,
  reward_id       text        NOT NULL,
  customer_id     text        REFERENCES customer,  -- null: a bearer coupon of a campaign batch
  key_id          bigint      NOT NULL,
  code            text        NOT NULL,
  status          text        NOT NULL DEFAULT 'issued'
                              CHECK (status IN ('issued', 'used', 'voided')),
  cost_points     bigint      NOT NULL DEFAULT 0,
  claim_event_id  uuid,                               -- the adjustment that paid for it
  issued_at       timestamptz NOT NULL,
  issued_by       text        NOT NULL,
  expires_at      timestamptz NOT NULL,
  used_at         timestamptz,
  used_store_id   text,
  voided_at       timestamptz,
  voided_by       text,
  void_reason     text,
  void_event_id   uuid                                -- the adjustment that gave the points back
);

CREATE INDEX coupon_customer ON coupon (customer_id, issued_at DESC) WHERE customer_id IS NOT NULL;

-- Campaign batches: N bearer coupons of a reward made at once by head office, exported as CSV.
CREATE TABLE coupon_batch (
  batch_id   uuid        PRIMARY KEY,
  program_id text        NOT NULL,
  reward_id  text        NOT NULL,
  count      integer     NOT NULL CHECK (count > 0),
  expires_at timestamptz NOT NULL,
  created_at timestamptz NOT NULL,
  created_by text        NOT NULL,
  reason     text        NOT NULL
);

ALTER TABLE coupon ADD COLUMN batch_id uuid REFERENCES coupon_batch;
CREATE INDEX coupon_batch_member ON coupon (batch_id) WHERE batch_id IS NOT NULL;
