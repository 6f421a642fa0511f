//! Tickets opened by the workspace's keyword rules (`InboxSettings::ticket_rules`) when a
//! customer's message says one of their keywords. A conversation that already has an open ticket
//! gets no other: the team is already on it.

use serde_json::json;
use tandem_core::{Actor, ConversationId, MessageId, Timestamp, WorkspaceId};
use tandem_inbox::{ticket::TicketTypeKey, ticket_rules::first_match};

use crate::{
    sql::run,
    tickets::{NewTicket, Ticket},
    Result, Store, StoreError,
};

/// The subject quotes this much of the message.
const QUOTED_CHARS: usize = 120;

impl Store {
    /// Opens the ticket the first matching rule asks for, if any, and records which rule and
    /// keyword opened it (ticket event `auto_created`).
    pub async fn open_ticket_by_rules(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        message: MessageId,
        text: &str,
    ) -> Result<Option<Ticket>> {
        let settings = self.inbox_settings(ws).await?;
        let Some((rule, keyword)) = first_match(&settings.ticket_rules, text) else { return Ok(None) };
        let mut open = self.sql("SELECT COUNT(*) FROM tickets WHERE workspace_id = ");
        open.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.to_string()).push(" AND status <> 'resolved'");
        if run!(open, as (i64,), fetch_one(&self.pool))?.0 > 0 {
            return Ok(None);
        }
        let quoted: String = text.trim().chars().take(QUOTED_CHARS).collect();
        let new = NewTicket {
            subject: Some(format!("{}: {quoted}", rule.name())),
            kind: Some(rule.kind().clone()),
            priority: Some(rule.priority()),
            team_id: rule.team_id(),
            conversation_id: Some(conversation),
            ..NewTicket::default()
        };
        let actor = Actor::system(ws);
        let (ticket, fallback) = match self.create_ticket(ws, &actor, new.clone()).await {
            Ok(t) => (t, None),
            // The rule's type now requires fields, or its team or type was deleted since the rule
            // was saved: the customer's request still becomes a ticket, a general one.
            Err(StoreError::Invalid(_) | StoreError::NotFound(_)) => {
                let general = NewTicket { kind: Some(TicketTypeKey::general()), team_id: None, ..new };
                (self.create_ticket(ws, &actor, general).await?, Some(rule.kind().to_string()))
            }
            Err(e) => return Err(e),
        };
        let detail = json!({"rule": rule.name(), "keyword": keyword, "message_id": message, "wanted_type": fallback});
        let mut sql = self.sql("INSERT INTO ticket_events (id, workspace_id, ticket_id, kind, detail, created_at) VALUES (");
        sql.bind(uuid::Uuid::now_v7().to_string()).push(", ").bind(ws.to_string()).push(", ").bind(ticket.id.to_string());
        sql.push(", 'auto_created', ").bind(detail.to_string()).push(", ").bind(Timestamp::now().millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        tracing::info!(ticket = %ticket.id, rule = rule.name(), keyword, "ticket opened by a keyword rule");
        Ok(Some(ticket))
    }
}
