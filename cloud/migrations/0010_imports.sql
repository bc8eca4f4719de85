-- Bulk imports (accrue-cloud import): one row per job and one per committed batch, so a job
-- stopped halfway resumes with the batches it had not committed; rejected rows with reasons.
CREATE TABLE import_job (
  job          text PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('customers', 'receipts')),
  file         text NOT NULL,
  batch_size   integer NOT NULL,            -- data lines per batch: batch n is lines n*size+1..
  lines        bigint,                      -- data lines in the file, once read to the end
  started_at   timestamptz NOT NULL DEFAULT now(),
  finished_at  timestamptz
);

-- The batches committed (several connections commit them in any order): a resumed job skips
-- exactly these.
CREATE TABLE import_batch (
  job       text NOT NULL REFERENCES import_job ON DELETE CASCADE,
  batch_no  bigint NOT NULL,
  imported  integer NOT NULL,
  rejected  integer NOT NULL,
  PRIMARY KEY (job, batch_no)
);

CREATE TABLE import_reject (
  job          text NOT NULL REFERENCES import_job ON DELETE CASCADE,
  line         bigint NOT NULL,
  key          text NOT NULL DEFAULT '',    -- the row's customer id or receipt id
  reason       text NOT NULL,
  PRIMARY KEY (job, line)
);
