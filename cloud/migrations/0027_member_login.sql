-- Members who sign in with the chain's identity provider (docs/members.md): the subject of her
-- provider's tokens names her here. Head office links and unlinks a login
-- (PUT/DELETE /v1/customers/{id}/login); an erasure removes it, a merge moves it to the survivor.
CREATE TABLE member_login (
  issuer      text        NOT NULL,
  subject     text        NOT NULL CHECK (length(subject) BETWEEN 1 AND 255),
  customer_id text        NOT NULL REFERENCES customer,
  linked_at   timestamptz NOT NULL DEFAULT now(),
  linked_by   text        NOT NULL,
  PRIMARY KEY (issuer, subject)
);
-- One login per member and provider.
CREATE UNIQUE INDEX member_login_customer ON member_login (customer_id, issuer);
