-- Saved segments: a definition over tier, status, balance, spend and purchases in a period, last
-- purchase, home store and enrolment date (cloud/hq/segments_api.cpp compiles it to SQL).
CREATE TABLE segment (
  segment_id  text PRIMARY KEY CHECK (segment_id ~ '^[a-z0-9][a-z0-9_-]{0,63}$'),
  name        text NOT NULL,
  definition  jsonb NOT NULL,
  revision    bigint NOT NULL DEFAULT 1,
  created_by  text NOT NULL,
  updated_by  text NOT NULL,
  created_at  timestamptz NOT NULL DEFAULT now(),
  updated_at  timestamptz NOT NULL DEFAULT now()
);
