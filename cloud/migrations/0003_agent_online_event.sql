-- Online redemptions an agent has had applied (POST /v1/sync/redeem) but not yet uploaded.
--
-- An online redemption reaches the balance before the agent uploads it with its place in the
-- agent's seq, so agent.last_seq (the watermark W the change feed hands out) does not cover it.
-- The feed and the lookup list these event ids beside W, read in the same snapshot, so that the
-- agent does not count the redemption twice: once inside the confirmed balance and once more as
-- one of its own events after W (Invariant 7). The row goes when the upload arrives (as a
-- duplicate); rows of an agent that never uploads again are pruned after 30 days.
CREATE TABLE agent_online_event (
  agent_id   text NOT NULL,
  event_id   uuid NOT NULL,
  applied_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (agent_id, event_id)
);
