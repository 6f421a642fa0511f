-- When a conversation was resolved (cleared when it opens again), for resolution-time metrics;
-- each workspace's CSAT survey settings (JSON, checked by tandem-inbox on write); and the surveys
-- sent when tickets are resolved, with the customer's answer once it comes.
ALTER TABLE conversations ADD COLUMN resolved_at BIGINT;
ALTER TABLE inbox_settings ADD COLUMN csat TEXT;

CREATE TABLE csat_surveys (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    ticket_id TEXT NOT NULL REFERENCES tickets(id) ON DELETE CASCADE,
    conversation_id TEXT NOT NULL REFERENCES conversations(id) ON DELETE CASCADE,
    -- The survey's outbound message (none when it could not be sent).
    message_id TEXT,
    scale TEXT NOT NULL,
    -- sent (awaiting an answer until expires_at), answered, not_sent (reason says why)
    status TEXT NOT NULL,
    reason TEXT,
    score BIGINT,
    answer TEXT,
    answer_message_id TEXT,
    sent_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL,
    answered_at BIGINT
);
CREATE INDEX csat_surveys_conversation ON csat_surveys (conversation_id, status);
CREATE INDEX csat_surveys_ticket ON csat_surveys (ticket_id, sent_at);
CREATE INDEX csat_surveys_answered ON csat_surveys (workspace_id, answered_at);

-- The inbox lists conversations by latest activity: an index in that order (not a sort of the
-- whole workspace on every page).
CREATE INDEX conversations_activity ON conversations (workspace_id, (COALESCE(last_message_at, created_at)), id);
