-- How a webhook delivers: its body format, extra headers (a JSON object; values are never shown again), alerts per
-- POST and how long to wait to fill one. And its delivery state, for ListWebhooks: paused until when (its receiver
-- is failing and delivery waits to retry), when it last took an alert, and the last error. A retryable failure (5xx,
-- 408, 429, no connection) pauses the webhook instead of dead-lettering the alert.
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS paused_until bigint NULL;     -- .NET ticks, UTC
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS last_success_at bigint NULL;  -- .NET ticks, UTC
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS last_error text NULL;
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS format text NOT NULL DEFAULT 'engine';  -- engine, slack or braze_attributes
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS headers text NULL;                       -- JSON {"name": "value"}
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS max_batch integer NOT NULL DEFAULT 1;
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS max_wait_ms bigint NOT NULL DEFAULT 0;
