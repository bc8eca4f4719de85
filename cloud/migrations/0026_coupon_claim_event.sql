-- A claim at a till names its coupon by the claim's event (sync.proto, RewardClaim): the till's
-- retry asks for the coupon of that event, and an upload of the claim is a duplicate when a
-- coupon holds its event id (a gift costs no points, so no ledger row holds it).
CREATE INDEX coupon_claim_event ON coupon (claim_event_id) WHERE claim_event_id IS NOT NULL;
