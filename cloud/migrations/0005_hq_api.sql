-- The head-office API: customers edited through it, searched, audited.

-- Trigram search over names and e-mail addresses (a trusted extension since PostgreSQL 13: the
-- database owner may create it, no superuser needed).
CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- revision: grows with every change made through the API (profile, status, tier floor); it is
-- the customer's ETag, so an update sent with If-Match cannot overwrite a change it never saw.
-- country / currency: where the member lives and what they pay in (ISO 3166-1 alpha-2 and ISO
-- 4217), for programmes with rates per currency or per country.
ALTER TABLE customer
  ADD COLUMN revision bigint NOT NULL DEFAULT 1,
  ADD COLUMN country text NOT NULL DEFAULT '' CHECK (country ~ '^([A-Z]{2})?$'),
  ADD COLUMN currency text NOT NULL DEFAULT '' CHECK (currency ~ '^([A-Z]{3})?$'),
  ADD COLUMN status_reason text;

-- Search: the filters as indexed queries, every list ordered by customer_id (keyset paging).
CREATE INDEX customer_pii_name_trgm ON customer_pii USING gin (lower(display_name) gin_trgm_ops);
CREATE INDEX customer_pii_email_trgm ON customer_pii USING gin (email gin_trgm_ops);
CREATE INDEX customer_pii_phone ON customer_pii (phone text_pattern_ops);
CREATE INDEX customer_status_tier ON customer (status, tier_id, customer_id);
CREATE INDEX customer_enrolled ON customer (enrolled_at, customer_id);
CREATE INDEX balance_points ON balance (points, customer_id);
CREATE INDEX balance_last_purchase ON balance (last_purchase_at, customer_id);

-- The audit trail: who did what to which subject, under which request.
ALTER TABLE audit_log ADD COLUMN request_id text NOT NULL DEFAULT '';
CREATE INDEX audit_log_subject ON audit_log (subject, id);
CREATE INDEX audit_log_actor ON audit_log (actor, id);
CREATE INDEX audit_log_action ON audit_log (action, id);
