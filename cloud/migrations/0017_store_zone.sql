-- A store's time zone decides its local days, daily caps, campaign windows and lot dates, in the
-- agent and in the cloud alike (both read it from here; the change feed gives it to the agent).
-- Empty means the programme's zone. Until now the column was stored but never used: every store
-- ran in the programme's zone, and stores registered by their first upload got 'UTC' by default.
-- They keep running in the programme's zone; head office sets a store's own where it differs.
ALTER TABLE store ALTER COLUMN time_zone SET DEFAULT '';
UPDATE store SET time_zone = '' WHERE time_zone = 'UTC';
