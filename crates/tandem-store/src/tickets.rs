//! Tickets: created by hand or from a conversation (the link is kept), typed (built-in or the
//! workspace's own types with custom fields checked on every write), prioritised, assigned, with
//! internal notes, SLA instants and the escalations that missed targets caused.
//!
//! What a ticket's status moves, custom fields and SLA mean is decided by `tandem-inbox`; this
//! module keeps the rows. Every function takes the workspace first; a ticket of another workspace
//! is `NotFound`.

use serde::Serialize;
use serde_json::{Map, Value};
use tandem_core::{Actor, ContactId, ConversationId, PropertyDefinition, TeamId, Timestamp, UserId, WorkspaceId};
use tandem_inbox::{
    sla::{evaluate, Breach, EscalationAction, Priority, SlaClock, SlaStatus, WaitingPeriod},
    ticket::{check_fields, TicketId, TicketStatus, TicketTypeKey, Visibility},
};

use crate::{error::corrupt, notifications::NewNotification, sql::run, sql::Sql, Page, Paged, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Ticket {
    pub id: TicketId,
    pub subject: String,
    pub description: Option<String>,
    #[serde(rename = "type")]
    pub kind: TicketTypeKey,
    pub priority: Priority,
    pub status: TicketStatus,
    pub assignee_user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    /// The conversation the ticket was created from, if any.
    pub conversation_id: Option<ConversationId>,
    pub contact_id: Option<ContactId>,
    /// `user:ID`, `api_key:ID` or `system`.
    pub created_by: String,
    #[serde(skip)]
    pub created_by_user_id: Option<UserId>,
    /// Custom fields of the ticket's type.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
    pub first_response_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub reopened_count: i64,
    /// Times the ticket waited on the customer.
    pub waiting_count: i64,
    /// When it waited (the last period is open while it still waits): the resolution clock stops
    /// meanwhile.
    pub waiting_periods: Vec<WaitingPeriod>,
    /// Due times and breaches, computed in the workspace's working hours.
    pub sla: SlaStatus,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

impl Ticket {
    pub fn facts(&self) -> tandem_inbox::TicketFacts {
        tandem_inbox::TicketFacts { created_by: self.created_by_user_id, assignee: self.assignee_user_id, team: self.team_id }
    }

    fn clock(&self) -> SlaClock {
        SlaClock {
            priority: self.priority,
            created_at: self.created_at,
            first_response_at: self.first_response_at,
            resolved_at: self.resolved_at,
            waiting: self.waiting_periods.clone(),
        }
    }
}

/// A ticket type: a built-in one (`tandem_inbox::BUILTIN_TYPES`) or the workspace's own, with its custom fields.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketType {
    pub key: TicketTypeKey,
    pub name: String,
    pub builtin: bool,
    /// Definitions like contact properties: `{key, label, kind, options, required}`.
    #[schema(value_type = Vec<Object>)]
    pub fields: Vec<PropertyDefinition>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketNote {
    pub id: String,
    pub ticket_id: TicketId,
    pub author: String,
    pub body: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TicketEvent {
    pub id: String,
    pub ticket_id: TicketId,
    /// `escalation`.
    pub kind: String,
    #[schema(value_type = Object)]
    pub detail: Value,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Default)]
pub struct NewTicket {
    /// Defaults, for a ticket made from a conversation, to the customer's first message.
    pub subject: Option<String>,
    pub description: Option<String>,
    pub kind: Option<TicketTypeKey>,
    pub priority: Option<Priority>,
    pub assignee_user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub conversation_id: Option<ConversationId>,
    pub contact_id: Option<ContactId>,
    pub fields: Map<String, Value>,
}

/// Changes to a ticket; `None` keeps a field. In `fields`, `null` removes a value.
#[derive(Debug, Clone, Default)]
pub struct TicketUpdate {
    pub subject: Option<String>,
    pub description: Option<Option<String>>,
    pub kind: Option<TicketTypeKey>,
    pub priority: Option<Priority>,
    pub status: Option<TicketStatus>,
    pub assignee_user_id: Option<Option<UserId>>,
    pub team_id: Option<Option<TeamId>>,
    pub fields: Option<Map<String, Value>>,
}

#[derive(Debug, Clone, Default)]
pub struct TicketQuery {
    pub status: Option<TicketStatus>,
    /// Everything but resolved.
    pub open: Option<bool>,
    pub priority: Option<Priority>,
    pub kind: Option<TicketTypeKey>,
    pub assignee_user_id: Option<UserId>,
    pub team_id: Option<TeamId>,
    pub conversation_id: Option<ConversationId>,
    pub contact_id: Option<ContactId>,
}

/// An escalation applied by [`Store::escalate_tickets`].
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Escalated {
    pub ticket_id: TicketId,
    pub breach: Breach,
    pub action: EscalationAction,
}

pub const MAX_SUBJECT_CHARS: usize = 200;
pub const MAX_NOTE_CHARS: usize = 10_000;

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    subject: String,
    description: Option<String>,
    type_key: String,
    priority: String,
    status: String,
    assignee_user_id: Option<String>,
    team_id: Option<String>,
    conversation_id: Option<String>,
    contact_id: Option<String>,
    created_by: String,
    created_by_user_id: Option<String>,
    fields: String,
    first_response_at: Option<i64>,
    resolved_at: Option<i64>,
    reopened_count: i64,
    waiting_count: i64,
    waiting_periods: String,
    created_at: i64,
    updated_at: i64,
}

fn opt_id<T: std::str::FromStr>(s: Option<String>, what: &'static str) -> Result<Option<T>>
where
    T::Err: std::fmt::Display,
{
    s.map(|s| s.parse::<T>()).transpose().map_err(corrupt(what))
}

impl Row {
    fn into_ticket(self, sla: impl Fn(SlaClock) -> SlaStatus) -> Result<Ticket> {
        let mut t = Ticket {
            id: self.id.parse().map_err(corrupt("ticket id"))?,
            subject: self.subject,
            description: self.description,
            kind: self.type_key.parse().map_err(corrupt("ticket type"))?,
            priority: self.priority.parse().map_err(corrupt("priority"))?,
            status: self.status.parse().map_err(corrupt("ticket status"))?,
            assignee_user_id: opt_id(self.assignee_user_id, "user id")?,
            team_id: opt_id(self.team_id, "team id")?,
            conversation_id: opt_id(self.conversation_id, "conversation id")?,
            contact_id: opt_id(self.contact_id, "contact id")?,
            created_by: self.created_by,
            created_by_user_id: opt_id(self.created_by_user_id, "user id")?,
            fields: serde_json::from_str(&self.fields).map_err(corrupt("ticket fields"))?,
            first_response_at: self.first_response_at.map(Timestamp::from_millis),
            resolved_at: self.resolved_at.map(Timestamp::from_millis),
            reopened_count: self.reopened_count,
            waiting_count: self.waiting_count,
            waiting_periods: serde_json::from_str(&self.waiting_periods).map_err(corrupt("ticket waiting periods"))?,
            sla: SlaStatus::NONE,
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
        };
        t.sla = sla(t.clock());
        Ok(t)
    }
}

const SELECT: &str =
    "SELECT id, subject, description, type_key, priority, status, assignee_user_id, team_id, conversation_id, contact_id, \
     created_by, created_by_user_id, fields, first_response_at, resolved_at, reopened_count, waiting_count, \
     waiting_periods, created_at, updated_at FROM tickets";

/// Appends the visibility filter of a viewer (`AND (...)`).
pub(crate) fn push_visibility(sql: &mut Sql, v: &Visibility, owner_columns: &[&str], team_column: &str) {
    let Visibility::Limited { user, teams } = v else { return };
    let mut parts = 0;
    sql.push(" AND (");
    if let Some(u) = user {
        for c in owner_columns {
            if parts > 0 {
                sql.push(" OR ");
            }
            sql.push(&format!("{c} = ")).bind(u.to_string());
            parts += 1;
        }
    }
    if !teams.is_empty() {
        if parts > 0 {
            sql.push(" OR ");
        }
        sql.push(&format!("{team_column} IN (")).bind_list(teams.iter().map(|t| t.to_string())).push(")");
        parts += 1;
    }
    if parts == 0 {
        sql.push("1 = 0");
    }
    sql.push(")");
}

fn check_subject(subject: &str) -> Result<String> {
    let s = subject.trim();
    if s.is_empty() || s.chars().count() > MAX_SUBJECT_CHARS {
        return Err(StoreError::invalid(
            "subject",
            "invalid_subject",
            format!("a ticket needs a subject of 1 to {MAX_SUBJECT_CHARS} characters"),
        ));
    }
    Ok(s.to_string())
}

fn invalid_fields(errors: Vec<tandem_core::ValidationError>) -> StoreError {
    // The store's error carries one problem; the first is the one to fix first.
    StoreError::Invalid(
        errors.into_iter().next().unwrap_or_else(|| tandem_core::ValidationError::new("fields", "invalid_fields", "invalid fields")),
    )
}

impl Store {
    // ---- types ----

    /// Built-in types first (with any fields the workspace gave them), then the workspace's own.
    pub async fn list_ticket_types(&self, ws: WorkspaceId) -> Result<Vec<TicketType>> {
        let mut sql = self.sql("SELECT key, name, fields FROM ticket_types WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" ORDER BY created_at, key");
        let rows = run!(sql, as (String, String, String), fetch_all(&self.pool))?;
        let mut stored = vec![];
        for (key, name, fields) in rows {
            let key: TicketTypeKey = key.parse().map_err(corrupt("ticket type"))?;
            let fields: Vec<PropertyDefinition> = serde_json::from_str(&fields).map_err(corrupt("ticket type fields"))?;
            stored.push(TicketType { builtin: key.is_builtin(), key, name, fields });
        }
        let mut out: Vec<TicketType> = TicketTypeKey::builtins()
            .into_iter()
            .map(|key| {
                stored.iter().find(|t| t.key == key).cloned().unwrap_or_else(|| TicketType {
                    name: key.as_str().replace('_', " "),
                    key,
                    builtin: true,
                    fields: vec![],
                })
            })
            .collect();
        out.extend(stored.into_iter().filter(|t| !t.builtin));
        Ok(out)
    }

    pub async fn get_ticket_type(&self, ws: WorkspaceId, key: &TicketTypeKey) -> Result<TicketType> {
        self.list_ticket_types(ws).await?.into_iter().find(|t| &t.key == key).ok_or(StoreError::NotFound("ticket type"))
    }

    /// Creates or replaces a type (a built-in type can be given fields and a name, not removed).
    pub async fn put_ticket_type(
        &self,
        ws: WorkspaceId,
        key: &TicketTypeKey,
        name: &str,
        fields: &[PropertyDefinition],
    ) -> Result<TicketType> {
        let name = name.trim();
        if name.is_empty() || name.chars().count() > 100 {
            return Err(StoreError::invalid("name", "invalid_name", "a ticket type needs a name of 1 to 100 characters"));
        }
        let mut keys = std::collections::HashSet::new();
        for f in fields {
            if !keys.insert(f.key.as_str()) {
                return Err(StoreError::invalid("fields", "duplicate_field", format!("field `{}` is defined twice", f.key)));
            }
            if f.kind.is_select() && f.options.is_empty() {
                let field = format!("fields.{}", f.key);
                return Err(StoreError::Invalid(tandem_core::ValidationError::new(
                    field,
                    "missing_options",
                    "a select field needs options",
                )));
            }
        }
        let fields_json = serde_json::to_string(fields).map_err(corrupt("ticket type fields"))?;
        let mut sql = self.sql("INSERT INTO ticket_types (id, workspace_id, key, name, fields, created_at) VALUES (");
        sql.bind(uuid::Uuid::now_v7().to_string()).push(", ").bind(ws.to_string()).push(", ").bind(key.to_string()).push(", ");
        sql.bind(name.to_string()).push(", ").bind(fields_json).push(", ").bind(Timestamp::now().millis());
        sql.push(") ON CONFLICT (workspace_id, key) DO UPDATE SET name = excluded.name, fields = excluded.fields");
        run!(sql, execute(&*self.writes().await?))?;
        self.get_ticket_type(ws, key).await
    }

    /// Deletes a custom type no ticket uses.
    pub async fn delete_ticket_type(&self, ws: WorkspaceId, key: &TicketTypeKey) -> Result<()> {
        if key.is_builtin() {
            return Err(StoreError::Conflict {
                code: "builtin_type",
                message: format!("`{key}` is a built-in type and cannot be deleted"),
            });
        }
        let mut sql = self.sql("SELECT COUNT(*) FROM tickets WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND type_key = ").bind(key.to_string());
        let (used,) = run!(sql, as (i64,), fetch_one(&self.pool))?;
        if used > 0 {
            return Err(StoreError::Conflict { code: "type_in_use", message: format!("{used} ticket(s) have type `{key}`") });
        }
        let mut sql = self.sql("DELETE FROM ticket_types WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND key = ").bind(key.to_string());
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("ticket type"));
        }
        Ok(())
    }

    // ---- tickets ----

    pub async fn create_ticket(&self, ws: WorkspaceId, actor: &Actor, new: NewTicket) -> Result<Ticket> {
        let kind = new.kind.unwrap_or_else(TicketTypeKey::general);
        let ty = self.get_ticket_type(ws, &kind).await?;
        let fields = check_fields(&ty.fields, &new.fields).map_err(invalid_fields)?;
        let mut contact = new.contact_id;
        let mut subject = new.subject;
        if let Some(c) = new.conversation_id {
            let conv = self.get_conversation(ws, c).await?;
            if contact.is_some_and(|k| k != conv.contact_id) {
                return Err(StoreError::invalid("contact_id", "contact_mismatch", "the contact is not the conversation's"));
            }
            contact = Some(conv.contact_id);
            if subject.as_deref().is_none_or(|s| s.trim().is_empty()) {
                subject = Some(self.first_inbound_text(ws, c).await?.unwrap_or_else(|| "Conversation".into()));
            }
        }
        if let Some(c) = contact {
            self.get_contact(ws, c).await?;
        }
        let subject = check_subject(&truncate(subject.as_deref().unwrap_or(""), MAX_SUBJECT_CHARS))?;
        if let Some(u) = new.assignee_user_id {
            self.get_user(ws, u).await?;
        }
        if let Some(t) = new.team_id {
            self.get_team(ws, t).await?;
        }
        let id = TicketId::new();
        let now = Timestamp::now().millis();
        let mut sql = self.sql(
            "INSERT INTO tickets (id, workspace_id, subject, description, type_key, priority, status, assignee_user_id, team_id, \
             conversation_id, contact_id, created_by, created_by_user_id, fields, created_at, updated_at) VALUES (",
        );
        sql.bind(id.to_string()).push(", ").bind(ws.to_string()).push(", ").bind(subject).push(", ");
        sql.bind(new.description.filter(|d| !d.trim().is_empty())).push(", ").bind(kind.to_string()).push(", ");
        sql.bind(new.priority.unwrap_or(Priority::Medium).as_str()).push(", ").bind(TicketStatus::ToDo.as_str()).push(", ");
        sql.bind(new.assignee_user_id.map(|u| u.to_string())).push(", ").bind(new.team_id.map(|t| t.to_string())).push(", ");
        sql.bind(new.conversation_id.map(|c| c.to_string())).push(", ").bind(contact.map(|c| c.to_string())).push(", ");
        sql.bind(actor.label()).push(", ").bind(actor.user_id().map(|u| u.to_string())).push(", ");
        sql.bind(Value::Object(fields).to_string()).push(", ").bind(now).push(", ").bind(now).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        // Overdue tickets escalate even when nobody reads them.
        self.schedule_inbox_sweep(ws, crate::inbox::SWEEP_INTERVAL_MS).await?;
        self.get_ticket(ws, id).await
    }

    async fn first_inbound_text(&self, ws: WorkspaceId, conversation: ConversationId) -> Result<Option<String>> {
        let mut sql = self.sql("SELECT body FROM messages WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.to_string());
        sql.push(" AND direction = 'inbound' ORDER BY created_at, id LIMIT 1");
        Ok(run!(sql, as (String,), fetch_optional(&self.pool))?.map(|(b,)| b).filter(|b| !b.trim().is_empty()))
    }

    /// A ticket with its SLA as of now. Does not check who may see it (the caller does, with
    /// [`Ticket::facts`]).
    pub async fn get_ticket(&self, ws: WorkspaceId, id: TicketId) -> Result<Ticket> {
        self.sync_first_responses(ws, Some(id)).await?;
        let settings = self.inbox_settings(ws).await?;
        let mut sql = self.sql(&format!("{SELECT} WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        let row = run!(sql, as Row, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("ticket"))?;
        let now = Timestamp::now();
        row.into_ticket(|c| evaluate(&settings.sla, settings.working_hours.as_ref(), c, now))
    }

    pub async fn list_tickets(&self, ws: WorkspaceId, visibility: &Visibility, q: &TicketQuery, page: Page) -> Result<Paged<Ticket>> {
        self.sync_first_responses(ws, None).await?;
        let settings = self.inbox_settings(ws).await?;
        let mut sql = self.sql(&format!("{SELECT} WHERE workspace_id = "));
        sql.bind(ws.to_string());
        push_visibility(&mut sql, visibility, &["created_by_user_id", "assignee_user_id"], "team_id");
        if let Some(s) = q.status {
            sql.push(" AND status = ").bind(s.as_str());
        }
        match q.open {
            Some(true) => sql.push(" AND status <> 'resolved'"),
            Some(false) => sql.push(" AND status = 'resolved'"),
            None => &mut sql,
        };
        if let Some(p) = q.priority {
            sql.push(" AND priority = ").bind(p.as_str());
        }
        if let Some(k) = &q.kind {
            sql.push(" AND type_key = ").bind(k.to_string());
        }
        if let Some(u) = q.assignee_user_id {
            sql.push(" AND assignee_user_id = ").bind(u.to_string());
        }
        if let Some(t) = q.team_id {
            sql.push(" AND team_id = ").bind(t.to_string());
        }
        if let Some(c) = q.conversation_id {
            sql.push(" AND conversation_id = ").bind(c.to_string());
        }
        if let Some(c) = q.contact_id {
            sql.push(" AND contact_id = ").bind(c.to_string());
        }
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ").bind(page.limit + 1).push(" OFFSET ").bind(page.offset);
        let now = Timestamp::now();
        let rows = run!(sql, as Row, fetch_all(&self.pool))?
            .into_iter()
            .map(|r| r.into_ticket(|c| evaluate(&settings.sla, settings.working_hours.as_ref(), c, now)))
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(rows))
    }

    pub async fn update_ticket(&self, ws: WorkspaceId, id: TicketId, u: TicketUpdate) -> Result<Ticket> {
        let current = self.get_ticket(ws, id).await?;
        let kind = u.kind.clone().unwrap_or_else(|| current.kind.clone());
        let fields = if u.fields.is_some() || u.kind.is_some() {
            let ty = self.get_ticket_type(ws, &kind).await?;
            let mut merged = if u.kind.as_ref().is_some_and(|k| k != &current.kind) { Map::new() } else { current.fields.clone() };
            for (k, v) in u.fields.clone().unwrap_or_default() {
                if v.is_null() {
                    merged.remove(&k);
                } else {
                    merged.insert(k, v);
                }
            }
            check_fields(&ty.fields, &merged).map_err(invalid_fields)?
        } else {
            current.fields.clone()
        };
        if let Some(Some(user)) = u.assignee_user_id {
            self.get_user(ws, user).await?;
        }
        if let Some(Some(team)) = u.team_id {
            self.get_team(ws, team).await?;
        }
        let status = u.status.unwrap_or(current.status);
        current.status.check_move(status)?;
        let now = Timestamp::now().millis();
        let moved = status != current.status;
        let mut sql = self.sql("UPDATE tickets SET subject = ");
        sql.bind(match &u.subject {
            Some(s) => check_subject(s)?,
            None => current.subject.clone(),
        });
        sql.push(", description = ").bind(u.description.clone().unwrap_or(current.description.clone()).filter(|d| !d.trim().is_empty()));
        sql.push(", type_key = ").bind(kind.to_string()).push(", priority = ").bind(u.priority.unwrap_or(current.priority).as_str());
        sql.push(", status = ").bind(status.as_str());
        sql.push(", assignee_user_id = ").bind(u.assignee_user_id.unwrap_or(current.assignee_user_id).map(|x| x.to_string()));
        sql.push(", team_id = ").bind(u.team_id.unwrap_or(current.team_id).map(|x| x.to_string()));
        sql.push(", fields = ").bind(Value::Object(fields).to_string());
        if moved {
            // Taking a ticket up (any move out of to_do) is its first response when no reply to the
            // customer came before.
            if current.status == TicketStatus::ToDo && current.first_response_at.is_none() {
                sql.push(", first_response_at = ").bind(now);
            }
            match status {
                TicketStatus::Resolved => sql.push(", resolved_at = ").bind(now),
                TicketStatus::Reopened => sql.push(", resolved_at = NULL, reopened_count = reopened_count + 1"),
                TicketStatus::Waiting => sql.push(", waiting_count = waiting_count + 1"),
                _ => &mut sql,
            };
            // Waiting stops the resolution clock until the ticket moves on.
            let mut periods = current.waiting_periods.clone();
            if let Some(open) = periods.last_mut().filter(|p| p.until.is_none()) {
                open.until = Some(Timestamp::from_millis(now));
            }
            if status == TicketStatus::Waiting {
                periods.push(WaitingPeriod { from: Timestamp::from_millis(now), until: None });
            }
            sql.push(", waiting_periods = ").bind(serde_json::to_string(&periods).map_err(corrupt("ticket waiting periods"))?);
        }
        sql.push(", updated_at = ").bind(now).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        self.get_ticket(ws, id).await
    }

    pub async fn delete_ticket(&self, ws: WorkspaceId, id: TicketId) -> Result<()> {
        self.delete_scoped("tickets", ws, &id.to_string(), "ticket").await
    }

    /// A reply to the customer in a ticket's conversation, written by a person after the ticket
    /// was opened, is its first response.
    async fn sync_first_responses(&self, ws: WorkspaceId, only: Option<TicketId>) -> Result<()> {
        const REPLIES: &str = "FROM messages m WHERE m.conversation_id = tickets.conversation_id AND m.direction = 'outbound' \
             AND (m.author IS NULL OR m.author <> 'agent') AND m.created_at >= tickets.created_at";
        let mut sql =
            self.sql(&format!("UPDATE tickets SET first_response_at = (SELECT MIN(m.created_at) {REPLIES}) WHERE workspace_id = "));
        sql.bind(ws.to_string());
        if let Some(id) = only {
            sql.push(" AND id = ").bind(id.to_string());
        }
        sql.push(&format!(" AND first_response_at IS NULL AND conversation_id IS NOT NULL AND EXISTS (SELECT 1 {REPLIES})"));
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    // ---- notes and events ----

    pub async fn add_ticket_note(&self, ws: WorkspaceId, ticket: TicketId, author: &str, body: &str) -> Result<TicketNote> {
        let body = body.trim();
        if body.is_empty() || body.chars().count() > MAX_NOTE_CHARS {
            return Err(StoreError::invalid("body", "invalid_note", format!("a note holds 1 to {MAX_NOTE_CHARS} characters")));
        }
        let mut check = self.sql("SELECT id FROM tickets WHERE workspace_id = ");
        check.bind(ws.to_string()).push(" AND id = ").bind(ticket.to_string());
        run!(check, as (String,), fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("ticket"))?;
        let note = TicketNote {
            id: uuid::Uuid::now_v7().to_string(),
            ticket_id: ticket,
            author: author.into(),
            body: body.into(),
            created_at: Timestamp::now(),
        };
        let mut sql = self.sql("INSERT INTO ticket_notes (id, workspace_id, ticket_id, author, body, created_at) VALUES (");
        sql.bind(note.id.clone()).push(", ").bind(ws.to_string()).push(", ").bind(ticket.to_string()).push(", ");
        sql.bind(note.author.clone()).push(", ").bind(note.body.clone()).push(", ").bind(note.created_at.millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(note)
    }

    pub async fn list_ticket_notes(&self, ws: WorkspaceId, ticket: TicketId) -> Result<Vec<TicketNote>> {
        let mut sql = self.sql("SELECT id, author, body, created_at FROM ticket_notes WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND ticket_id = ").bind(ticket.to_string()).push(" ORDER BY created_at, id");
        Ok(run!(sql, as (String, String, String, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, author, body, at)| TicketNote { id, ticket_id: ticket, author, body, created_at: Timestamp::from_millis(at) })
            .collect())
    }

    pub async fn list_ticket_events(&self, ws: WorkspaceId, ticket: TicketId) -> Result<Vec<TicketEvent>> {
        let mut sql = self.sql("SELECT id, kind, detail, created_at FROM ticket_events WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND ticket_id = ").bind(ticket.to_string()).push(" ORDER BY created_at, id");
        run!(sql, as (String, String, String, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, kind, detail, at)| {
                Ok(TicketEvent {
                    id,
                    ticket_id: ticket,
                    kind,
                    detail: serde_json::from_str(&detail).map_err(corrupt("ticket event"))?,
                    created_at: Timestamp::from_millis(at),
                })
            })
            .collect()
    }

    // ---- escalation ----

    /// Applies the workspace's escalation rules to every open ticket whose SLA is breached and
    /// was not escalated for that breach yet: re-assigns it to a user or a team, or only records
    /// a notification. Each breach escalates once. Runs when tickets are read and from the
    /// periodic sweep, so escalations happen even when nobody looks.
    pub async fn escalate_tickets(&self, ws: WorkspaceId, now: Timestamp) -> Result<Vec<Escalated>> {
        self.sync_first_responses(ws, None).await?;
        let settings = self.inbox_settings(ws).await?;
        if settings.sla.escalations.is_empty() {
            return Ok(vec![]);
        }
        let mut sql = self.sql(&format!(
            "{} WHERE workspace_id = ",
            SELECT.replace(" FROM tickets", ", first_response_escalated_at, resolution_escalated_at FROM tickets")
        ));
        sql.bind(ws.to_string())
            .push(" AND status <> 'resolved' AND (first_response_escalated_at IS NULL OR resolution_escalated_at IS NULL)");
        #[derive(sqlx::FromRow)]
        struct Due {
            #[sqlx(flatten)]
            row: Row,
            first_response_escalated_at: Option<i64>,
            resolution_escalated_at: Option<i64>,
        }
        let rows = run!(sql, as Due, fetch_all(&self.pool))?;
        let mut done = vec![];
        for due in rows {
            let (fr_done, res_done) = (due.first_response_escalated_at.is_some(), due.resolution_escalated_at.is_some());
            let mut ticket = due.row.into_ticket(|c| evaluate(&settings.sla, settings.working_hours.as_ref(), c, now))?;
            for breach in ticket.sla.breaches() {
                let (already, column) = match breach {
                    Breach::FirstResponse => (fr_done, "first_response_escalated_at"),
                    Breach::Resolution => (res_done, "resolution_escalated_at"),
                };
                if already {
                    continue;
                }
                let Some(wanted) = settings.sla.escalation(ticket.priority, breach) else { continue };
                // The rule's user or team may have been deleted since it was saved: notify instead.
                let target_exists = match wanted {
                    EscalationAction::ReassignUser { user_id } => self.get_user(ws, user_id).await.is_ok(),
                    EscalationAction::ReassignTeam { team_id } => self.get_team(ws, team_id).await.is_ok(),
                    EscalationAction::Notify => true,
                };
                let action = if target_exists { wanted } else { EscalationAction::Notify };
                let (recipients, text) = self.escalation_notice(ws, &ticket, breach, action).await?;
                let turn = self.writes().await?;
                let mut tx = turn.begin().await?;
                let mut sql = self.sql(&format!("UPDATE tickets SET {column} = "));
                sql.bind(now.millis());
                match action {
                    EscalationAction::ReassignUser { user_id } => sql.push(", assignee_user_id = ").bind(user_id.to_string()),
                    EscalationAction::ReassignTeam { team_id } => {
                        sql.push(", assignee_user_id = NULL, team_id = ").bind(team_id.to_string())
                    }
                    EscalationAction::Notify => &mut sql,
                };
                sql.push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(ticket.id.to_string());
                sql.push(&format!(" AND {column} IS NULL"));
                // Another reader escalated it meanwhile: once is enough.
                if run!(sql, execute(&mut *tx))?.rows_affected() == 0 {
                    continue;
                }
                let detail = serde_json::json!({
                    "breach": breach, "action": action, "priority": ticket.priority,
                    "due": match breach { Breach::FirstResponse => ticket.sla.first_response_due, Breach::Resolution => ticket.sla.resolution_due },
                    "previous_assignee_user_id": ticket.assignee_user_id, "previous_team_id": ticket.team_id,
                    "target_missing": !target_exists,
                });
                let mut sql = self.sql("INSERT INTO ticket_events (id, workspace_id, ticket_id, kind, detail, created_at) VALUES (");
                sql.bind(uuid::Uuid::now_v7().to_string()).push(", ").bind(ws.to_string()).push(", ").bind(ticket.id.to_string());
                sql.push(", 'escalation', ").bind(detail.to_string()).push(", ").bind(now.millis()).push(")");
                run!(sql, execute(&mut *tx))?;
                let notice = NewNotification {
                    kind: "ticket.escalated",
                    text: &text,
                    ticket: Some(ticket.id),
                    conversation: ticket.conversation_id,
                };
                self.notify(&mut tx, ws, &recipients, &notice).await?;
                tx.commit().await?;
                // A second breach of the same ticket escalates from where the first left it.
                match action {
                    EscalationAction::ReassignUser { user_id } => ticket.assignee_user_id = Some(user_id),
                    EscalationAction::ReassignTeam { team_id } => (ticket.assignee_user_id, ticket.team_id) = (None, Some(team_id)),
                    EscalationAction::Notify => {}
                }
                done.push(Escalated { ticket_id: ticket.id, breach, action });
            }
        }
        Ok(done)
    }

    /// Who hears of an escalation, and what: the person it goes to; the team it goes to; for a
    /// notification only, the ticket's assignee, else its team, else the workspace's admins.
    async fn escalation_notice(
        &self,
        ws: WorkspaceId,
        t: &Ticket,
        breach: Breach,
        action: EscalationAction,
    ) -> Result<(Vec<UserId>, String)> {
        let missed = match breach {
            Breach::FirstResponse => "first-response",
            Breach::Resolution => "resolution",
        };
        let subject = truncate(&t.subject, 80);
        let team_members = |team: Option<TeamId>| async move {
            match team {
                Some(id) => self.get_team(ws, id).await.map(|team| (team.member_ids, team.name)).map(Some),
                None => Ok(None),
            }
        };
        Ok(match action {
            EscalationAction::ReassignUser { user_id } => {
                (vec![user_id], format!("Ticket \u{201c}{subject}\u{201d} missed its {missed} target and was escalated to you"))
            }
            EscalationAction::ReassignTeam { team_id } => {
                let (members, name) = team_members(Some(team_id)).await?.unwrap_or_default();
                (members, format!("Ticket \u{201c}{subject}\u{201d} missed its {missed} target and was escalated to {name}"))
            }
            EscalationAction::Notify => {
                let text = format!("Ticket \u{201c}{subject}\u{201d} missed its {missed} target");
                let users = match (t.assignee_user_id, team_members(t.team_id).await?) {
                    (Some(u), _) => vec![u],
                    (None, Some((members, _))) if !members.is_empty() => members,
                    _ => self.list_users(ws).await?.into_iter().filter(|u| u.role == tandem_core::Role::Admin).map(|u| u.id).collect(),
                };
                (users, text)
            }
        })
    }

    /// Tickets created in `[from, to)`, for metrics, with the visibility of the viewer.
    pub async fn tickets_created_between(
        &self,
        ws: WorkspaceId,
        visibility: &Visibility,
        from: Timestamp,
        to: Timestamp,
    ) -> Result<Vec<Ticket>> {
        self.sync_first_responses(ws, None).await?;
        let mut sql = self.sql(&format!("{SELECT} WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND created_at >= ").bind(from.millis()).push(" AND created_at < ").bind(to.millis());
        push_visibility(&mut sql, visibility, &["created_by_user_id", "assignee_user_id"], "team_id");
        sql.push(" ORDER BY created_at, id LIMIT 100000");
        run!(sql, as Row, fetch_all(&self.pool))?.into_iter().map(|r| r.into_ticket(|_| SlaStatus::NONE)).collect()
    }
}

fn truncate(s: &str, max: usize) -> String {
    let s = s.trim();
    if s.chars().count() <= max {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(max - 1).collect();
        t.push('…');
        t
    }
}
