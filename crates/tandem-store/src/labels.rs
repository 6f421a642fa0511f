//! Labels: named tags, many per contact. Attaching a label by name creates it when new.

use serde::Serialize;
use tandem_core::{ContactId, LabelId, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Label {
    pub id: LabelId,
    pub name: String,
    pub color: Option<String>,
    pub contact_count: i64,
}

fn clean_name(name: &str) -> Result<String> {
    let n = name.trim();
    if n.is_empty() || n.len() > 100 {
        return Err(StoreError::invalid("name", "invalid_name", "a label needs a name of 1 to 100 characters"));
    }
    Ok(n.to_string())
}

impl Store {
    pub async fn create_label(&self, ws: WorkspaceId, name: &str, color: Option<&str>) -> Result<Label> {
        let name = clean_name(name)?;
        let id = LabelId::new();
        let mut sql = self.sql("INSERT INTO labels (id, workspace_id, name, color, created_at) VALUES (");
        sql.bind(id.to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(name.clone())
            .push(", ")
            .bind(color.map(str::to_string))
            .push(", ")
            .bind(Timestamp::now().millis())
            .push(")");
        run!(sql, execute(&*self.writes().await?))
            .map_err(StoreError::on_conflict("name_taken", format!("label `{name}` already exists")))?;
        Ok(Label { id, name, color: color.map(str::to_string), contact_count: 0 })
    }

    pub async fn list_labels(&self, ws: WorkspaceId) -> Result<Vec<Label>> {
        let mut sql = self.sql("SELECT l.id, l.name, l.color, (SELECT COUNT(*) FROM contact_labels cl WHERE cl.label_id = l.id) FROM labels l WHERE l.workspace_id = ");
        sql.bind(ws.to_string()).push(" ORDER BY l.name");
        run!(sql, as (String, String, Option<String>, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, name, color, contact_count)| Ok(Label { id: id.parse().map_err(corrupt("label id"))?, name, color, contact_count }))
            .collect()
    }

    pub async fn delete_label(&self, ws: WorkspaceId, id: LabelId) -> Result<()> {
        self.delete_scoped("labels", ws, &id.to_string(), "label").await
    }

    /// Id of the label called `name`, created if missing.
    pub(crate) async fn ensure_label<'e, E>(&self, exec: E, ws: WorkspaceId, name: &str) -> Result<String>
    where
        E: sqlx::Executor<'e, Database = sqlx::Any> + Copy,
    {
        let name = clean_name(name)?;
        let mut sql = self.sql("INSERT INTO labels (id, workspace_id, name, created_at) VALUES (");
        sql.bind(LabelId::new().to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(name.clone())
            .push(", ")
            .bind(Timestamp::now().millis())
            .push(") ON CONFLICT DO NOTHING");
        run!(sql, execute(exec))?;
        let mut sql = self.sql("SELECT id FROM labels WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND name = ").bind(name);
        Ok(run!(sql, as (String,), fetch_one(exec))?.0)
    }

    /// Adds labels (by name) to a contact of this workspace.
    pub async fn add_contact_labels(&self, ws: WorkspaceId, contact: ContactId, names: &[String]) -> Result<()> {
        self.get_contact(ws, contact).await?;
        for name in names {
            let label_id = self.ensure_label(&*self.writes().await?, ws, name).await?;
            let mut sql = self.sql("INSERT INTO contact_labels (contact_id, label_id, workspace_id) VALUES (");
            sql.bind(contact.to_string()).push(", ").bind(label_id).push(", ").bind(ws.to_string()).push(") ON CONFLICT DO NOTHING");
            run!(sql, execute(&*self.writes().await?))?;
        }
        Ok(())
    }

    pub async fn remove_contact_label(&self, ws: WorkspaceId, contact: ContactId, name: &str) -> Result<()> {
        let mut sql = self.sql("DELETE FROM contact_labels WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND contact_id = ").bind(contact.to_string());
        sql.push(" AND label_id IN (SELECT id FROM labels WHERE workspace_id = ")
            .bind(ws.to_string())
            .push(" AND name = ")
            .bind(name.to_string())
            .push(")");
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("label on contact"));
        }
        Ok(())
    }
}
