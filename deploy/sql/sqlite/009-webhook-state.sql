-- A webhook's delivery state, for ListWebhooks: paused until when (its receiver is failing and delivery waits to
-- retry), when it last took an alert, and the last error. A retryable failure (5xx, 408, 429, no connection) pauses
-- the webhook instead of dead-lettering the alert.
ALTER TABLE webhooks ADD COLUMN paused_until INTEGER NULL;     -- .NET ticks, UTC
ALTER TABLE webhooks ADD COLUMN last_success_at INTEGER NULL;  -- .NET ticks, UTC
ALTER TABLE webhooks ADD COLUMN last_error TEXT NULL;
