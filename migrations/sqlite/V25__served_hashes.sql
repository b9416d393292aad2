-- The bytes each connection was served as, hashed: a sync parses only the connections whose
-- bytes differ from those the inventory last saw them as (an unchanged re-sync parses none).

ALTER TABLE connections ADD COLUMN served_hash TEXT;
ALTER TABLE staged_connections ADD COLUMN served_hash TEXT;
