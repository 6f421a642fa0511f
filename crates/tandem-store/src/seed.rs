//! A large inbox written in bulk, for `tandem bench`: contacts, their conversations on one
//! channel and their messages, in multi-row inserts (the API would take an hour to write two
//! million messages one by one, and what is measured is reading them back).

use tandem_core::{ChannelId, ContactId, ConversationId, Timestamp, WorkspaceId};

use crate::{sql::run, Result, Store};

/// Rows per INSERT statement (SQLite binds at most 32,766 values; a message takes 9).
const ROWS_PER_INSERT: usize = 500;

impl Store {
    /// Writes `conversations` contacts with one conversation each on `channel`, each with
    /// `messages_per_conversation` messages alternating customer and business, spread over the
    /// last 30 days. Returns the conversations' ids, most recent activity first.
    pub async fn seed_inbox(
        &self,
        ws: WorkspaceId,
        channel: ChannelId,
        conversations: usize,
        messages_per_conversation: usize,
    ) -> Result<Vec<ConversationId>> {
        let now = Timestamp::now().millis();
        let span = 30 * 86_400_000i64;
        let ids: Vec<ConversationId> = (0..conversations).map(|_| ConversationId::new()).collect();
        let contacts_ids: Vec<ContactId> = (0..conversations).map(|_| ContactId::new()).collect();
        let statuses = ["open", "open", "pending", "resolved", "snoozed"];
        for (chunk_index, chunk) in ids.chunks(ROWS_PER_INSERT).enumerate() {
            let turn = self.writes().await?;
            let mut tx = turn.begin().await?;
            let base = chunk_index * ROWS_PER_INSERT;
            let started = |i: usize| now - span + (span / conversations.max(1) as i64) * i as i64;
            let mut contacts =
                self.sql("INSERT INTO contacts (id, workspace_id, first_name, last_name, phone, created_at, updated_at) VALUES ");
            for (k, _) in chunk.iter().enumerate() {
                let i = base + k;
                if k > 0 {
                    contacts.push(", ");
                }
                contacts.push("(").bind(contacts_ids[i].to_string()).push(", ").bind(ws.to_string()).push(", ");
                contacts.bind(format!("Customer{i}")).push(", ").bind(format!("Seed{}", i % 997)).push(", ");
                contacts.bind(format!("+3361{:07}", i)).push(", ").bind(started(i)).push(", ").bind(started(i)).push(")");
            }
            run!(contacts, execute(&mut *tx))?;
            let mut convs = self.sql(
                "INSERT INTO conversations (id, workspace_id, channel_id, contact_id, status, last_message_at, last_inbound_at, created_at, updated_at) VALUES ",
            );
            for (k, id) in chunk.iter().enumerate() {
                let i = base + k;
                let last = started(i) + messages_per_conversation as i64 * 60_000;
                if k > 0 {
                    convs.push(", ");
                }
                convs.push("(").bind(id.to_string()).push(", ").bind(ws.to_string()).push(", ").bind(channel.to_string()).push(", ");
                convs.bind(contacts_ids[i].to_string()).push(", ").bind(statuses[i % statuses.len()]).push(", ").bind(last);
                convs.push(", ").bind(last).push(", ").bind(started(i)).push(", ").bind(last).push(")");
            }
            run!(convs, execute(&mut *tx))?;
            let rows: Vec<(usize, usize)> =
                chunk.iter().enumerate().flat_map(|(k, _)| (0..messages_per_conversation).map(move |m| (base + k, m))).collect();
            for part in rows.chunks(ROWS_PER_INSERT) {
                let mut msgs = self.sql(
                    "INSERT INTO messages (id, workspace_id, conversation_id, channel_id, direction, body, status, created_at, author) VALUES ",
                );
                for (n, &(i, m)) in part.iter().enumerate() {
                    if n > 0 {
                        msgs.push(", ");
                    }
                    let inbound = m % 2 == 0;
                    let body = if inbound {
                        format!("Question {m} about order {i}: is the lamp in stock?")
                    } else {
                        format!("Answer {m}: yes, it ships tomorrow.")
                    };
                    msgs.push("(").bind(uuid::Uuid::now_v7().to_string()).push(", ").bind(ws.to_string()).push(", ");
                    msgs.bind(ids[i].to_string()).push(", ").bind(channel.to_string()).push(", ");
                    msgs.bind(if inbound { "inbound" } else { "outbound" }).push(", ").bind(body).push(", ");
                    msgs.bind(if inbound { "received" } else { "read" }).push(", ").bind(started(i) + m as i64 * 60_000).push(", ");
                    msgs.bind(if inbound { None } else { Some("agent".to_string()) }).push(")");
                }
                run!(msgs, execute(&mut *tx))?;
            }
            tx.commit().await?;
        }
        self.refresh_statistics().await?;
        // What autovacuum does after a bulk load on a live database: planner statistics of the
        // inbox's tables and, on PostgreSQL, the search indexes' pending entries merged (until
        // then every search reads them all).
        let settle: &[&str] = match self.backend() {
            crate::Backend::Postgres => &["VACUUM (ANALYZE) conversations, messages"],
            crate::Backend::Sqlite => &["PRAGMA analysis_limit = 1000", "ANALYZE conversations", "ANALYZE messages"],
        };
        let turn = self.writes().await?;
        let mut conn = turn.acquire().await?;
        for statement in settle {
            sqlx::query(statement).execute(&mut *conn).await?;
        }
        drop(conn);
        drop(turn);
        let mut recent = ids;
        recent.reverse();
        Ok(recent)
    }
}
