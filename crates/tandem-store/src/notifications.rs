//! Notifications: what a person is told of, such as a ticket escalated to them or to their team,
//! kept until they mark it read. Written by the escalation of missed SLA targets; read by the
//! inbox's bell.

use serde::Serialize;
use tandem_core::{ConversationId, NotificationId, Timestamp, UserId, WorkspaceId};
use tandem_inbox::TicketId;

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

/// The most a person's list shows (newest first).
pub const LIST_LIMIT: i64 = 100;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Notification {
    pub id: NotificationId,
    /// `ticket.escalated`.
    pub kind: String,
    pub text: String,
    pub ticket_id: Option<TicketId>,
    pub conversation_id: Option<ConversationId>,
    pub created_at: Timestamp,
    pub read_at: Option<Timestamp>,
}

/// A person's notifications and how many are unread.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Notifications {
    pub unread: i64,
    pub items: Vec<Notification>,
}

/// What to tell whom.
pub(crate) struct NewNotification<'a> {
    pub kind: &'a str,
    pub text: &'a str,
    pub ticket: Option<TicketId>,
    pub conversation: Option<ConversationId>,
}

impl Store {
    /// Tells each of `users` (duplicates once), inside the caller's transaction.
    pub(crate) async fn notify(
        &self,
        conn: &mut sqlx::AnyConnection,
        ws: WorkspaceId,
        users: &[UserId],
        n: &NewNotification<'_>,
    ) -> Result<()> {
        let mut seen = std::collections::BTreeSet::new();
        for user in users.iter().filter(|u| seen.insert(**u)) {
            let mut sql = self
                .sql("INSERT INTO notifications (id, workspace_id, user_id, kind, text, ticket_id, conversation_id, created_at) VALUES (");
            sql.bind(NotificationId::new().to_string()).push(", ").bind(ws.to_string()).push(", ").bind(user.to_string()).push(", ");
            sql.bind(n.kind.to_string()).push(", ").bind(n.text.to_string()).push(", ").bind(n.ticket.map(|t| t.to_string())).push(", ");
            sql.bind(n.conversation.map(|c| c.to_string())).push(", ").bind(Timestamp::now().millis()).push(")");
            run!(sql, execute(&mut *conn))?;
        }
        Ok(())
    }

    /// A person's notifications, newest first (only unread ones with `unread_only`).
    pub async fn list_notifications(&self, ws: WorkspaceId, user: UserId, unread_only: bool) -> Result<Notifications> {
        let mut sql =
            self.sql("SELECT id, kind, text, ticket_id, conversation_id, created_at, read_at FROM notifications WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND user_id = ").bind(user.to_string());
        if unread_only {
            sql.push(" AND read_at IS NULL");
        }
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ").bind(LIST_LIMIT);
        type Row = (String, String, String, Option<String>, Option<String>, i64, Option<i64>);
        let items = run!(sql, as Row, fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, kind, text, ticket, conversation, at, read)| {
                Ok(Notification {
                    id: id.parse().map_err(corrupt("notification id"))?,
                    kind,
                    text,
                    ticket_id: ticket.map(|t| t.parse()).transpose().map_err(corrupt("ticket id"))?,
                    conversation_id: conversation.map(|c| c.parse()).transpose().map_err(corrupt("conversation id"))?,
                    created_at: Timestamp::from_millis(at),
                    read_at: read.map(Timestamp::from_millis),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let mut count = self.sql("SELECT COUNT(*) FROM notifications WHERE workspace_id = ");
        count.bind(ws.to_string()).push(" AND user_id = ").bind(user.to_string()).push(" AND read_at IS NULL");
        let unread = run!(count, as (i64,), fetch_one(&self.pool))?.0;
        Ok(Notifications { unread, items })
    }

    /// Marks one of the person's notifications read (another person's is `NotFound`); `None`
    /// marks them all.
    pub async fn mark_notifications_read(&self, ws: WorkspaceId, user: UserId, id: Option<NotificationId>) -> Result<u64> {
        let mut sql = self.sql("UPDATE notifications SET read_at = ");
        sql.bind(Timestamp::now().millis()).push(" WHERE workspace_id = ").bind(ws.to_string());
        sql.push(" AND user_id = ").bind(user.to_string()).push(" AND read_at IS NULL");
        if let Some(id) = id {
            sql.push(" AND id = ").bind(id.to_string());
        }
        let changed = run!(sql, execute(&*self.writes().await?))?.rows_affected();
        if let Some(id) = id.filter(|_| changed == 0) {
            // Already read is fine; someone else's or unknown is not found.
            let mut check = self.sql("SELECT id FROM notifications WHERE workspace_id = ");
            check.bind(ws.to_string()).push(" AND user_id = ").bind(user.to_string()).push(" AND id = ").bind(id.to_string());
            run!(check, as (String,), fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("notification"))?;
        }
        Ok(changed)
    }
}
