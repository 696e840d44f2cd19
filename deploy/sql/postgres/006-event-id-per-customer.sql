-- Duplicates are the same event, not the same id: an event's identity is (customer_id, event_id). Before this script
-- event_id was unique across all customers, so customer bob's "order-1" after alice's was answered "duplicate" and
-- dropped. Many sources number events per customer or per store; a retry of the same event is still one event.
-- The new unique index is built before the old constraint goes, in the migration's transaction. Event id first, as
-- in SQLite (see its 006): sources number events in order, so new keys land at the index's end.
CREATE UNIQUE INDEX IF NOT EXISTS ux_ingest_log_event_customer ON ingest_log (event_id, customer_id);

ALTER TABLE ingest_log DROP CONSTRAINT IF EXISTS ingest_log_event_id_key;
