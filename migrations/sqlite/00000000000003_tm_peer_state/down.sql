DROP TABLE IF EXISTS tm_candidate;
ALTER TABLE tm_peer DROP COLUMN last_error;
ALTER TABLE tm_peer DROP COLUMN unreachable_since;
