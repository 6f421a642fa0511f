//! CSAT surveys: one per resolution of a ticket that has a conversation, with the customer's
//! answer, which is also written into the ticket's events. What a reply means is decided by
//! `tandem_inbox::csat`; this module keeps the surveys and finds the one a reply answers.

use serde::Serialize;
use serde_json::json;
use tandem_core::{ConversationId, MessageId, Timestamp, WorkspaceId};
use tandem_inbox::{csat::CsatScale, TicketId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

/// Where a survey stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum SurveyStatus {
    /// Sent, awaiting the answer.
    Sent,
    Answered,
    /// Sent, not answered in time.
    Expired,
    /// Could not be sent (see `reason`).
    NotSent,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CsatSurvey {
    pub id: String,
    pub ticket_id: TicketId,
    pub conversation_id: ConversationId,
    pub message_id: Option<MessageId>,
    pub scale: CsatScale,
    pub status: SurveyStatus,
    pub reason: Option<String>,
    /// 1 to 5 (five-point) or 1 to 3 (three-point).
    pub score: Option<i64>,
    /// The customer's reply, as written.
    pub answer: Option<String>,
    pub sent_at: Timestamp,
    pub expires_at: Timestamp,
    pub answered_at: Option<Timestamp>,
}

/// A survey to record.
pub struct NewSurvey<'a> {
    pub ticket: TicketId,
    pub conversation: ConversationId,
    pub message: Option<MessageId>,
    pub scale: CsatScale,
    /// Why it was not sent; `None`: sent.
    pub not_sent: Option<&'a str>,
    pub answer_within_ms: i64,
}

/// One answer, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CsatAnswer {
    pub scale: CsatScale,
    pub score: i64,
}

const COLUMNS: &str =
    "id, ticket_id, conversation_id, message_id, scale, status, reason, score, answer, sent_at, expires_at, answered_at, answer_message_id";

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    ticket_id: String,
    conversation_id: String,
    message_id: Option<String>,
    scale: String,
    status: String,
    reason: Option<String>,
    score: Option<i64>,
    answer: Option<String>,
    sent_at: i64,
    expires_at: i64,
    answered_at: Option<i64>,
    answer_message_id: Option<String>,
}

fn scale_of(s: &str) -> Result<CsatScale> {
    match s {
        "five_point" => Ok(CsatScale::FivePoint),
        "three_point" => Ok(CsatScale::ThreePoint),
        other => Err(StoreError::Corrupt(format!("csat scale `{other}`"))),
    }
}

impl Row {
    fn into_survey(self, now: Timestamp) -> Result<CsatSurvey> {
        let status = match self.status.as_str() {
            "sent" if self.expires_at <= now.millis() => SurveyStatus::Expired,
            "sent" => SurveyStatus::Sent,
            "answered" => SurveyStatus::Answered,
            "not_sent" => SurveyStatus::NotSent,
            other => return Err(StoreError::Corrupt(format!("csat status `{other}`"))),
        };
        Ok(CsatSurvey {
            id: self.id,
            ticket_id: self.ticket_id.parse().map_err(corrupt("ticket id"))?,
            conversation_id: self.conversation_id.parse().map_err(corrupt("conversation id"))?,
            message_id: self.message_id.map(|m| m.parse()).transpose().map_err(corrupt("message id"))?,
            scale: scale_of(&self.scale)?,
            status,
            reason: self.reason,
            score: self.score,
            answer: self.answer,
            sent_at: Timestamp::from_millis(self.sent_at),
            expires_at: Timestamp::from_millis(self.expires_at),
            answered_at: self.answered_at.map(Timestamp::from_millis),
        })
    }
}

impl Store {
    pub async fn record_csat_survey(&self, ws: WorkspaceId, new: NewSurvey<'_>) -> Result<CsatSurvey> {
        let id = uuid::Uuid::now_v7().to_string();
        let now = Timestamp::now().millis();
        let mut sql = self.sql(
            "INSERT INTO csat_surveys (id, workspace_id, ticket_id, conversation_id, message_id, scale, status, reason, sent_at, expires_at) VALUES (",
        );
        sql.bind(id.clone()).push(", ").bind(ws.to_string()).push(", ").bind(new.ticket.to_string()).push(", ");
        sql.bind(new.conversation.to_string()).push(", ").bind(new.message.map(|m| m.to_string())).push(", ");
        sql.bind(new.scale.as_str()).push(", ").bind(if new.not_sent.is_some() { "not_sent" } else { "sent" }).push(", ");
        sql.bind(new.not_sent.map(str::to_string)).push(", ").bind(now).push(", ").bind(now + new.answer_within_ms).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        self.get_csat_survey(ws, &id).await
    }

