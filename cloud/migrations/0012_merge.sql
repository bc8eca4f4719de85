-- Merging two members: the merged one keeps its row (status 4, merged_into the survivor) so that
-- events stores upload for it later are credited to the survivor, and its history stays readable.
ALTER TABLE customer DROP CONSTRAINT customer_status_check;
ALTER TABLE customer ADD CONSTRAINT customer_status_check CHECK (status IN (1, 2, 3, 4));
ALTER TABLE customer ADD COLUMN merged_into text;
CREATE INDEX customer_merged_into ON customer (merged_into) WHERE merged_into IS NOT NULL;
