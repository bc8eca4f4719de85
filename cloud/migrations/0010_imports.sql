-- Bulk imports (accrue-cloud import): one row per job with how far it got, so a job stopped
-- halfway resumes after its last committed batch; rejected rows with their reasons.
CREATE TABLE import_job (
  job          text PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('customers', 'receipts')),
  file         text NOT NULL,
  lines_done   bigint NOT NULL DEFAULT 0,   -- data lines consumed by committed batches
  imported     bigint NOT NULL DEFAULT 0,
  rejected     bigint NOT NULL DEFAULT 0,
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);

CREATE TABLE import_reject (
  job          text NOT NULL REFERENCES import_job ON DELETE CASCADE,
  line         bigint NOT NULL,
  key          text NOT NULL DEFAULT '',    -- the row's customer id or receipt id
  reason       text NOT NULL,
  PRIMARY KEY (job, line)
);
