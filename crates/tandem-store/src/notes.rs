//! Internal notes on a contact, visible to the team only and never sent to the customer. A note
//! written in a conversation keeps the conversation it was written in: the thread shows it
//! among the messages, the contact panel with the contact's other notes.

use serde::Serialize;
use tandem_core::{Actor, ContactId, ConversationId, NoteId, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, sql::Sql, Result, Store, StoreError};

pub const MAX_NOTE_CHARS: usize = 20_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: NoteId,
    pub contact_id: ContactId,
    /// The conversation it was written in, if any.
    pub conversation_id: Option<ConversationId>,
    /// `user:ID`, `api_key:ID` or `system`.
    pub author: String,
    pub body: String,
    pub created_at: Timestamp,
}

fn check_body(body: &str) -> Result<&str> {
    let body = body.trim();
    if body.is_empty() || body.chars().count() > MAX_NOTE_CHARS {
        return Err(StoreError::invalid("body", "invalid_body", "a note needs 1 to 20,000 characters"));
    }
    Ok(body)
}

impl Store {
    pub async fn add_note(&self, ws: WorkspaceId, contact: ContactId, author: &Actor, body: &str) -> Result<Note> {
        let body = check_body(body)?;
        self.get_contact(ws, contact).await?;
        self.insert_note(ws, contact, None, author, body).await
    }

    /// A note in a conversation (on its contact). Live inbox views hear `note.created`.
    pub async fn add_conversation_note(&self, ws: WorkspaceId, conversation: ConversationId, author: &Actor, body: &str) -> Result<Note> {
        let body = check_body(body)?;
        let c = self.get_conversation(ws, conversation).await?;
        let note = self.insert_note(ws, c.contact_id, Some(conversation), author, body).await?;
        self.publish_note(ws, conversation, note.id).await;
        Ok(note)
    }

    async fn insert_note(
        &self,
        ws: WorkspaceId,
        contact: ContactId,
        conversation: Option<ConversationId>,
        author: &Actor,
        body: &str,
    ) -> Result<Note> {
        let note = Note {
            id: NoteId::new(),
            contact_id: contact,
            conversation_id: conversation,
            author: author.label(),
            body: body.into(),
            created_at: Timestamp::now(),
        };
        let mut sql = self.sql("INSERT INTO notes (id, workspace_id, contact_id, conversation_id, author, body, created_at) VALUES (");
        sql.bind(note.id.to_string()).push(", ").bind(ws.to_string()).push(", ").bind(contact.to_string()).push(", ");
        sql.bind(conversation.map(|c| c.to_string())).push(", ").bind(note.author.clone()).push(", ").bind(note.body.clone());
        sql.push(", ").bind(note.created_at.millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(note)
    }

    /// A contact's notes, newest first.
    pub async fn list_notes(&self, ws: WorkspaceId, contact: ContactId) -> Result<Vec<Note>> {
        self.get_contact(ws, contact).await?;
        let mut sql = self.sql(&format!("{SELECT} WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND contact_id = ").bind(contact.to_string()).push(" ORDER BY created_at DESC, id DESC");
        self.fetch_notes(sql).await
    }

    /// The notes written in a conversation, oldest first (the thread's order).
    pub async fn list_conversation_notes(&self, ws: WorkspaceId, conversation: ConversationId) -> Result<Vec<Note>> {
        self.get_conversation(ws, conversation).await?;
        let mut sql = self.sql(&format!("{SELECT} WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.to_string()).push(" ORDER BY created_at, id");
        self.fetch_notes(sql).await
    }

    async fn fetch_notes(&self, sql: Sql) -> Result<Vec<Note>> {
        run!(sql, as (String, String, Option<String>, String, String, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, contact, conversation, author, body, at)| {
                Ok(Note {
                    id: id.parse().map_err(corrupt("note id"))?,
                    contact_id: contact.parse().map_err(corrupt("contact id"))?,
                    conversation_id: conversation.map(|c| c.parse()).transpose().map_err(corrupt("conversation id"))?,
                    author,
                    body,
                    created_at: Timestamp::from_millis(at),
                })
            })
            .collect()
    }
}

const SELECT: &str = "SELECT id, contact_id, conversation_id, author, body, created_at FROM notes";
