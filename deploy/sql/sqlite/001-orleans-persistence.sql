-- Orleans ADO.NET grain persistence for SQLite, written from the provider's contract (query keys, parameter and
-- column names) as used by Microsoft.Orleans.Persistence.AdoNet 10.4.2.
-- Differences from the upstream script, on purpose:
--  * the grain identity has a UNIQUE index, so two racing first writes cannot create two rows for one grain;
--  * a missing key extension is stored as '' (SQLite treats NULLs as distinct in unique indexes);
--  * writes are a single UPSERT with optimistic concurrency on Version, instead of temp-table bookkeeping;
--  * writes run with synchronous=NORMAL: in WAL mode a commit survives a killed process (kill -9) but not an OS
--    crash. Grain state here is a checkpoint; the ingest log (synchronous=FULL) is what acknowledgements rely on.
-- Every statement is idempotent: the migrator may apply this file to an existing database.

CREATE TABLE IF NOT EXISTS OrleansQuery
(
    QueryKey  TEXT NOT NULL PRIMARY KEY,
    QueryText TEXT NOT NULL
);

CREATE TABLE IF NOT EXISTS OrleansStorage
(
    GrainIdHash            INTEGER NOT NULL,
    GrainIdN0              INTEGER NOT NULL,
    GrainIdN1              INTEGER NOT NULL,
    GrainTypeHash          INTEGER NOT NULL,
    GrainTypeString        TEXT    NOT NULL,
    GrainIdExtensionString TEXT    NOT NULL DEFAULT '',
    ServiceId              TEXT    NOT NULL,
    PayloadBinary          BLOB    NULL,
    ModifiedOn             TEXT    NOT NULL,
    Version                INTEGER NULL
);

CREATE UNIQUE INDEX IF NOT EXISTS UX_OrleansStorage_Identity ON OrleansStorage
    (GrainIdHash, GrainTypeHash, GrainIdN0, GrainIdN1, GrainTypeString, GrainIdExtensionString, ServiceId);

-- Insert when the caller believes the row is new (@GrainStateVersion IS NULL); otherwise update only when the stored
-- Version matches. No row returned = version conflict, which the provider reports as InconsistentStateException.
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('WriteToStorageKey', '
PRAGMA synchronous = NORMAL;
INSERT INTO OrleansStorage (GrainIdHash, GrainIdN0, GrainIdN1, GrainTypeHash, GrainTypeString, GrainIdExtensionString,
                            ServiceId, PayloadBinary, ModifiedOn, Version)
SELECT @GrainIdHash, @GrainIdN0, @GrainIdN1, @GrainTypeHash, @GrainTypeString, COALESCE(@GrainIdExtensionString, ''''),
       @ServiceId, @PayloadBinary, strftime(''%Y-%m-%dT%H:%M:%fZ'', ''now''), 1
WHERE @GrainStateVersion IS NULL
   OR EXISTS (SELECT 1 FROM OrleansStorage
              WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash
                AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1 AND GrainTypeString = @GrainTypeString
                AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString, '''') AND ServiceId = @ServiceId)
ON CONFLICT (GrainIdHash, GrainTypeHash, GrainIdN0, GrainIdN1, GrainTypeString, GrainIdExtensionString, ServiceId)
DO UPDATE SET PayloadBinary = excluded.PayloadBinary,
              ModifiedOn = excluded.ModifiedOn,
              Version = OrleansStorage.Version + 1
WHERE OrleansStorage.Version IS @GrainStateVersion
RETURNING Version AS NewGrainStateVersion;
');

INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('ReadFromStorageKey', '
SELECT PayloadBinary, Version
FROM OrleansStorage
WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash
  AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1 AND GrainTypeString = @GrainTypeString
  AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString, '''') AND ServiceId = @ServiceId;
');

-- Clearing keeps the row (payload NULL) and bumps Version, so a later write still needs the right version.
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('ClearStorageKey', '
UPDATE OrleansStorage
SET PayloadBinary = NULL, ModifiedOn = strftime(''%Y-%m-%dT%H:%M:%fZ'', ''now''), Version = Version + 1
WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash
  AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1 AND GrainTypeString = @GrainTypeString
  AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString, '''') AND ServiceId = @ServiceId
  AND Version IS @GrainStateVersion
RETURNING Version AS NewGrainStateVersion;
');

INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('DeleteStorageKey', '
DELETE FROM OrleansStorage
WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash
  AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1 AND GrainTypeString = @GrainTypeString
  AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString, '''') AND ServiceId = @ServiceId
  AND Version IS @GrainStateVersion
RETURNING NULL AS NewGrainStateVersion;
');
