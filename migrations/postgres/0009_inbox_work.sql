-- The periods each ticket waited on the customer, as JSON [{"from": T, "until": T or null}]: they
-- stop its resolution clock (tandem-inbox::sla).
ALTER TABLE tickets ADD COLUMN waiting_periods TEXT NOT NULL DEFAULT '[]';

-- An internal note written in a conversation is a note on its contact that remembers where it
-- was written: the thread shows it among the messages, the contact panel with the others.
ALTER TABLE notes ADD COLUMN conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL;
CREATE INDEX notes_conversation ON notes (conversation_id, created_at);

-- A snoozed conversation opens again at snoozed_until (the inbox sweep wakes it) or when the
-- customer writes.
ALTER TABLE conversations ADD COLUMN snoozed_until BIGINT;
CREATE INDEX conversations_snoozed ON conversations (workspace_id, snoozed_until) WHERE snoozed_until IS NOT NULL;

-- The keyword rules that open tickets by themselves (JSON, checked by tandem-inbox on write).
ALTER TABLE inbox_settings ADD COLUMN ticket_rules TEXT;

-- Files a person attaches to a reply. Providers fetch media from a URL, so each file gets an
-- unguessable public link (/media/TOKEN) that stops working at expires_at.
CREATE TABLE attachments (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    token TEXT NOT NULL UNIQUE,
    filename TEXT NOT NULL,
    mime_type TEXT NOT NULL,
    size BIGINT NOT NULL,
    bytes BYTEA NOT NULL,
    created_by TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX attachments_conversation ON attachments (conversation_id, created_at);

-- Inbox search by message text: a word-prefix full-text index over messages.body (the `simple`
-- configuration: lower-cased words, no stemming, no stop words, whatever the language).
CREATE INDEX messages_body_search ON messages USING GIN (to_tsvector('simple', body));

-- Inbox search by contact name, the same way: word prefixes of first and last names.
CREATE INDEX contacts_name_search ON contacts USING GIN (to_tsvector('simple', COALESCE(first_name, '') || ' ' || COALESCE(last_name, '')));

-- What a person is told of (a ticket escalated to them or their team), until they read it.
CREATE TABLE notifications (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    user_id TEXT NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    text TEXT NOT NULL,
    ticket_id TEXT REFERENCES tickets(id) ON DELETE CASCADE,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL,
    created_at BIGINT NOT NULL,
    read_at BIGINT
);
CREATE INDEX notifications_user ON notifications (user_id, created_at);
