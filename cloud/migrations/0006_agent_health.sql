-- What each agent reports with its change-feed polls (head office's view of the stores' sync),
-- and agents revoked by head office (their uploads and polls are refused from then on).
ALTER TABLE agent
  ADD COLUMN reported_at timestamptz,
  ADD COLUMN outbox_depth bigint,
  ADD COLUMN oldest_pending_at timestamptz,
  ADD COLUMN quarantined bigint,
  ADD COLUMN program text,
  ADD COLUMN revoked_at timestamptz,
  ADD COLUMN revoked_reason text;
CREATE INDEX agent_store ON agent (store_id, agent_id);
