-- A webhook's delivery state, for ListWebhooks: paused until when (its receiver is failing and delivery waits to
-- retry), when it last took an alert, and the last error. A retryable failure (5xx, 408, 429, no connection) pauses
-- the webhook instead of dead-lettering the alert.
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS paused_until bigint NULL;     -- .NET ticks, UTC
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS last_success_at bigint NULL;  -- .NET ticks, UTC
ALTER TABLE webhooks ADD COLUMN IF NOT EXISTS last_error text NULL;
