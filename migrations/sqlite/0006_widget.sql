-- The website chat widget's visitors: a visitor's browser keeps a random token (in localStorage)
-- that brings back their conversation on every page load. Only the token's SHA-256 digest is
-- kept, as for API keys: a copy of the database does not let anyone speak as a visitor.
-- visitor_id is the visitor's address on the channel (contact_channels.external_id).

CREATE TABLE widget_visitors (
    token_hash TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    visitor_id TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    last_seen_at BIGINT NOT NULL,
    UNIQUE (channel_id, visitor_id)
);
