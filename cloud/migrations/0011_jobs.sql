-- Head-office background jobs (bulk adjustments): the job, and one item per customer with the
-- event id its adjustment will carry, fixed when the job is created, so a job resumed after a
-- crash can never apply an item twice (the ledger refuses a second event with the same id).
CREATE TABLE hq_job (
  job_id       uuid PRIMARY KEY,
  kind         text NOT NULL CHECK (kind IN ('bulk_adjustment')),
  state        text NOT NULL DEFAULT 'queued' CHECK (state IN ('queued', 'running', 'done')),
  params       jsonb NOT NULL,
  total        integer NOT NULL,
  done         integer NOT NULL DEFAULT 0,
  applied      integer NOT NULL DEFAULT 0,
  rejected     integer NOT NULL DEFAULT 0,
  created_by   text NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  started_at   timestamptz,
  finished_at  timestamptz,
  lease_until  timestamptz   -- the replica working on it; another takes over after this
);
CREATE INDEX hq_job_open ON hq_job (created_at) WHERE state <> 'done';

CREATE TABLE hq_job_item (
  job_id       uuid NOT NULL REFERENCES hq_job ON DELETE CASCADE,
  seq          integer NOT NULL,
  customer_id  text NOT NULL,
  event_id     uuid NOT NULL,
  state        text NOT NULL DEFAULT 'pending'
               CHECK (state IN ('pending', 'applied', 'duplicate', 'rejected')),
  reason       text,
  PRIMARY KEY (job_id, seq)
);
