-- The shared inbox: each workspace's working hours, SLA policy and routing (JSON, checked by
-- tandem-inbox on every write); tickets with their type, custom fields, SLA instants, internal
-- notes and a history of escalations; custom ticket types; and per team who got the last
-- automatic assignment (round robin continues after them).

CREATE TABLE inbox_settings (
    workspace_id TEXT PRIMARY KEY REFERENCES workspaces(id) ON DELETE CASCADE,
    working_hours TEXT,
    sla_policy TEXT,
    routing TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE ticket_types (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    key TEXT NOT NULL,
    name TEXT NOT NULL,
    fields TEXT NOT NULL DEFAULT '[]',
    created_at BIGINT NOT NULL,
    UNIQUE (workspace_id, key)
);

CREATE TABLE tickets (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    subject TEXT NOT NULL,
    description TEXT,
    type_key TEXT NOT NULL,
    priority TEXT NOT NULL CHECK (priority IN ('urgent', 'high', 'medium', 'low')),
    status TEXT NOT NULL CHECK (status IN ('to_do', 'in_progress', 'waiting', 'reopened', 'resolved')),
    assignee_user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    team_id TEXT REFERENCES teams(id) ON DELETE SET NULL,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE SET NULL,
    contact_id TEXT REFERENCES contacts(id) ON DELETE SET NULL,
    created_by TEXT NOT NULL,
    created_by_user_id TEXT REFERENCES users(id) ON DELETE SET NULL,
    fields TEXT NOT NULL DEFAULT '{}',
    first_response_at BIGINT,
    resolved_at BIGINT,
    reopened_count BIGINT NOT NULL DEFAULT 0,
    waiting_count BIGINT NOT NULL DEFAULT 0,
    first_response_escalated_at BIGINT,
    resolution_escalated_at BIGINT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX tickets_recent ON tickets (workspace_id, created_at, id);
CREATE INDEX tickets_assignee ON tickets (workspace_id, assignee_user_id);
CREATE INDEX tickets_team ON tickets (workspace_id, team_id);
CREATE INDEX tickets_conversation ON tickets (conversation_id);
CREATE INDEX tickets_open ON tickets (workspace_id, status);

CREATE TABLE ticket_notes (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    ticket_id TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    author TEXT NOT NULL,
    body TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_notes_ticket ON ticket_notes (ticket_id, created_at);

-- kind: `escalation` (detail: the breach and the action taken) and other notable events.
CREATE TABLE ticket_events (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    ticket_id TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    kind TEXT NOT NULL,
    detail TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket_id, created_at);

ALTER TABLE teams ADD COLUMN last_assigned_user_id TEXT;
-- When routing last looked at a conversation: one that no rule places is looked at again after a
-- minute (or at once when the AI agent hands it off), not on every read of the inbox.
ALTER TABLE conversations ADD COLUMN routed_at BIGINT;
CREATE INDEX conversations_assignee ON conversations (workspace_id, assignee_user_id, status);
CREATE INDEX conversations_team ON conversations (workspace_id, team_id);
