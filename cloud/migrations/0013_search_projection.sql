-- The search read model's projection (cloud/search/projector.h): how far the change feed has
-- been projected into the search index, the epoch that versions its documents, and which
-- replica projects (one at a time, by lease). index_name '': the index was never built.
CREATE TABLE search_projection (
  name          text PRIMARY KEY,
  cursor_xid    xid8 NOT NULL DEFAULT '0',
  cursor_id     bigint NOT NULL DEFAULT 0,
  epoch         bigint NOT NULL DEFAULT 0,
  index_name    text NOT NULL DEFAULT '',
  rebuilt_at    timestamptz,
  projected_at  timestamptz,
  rebuild_requested boolean NOT NULL DEFAULT false,  -- `accrue-cloud search rebuild` asked the holder
  lease_owner   text,
  lease_until   timestamptz
);
