-- Returns in any store (docs/lifecycle.md, "Returns"): the cloud decides what a return reverses
-- from the sale's lines as it recorded them, and keeps every return it has seen, so that one
-- return is applied once chain-wide whatever event id a retry carries, and a return whose sale it
-- does not know yet waits for head office's review list instead of being refused.

-- The sale's lines: [{"line_no", "quantity_milli", "points", "returned_quantity_milli",
-- "points_reversed"}], what they earned and what returns gave back so far. NULL for sales
-- recorded before this migration and for imported receipts: their returns are capped by the
-- sale's points only.
ALTER TABLE receipt ADD COLUMN lines jsonb;

-- Every return the cloud has seen, by the return's own till transaction. status: 'applied' (its
-- ledger row is event_id), 'held' (the sale is not known yet: nothing reversed, the store's
-- event kept to apply later), 'dismissed' (head office closed it without reversing anything).
CREATE TABLE sale_return (
  store_id         text NOT NULL,
  till_id          text NOT NULL,
  pos_tx_id        text NOT NULL,
  event_id         uuid NOT NULL UNIQUE,
  agent_id         text NOT NULL,
  status           text NOT NULL CHECK (status IN ('applied', 'held', 'dismissed')),
  -- The sale as the store named it, and as the cloud found it.
  sale_event_id    uuid,
  sale_store_id    text,
  sale_till_id     text,
  sale_pos_tx_id   text,
  customer_id      text,
  points_reversed  bigint NOT NULL DEFAULT 0,
  envelope         bytea,             -- the store's event while held
  received_at      timestamptz NOT NULL DEFAULT now(),
  resolved_at      timestamptz,
  resolved_by      text,
  note             text,
  PRIMARY KEY (store_id, till_id, pos_tx_id)
);
CREATE INDEX sale_return_status ON sale_return (status, event_id);