    async fn get_csat_survey(&self, ws: WorkspaceId, id: &str) -> Result<CsatSurvey> {
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM csat_surveys WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, as Row, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("survey"))?.into_survey(Timestamp::now())
    }

    /// A ticket's surveys, oldest first (one per resolution).
    pub async fn ticket_csat(&self, ws: WorkspaceId, ticket: TicketId) -> Result<Vec<CsatSurvey>> {
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM csat_surveys WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND ticket_id = ").bind(ticket.to_string()).push(" ORDER BY sent_at, id");
        let now = Timestamp::now();
        run!(sql, as Row, fetch_all(&self.pool))?.into_iter().map(|r| r.into_survey(now)).collect()
    }

    /// Reads the customer message `message` (text `text`) of `conversation` as the answer to the
    /// survey awaiting one there, and records it (score, reply, a `csat` event on the ticket).
    /// Returns the answered survey when the message is that answer, now or already (the inbound
    /// job and the agent's turn both ask; whichever comes first records it, once).
    pub async fn take_csat_answer(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        message: MessageId,
        text: &str,
    ) -> Result<Option<CsatSurvey>> {
        let now = Timestamp::now();
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM csat_surveys WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.to_string());
        sql.push(" AND ((status = 'sent' AND expires_at > ").bind(now.millis()).push(") OR answer_message_id = ");
        sql.bind(message.to_string()).push(") ORDER BY sent_at DESC, id DESC LIMIT 1");
        let Some(row) = run!(sql, as Row, fetch_optional(&self.pool))? else { return Ok(None) };
        if row.answer_message_id.as_deref() == Some(&message.to_string()) {
            return Ok(Some(row.into_survey(now)?));
        }
        let survey = row.into_survey(now)?;
        let Some(score) = survey.scale.read(text) else { return Ok(None) };
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut update = self.sql("UPDATE csat_surveys SET status = 'answered', score = ");
        update.bind(score).push(", answer = ").bind(text.trim().to_string()).push(", answer_message_id = ").bind(message.to_string());
        update.push(", answered_at = ").bind(now.millis()).push(" WHERE id = ").bind(survey.id.clone()).push(" AND status = 'sent'");
        if run!(update, execute(&mut *tx))?.rows_affected() == 0 {
            tx.rollback().await?;
            drop(turn);
            // Answered meanwhile: by this message (say so) or by an earlier one (this is no answer).
            let mut again = self.sql(&format!("SELECT {COLUMNS} FROM csat_surveys WHERE workspace_id = "));
            again
                .bind(ws.to_string())
                .push(" AND id = ")
                .bind(survey.id.clone())
                .push(" AND answer_message_id = ")
                .bind(message.to_string());
            return run!(again, as Row, fetch_optional(&self.pool))?.map(|r| r.into_survey(now)).transpose();
        }
        let detail = json!({"survey_id": survey.id, "scale": survey.scale, "score": score, "answer": text.trim()});
        let mut event = self.sql("INSERT INTO ticket_events (id, workspace_id, ticket_id, kind, detail, created_at) VALUES (");
        event.bind(uuid::Uuid::now_v7().to_string()).push(", ").bind(ws.to_string()).push(", ").bind(survey.ticket_id.to_string());
        event.push(", 'csat', ").bind(detail.to_string()).push(", ").bind(now.millis()).push(")");
        run!(event, execute(&mut *tx))?;
        tx.commit().await?;
        drop(turn);
        self.get_csat_survey(ws, &survey.id).await.map(Some)
    }

    /// The answers given in `[from, to)`.
    pub async fn csat_answers_between(&self, ws: WorkspaceId, from: Timestamp, to: Timestamp) -> Result<Vec<CsatAnswer>> {
        let mut sql = self.sql("SELECT scale, score FROM csat_surveys WHERE status = 'answered' AND workspace_id = ");
        sql.bind(ws.to_string()).push(" AND answered_at >= ").bind(from.millis()).push(" AND answered_at < ").bind(to.millis());
        run!(sql, as (String, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(scale, score)| Ok(CsatAnswer { scale: scale_of(&scale)?, score }))
            .collect()
    }
}
