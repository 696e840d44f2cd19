-- The audit log (docs/security.md): one row per admin action, appended by the server, never updated. who is an API
-- key's name (or "anonymous"); target and details never hold a secret or a customer id in clear.
CREATE TABLE IF NOT EXISTS audit_log
(
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at      bigint NOT NULL,  -- .NET ticks, UTC (wall clock)
    who     text   NOT NULL,
    action  text   NOT NULL,  -- the RPC's name, e.g. Retrain
    target  text   NOT NULL,  -- e.g. a segment or webhook id; empty when the action has none
    outcome text   NOT NULL,  -- OK, or the gRPC status code's name
    details text   NOT NULL   -- the request as JSON, secrets removed
);
