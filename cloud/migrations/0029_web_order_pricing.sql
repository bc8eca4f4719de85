-- What the loyalty programme took off a web order (docs/orders.md): its coupons and redeemed
-- points, and the lines after them, as the booking answered it. NULL: nothing was taken off.
ALTER TABLE web_order ADD COLUMN pricing jsonb;
