//! What the agent runtime keeps: each agent's profile (as JSON: the store does not interpret it),
//! which channel an agent serves, the answers agents gave with people's feedback (a correction
//! becomes knowledge for that agent), whether an agent still answers a conversation or has handed
//! it off, and the log of every decision with its reason.

use serde::Serialize;
use serde_json::Value;
use tandem_core::{AgentId, ChannelId, ConversationId, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

/// One answer of an agent, as people review it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentAnswer {
    pub id: String,
    pub agent_id: AgentId,
    pub conversation_id: Option<ConversationId>,
    pub question: String,
    pub reply: String,
    /// Everything the pipeline decided (kind, handoff, lead score, sources, decisions, timings).
    #[schema(value_type = Object)]
    pub outcome: Value,
    /// 1 (thumbs up), -1 (thumbs down), or none yet.
    pub rating: Option<i64>,
    /// What the agent should have said.
    pub correction: Option<String>,
    pub created_at: Timestamp,
}

/// Whether an agent answers a conversation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum AgentStatus {
    Active,
    /// Handed to people: the agent stays silent until a person gives it back.
    HandedOff,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ConversationAgent {
    pub conversation_id: ConversationId,
    pub agent_id: AgentId,
    pub status: AgentStatus,
    pub handoff_reason: Option<String>,
    pub handoff_team: Option<String>,
    pub lead_score: Option<i64>,
    pub summary: Option<String>,
    pub updated_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AgentDecision {
    pub agent_id: AgentId,
    pub conversation_id: Option<ConversationId>,
    pub answer_id: Option<String>,
    pub step: String,
    pub outcome: String,
    pub reason: String,
    pub created_at: Timestamp,
}

/// An answer to record, with the decisions that led to it.
pub struct NewAnswer<'a> {
    pub conversation: Option<ConversationId>,
    pub question: &'a str,
    pub reply: &'a str,
    pub outcome: &'a Value,
    pub decisions: &'a [NewDecision<'a>],
}

/// The agent's state on a conversation after a turn.
pub struct NewAgentState<'a> {
    pub agent: AgentId,
    pub status: AgentStatus,
    /// Reason and team of a handoff.
    pub handoff: Option<(&'a str, Option<&'a str>)>,
    pub lead_score: Option<i64>,
    pub summary: Option<&'a str>,
}

/// A decision to log.
pub struct NewDecision<'a> {
    pub step: &'a str,
    pub outcome: &'a str,
    pub reason: &'a str,
}

type OptionalText = (Option<String>,);
type AnswerRow = (String, String, Option<String>, String, String, String, Option<i64>, Option<String>, i64);
type StateRow = (String, String, String, Option<String>, Option<String>, Option<i64>, Option<String>, i64);
type DecisionRow = (String, Option<String>, Option<String>, String, String, String, i64);

fn answer_from(r: AnswerRow) -> Result<AgentAnswer> {
    Ok(AgentAnswer {
        id: r.0,
        agent_id: r.1.parse().map_err(corrupt("agent id"))?,
        conversation_id: r.2.map(|c| c.parse()).transpose().map_err(corrupt("conversation id"))?,
        question: r.3,
        reply: r.4,
        outcome: serde_json::from_str(&r.5).map_err(corrupt("answer outcome"))?,
        rating: r.6,
        correction: r.7,
        created_at: Timestamp::from_millis(r.8),
    })
}

