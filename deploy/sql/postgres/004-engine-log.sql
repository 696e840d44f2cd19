-- Engine's own tables in PostgreSQL: the ingest log, the transition (alert) log, webhooks and bookkeeping.
-- Times are .NET ticks (UTC) as in the SQLite store. Appends take a transaction-scoped advisory lock so commits
-- happen in id order: a reader that has seen id N will never later find a smaller id appear (alert cursors rely on it).

CREATE TABLE IF NOT EXISTS ingest_log
(
    seq         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    event_id    text             NOT NULL UNIQUE,
    customer_id text             NOT NULL,
    kind        integer          NOT NULL,
    occurred_at bigint           NOT NULL,
    amount      double precision NOT NULL,
    category    text             NULL,
    attributes  text             NULL,
    as_of       bigint           NOT NULL
);

CREATE INDEX IF NOT EXISTS ix_ingest_log_customer ON ingest_log (customer_id, seq);

CREATE TABLE IF NOT EXISTS transitions
(
    id            bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    customer_id   text    NOT NULL,
    number        bigint  NOT NULL,
    from_segment  text    NOT NULL,
    to_segment    text    NOT NULL,
    at            bigint  NOT NULL,
    cause         integer NOT NULL,
    model_version bigint  NOT NULL,
    drivers       text    NULL,
    UNIQUE (customer_id, number)
);

CREATE INDEX IF NOT EXISTS ix_transitions_at ON transitions (at);

CREATE TABLE IF NOT EXISTS engine_meta
(
    key   text   NOT NULL PRIMARY KEY,
    value bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS webhooks
(
    id              text   NOT NULL PRIMARY KEY,
    url             text   NOT NULL,
    secret          text   NOT NULL,
    filter          text   NOT NULL,
    delivered_after bigint NOT NULL,
    created_at      bigint NOT NULL
);

CREATE TABLE IF NOT EXISTS webhook_dead_letters
(
    id         bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    webhook_id text    NOT NULL,
    cursor     bigint  NOT NULL,
    attempts   integer NOT NULL,
    last_error text    NOT NULL,
    body       text    NOT NULL,
    failed_at  bigint  NOT NULL
);
