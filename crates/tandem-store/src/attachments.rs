//! Files a person attaches to a reply. Providers fetch outbound media from a URL, so each file
//! gets an unguessable token: `/media/TOKEN` serves it, without credentials, until it expires.

use serde::Serialize;
use tandem_core::{Actor, ConversationId, Timestamp, WorkspaceId};

use crate::{sql::run, Result, Store, StoreError};

/// How long a public link works: long enough for every retry of the send and for providers that
/// fetch again when the customer opens the message.
pub const LINK_LIFETIME_MS: i64 = 30 * 24 * 3_600_000;

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Attachment {
    #[serde(rename = "upload_id")]
    pub id: String,
    pub conversation_id: ConversationId,
    pub filename: String,
    pub mime_type: String,
    pub size: i64,
    /// The secret part of the public link (not shown by the API; the message carries the link).
    #[serde(skip)]
    pub token: String,
    pub created_at: Timestamp,
    pub expires_at: Timestamp,
}

/// A file served by its public link.
pub struct PublicFile {
    pub filename: String,
    pub mime_type: String,
    pub bytes: Vec<u8>,
}

impl Store {
    pub async fn save_attachment(
        &self,
        ws: WorkspaceId,
        conversation: ConversationId,
        author: &Actor,
        filename: &str,
        mime_type: &str,
        bytes: Vec<u8>,
    ) -> Result<Attachment> {
        self.get_conversation(ws, conversation).await?;
        let filename = filename.trim();
        if filename.is_empty() || filename.chars().count() > 255 || filename.contains(['/', '\\', '\0']) {
            return Err(StoreError::invalid("filename", "invalid_filename", "a file name is 1 to 255 characters, without / or \\"));
        }
        if bytes.is_empty() {
            return Err(StoreError::invalid("body", "empty_file", "the file is empty"));
        }
        let now = Timestamp::now();
        let a = Attachment {
            id: uuid::Uuid::now_v7().to_string(),
            conversation_id: conversation,
            filename: filename.into(),
            mime_type: mime_type.into(),
            size: bytes.len() as i64,
            token: crate::Secret::generate("att_").plain,
            created_at: now,
            expires_at: now.plus_millis(LINK_LIFETIME_MS),
        };
        let mut sql = self.sql(
            "INSERT INTO attachments (id, workspace_id, conversation_id, token, filename, mime_type, size, bytes, created_by, created_at, expires_at) VALUES (",
        );
        sql.bind(a.id.clone()).push(", ").bind(ws.to_string()).push(", ").bind(conversation.to_string()).push(", ");
        sql.bind(a.token.clone()).push(", ").bind(a.filename.clone()).push(", ").bind(a.mime_type.clone()).push(", ");
        sql.bind(a.size).push(", ").bind(bytes).push(", ").bind(author.label()).push(", ").bind(now.millis()).push(", ");
        sql.bind(a.expires_at.millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(a)
    }

    /// An attachment of the conversation (another conversation's is `NotFound`).
    pub async fn get_attachment(&self, ws: WorkspaceId, conversation: ConversationId, id: &str) -> Result<Attachment> {
        let mut sql =
            self.sql("SELECT id, filename, mime_type, size, token, created_at, expires_at FROM attachments WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.to_string()).push(" AND id = ").bind(id.to_string());
        let (id, filename, mime_type, size, token, created_at, expires_at) =
            run!(sql, as (String, String, String, i64, String, i64, i64), fetch_optional(&self.pool))?
                .ok_or(StoreError::NotFound("attachment"))?;
        Ok(Attachment {
            id,
            conversation_id: conversation,
            filename,
            mime_type,
            size,
            token,
            created_at: Timestamp::from_millis(created_at),
            expires_at: Timestamp::from_millis(expires_at),
        })
    }

    /// The file behind a public link, if the token is known and has not expired. The token is the
    /// only credential, so an unknown and an expired one look the same.
    pub async fn public_attachment(&self, token: &str, now: Timestamp) -> Result<PublicFile> {
        let mut sql = self.sql("SELECT filename, mime_type, bytes FROM attachments WHERE token = ");
        sql.bind(token.to_string()).push(" AND expires_at > ").bind(now.millis());
        let (filename, mime_type, bytes) =
            run!(sql, as (String, String, Vec<u8>), fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("media"))?;
        Ok(PublicFile { filename, mime_type, bytes })
    }
}
