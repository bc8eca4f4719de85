-- The web shop's orders (POST /v1/orders, cloud/hq/orders_api.cpp): each is booked through
-- ingestion as a sale of the virtual store WEB (till "web", the order id as its transaction), so
-- it earns by the same rules as a till's sale. An order id is booked once: a retry with the same
-- content (body, compared as jsonb) answers the order as booked, one with other content is
-- refused.
CREATE TABLE web_order (
  order_id     text PRIMARY KEY,
  event_id     uuid NOT NULL UNIQUE,          -- the sale's ledger row and receipt
  customer_id  text NOT NULL,
  body         jsonb NOT NULL,                -- the order as the shop sent it (normalised)
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL
);

-- Its returns, each by the shop's own return id (once per order), booked as returns of the sale
-- (sale_return holds what each reversed).
CREATE TABLE web_order_return (
  order_id     text NOT NULL REFERENCES web_order,
  return_id    text NOT NULL,
  event_id     uuid NOT NULL UNIQUE,
  body         jsonb NOT NULL,                -- the returned lines
  created_at   timestamptz NOT NULL DEFAULT now(),
  created_by   text NOT NULL,
  PRIMARY KEY (order_id, return_id)
);
