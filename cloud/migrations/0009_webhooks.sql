-- Webhooks. Events are written to webhook_outbox in the transaction that makes them (one row per
-- matching subscription), so a committed change always has its notifications and a rolled-back
-- one never does; replicas deliver them (FOR UPDATE SKIP LOCKED: each row to one replica at a
-- time), retry with exponential backoff, and log every attempt.
CREATE TABLE webhook_subscription (
  subscription_id  uuid PRIMARY KEY,
  url              text NOT NULL,
  event_types      text[] NOT NULL,
  secret           text NOT NULL,   -- HMAC-SHA-256 key of the signatures
  description      text NOT NULL DEFAULT '',
  active           boolean NOT NULL DEFAULT true,
  created_by       text NOT NULL,
  created_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE webhook_outbox (
  delivery_id      bigserial PRIMARY KEY,
  subscription_id  uuid NOT NULL REFERENCES webhook_subscription ON DELETE CASCADE,
  event_type       text NOT NULL,
  event_id         text NOT NULL,   -- the change it reports (ledger event, customer), for receivers' dedup
  payload          jsonb NOT NULL,
  state            text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'failed')),
  attempts         integer NOT NULL DEFAULT 0,
  next_attempt_at  timestamptz NOT NULL DEFAULT now(),
  last_status      integer,
  last_error       text,
  created_at       timestamptz NOT NULL DEFAULT now(),
  delivered_at     timestamptz
);
CREATE INDEX webhook_outbox_due ON webhook_outbox (next_attempt_at, delivery_id) WHERE state = 'pending';
CREATE INDEX webhook_outbox_subscription ON webhook_outbox (subscription_id, delivery_id);

CREATE TABLE webhook_attempt (
  delivery_id  bigint NOT NULL REFERENCES webhook_outbox ON DELETE CASCADE,
  attempt      integer NOT NULL,
  at           timestamptz NOT NULL DEFAULT now(),
  status       integer,           -- HTTP status, null when there was no answer
  error        text,
  duration_ms  integer NOT NULL,
  PRIMARY KEY (delivery_id, attempt)
);
