-- A transition carries the names of its segments as they were when it happened, so an alert filter can name a
-- segment ("At risk") and keep matching after retrains that keep the name. Rows written before are NULL: their
-- filters match by id only.
ALTER TABLE transitions ADD COLUMN from_name TEXT NULL;
ALTER TABLE transitions ADD COLUMN to_name TEXT NULL;
