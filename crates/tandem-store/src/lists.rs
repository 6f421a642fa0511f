//! Static contact lists (broadcast audiences, segments kept by hand).

use serde::Serialize;
use tandem_core::{ContactId, ListId, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Result, Store, StoreError};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ContactList {
    pub id: ListId,
    pub name: String,
    pub member_count: i64,
    pub created_at: Timestamp,
}

/// `id, name, member count, created_at`, as list queries select them.
pub(crate) type ListRow = (String, String, i64, i64);

pub(crate) fn list_of_row((id, name, member_count, created_at): ListRow) -> Result<ContactList> {
    Ok(ContactList { id: id.parse().map_err(corrupt("list id"))?, name, member_count, created_at: Timestamp::from_millis(created_at) })
}

impl Store {
    pub async fn create_list(&self, ws: WorkspaceId, name: &str) -> Result<ContactList> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(StoreError::invalid("name", "invalid_name", "a list needs a name of 1 to 200 characters"));
        }
        let list = ContactList { id: ListId::new(), name: name.into(), member_count: 0, created_at: Timestamp::now() };
        let mut sql = self.sql("INSERT INTO lists (id, workspace_id, name, created_at) VALUES (");
        sql.bind(list.id.to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(list.name.clone())
            .push(", ")
            .bind(list.created_at.millis())
            .push(")");
        run!(sql, execute(&*self.writes().await?))
            .map_err(StoreError::on_conflict("name_taken", format!("a list named `{name}` already exists")))?;
        Ok(list)
    }

    async fn query_lists(&self, ws: WorkspaceId, id: Option<ListId>) -> Result<Vec<ContactList>> {
        let mut sql = self.sql("SELECT l.id, l.name, (SELECT COUNT(*) FROM list_members m WHERE m.list_id = l.id), l.created_at FROM lists l WHERE l.workspace_id = ");
        sql.bind(ws.to_string());
        if let Some(id) = id {
            sql.push(" AND l.id = ").bind(id.to_string());
        }
        sql.push(" ORDER BY l.created_at");
        run!(sql, as ListRow, fetch_all(&self.pool))?.into_iter().map(list_of_row).collect()
    }

    pub async fn list_lists(&self, ws: WorkspaceId) -> Result<Vec<ContactList>> {
        self.query_lists(ws, None).await
    }

    pub async fn get_list(&self, ws: WorkspaceId, id: ListId) -> Result<ContactList> {
        self.query_lists(ws, Some(id)).await?.pop().ok_or(StoreError::NotFound("list"))
    }

    pub async fn delete_list(&self, ws: WorkspaceId, id: ListId) -> Result<()> {
        self.delete_scoped("lists", ws, &id.to_string(), "list").await
    }

    /// Adds contacts to a list; every contact must belong to the workspace, or nothing is added.
    pub async fn add_list_members(&self, ws: WorkspaceId, list: ListId, contacts: &[ContactId]) -> Result<ContactList> {
        self.get_list(ws, list).await?;
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        for contact in contacts {
            let mut sql = self.sql("INSERT INTO list_members (list_id, contact_id, workspace_id, added_at) SELECT ");
            sql.bind(list.to_string()).push(", c.id, c.workspace_id, ").bind(Timestamp::now().millis());
            sql.push(" FROM contacts c WHERE c.workspace_id = ")
                .bind(ws.to_string())
                .push(" AND c.id = ")
                .bind(contact.to_string())
                .push(" ON CONFLICT DO NOTHING");
            run!(sql, execute(&mut *tx))?;
            let mut check = self.sql("SELECT COUNT(*) FROM contacts WHERE workspace_id = ");
            check.bind(ws.to_string()).push(" AND id = ").bind(contact.to_string());
            if run!(check, as (i64,), fetch_one(&mut *tx))?.0 == 0 {
                return Err(StoreError::NotFound("contact"));
            }
        }
        tx.commit().await?;
        self.get_list(ws, list).await
    }

    pub async fn remove_list_member(&self, ws: WorkspaceId, list: ListId, contact: ContactId) -> Result<()> {
        let mut sql = self.sql("DELETE FROM list_members WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND list_id = ").bind(list.to_string()).push(" AND contact_id = ").bind(contact.to_string());
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("list member"));
        }
        Ok(())
    }
}
