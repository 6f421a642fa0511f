use axum::{
    extract::{Query, State},
    Json,
};
use tandem_core::Role;
use tandem_store::{audit::AuditEntry, Paged};

use super::PageQuery;
use crate::{
    auth::Auth,
    error::{ApiResult, ErrorBody},
    state::AppState,
};

/// Admin only: who accessed or changed what, newest first.
#[utoipa::path(get, path = "/audit-log", tag = "workspace", params(PageQuery), responses((status = 200, body = Paged<AuditEntry>), (status = 403, body = ErrorBody)))]
pub async fn list_audit(State(app): State<AppState>, auth: Auth, Query(page): Query<PageQuery>) -> ApiResult<Json<Paged<AuditEntry>>> {
    auth.require(Role::Admin)?;
    Ok(Json(app.store.list_audit(auth.0.workspace_id, page.page()).await?))
}
