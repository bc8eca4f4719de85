-- Tier progression (docs/lifecycle.md): the cloud moves members between tiers.
-- customer.tier_below_since: when the member's qualifying value first fell below her tier (the
-- grace clock of a downgrade); null while she qualifies for it.
-- tier_history: every change of a member's tier, what made it and who.
ALTER TABLE customer ADD COLUMN tier_below_since timestamptz;

CREATE TABLE tier_history (
  change_id    bigserial PRIMARY KEY,
  customer_id  text NOT NULL REFERENCES customer (customer_id),
  from_tier    text NOT NULL,   -- '' when the member held no tier of the programme
  to_tier      text NOT NULL,
  reason       text NOT NULL CHECK (reason IN ('qualified', 'grace_ended', 'placed', 'manual_floor')),
  actor        text NOT NULL,   -- 'ingest', 'scheduler', or the head-office user
  at           timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX tier_history_customer ON tier_history (customer_id, change_id);
