-- Ours (docs/store.md): recovery's staging pass looks up the affected transactions of every
-- staged row through ST_AFFECTED_TRANSACTION.TXN_ID, which Tessera's DDL does not index.
-- Without it each lookup scans the table, and staging a large history is quadratic.
CREATE INDEX IF NOT EXISTS tm_st_affected_txn_id ON ST_AFFECTED_TRANSACTION (TXN_ID);
