-- Programme drafts: marketing works on the next version here (saved even while it does not
-- validate yet), then publishes it as a new program_version.
CREATE TABLE program_draft (
  draft_id      uuid PRIMARY KEY,
  body          jsonb NOT NULL,
  revision      bigint NOT NULL DEFAULT 1,
  created_by    text NOT NULL,
  updated_by    text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  published_as  integer  -- the version it was published as; a published draft no longer changes
);
