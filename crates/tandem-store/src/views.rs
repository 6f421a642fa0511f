//! Saved contact views: a filter and a sort with a name. Workspace views (set by an admin) are seen
//! by everyone; personal views only by their owner. Each scope has at most one default; a person's
//! own default wins over the workspace's.

use serde::Serialize;
use tandem_core::{ContactFilter, ContactSort, Timestamp, UserId, ViewId, WorkspaceId};

use crate::{
    error::corrupt,
    sql::{run, Sql},
    Result, Store, StoreError,
};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct SavedView {
    pub id: ViewId,
    pub name: String,
    /// Absent for a workspace view.
    pub owner_user_id: Option<UserId>,
    pub filter: ContactFilter,
    pub sort: ContactSort,
    pub is_default: bool,
    pub created_at: Timestamp,
}

type ViewRow = (String, String, Option<String>, String, String, i64, i64);

fn from_row((id, name, owner, filter, sort, is_default, at): ViewRow) -> Result<SavedView> {
    Ok(SavedView {
        id: id.parse().map_err(corrupt("view id"))?,
        name,
        owner_user_id: owner.map(|o| o.parse()).transpose().map_err(corrupt("user id"))?,
        filter: serde_json::from_str(&filter).map_err(corrupt("view filter"))?,
        sort: serde_json::from_str(&sort).map_err(corrupt("view sort"))?,
        is_default: is_default != 0,
        created_at: Timestamp::from_millis(at),
    })
}

const COLUMNS: &str = "id, name, owner_user_id, filter, sort, is_default, created_at";

/// `owner_user_id IS NULL` or `= $n`: the scope a view belongs to.
fn push_scope(sql: &mut Sql, owner: Option<UserId>) {
    match owner {
        Some(u) => sql.push(" AND owner_user_id = ").bind(u.to_string()),
        None => sql.push(" AND owner_user_id IS NULL"),
    };
}

impl Store {
    /// Creates a view; `owner` `None` makes it a workspace view.
    pub async fn create_view(
        &self,
        ws: WorkspaceId,
        owner: Option<UserId>,
        name: &str,
        filter: &ContactFilter,
        sort: &ContactSort,
        is_default: bool,
    ) -> Result<SavedView> {
        let name = name.trim();
        if name.is_empty() || name.len() > 200 {
            return Err(StoreError::invalid("name", "invalid_name", "a view needs a name of 1 to 200 characters"));
        }
        // Refuse a filter that cannot run, now rather than when the view is opened.
        self.list_contacts(ws, filter, sort, crate::Page::new(Some(1), None)).await?;
        let id = ViewId::new();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        if is_default {
            let mut sql = self.sql("UPDATE saved_views SET is_default = 0 WHERE workspace_id = ");
            sql.bind(ws.to_string());
            push_scope(&mut sql, owner);
            run!(sql, execute(&mut *tx))?;
        }
        let mut sql = self.sql(&format!("INSERT INTO saved_views ({COLUMNS}, workspace_id) VALUES ("));
        sql.bind(id.to_string()).push(", ").bind(name.to_string()).push(", ").bind(owner.map(|o| o.to_string())).push(", ");
        sql.bind(serde_json::to_string(filter).unwrap_or_default())
            .push(", ")
            .bind(serde_json::to_string(sort).unwrap_or_default())
            .push(", ");
        sql.bind(is_default as i64).push(", ").bind(Timestamp::now().millis()).push(", ").bind(ws.to_string()).push(")");
        run!(sql, execute(&mut *tx))?;
        tx.commit().await?;
        self.get_view(ws, owner, id).await
    }

    /// Workspace views and `user`'s personal views.
    pub async fn list_views(&self, ws: WorkspaceId, user: Option<UserId>) -> Result<Vec<SavedView>> {
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM saved_views WHERE workspace_id = "));
        sql.bind(ws.to_string()).push(" AND (owner_user_id IS NULL");
        if let Some(u) = user {
            sql.push(" OR owner_user_id = ").bind(u.to_string());
        }
        sql.push(") ORDER BY owner_user_id IS NULL DESC, created_at");
        run!(sql, as ViewRow, fetch_all(&self.pool))?.into_iter().map(from_row).collect()
    }

    /// A view `user` may see.
    pub async fn get_view(&self, ws: WorkspaceId, user: Option<UserId>, id: ViewId) -> Result<SavedView> {
        self.list_views(ws, user).await?.into_iter().find(|v| v.id == id).ok_or(StoreError::NotFound("view"))
    }

    /// The view a contact list opens on: the person's default, else the workspace's.
    pub async fn default_view(&self, ws: WorkspaceId, user: Option<UserId>) -> Result<Option<SavedView>> {
        let views = self.list_views(ws, user).await?;
        let personal = views.iter().find(|v| v.is_default && v.owner_user_id.is_some()).cloned();
        Ok(personal.or_else(|| views.into_iter().find(|v| v.is_default && v.owner_user_id.is_none())))
    }

    /// Deletes a view of the given scope (`owner` `None`: a workspace view).
    pub async fn delete_view(&self, ws: WorkspaceId, owner: Option<UserId>, id: ViewId) -> Result<()> {
        let mut sql = self.sql("DELETE FROM saved_views WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        push_scope(&mut sql, owner);
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("view"));
        }
        Ok(())
    }
}
