-- Duplicates are the same event, not the same id: an event's identity is (customer_id, event_id). Before this script
-- event_id was unique across all customers, so customer bob's "order-1" after alice's was answered "duplicate" and
-- dropped. Many sources number events per customer or per store; a retry of the same event is still one event.
-- SQLite cannot drop a column's UNIQUE constraint, so the table is rebuilt with the same rows and positions (seq).
-- The key is (event_id, customer_id), event id first: sources number their events in order, so new keys land at the
-- index's end; customer first put each insert at a random page, and ingest ran at a third of its rate
-- (deploy/bench/HISTORY.md, 2026-12-06).
CREATE TABLE ingest_log_006
(
    seq           INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id      TEXT    NOT NULL,
    customer_id   TEXT    NOT NULL,
    kind          INTEGER NOT NULL,
    occurred_at   INTEGER NOT NULL,  -- .NET ticks, UTC
    amount        REAL    NOT NULL,
    category      TEXT    NULL,
    attributes    TEXT    NULL,      -- JSON object
    as_of         INTEGER NOT NULL,  -- .NET ticks, UTC
    prev_seq      INTEGER NOT NULL DEFAULT 0,
    model_version INTEGER NULL,
    UNIQUE (event_id, customer_id)
);

INSERT INTO ingest_log_006 (seq, event_id, customer_id, kind, occurred_at, amount, category, attributes, as_of, prev_seq, model_version)
SELECT seq, event_id, customer_id, kind, occurred_at, amount, category, attributes, as_of, prev_seq, model_version FROM ingest_log;

DROP TABLE ingest_log;

ALTER TABLE ingest_log_006 RENAME TO ingest_log;
