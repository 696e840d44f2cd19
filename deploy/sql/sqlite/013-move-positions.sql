-- A move by silence is no longer checkpointed by its customer: its transition row carries the customer's position in
-- the ingest log when it moved, and a recovery re-applies it between the same events. NULL for every other transition
-- (and for moves written before: their customers checkpointed them).
ALTER TABLE transitions ADD COLUMN log_position INTEGER NULL;
