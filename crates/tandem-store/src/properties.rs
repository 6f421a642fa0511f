//! Custom contact property definitions (typed: text, number, date, boolean, single/multi select).

use serde::Serialize;
use tandem_core::{PropertyDefinition, PropertyId, PropertyKey, PropertyKind, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Property {
    pub id: PropertyId,
    pub key: String,
    pub label: String,
    pub kind: PropertyKind,
    pub options: Vec<String>,
    pub required: bool,
    pub created_at: Timestamp,
}

impl Property {
    pub fn definition(&self) -> Result<PropertyDefinition> {
        Ok(PropertyDefinition {
            key: self.key.parse().map_err(corrupt("property key"))?,
            label: self.label.clone(),
            kind: self.kind,
            options: self.options.clone(),
            required: self.required,
        })
    }
}

#[derive(sqlx::FromRow)]
struct Row {
    id: String,
    key: String,
    label: String,
    kind: String,
    options: String,
    required: i64,
    created_at: i64,
}

impl TryFrom<Row> for Property {
    type Error = StoreError;
    fn try_from(r: Row) -> Result<Self> {
        Ok(Self {
            id: r.id.parse().map_err(corrupt("property id"))?,
            key: r.key,
            label: r.label,
            kind: r.kind.parse().map_err(corrupt("property kind"))?,
            options: serde_json::from_str(&r.options).map_err(corrupt("property options"))?,
            required: r.required != 0,
            created_at: Timestamp::from_millis(r.created_at),
        })
    }
}

impl Store {
    pub async fn create_property(
        &self,
        ws: WorkspaceId,
        key: &str,
        label: &str,
        kind: PropertyKind,
        options: Vec<String>,
        required: bool,
    ) -> Result<Property> {
        let key: PropertyKey = key.parse()?;
        let label = if label.trim().is_empty() { key.as_str().to_string() } else { label.trim().to_string() };
        let mut clean: Vec<String> = Vec::new();
        for o in options.iter().map(|o| o.trim()).filter(|o| !o.is_empty()) {
            if clean.iter().any(|c| c.eq_ignore_ascii_case(o)) {
                return Err(StoreError::invalid("options", "duplicate_option", format!("option `{o}` is listed twice")));
            }
            clean.push(o.to_string());
        }
        match (kind.is_select(), clean.is_empty()) {
            (true, true) => return Err(StoreError::invalid("options", "options_required", "a select property needs at least one option")),
            (false, false) => return Err(StoreError::invalid("options", "options_not_allowed", "only select properties take options")),
            _ => {}
        }
        let p =
            Property { id: PropertyId::new(), key: key.to_string(), label, kind, options: clean, required, created_at: Timestamp::now() };
        let mut sql =
            self.sql("INSERT INTO property_definitions (id, workspace_id, key, label, kind, options, required, created_at) VALUES (");
        sql.bind(p.id.to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(p.key.clone())
            .push(", ")
            .bind(p.label.clone())
            .push(", ");
        sql.bind(kind.as_str())
            .push(", ")
            .bind(serde_json::to_string(&p.options).unwrap_or_default())
            .push(", ")
            .bind(required as i64)
            .push(", ")
            .bind(p.created_at.millis())
            .push(")");
        run!(sql, execute(&*self.writes().await?))
            .map_err(StoreError::on_conflict("key_taken", format!("property `{key}` already exists")))?;
        Ok(p)
    }

    pub async fn list_properties(&self, ws: WorkspaceId) -> Result<Vec<Property>> {
        let mut sql =
            self.sql("SELECT id, key, label, kind, options, required, created_at FROM property_definitions WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" ORDER BY created_at, id");
        run!(sql, as Row, fetch_all(&self.pool))?.into_iter().map(TryInto::try_into).collect()
    }

    /// The workspace's definitions in their domain form, for validating writes.
    pub async fn property_definitions(&self, ws: WorkspaceId) -> Result<Vec<PropertyDefinition>> {
        self.list_properties(ws).await?.iter().map(Property::definition).collect()
    }

    /// Deletes a definition and every stored value of it.
    pub async fn delete_property(&self, ws: WorkspaceId, key: &str) -> Result<()> {
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut sql = self.sql("DELETE FROM property_definitions WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND key = ").bind(key.to_string());
        if run!(sql, execute(&mut *tx))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("property"));
        }
        let mut sql = self.sql("DELETE FROM contact_values WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND key = ").bind(key.to_string());
        run!(sql, execute(&mut *tx))?;
        tx.commit().await?;
        Ok(())
    }
}
