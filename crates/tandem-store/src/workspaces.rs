//! Workspaces: the tenants.

use serde::Serialize;
use tandem_core::{Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Workspace {
    pub id: WorkspaceId,
    pub name: String,
    /// Country (ISO 3166 alpha-2) used to read phone numbers written without a country code.
    pub default_country: Option<String>,
    pub created_at: Timestamp,
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    name: String,
    default_country: Option<String>,
    created_at: i64,
}

impl TryFrom<Row> for Workspace {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Self {
            id: r.id.parse().map_err(corrupt("workspace id"))?,
            name: r.name,
            default_country: r.default_country,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

/// Checks an ISO 3166 alpha-2 country code that the phone library knows.
pub fn parse_country(code: &str) -> Result<String> {
    let c = code.trim().to_ascii_uppercase();
    if c.len() == 2 && tandem_core::PhoneNumber::parse("+1 650 253 0000", Some(&c)).is_ok() {
        Ok(c)
    } else {
        Err(StoreError::invalid("default_country", "invalid_country", format!("`{code}` is not a two-letter country code")))
    }
}

impl Store {
    pub async fn create_workspace(&self, name: &str, default_country: Option<&str>) -> Result<Workspace> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(StoreError::invalid("name", "invalid_name", "a workspace needs a name of 1 to 200 characters"));
        }
        let country = default_country.map(parse_country).transpose()?;
        let ws = Workspace { id: WorkspaceId::new(), name: name.to_string(), default_country: country, created_at: Timestamp::now() };
        let mut sql = self.sql("INSERT INTO workspaces (id, name, default_country, created_at) VALUES (");
        sql.bind(ws.id.to_string())
            .push(", ")
            .bind(ws.name.clone())
            .push(", ")
            .bind(ws.default_country.clone())
            .push(", ")
            .bind(ws.created_at.millis())
            .push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(ws)
    }

    pub async fn get_workspace(&self, id: WorkspaceId) -> Result<Workspace> {
        let mut sql = self.sql("SELECT id, name, default_country, created_at FROM workspaces WHERE id = ");
        sql.bind(id.to_string());
        run!(sql, as Row, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("workspace"))?.try_into()
    }

    pub async fn list_workspaces(&self) -> Result<Vec<Workspace>> {
        let sql = self.sql("SELECT id, name, default_country, created_at FROM workspaces ORDER BY created_at");
        run!(sql, as Row, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect()
    }

    pub async fn update_workspace(&self, id: WorkspaceId, name: Option<&str>, default_country: Option<Option<&str>>) -> Result<Workspace> {
        let current = self.get_workspace(id).await?;
        let name = name.map(str::trim).unwrap_or(&current.name).to_string();
        if name.is_empty() || name.len() > 200 {
            return Err(StoreError::invalid("name", "invalid_name", "a workspace needs a name of 1 to 200 characters"));
        }
        let country = match default_country {
            Some(Some(c)) => Some(parse_country(c)?),
            Some(None) => None,
            None => current.default_country,
        };
        let mut sql = self.sql("UPDATE workspaces SET name = ");
        sql.bind(name).push(", default_country = ").bind(country).push(" WHERE id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        self.get_workspace(id).await
    }
}
