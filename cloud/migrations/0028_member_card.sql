-- A member's digital card (docs/members.md): the code her app shows as a QR or Code 128 image.
-- The code is an identifier of kind 'qr' like any other (its keyed hash in `identifier`, so a
-- till finds her by it, offline too once the feed brought it); the cloud alone keeps it in clear,
-- as it keeps her e-mail, to draw it again. Deleting the identifier (erasure, a renewal) deletes
-- the card.
CREATE TABLE digital_card (
  customer_id text        PRIMARY KEY REFERENCES customer,
  code        text        NOT NULL UNIQUE,
  hash        bytea       NOT NULL UNIQUE REFERENCES identifier (hash) ON DELETE CASCADE,
  issued_at   timestamptz NOT NULL DEFAULT now()
);

-- The language she wants to be written to in (a BCP 47 tag: "de", "pt-BR"); NULL: the store's.
ALTER TABLE customer_pii ADD COLUMN language text CHECK (length(language) BETWEEN 2 AND 35);
