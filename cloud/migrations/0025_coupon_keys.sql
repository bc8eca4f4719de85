-- Every coupon signing key this chain has used (docs/rewards.md, "Coupon codes"): a replica
-- registers its key here at start, and every feed page carries them all, so a store that
-- bootstraps after a key rotation still verifies the coupons signed before it. A key id names
-- one key for good: a replica whose key differs from the one registered under its id refuses
-- to start.
CREATE TABLE coupon_key (
  key_id     bigint      PRIMARY KEY CHECK (key_id BETWEEN 0 AND 4294967295),
  public_key bytea       NOT NULL CHECK (length(public_key) = 32),  -- raw Ed25519
  added_at   timestamptz NOT NULL DEFAULT now()
);
