-- Offline double spend of points (docs/offline-exposure.md): a redemption a store allowed while
-- offline that the member's points no longer covered when it arrived (another store had spent
-- them meanwhile). Ingestion records the part nothing covered, in the transaction that applies
-- the redemption; the member's balance goes below her lots by that much (her available points
-- show the debt) until it is settled: repaid by her next earnings, or written off by head office,
-- as the programme's offline_limits.overdraft_settlement says.
CREATE TABLE overdraft (
  event_id     uuid        PRIMARY KEY,        -- the redemption
  customer_id  text        NOT NULL,
  store_id     text        NOT NULL,           -- the store that honoured it
  points       bigint      NOT NULL CHECK (points > 0),
  value_minor  bigint      NOT NULL DEFAULT 0, -- its money value: the redemption's, pro rata
  currency     text        NOT NULL DEFAULT '',
  occurred_at  timestamptz NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  repaid       bigint      NOT NULL DEFAULT 0, -- by later earnings
  written_off  bigint      NOT NULL DEFAULT 0, -- by head office
  written_off_by text,
  written_off_reason text,
  written_off_at timestamptz,
  CHECK (repaid >= 0 AND written_off >= 0 AND repaid + written_off <= points)
);
CREATE INDEX overdraft_store_day ON overdraft (store_id, occurred_at);
CREATE INDEX overdraft_open ON overdraft (customer_id, occurred_at)
  WHERE repaid + written_off < points;
