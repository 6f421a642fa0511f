//! API keys: shown once at creation, stored as a SHA-256 digest, revocable. A key carries a role.

use serde::Serialize;
use tandem_core::{Actor, ActorKind, ApiKeyId, Role, Timestamp, WorkspaceId};

use crate::{error::corrupt, secret::digest, sql::run, Result, Secret, Store, StoreError};

/// The prefix of every key, so leaked keys are recognisable by secret scanners.
pub const KEY_PREFIX: &str = "tdm_";

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ApiKey {
    pub id: ApiKeyId,
    pub name: String,
    /// The first characters of the key, to recognise it in a list.
    pub prefix: String,
    pub role: Role,
    pub created_at: Timestamp,
    pub last_used_at: Option<Timestamp>,
    pub revoked_at: Option<Timestamp>,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    prefix: String,
    role: String,
    created_at: i64,
    last_used_at: Option<i64>,
    revoked_at: Option<i64>,
}

impl TryFrom<Row> for ApiKey {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Self {
            id: r.id.parse().map_err(corrupt("api key id"))?,
            name: r.name,
            prefix: r.prefix,
            role: r.role.parse().map_err(corrupt("role"))?,
            created_at: Timestamp::from_millis(r.created_at),
            last_used_at: r.last_used_at.map(Timestamp::from_millis),
            revoked_at: r.revoked_at.map(Timestamp::from_millis),
        })
    }
}

const COLUMNS: &str = "id, name, prefix, role, created_at, last_used_at, revoked_at";

impl Store {
    /// Creates a key; the returned plain text is the only copy that will ever exist.
    pub async fn create_api_key(&self, ws: WorkspaceId, name: &str, role: Role) -> Result<(ApiKey, String)> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(StoreError::invalid("name", "invalid_name", "an API key needs a name of 1 to 100 characters"));
        }
        let secret = Secret::generate(KEY_PREFIX);
        let key = ApiKey {
            id: ApiKeyId::new(),
            name: name.into(),
            prefix: secret.plain[..12].to_string(),
            role,
            created_at: Timestamp::now(),
            last_used_at: None,
            revoked_at: None,
        };
        let mut sql = self.sql("INSERT INTO api_keys (id, workspace_id, name, prefix, secret_hash, role, created_at) VALUES (");
        sql.bind(key.id.to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(key.name.clone())
            .push(", ")
            .bind(key.prefix.clone())
            .push(", ");
        sql.bind(secret.digest).push(", ").bind(role.as_str()).push(", ").bind(key.created_at.millis()).push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok((key, secret.plain))
    }

    pub async fn list_api_keys(&self, ws: WorkspaceId) -> Result<Vec<ApiKey>> {
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM api_keys WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" ORDER BY created_at");
        run!(sql, as Row, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn revoke_api_key(&self, ws: WorkspaceId, id: ApiKeyId) -> Result<ApiKey> {
        let mut sql = self.sql("UPDATE api_keys SET revoked_at = ");
        sql.bind(Timestamp::now().millis())
            .push(" WHERE workspace_id = ")
            .bind(ws.to_string())
            .push(" AND id = ")
            .bind(id.to_string())
            .push(" AND revoked_at IS NULL");
        run!(sql, execute(&*self.writes().await?))?;
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM api_keys WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, as Row, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("api key"))?.try_into()
    }

    /// The actor a presented key stands for. Unknown keys give `None`; revoked keys an explicit refusal.
    pub async fn authenticate_api_key(&self, plain: &str) -> Result<Option<Actor>> {
        let hash = digest(plain);
        let mut sql = self.sql("SELECT id, workspace_id, role, revoked_at, last_used_at FROM api_keys WHERE secret_hash = ");
        sql.bind(hash);
        let Some((id, ws, role, revoked_at, last_used_at)) =
            run!(sql, as (String, String, String, Option<i64>, Option<i64>), fetch_optional(&self.pool))?
        else {
            return Ok(None);
        };
        if revoked_at.is_some() {
            return Err(StoreError::Refused { code: "api_key_revoked", message: "this API key has been revoked".into() });
        }
        // Record use at most once a minute: a write per request would serialise SQLite.
        let now = Timestamp::now().millis();
        if last_used_at.is_none_or(|t| now - t > 60_000) {
            let mut sql = self.sql("UPDATE api_keys SET last_used_at = ");
            sql.bind(now).push(" WHERE id = ").bind(id.clone());
            run!(sql, execute(&*self.writes().await?))?;
        }
        Ok(Some(Actor {
            workspace_id: ws.parse().map_err(corrupt("workspace id"))?,
            role: role.parse().map_err(corrupt("role"))?,
            kind: ActorKind::ApiKey(id.parse().map_err(corrupt("api key id"))?),
        }))
    }
}
