DROP TABLE IF EXISTS tm_candidate;
ALTER TABLE tm_peer DROP COLUMN IF EXISTS last_error;
ALTER TABLE tm_peer DROP COLUMN IF EXISTS unreachable_since;
