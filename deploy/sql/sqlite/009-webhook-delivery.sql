-- How a webhook delivers: its body format, extra headers (a JSON object; values are never shown again), alerts per
-- POST and how long to wait to fill one. And its delivery state, for ListWebhooks: paused until when (its receiver
-- is failing and delivery waits to retry), when it last took an alert, and the last error. A retryable failure (5xx,
-- 408, 429, no connection) pauses the webhook instead of dead-lettering the alert.
ALTER TABLE webhooks ADD COLUMN paused_until INTEGER NULL;     -- .NET ticks, UTC
ALTER TABLE webhooks ADD COLUMN last_success_at INTEGER NULL;  -- .NET ticks, UTC
ALTER TABLE webhooks ADD COLUMN last_error TEXT NULL;
ALTER TABLE webhooks ADD COLUMN format TEXT NOT NULL DEFAULT 'engine';  -- engine, slack or braze_attributes
ALTER TABLE webhooks ADD COLUMN headers TEXT NULL;                       -- JSON {"name": "value"}
ALTER TABLE webhooks ADD COLUMN max_batch INTEGER NOT NULL DEFAULT 1;
ALTER TABLE webhooks ADD COLUMN max_wait_ms INTEGER NOT NULL DEFAULT 0;
