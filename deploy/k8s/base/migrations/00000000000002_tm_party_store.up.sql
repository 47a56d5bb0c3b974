-- Ours, not Tessera's (Tessera keeps its party store in memory, node.md §2.3): sharing it
-- lets every instance behind a load balancer start from what the others learned.
CREATE TABLE IF NOT EXISTS tm_peer (
    url VARCHAR(2048) NOT NULL PRIMARY KEY,
    api_versions VARCHAR(1024),
    last_contact BIGINT,
    created BIGINT NOT NULL
);
CREATE TABLE IF NOT EXISTS tm_recipient (
    public_key BYTEA NOT NULL PRIMARY KEY,
    peer_url VARCHAR(2048) NOT NULL REFERENCES tm_peer (url) ON DELETE CASCADE,
    updated BIGINT NOT NULL
);
CREATE INDEX IF NOT EXISTS tm_recipient_peer_url ON tm_recipient (peer_url);
