//! Internal notes on a contact, visible to the team only.

use serde::Serialize;
use tandem_core::{Actor, ContactId, NoteId, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Note {
    pub id: NoteId,
    pub contact_id: ContactId,
    /// `user:ID`, `api_key:ID` or `system`.
    pub author: String,
    pub body: String,
    pub created_at: Timestamp,
}

impl Store {
    pub async fn add_note(&self, ws: WorkspaceId, contact: ContactId, author: &Actor, body: &str) -> Result<Note> {
        let body = body.trim();
        if body.is_empty() || body.len() > 20_000 {
            return Err(StoreError::invalid("body", "invalid_body", "a note needs 1 to 20,000 characters"));
        }
        self.get_contact(ws, contact).await?;
        let note = Note { id: NoteId::new(), contact_id: contact, author: author.label(), body: body.into(), created_at: Timestamp::now() };
        let mut sql = self.sql("INSERT INTO notes (id, workspace_id, contact_id, author, body, created_at) VALUES (");
        sql.bind(note.id.to_string()).push(", ").bind(ws.to_string()).push(", ").bind(contact.to_string()).push(", ");
        sql.bind(note.author.clone()).push(", ").bind(note.body.clone()).push(", ").bind(note.created_at.millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(note)
    }

    pub async fn list_notes(&self, ws: WorkspaceId, contact: ContactId) -> Result<Vec<Note>> {
        self.get_contact(ws, contact).await?;
        let mut sql = self.sql("SELECT id, author, body, created_at FROM notes WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND contact_id = ").bind(contact.to_string()).push(" ORDER BY created_at DESC");
        run!(sql, as (String, String, String, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, author, body, at)| {
                Ok(Note {
                    id: id.parse().map_err(corrupt("note id"))?,
                    contact_id: contact,
                    author,
                    body,
                    created_at: Timestamp::from_millis(at),
                })
            })
            .collect()
    }
}
