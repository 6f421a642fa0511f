-- Channels carry real conversations: every inbound webhook event is stored (deduplicated by the
-- provider's id) before the provider gets its 200; contacts are known by their address on each
-- channel; outbound messages carry their content, author and delivery history; WhatsApp numbers
-- keep a registry of templates with their approval status.

CREATE TABLE inbound_events (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    provider_event_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    event TEXT NOT NULL,
    received_at BIGINT NOT NULL,
    processed_at BIGINT,
    UNIQUE (channel_id, provider_event_id)
);

CREATE TABLE contact_channels (
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    external_id TEXT NOT NULL,
    contact_id TEXT NOT NULL REFERENCES contacts(id) ON DELETE CASCADE,
    display_name TEXT,
    created_at BIGINT NOT NULL,
    PRIMARY KEY (channel_id, external_id)
);
CREATE INDEX contact_channels_contact ON contact_channels (contact_id);

ALTER TABLE conversations ADD COLUMN last_inbound_at BIGINT;

-- content: the message as JSON (text, media, location, template...); author: `agent` or the
-- user's id for outbound; send_started_at: set before the provider is called, so a retry knows
-- a previous attempt may have reached it.
ALTER TABLE messages ADD COLUMN content TEXT;
ALTER TABLE messages ADD COLUMN author TEXT;
ALTER TABLE messages ADD COLUMN attempts BIGINT NOT NULL DEFAULT 0;
ALTER TABLE messages ADD COLUMN send_started_at BIGINT;
ALTER TABLE messages ADD COLUMN status_at BIGINT;
CREATE INDEX messages_provider ON messages (channel_id, provider_message_id);

CREATE TABLE channel_templates (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    channel_id TEXT NOT NULL REFERENCES channels(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    language TEXT NOT NULL,
    category TEXT NOT NULL,
    body TEXT NOT NULL,
    variables BIGINT NOT NULL,
    status TEXT NOT NULL,
    reason TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    UNIQUE (channel_id, name, language)
);
