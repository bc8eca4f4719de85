-- Coupons that expired unused are reported once (webhook coupon.expired) by the scheduler's
-- daily `coupon_expiry` job, a day after their expiry: a use made offline on the last day has
-- had time to arrive by then.
ALTER TABLE coupon ADD COLUMN expiry_reported_at timestamptz;
CREATE INDEX coupon_unreported_expiry ON coupon (expires_at)
  WHERE status = 'issued' AND expiry_reported_at IS NULL;
