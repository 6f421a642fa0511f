//! The website chat widget's visitors and what their socket reads.
//!
//! A visitor is known by a random token the server issues and the visitor's browser keeps (in
//! `localStorage`, per channel), so the conversation survives page loads. Only the token's
//! SHA-256 digest is stored, as for API keys: the token is as good as a password for that
//! conversation. Each token maps to a visitor id, the visitor's address on the channel
//! (`contact_channels.external_id`), so the contact, conversation and messages are made by the
//! same `channel.inbound` job as every other channel's.
//!
//! The socket learns about new messages by polling [`Store::widget_messages_since`], which works
//! the same whichever replica wrote them.

use tandem_core::{ChannelId, ConversationStatus, MessageStatus, Timestamp, WorkspaceId};

use crate::{
    conversations::{Conversation, Message, MessageRow, Row, MESSAGE_SELECT, SELECT_COLUMNS},
    secret::digest,
    sql::run,
    Result, Secret, Store,
};

/// The prefix of every visitor token, so a leaked one is recognisable.
pub const VISITOR_TOKEN_PREFIX: &str = "tdm_wv_";

/// Tokens are `tdm_wv_` and 43 base64 characters; anything much longer is not one of ours and is
/// not worth hashing.
const MAX_TOKEN_LEN: usize = 128;

/// How stale `last_seen_at` may get before a visit updates it: a returning visitor's page load
/// is then a read, not a write, on most loads.
const SEEN_EVERY_MS: i64 = 3_600_000;

/// A new visitor: the token (handed to the browser, only its digest stored) and the visitor id.
/// No `Debug`: the token must not end up in a log.
#[derive(Clone)]
pub struct NewVisitor {
    pub token: String,
    pub visitor_id: String,
}

impl NewVisitor {
    /// Draws a token and an id. Nothing is stored until [`Store::save_widget_visitor`]: a page
    /// view whose visitor never writes (most of them, crawlers included) costs no row.
    pub fn generate() -> Self {
        Self { token: Secret::generate(VISITOR_TOKEN_PREFIX).plain, visitor_id: format!("visitor_{}", uuid::Uuid::new_v4().simple()) }
    }
}

impl Store {
    /// Records a visitor of a widget channel (again: saving twice changes nothing).
    pub async fn save_widget_visitor(&self, ws: WorkspaceId, channel: ChannelId, visitor: &NewVisitor) -> Result<()> {
        let now = Timestamp::now().millis();
        let mut sql =
            self.sql("INSERT INTO widget_visitors (token_hash, workspace_id, channel_id, visitor_id, created_at, last_seen_at) VALUES (");
        sql.bind(digest(&visitor.token)).push(", ").bind(ws.to_string()).push(", ").bind(channel.to_string()).push(", ");
        sql.bind(visitor.visitor_id.clone()).push(", ").bind(now).push(", ").bind(now).push(") ON CONFLICT DO NOTHING");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// The visitor id a token names on this channel (a token of another channel names nobody).
    /// Records, at most hourly, that the visitor came back, so abandoned visitors can be told
    /// apart.
    pub async fn widget_visitor(&self, ws: WorkspaceId, channel: ChannelId, token: &str) -> Result<Option<String>> {
        if token.len() > MAX_TOKEN_LEN || !token.starts_with(VISITOR_TOKEN_PREFIX) {
            return Ok(None);
        }
        let hash = digest(token);
        let mut sql = self.sql("SELECT visitor_id, last_seen_at FROM widget_visitors WHERE token_hash = ");
        sql.bind(hash.clone()).push(" AND workspace_id = ").bind(ws.to_string()).push(" AND channel_id = ").bind(channel.to_string());
        let Some((visitor_id, seen)) = run!(sql, as (String, i64), fetch_optional(&self.pool))? else { return Ok(None) };
        let now = Timestamp::now().millis();
        if now - seen > SEEN_EVERY_MS {
            let mut sql = self.sql("UPDATE widget_visitors SET last_seen_at = ");
            sql.bind(now).push(" WHERE token_hash = ").bind(hash);
            run!(sql, execute(&*self.writes().await?))?;
        }
        Ok(Some(visitor_id))
    }

    /// The visitor's current conversation on the channel (the latest one not resolved, where
    /// their next message will go) with its last `limit` messages, oldest first. `None` before
    /// the visitor's first message has been processed.
    pub async fn widget_history(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        visitor_id: &str,
        limit: i64,
    ) -> Result<Option<(Conversation, Vec<Message>)>> {
        let mut sql = self.sql(&format!("SELECT {SELECT_COLUMNS} FROM conversations WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND channel_id = ").bind(channel.to_string());
        sql.push(" AND contact_id IN (SELECT contact_id FROM contact_channels WHERE channel_id = ").bind(channel.to_string());
        sql.push(" AND external_id = ").bind(visitor_id.to_string()).push(")");
        sql.push(" AND status <> ").bind(ConversationStatus::Resolved.as_str()).push(" ORDER BY created_at DESC, id DESC LIMIT 1");
        let Some(row) = run!(sql, as Row, fetch_optional(&self.pool))? else { return Ok(None) };
        let conversation: Conversation = row.try_into()?;
        let mut sql = self.sql(&format!("SELECT {MESSAGE_SELECT} FROM messages WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND conversation_id = ").bind(conversation.id.to_string());
        sql.push(" AND status <> ").bind(MessageStatus::Failed.as_str());
        sql.push(" ORDER BY created_at DESC, id DESC LIMIT ").bind(limit.clamp(1, 1000));
        let mut messages =
            run!(sql, as MessageRow, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect::<Result<Vec<Message>>>()?;
        messages.reverse();
        Ok(Some((conversation, messages)))
    }

    /// The messages the visitor's socket may not have pushed yet: those of the visitor's
    /// conversations created at or after `conversations_from` (the current one, and any opened
    /// later once it is resolved), written at or after `messages_from`, oldest first, failed
    /// outbound messages left out (a widget send fails only when the channel's settings are
    /// unusable). The caller asks with some
    /// overlap and skips what it already pushed: a message's `created_at` is taken before its
    /// transaction commits, so a later poll can find one older than the newest already seen.
    pub async fn widget_messages_since(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        visitor_id: &str,
        conversations_from: Timestamp,
        messages_from: Timestamp,
        limit: i64,
    ) -> Result<Vec<Message>> {
        let mut sql = self.sql(&format!("SELECT {MESSAGE_SELECT} FROM messages WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND channel_id = ").bind(channel.to_string());
        sql.push(" AND conversation_id IN (SELECT c.id FROM conversations c JOIN contact_channels cc ON cc.contact_id = c.contact_id");
        sql.push(" AND cc.channel_id = c.channel_id WHERE cc.channel_id = ").bind(channel.to_string());
        sql.push(" AND cc.external_id = ").bind(visitor_id.to_string()).push(" AND c.created_at >= ").bind(conversations_from.millis());
        sql.push(") AND created_at >= ").bind(messages_from.millis()).push(" AND status <> ").bind(MessageStatus::Failed.as_str());
        sql.push(" ORDER BY created_at, id LIMIT ").bind(limit.clamp(1, 1000));
        run!(sql, as MessageRow, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect()
    }

    /// Whether the store was closed (the server is stopping): long-lived widget sockets end then
    /// rather than poll a closed pool.
    pub fn is_closed(&self) -> bool {
        self.pool.is_closed()
    }
}
