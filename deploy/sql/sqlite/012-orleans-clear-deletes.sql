-- Clearing a grain's state deletes its row instead of nulling the payload: the row's key columns name the grain (a
-- customer's id), and an erasure must leave no trace of it (docs/operations.md, "Erasure"). The returned version is
-- the one the provider expects after a clear; the next write of a cleared grain inserts afresh.
INSERT OR REPLACE INTO OrleansQuery (QueryKey, QueryText) VALUES ('ClearStorageKey', '
DELETE FROM OrleansStorage
WHERE GrainIdHash = @GrainIdHash AND GrainTypeHash = @GrainTypeHash
  AND GrainIdN0 = @GrainIdN0 AND GrainIdN1 = @GrainIdN1 AND GrainTypeString = @GrainTypeString
  AND GrainIdExtensionString = COALESCE(@GrainIdExtensionString, '''') AND ServiceId = @ServiceId
  AND Version IS @GrainStateVersion
RETURNING Version + 1 AS NewGrainStateVersion;
');
