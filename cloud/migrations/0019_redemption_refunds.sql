-- Refunds of redeemed points on returns (docs/lifecycle.md, "Returns"): when the programme says
-- so (redemption.refund_on_return), a return gives back the points redeemed on its sale, in
-- proportion to the value returned, as a ledger row of its own (kind 8).

ALTER TABLE ledger DROP CONSTRAINT ledger_kind_check;
ALTER TABLE ledger ADD CONSTRAINT ledger_kind_check CHECK (kind BETWEEN 1 AND 8);

-- What the sale's redemptions took, and what its returns gave back so far.
ALTER TABLE receipt ADD COLUMN redeemed_points bigint NOT NULL DEFAULT 0,
                    ADD COLUMN refunded_points bigint NOT NULL DEFAULT 0;

-- Which sale each redemption paid for: one sale per redemption, chain-wide.
CREATE TABLE sale_redemption (
  redemption_event_id uuid PRIMARY KEY,
  sale_event_id       uuid NOT NULL,
  points              bigint NOT NULL
);

ALTER TABLE sale_return ADD COLUMN points_refunded bigint NOT NULL DEFAULT 0;
