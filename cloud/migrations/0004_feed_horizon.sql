-- The change feed is pruned (accrue-cloud prune-feed): rows older than the retention go. The
-- newest (xid, id) among the rows that have gone is kept here: a store whose cursor is before it
-- has missed changes, so its next page starts over with a reset (the agent rebuilds its replica
-- from the store's scope, as on its first day). A cursor at or past it has missed nothing.
CREATE TABLE feed_horizon (
  only_row           boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  pruned_through_xid xid8 NOT NULL,
  pruned_through_id  bigint NOT NULL,
  pruned_at          timestamptz NOT NULL DEFAULT now()
);
