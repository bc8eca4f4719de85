-- Tier qualification per customer and programme-local day, beside the daily cap's `earned`.
--
-- The status and profile reads need "what counts towards the tier in the last N days". Summed
-- over the ledger, that query visits every monthly partition and, with PostgreSQL 15's generic
-- plans, locks each of them and their indexes: measured at a third of the throughput of the same
-- read summing these per-day rows (pgbench, 100k members, 28 partitions). Ingestion keeps them
-- in the same transaction as the ledger rows they summarise.
--   qualifying_points: accruals, returns (negative), enrolment bonuses and claimed provisional
--                      points -- the ledger kinds 1, 3, 4 and 7
--   spend_minor:       what the accruals' baskets amounted to (kind 1), for spend-based tiers
ALTER TABLE customer_day
  ADD COLUMN qualifying_points bigint NOT NULL DEFAULT 0,
  ADD COLUMN spend_minor       bigint NOT NULL DEFAULT 0;

-- Rows written before this migration: accruals carry their local day; other kinds fall back to
-- the UTC day of the event (a day's difference at most, for history that predates the column).
INSERT INTO customer_day (customer_id, local_day, qualifying_points, spend_minor)
SELECT customer_id,
       coalesce(local_day, floor(extract(epoch FROM occurred_at) / 86400)::integer),
       sum(points),
       sum(CASE WHEN kind = 1 THEN coalesce(amount_minor, 0) ELSE 0 END)
FROM ledger
WHERE customer_id IS NOT NULL AND kind IN (1, 3, 4, 7)
GROUP BY 1, 2
ON CONFLICT (customer_id, local_day) DO UPDATE
  SET qualifying_points = excluded.qualifying_points, spend_minor = excluded.spend_minor;
