DROP INDEX IF EXISTS tm_st_affected_txn_id;
