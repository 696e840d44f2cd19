-- Each event carries the model version its silo assigned it under (0: no model yet), so a replay after a crash
-- assigns it under the same model even when a retrain has published a newer one since. Before this column, a customer
-- whose unsaved events an older model had assigned wrote its state before the newer model assigned anything: at
-- 100,000 active customers that was 100,000 grain-state writes per retrain. Rows logged before it stay NULL and replay
-- under the current model, as they did.
ALTER TABLE ingest_log ADD COLUMN IF NOT EXISTS model_version bigint NULL;
