-- Ours (docs/store.md, docs/protocol.md §9): a peer that stops answering keeps its routes
-- until peerGracePeriod has passed without a successful contact, so the party store records
-- since when it is unreachable and why.
ALTER TABLE tm_peer ADD COLUMN unreachable_since BIGINT;
ALTER TABLE tm_peer ADD COLUMN last_error VARCHAR(1024);
-- URLs learned from another node's party info that we have not reached yet. tm_peer holds
-- only nodes we have had a successful contact with.
CREATE TABLE IF NOT EXISTS tm_candidate (
    url VARCHAR(2048) NOT NULL PRIMARY KEY,
    created BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tm_candidate_created ON tm_candidate (created);
-- Peers recorded by earlier versions from a party info's list, never heard from and serving
-- no key, become candidates.
INSERT INTO tm_candidate (url, created)
    SELECT url, created FROM tm_peer
    WHERE last_contact IS NULL
      AND NOT EXISTS (SELECT 1 FROM tm_recipient WHERE tm_recipient.peer_url = tm_peer.url);
DELETE FROM tm_peer
    WHERE last_contact IS NULL
      AND NOT EXISTS (SELECT 1 FROM tm_recipient WHERE tm_recipient.peer_url = tm_peer.url);
