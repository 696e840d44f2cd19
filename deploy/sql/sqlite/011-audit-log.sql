-- The audit log (docs/security.md): one row per admin action, appended by the server, never updated. who is an API
-- key's name (or "anonymous"); target and details never hold a secret or a customer id in clear.
CREATE TABLE IF NOT EXISTS audit_log
(
    id      INTEGER NOT NULL PRIMARY KEY AUTOINCREMENT,
    at      INTEGER NOT NULL,  -- .NET ticks, UTC (wall clock)
    who     TEXT    NOT NULL,
    action  TEXT    NOT NULL,  -- the RPC's name, e.g. Retrain
    target  TEXT    NOT NULL,  -- e.g. a segment or webhook id; empty when the action has none
    outcome TEXT    NOT NULL,  -- OK, or the gRPC status code's name
    details TEXT    NOT NULL   -- the request as JSON, secrets removed
);
