-- The scheduler's daily jobs (cloud/core/scheduler.h): one row per job, with the last
-- programme-local day it finished (days since 1970-01-01), the replica that holds its lease,
-- and what its last run did. A job runs each day once, in order, catching up missed days.
CREATE TABLE scheduled_job (
  name              text PRIMARY KEY,
  done_through_day  integer,        -- null: never run (its first run is today's)
  lease_owner       text,
  lease_until       timestamptz,
  runs              bigint NOT NULL DEFAULT 0,
  last_day          integer,        -- the day of the last run (finished or failed)
  last_started_at   timestamptz,
  last_finished_at  timestamptz,
  last_duration_ms  bigint,
  last_counts       jsonb NOT NULL DEFAULT '{}',
  last_error        text,
  last_error_at     timestamptz
);
