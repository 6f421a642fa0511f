//! Audit log of data access (PRODUCT.md §8): who read, changed, exported or deleted what, when.

use serde::Serialize;
use tandem_core::{Actor, AuditId, Timestamp, WorkspaceId};

use crate::{error::corrupt, sql::run, Page, Paged, Result, Store};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct AuditEntry {
    pub id: AuditId,
    pub actor: String,
    /// e.g. `read`, `create`, `update`, `delete`, `export`, `import`, `login`.
    pub action: String,
    pub resource: String,
    pub resource_id: Option<String>,
    pub detail: Option<String>,
    pub created_at: Timestamp,
}

impl Store {
    pub async fn audit(
        &self,
        actor: &Actor,
        action: &str,
        resource: &str,
        resource_id: Option<String>,
        detail: Option<String>,
    ) -> Result<()> {
        let mut sql =
            self.sql("INSERT INTO audit_log (id, workspace_id, actor, action, resource, resource_id, detail, created_at) VALUES (");
        sql.bind(AuditId::new().to_string()).push(", ").bind(actor.workspace_id.to_string()).push(", ").bind(actor.label()).push(", ");
        sql.bind(action.to_string())
            .push(", ")
            .bind(resource.to_string())
            .push(", ")
            .bind(resource_id)
            .push(", ")
            .bind(detail)
            .push(", ")
            .bind(Timestamp::now().millis())
            .push(")");
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }

    /// Newest first.
    pub async fn list_audit(&self, ws: WorkspaceId, page: Page) -> Result<Paged<AuditEntry>> {
        let mut sql = self.sql("SELECT id, actor, action, resource, resource_id, detail, created_at FROM audit_log WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" ORDER BY created_at DESC, id DESC LIMIT ").bind(page.limit + 1).push(" OFFSET ").bind(page.offset);
        let rows = run!(sql, as (String, String, String, String, Option<String>, Option<String>, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, actor, action, resource, resource_id, detail, at)| {
                Ok(AuditEntry {
                    id: id.parse().map_err(corrupt("audit id"))?,
                    actor,
                    action,
                    resource,
                    resource_id,
                    detail,
                    created_at: Timestamp::from_millis(at),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(page.finish(rows))
    }
}
