-- AI agents and their knowledge bases. An agent here is what a knowledge base belongs to; the
-- agent runtime adds its instructions, tone and rules.

CREATE TABLE agents (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL
);
CREATE INDEX agents_by_workspace ON agents (workspace_id, created_at);

-- One file or URL of an agent's knowledge base. `version` counts uploads of the source; searches
-- see only `active_version`, switched in one UPDATE once a version is fully indexed, so a search
-- never sees two versions of a source, or none while a new one is indexed. A deleted source is
-- hidden at once (`deleted_at`) and its row removed once its vectors are gone.
CREATE TABLE knowledge_sources (
    id TEXT PRIMARY KEY,
    workspace_id TEXT NOT NULL REFERENCES workspaces(id) ON DELETE CASCADE,
    agent_id TEXT NOT NULL REFERENCES agents(id) ON DELETE CASCADE,
    name TEXT NOT NULL,
    kind TEXT,
    url TEXT,
    size_bytes BIGINT NOT NULL,
    version BIGINT NOT NULL,
    active_version BIGINT,
    stage TEXT NOT NULL,
    progress INTEGER NOT NULL,
    error_code TEXT,
    error_message TEXT,
    pages BIGINT,
    chunks BIGINT,
    job_id TEXT,
    created_at BIGINT NOT NULL,
    updated_at BIGINT NOT NULL,
    deleted_at BIGINT
);
CREATE INDEX knowledge_sources_by_agent ON knowledge_sources (workspace_id, agent_id, created_at);
