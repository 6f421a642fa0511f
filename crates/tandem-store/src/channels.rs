//! Connected channels (a WhatsApp number, a Telegram bot, the website widget...). Provider
//! credentials live in `config`; API responses mask any secret-looking value.

use serde::Serialize;
use serde_json::{Map, Value};
use tandem_core::{ChannelId, ChannelKind, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Channel {
    pub id: ChannelId,
    pub kind: ChannelKind,
    pub name: String,
    #[schema(value_type = Object)]
    pub config: Map<String, Value>,
    pub created_at: Timestamp,
}

impl Channel {
    /// The channel with secret values (`*secret*`, `*token*`, `*password*`, `*key*`) masked.
    pub fn redacted(mut self) -> Self {
        for (k, v) in self.config.iter_mut() {
            let k = k.to_ascii_lowercase();
            if ["secret", "token", "password", "key"].iter().any(|s| k.contains(s)) {
                *v = Value::String("********".into());
            }
        }
        self
    }
}

impl Store {
    pub async fn create_channel(&self, ws: WorkspaceId, kind: ChannelKind, name: &str, config: Map<String, Value>) -> Result<Channel> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(StoreError::invalid("name", "invalid_name", "a channel needs a name of 1 to 200 characters"));
        }
        let ch = Channel { id: ChannelId::new(), kind, name: name.into(), config, created_at: Timestamp::now() };
        let mut sql = self.sql("INSERT INTO channels (id, workspace_id, kind, name, config, created_at) VALUES (");
        sql.bind(ch.id.to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(kind.as_str())
            .push(", ")
            .bind(ch.name.clone())
            .push(", ");
        sql.bind(Value::Object(ch.config.clone()).to_string()).push(", ").bind(ch.created_at.millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(ch)
    }

    async fn query_channels(&self, ws: WorkspaceId, id: Option<ChannelId>) -> Result<Vec<Channel>> {
        let mut sql = self.sql("SELECT id, kind, name, config, created_at FROM channels WHERE workspace_id = ");
        sql.bind(ws.to_string());
        if let Some(id) = id {
            sql.push(" AND id = ").bind(id.to_string());
        }
        sql.push(" ORDER BY created_at");
        run!(sql, as (String, String, String, String, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, kind, name, config, at)| {
                Ok(Channel {
                    id: id.parse().map_err(corrupt("channel id"))?,
                    kind: kind.parse().map_err(corrupt("channel kind"))?,
                    name,
                    config: serde_json::from_str(&config).map_err(corrupt("channel config"))?,
                    created_at: Timestamp::from_millis(at),
                })
            })
            .collect()
    }

    pub async fn list_channels(&self, ws: WorkspaceId) -> Result<Vec<Channel>> {
        self.query_channels(ws, None).await
    }

    pub async fn get_channel(&self, ws: WorkspaceId, id: ChannelId) -> Result<Channel> {
        self.query_channels(ws, Some(id)).await?.pop().ok_or(StoreError::NotFound("channel"))
    }

    pub async fn delete_channel(&self, ws: WorkspaceId, id: ChannelId) -> Result<()> {
        self.delete_scoped("channels", ws, &id.to_string(), "channel").await
    }
}
