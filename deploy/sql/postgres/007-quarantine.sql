-- Events their customers could not apply. The event stays in ingest_log (it was acknowledged); the customer moves past
-- it, and this row holds it for an operator to replay or discard (AdminService). seq is its log position.
CREATE TABLE IF NOT EXISTS quarantine
(
    seq            bigint NOT NULL PRIMARY KEY,
    customer_id    text   NOT NULL,
    event_id       text   NOT NULL,
    error          text   NOT NULL,
    quarantined_at bigint NOT NULL,  -- .NET ticks, UTC (wall clock)
    discarded_at   bigint NULL       -- .NET ticks, UTC; set once discarded
);