impl Store {
    /// Stores an agent's profile (already validated by the agent runtime).
    pub async fn set_agent_profile(&self, ws: WorkspaceId, agent: AgentId, name: &str, profile: &Value) -> Result<()> {
        let mut sql = self.sql("UPDATE agents SET profile = ");
        sql.bind(profile.to_string()).push(", name = ").bind(name.to_string()).push(", updated_at = ").bind(Timestamp::now().millis());
        sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(agent.to_string());
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("agent"));
        }
        Ok(())
    }

    /// The stored profile; `None` for an agent created without one.
    pub async fn agent_profile(&self, ws: WorkspaceId, agent: AgentId) -> Result<Option<Value>> {
        let mut sql = self.sql("SELECT profile FROM agents WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND id = ").bind(agent.to_string());
        let row: Option<OptionalText> = run!(sql, as OptionalText, fetch_optional(&self.pool))?;
        match row {
            None => Err(StoreError::NotFound("agent")),
            Some((None,)) => Ok(None),
            Some((Some(text),)) => Ok(Some(serde_json::from_str(&text).map_err(corrupt("agent profile"))?)),
        }
    }

    /// Makes `agent` answer the conversations of `channel` (`None`: no agent).
    pub async fn set_channel_agent(&self, ws: WorkspaceId, channel: ChannelId, agent: Option<AgentId>) -> Result<()> {
        if let Some(a) = agent {
            self.get_agent(ws, a).await?;
        }
        let mut sql = self.sql("UPDATE channels SET agent_id = ");
        sql.bind(agent.map(|a| a.to_string()))
            .push(" WHERE workspace_id = ")
            .bind(ws.to_string())
            .push(" AND id = ")
            .bind(channel.to_string());
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("channel"));
        }
        Ok(())
    }

    /// The agent serving a channel, if any.
    pub async fn channel_agent(&self, ws: WorkspaceId, channel: ChannelId) -> Result<Option<AgentId>> {
        let mut sql = self.sql("SELECT agent_id FROM channels WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND id = ").bind(channel.to_string());
        let row: Option<OptionalText> = run!(sql, as OptionalText, fetch_optional(&self.pool))?;
        match row {
            None => Err(StoreError::NotFound("channel")),
            Some((agent,)) => agent.map(|a| a.parse()).transpose().map_err(corrupt("agent id")),
        }
    }

    /// Records an answer and its decisions; returns the answer's id.
    pub async fn record_answer(&self, ws: WorkspaceId, agent: AgentId, answer: NewAnswer<'_>) -> Result<String> {
        let NewAnswer { conversation, question, reply, outcome, decisions } = answer;
        let id = uuid::Uuid::now_v7().to_string();
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut sql = self
            .sql("INSERT INTO agent_answers (id, workspace_id, agent_id, conversation_id, question, reply, outcome, created_at) VALUES (");
        sql.bind(id.clone()).push(", ").bind(ws.to_string()).push(", ").bind(agent.to_string()).push(", ");
        sql.bind(conversation.map(|c| c.to_string())).push(", ").bind(question.to_string()).push(", ").bind(reply.to_string());
        sql.push(", ").bind(outcome.to_string()).push(", ").bind(now).push(")");
        run!(sql, execute(&mut *tx))?;
        for d in decisions {
            let mut sql = self.sql("INSERT INTO agent_decisions (id, workspace_id, agent_id, conversation_id, answer_id, step, outcome, reason, created_at) VALUES (");
            sql.bind(uuid::Uuid::now_v7().to_string()).push(", ").bind(ws.to_string()).push(", ").bind(agent.to_string()).push(", ");
            sql.bind(conversation.map(|c| c.to_string())).push(", ").bind(id.clone()).push(", ").bind(d.step.to_string()).push(", ");
            sql.bind(d.outcome.to_string()).push(", ").bind(d.reason.to_string()).push(", ").bind(now).push(")");
            run!(sql, execute(&mut *tx))?;
        }
        tx.commit().await?;
        Ok(id)
    }

    pub async fn get_answer(&self, ws: WorkspaceId, agent: AgentId, id: &str) -> Result<AgentAnswer> {
        let mut sql = self.sql(
            "SELECT id, agent_id, conversation_id, question, reply, outcome, rating, correction, created_at FROM agent_answers WHERE workspace_id = ",
        );
        sql.bind(ws.to_string()).push(" AND agent_id = ").bind(agent.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, as AnswerRow, fetch_optional(&self.pool))?.map(answer_from).transpose()?.ok_or(StoreError::NotFound("answer"))
    }

    /// Thumbs up (1) or down (-1) on an answer, with an optional correction; a later rating
    /// replaces an earlier one.
    pub async fn rate_answer(
        &self,
        ws: WorkspaceId,
        agent: AgentId,
        id: &str,
        rating: i64,
        correction: Option<&str>,
    ) -> Result<AgentAnswer> {
        if rating != 1 && rating != -1 {
            return Err(StoreError::invalid("rating", "invalid_rating", "rating is `up` or `down`"));
        }
        let mut sql = self.sql("UPDATE agent_answers SET rating = ");
        sql.bind(rating).push(", correction = ").bind(correction.map(str::to_string)).push(", rated_at = ").bind(Timestamp::now().millis());
        sql.push(" WHERE workspace_id = ")
            .bind(ws.to_string())
            .push(" AND agent_id = ")
            .bind(agent.to_string())
            .push(" AND id = ")
            .bind(id.to_string());
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("answer"));
        }
        self.get_answer(ws, agent, id).await
    }

    /// The corrections people gave an agent, as (question, corrected answer), newest first.
    pub async fn agent_corrections(&self, ws: WorkspaceId, agent: AgentId) -> Result<Vec<(String, String)>> {
        let mut sql = self.sql("SELECT question, correction FROM agent_answers WHERE correction IS NOT NULL AND workspace_id = ");
        sql.bind(ws.to_string()).push(" AND agent_id = ").bind(agent.to_string()).push(" ORDER BY rated_at DESC, id DESC");
        Ok(run!(sql, as (String, String), fetch_all(&self.pool))?)
    }

    /// Whether the agent answers `conversation` (`None`: it never has).
    pub async fn conversation_agent(&self, ws: WorkspaceId, conversation: ConversationId) -> Result<Option<ConversationAgent>> {
        let mut sql = self.sql(
            "SELECT conversation_id, agent_id, status, handoff_reason, handoff_team, lead_score, summary, updated_at FROM conversation_agents \
             WHERE workspace_id = ",
        );
        sql.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.to_string());
        run!(sql, as StateRow, fetch_optional(&self.pool))?
            .map(|r| {
                Ok(ConversationAgent {
                    conversation_id: r.0.parse().map_err(corrupt("conversation id"))?,
                    agent_id: r.1.parse().map_err(corrupt("agent id"))?,
                    status: match r.2.as_str() {
                        "active" => AgentStatus::Active,
                        "handed_off" => AgentStatus::HandedOff,
                        other => return Err(StoreError::Corrupt(format!("agent status {other}"))),
                    },
                    handoff_reason: r.3,
                    handoff_team: r.4,
                    lead_score: r.5,
                    summary: r.6,
                    updated_at: Timestamp::from_millis(r.7),
                })
            })
            .transpose()
    }

    /// Records the agent's state on a conversation after a turn (or a person giving it back).
    pub async fn set_conversation_agent(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        state: NewAgentState<'_>,
    ) -> Result<ConversationAgent> {
        let NewAgentState { agent, status, handoff, lead_score, summary } = state;
        self.get_conversation(ws, conversation).await?;
        let status_text = match status {
            AgentStatus::Active => "active",
            AgentStatus::HandedOff => "handed_off",
        };
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut delete = self.sql("DELETE FROM conversation_agents WHERE workspace_id = ");
        delete.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.to_string());
        run!(delete, execute(&mut *tx))?;
        let mut sql = self.sql(
            "INSERT INTO conversation_agents (conversation_id, workspace_id, agent_id, status, handoff_reason, handoff_team, lead_score, summary, \
             updated_at) VALUES (",
        );
        sql.bind(conversation.to_string()).push(", ").bind(ws.to_string()).push(", ").bind(agent.to_string()).push(", ").bind(status_text);
        sql.push(", ").bind(handoff.map(|h| h.0.to_string())).push(", ").bind(handoff.and_then(|h| h.1).map(str::to_string));
        sql.push(", ").bind(lead_score).push(", ").bind(summary.map(str::to_string)).push(", ").bind(now).push(")");
        run!(sql, execute(&mut *tx))?;
        tx.commit().await?;
        drop(turn);
        self.publish(ws, crate::events::EventKind::ConversationUpdated, conversation, None).await;
        self.conversation_agent(ws, conversation).await?.ok_or(StoreError::NotFound("conversation"))
    }

    /// Logs one decision outside an answer (e.g. "silent: handed off").
    pub async fn log_decision(
        &self,
        ws: WorkspaceId,
        agent: AgentId,
        conversation: Option<ConversationId>,
        d: NewDecision<'_>,
    ) -> Result<()> {
        let mut sql = self
            .sql("INSERT INTO agent_decisions (id, workspace_id, agent_id, conversation_id, step, outcome, reason, created_at) VALUES (");
        sql.bind(uuid::Uuid::now_v7().to_string()).push(", ").bind(ws.to_string()).push(", ").bind(agent.to_string()).push(", ");
        sql.bind(conversation.map(|c| c.to_string())).push(", ").bind(d.step.to_string()).push(", ").bind(d.outcome.to_string());
        sql.push(", ").bind(d.reason.to_string()).push(", ").bind(Timestamp::now().millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// The decisions logged for a conversation, oldest first.
    pub async fn conversation_decisions(&self, ws: WorkspaceId, conversation: ConversationId) -> Result<Vec<AgentDecision>> {
        let mut sql = self.sql(
            "SELECT agent_id, conversation_id, answer_id, step, outcome, reason, created_at FROM agent_decisions WHERE workspace_id = ",
        );
        sql.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.to_string()).push(" ORDER BY created_at, id");
        run!(sql, as DecisionRow, fetch_all(&self.pool))?
            .into_iter()
            .map(|r| {
                Ok(AgentDecision {
                    agent_id: r.0.parse().map_err(corrupt("agent id"))?,
                    conversation_id: r.1.map(|c| c.parse()).transpose().map_err(corrupt("conversation id"))?,
                    answer_id: r.2,
                    step: r.3,
                    outcome: r.4,
                    reason: r.5,
                    created_at: Timestamp::from_millis(r.6),
                })
            })
            .collect()
    }
}
