-- The agent runtime: each agent's profile (mission, tone, guardrails, handoff, lead scoring) as
-- JSON, the channels it serves, every answer it gave with the feedback people left on it, and per
-- conversation whether the agent is answering or has handed off (it stays silent until a person
-- gives the conversation back).

ALTER TABLE agents ADD COLUMN profile TEXT;
ALTER TABLE channels ADD COLUMN agent_id TEXT REFERENCES agents(id) ON DELETE SET NULL;

CREATE TABLE agent_answers (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
    question TEXT NOT NULL,
    reply TEXT NOT NULL,
    outcome TEXT NOT NULL,
    rating INTEGER,
    correction TEXT,
    rated_at BIGINT,
    created_at BIGINT NOT NULL
);
CREATE INDEX agent_answers_by_agent ON agent_answers (workspace_id, agent_id, created_at);

CREATE TABLE conversation_agents (
    conversation_id TEXT PRIMARY KEY REFERENCES conversations(id) ON DELETE CASCADE,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    status TEXT NOT NULL,
    handoff_reason TEXT,
    handoff_team TEXT,
    lead_score INTEGER,
    summary TEXT,
    updated_at BIGINT NOT NULL
);

CREATE TABLE agent_decisions (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
    answer_id TEXT REFERENCES agent_answers(id) ON DELETE CASCADE,
    step TEXT NOT NULL,
    outcome TEXT NOT NULL,
    reason TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
CREATE INDEX agent_decisions_by_conversation ON agent_decisions (workspace_id, conversation_id, created_at);
CREATE INDEX agent_decisions_by_agent ON agent_decisions (workspace_id, agent_id, created_at);
