//! Contact import: a multipart upload, answered with the report (dry run) or a job to follow.

use axum::{
    extract::{Multipart, Path, State},
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use std::collections::BTreeMap;
use tandem_core::JobId;
use tandem_store::{
    import::{ImportOptions, ImportReport},
    jobs::Job,
};

use crate::{
    auth::Auth,
    error::{ApiError, ApiResult, ErrorBody},
    extract::parse_id,
    state::AppState,
    worker::IMPORT_CONTACTS,
};

/// The multipart form of an import (documentation).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct ImportForm {
    /// The CSV or xlsx file.
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
    /// JSON object: column header → target (`email`, a custom key, `labels`, `ignore`).
    mapping: Option<String>,
    /// `true` to check and preview without writing.
    dry_run: Option<bool>,
    /// Country for phone numbers without `+` (default: the workspace's).
    default_country: Option<String>,
}

fn form_error(e: impl std::fmt::Display) -> ApiError {
    ApiError::bad_request("invalid_form", format!("the upload could not be read: {e}"))
}

/// Import contacts. A dry run answers the report at once (200); otherwise the import runs as a job
/// (202) whose progress and final report `GET /jobs/{id}` shows.
#[utoipa::path(post, path = "/contacts/imports", tag = "contacts", request_body(content = ImportForm, content_type = "multipart/form-data"),
    responses((status = 200, body = ImportReport), (status = 202, body = Job), (status = 400, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn import_contacts(State(app): State<AppState>, Auth(actor): Auth, mut form: Multipart) -> ApiResult<Response> {
    let (mut file, mut options) = (None, ImportOptions::default());
    while let Some(field) = form.next_field().await.map_err(form_error)? {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "file" => {
                let filename = field.file_name().unwrap_or("upload").to_string();
                file = Some((filename, field.bytes().await.map_err(form_error)?.to_vec()));
            }
            "mapping" => {
                let text = field.text().await.map_err(form_error)?;
                options.mapping = serde_json::from_str::<BTreeMap<String, String>>(&text).map_err(|e| {
                    ApiError::bad_request("invalid_mapping", format!("`mapping` must be a JSON object of column → field: {e}"))
                })?;
            }
            "dry_run" => options.dry_run = matches!(field.text().await.map_err(form_error)?.trim(), "true" | "1" | "yes"),
            "default_country" => options.default_country = Some(field.text().await.map_err(form_error)?),
            other => return Err(ApiError::bad_request("invalid_form", format!("unknown form field `{other}`"))),
        }
    }
    let (filename, bytes) = file.ok_or_else(|| ApiError::bad_request("missing_file", "send the file in a form field named `file`"))?;
    // Refuse what is not a table now, with the reason, rather than in a failed job later.
    tandem_store::import::reader::detect(&bytes).map_err(|e| ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code(), e.to_string()))?;
    let ws = actor.workspace_id;
    if options.dry_run {
        let report = app.store.import_contacts(ws, bytes, &options, &|_, _| {}).await?;
        return Ok(Json(report).into_response());
    }
    let upload = app.store.save_upload(ws, &filename, bytes).await?;
    let payload = serde_json::json!({
        "upload_id": upload,
        "filename": filename,
        "mapping": options.mapping,
        "default_country": options.default_country,
        "actor": actor.label(),
    });
    let job = app.store.enqueue_job(ws, IMPORT_CONTACTS, &payload, 3).await?;
    app.store.audit(&actor, "import", "contact", Some(job.id.to_string()), Some(filename)).await?;
    Ok((StatusCode::ACCEPTED, Json(job)).into_response())
}

/// A background job: status, progress (`progress_done` of `progress_total`) and result.
#[utoipa::path(get, path = "/jobs/{id}", tag = "jobs", params(("id" = JobId, Path)), responses((status = 200, body = Job), (status = 404, body = ErrorBody)))]
pub async fn get_job(State(app): State<AppState>, Auth(actor): Auth, Path(id): Path<String>) -> ApiResult<Json<Job>> {
    Ok(Json(app.store.get_job(actor.workspace_id, parse_id(&id, "job")?).await?))
}
