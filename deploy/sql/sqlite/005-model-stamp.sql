-- Each event carries the model version its silo assigned it under (0: no model yet); see
-- deploy/sql/postgres/005-model-stamp.sql for why. Rows logged before it stay NULL and replay under the current model.
ALTER TABLE ingest_log ADD COLUMN model_version INTEGER NULL;
