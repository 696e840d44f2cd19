-- Migration alerts: the transition log is the alert log (its id is the cursor). This adds what moved each customer,
-- and the webhook subscriptions with their delivery position and dead letters.

ALTER TABLE transitions ADD COLUMN drivers TEXT NULL;  -- JSON [{"f": feature, "c": contribution}, ...]

CREATE INDEX IF NOT EXISTS ix_transitions_customer ON transitions (customer_id, number);

CREATE TABLE IF NOT EXISTS webhooks
(
    id              TEXT    NOT NULL PRIMARY KEY,
    url             TEXT    NOT NULL,
    secret          TEXT    NOT NULL,
    filter          TEXT    NOT NULL,  -- JSON of the subscription filter
    delivered_after INTEGER NOT NULL,  -- cursor of the last alert delivered (or dead-lettered)
    created_at      INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS webhook_dead_letters
(
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    webhook_id TEXT    NOT NULL,
    cursor     INTEGER NOT NULL,
    attempts   INTEGER NOT NULL,
    last_error TEXT    NOT NULL,
    body       TEXT    NOT NULL,
    failed_at  INTEGER NOT NULL
);
