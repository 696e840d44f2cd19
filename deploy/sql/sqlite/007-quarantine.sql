-- Events their customers could not apply. The event stays in ingest_log (it was acknowledged); the customer moves past
-- it, and this row holds it for an operator to replay or discard (AdminService). seq is its log position.
CREATE TABLE IF NOT EXISTS quarantine
(
    seq            INTEGER NOT NULL PRIMARY KEY,
    customer_id    TEXT    NOT NULL,
    event_id       TEXT    NOT NULL,
    error          TEXT    NOT NULL,
    quarantined_at INTEGER NOT NULL,  -- .NET ticks, UTC (wall clock)
    discarded_at   INTEGER NULL       -- .NET ticks, UTC; set once discarded
);
