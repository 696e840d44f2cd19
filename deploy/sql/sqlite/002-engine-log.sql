-- Engine's own tables: the durable ingest log, the transition log and small bookkeeping values.

-- Every accepted event, in acknowledgement order. seq is the log position; event_id makes retries idempotent.
-- as_of is the engine clock when the event was ingested, so replays recompute what the live path computed.
CREATE TABLE IF NOT EXISTS ingest_log
(
    seq         INTEGER PRIMARY KEY AUTOINCREMENT,
    event_id    TEXT    NOT NULL UNIQUE,
    customer_id TEXT    NOT NULL,
    kind        INTEGER NOT NULL,
    occurred_at INTEGER NOT NULL,  -- .NET ticks, UTC
    amount      REAL    NOT NULL,
    category    TEXT    NULL,
    attributes  TEXT    NULL,      -- JSON object
    as_of       INTEGER NOT NULL   -- .NET ticks, UTC
);

-- A customer's log tail after its checkpoint is read on activation.
CREATE INDEX IF NOT EXISTS ix_ingest_log_customer ON ingest_log (customer_id, seq);

-- Every segment change. (customer_id, number) is its identity: a replay that re-derives it writes it once.
CREATE TABLE IF NOT EXISTS transitions
(
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    customer_id   TEXT    NOT NULL,
    number        INTEGER NOT NULL,
    from_segment  TEXT    NOT NULL,
    to_segment    TEXT    NOT NULL,
    at            INTEGER NOT NULL,  -- .NET ticks, UTC
    cause         INTEGER NOT NULL,
    model_version INTEGER NOT NULL,
    UNIQUE (customer_id, number)
);

CREATE INDEX IF NOT EXISTS ix_transitions_at ON transitions (at);

CREATE TABLE IF NOT EXISTS engine_meta
(
    key   TEXT    NOT NULL PRIMARY KEY,
    value INTEGER NOT NULL
);
