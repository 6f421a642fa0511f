//! The API's one error shape: `{"error": {"code": "...", "message": "...", "details": [...]}}` with
//! the HTTP status that fits. Store errors map here; unexpected ones are logged and answered 500
//! without internals.

use axum::{
    http::StatusCode,
    response::{IntoResponse, Response},
    Json,
};
use serde::Serialize;
use tandem_core::ValidationError;
use tandem_store::StoreError;

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub details: Vec<ValidationError>,
}

pub type ApiResult<T> = Result<T, ApiError>;

/// The error body, as documented in the OpenAPI file.
#[derive(Serialize, utoipa::ToSchema)]
pub struct ErrorBody {
    error: ErrorDetail,
}

#[derive(Serialize, utoipa::ToSchema)]
struct ErrorDetail {
    /// Stable machine-readable code, e.g. `not_found`, `invalid_phone`.
    code: String,
    message: String,
    /// Per-field problems, when the request had several.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    #[schema(value_type = Vec<Object>)]
    details: Vec<ValidationError>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        Self { status, code, message: message.into(), details: vec![] }
    }
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }
    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("{what} not found"))
    }
    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }
    /// Several field errors at once (422).
    pub fn invalid(details: Vec<ValidationError>) -> Self {
        let first = details.first().cloned();
        let mut e = match first {
            Some(f) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, f.code, f.to_string()),
            None => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid", "invalid input"),
        };
        if details.len() > 1 {
            e.message = format!("{} problems, first: {}", details.len(), e.message);
        }
        e.details = details;
        e
    }
}

impl From<ValidationError> for ApiError {
    fn from(e: ValidationError) -> Self {
        Self::invalid(vec![e])
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(what) => Self::not_found(what),
            StoreError::Conflict { code, message } => Self::new(StatusCode::CONFLICT, code, message),
            StoreError::Invalid(v) => Self::invalid(vec![v]),
            StoreError::Refused { code, message } => Self::new(StatusCode::UNAUTHORIZED, code, message),
            StoreError::InsufficientCredits { needed, available } => Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "insufficient_credits",
                format!("this needs {needed} credit(s) and the workspace has {available}; top up or wait for the next billing cycle"),
            ),
            other => {
                tracing::error!(error = %other, "store failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
            }
        }
    }
}

impl From<crate::knowledge::KnowledgeFailure> for ApiError {
    fn from(e: crate::knowledge::KnowledgeFailure) -> Self {
        use crate::knowledge::KnowledgeFailure as F;
        match e {
            F::Unavailable(why) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "knowledge_unavailable", format!("knowledge bases are unavailable: {why}"))
            }
            F::Store(e) => e.into(),
            F::Knowledge(e) => {
                tracing::error!(error = %e, "knowledge failure");
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", "an internal error occurred; it has been logged")
            }
        }
    }
}

impl From<crate::agents::AgentFailure> for ApiError {
    fn from(e: crate::agents::AgentFailure) -> Self {
        use crate::agents::AgentFailure as F;
        use tandem_agent::AgentError as A;
        use tandem_llm::LlmError as L;
        match e {
            F::Unavailable(why) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "llm_unavailable", format!("AI agents are unavailable: {why}"))
            }
            F::Store(e) => e.into(),
            F::Knowledge(e) => e.into(),
            F::Agent(A::InvalidInput(m)) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_input", m),
            F::Agent(A::InvalidProfile(m)) => Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_profile", m),
            F::Agent(A::Knowledge(m)) => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "knowledge_unavailable", format!("the knowledge base is unavailable: {m}"))
            }
            F::Agent(A::Llm(e @ (L::Unavailable { .. } | L::Timeout(_) | L::Local(_)))) => {
                tracing::warn!(error = %e, "LLM unavailable");
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "llm_unavailable", format!("the language model is unavailable: {e}"))
            }
            F::Agent(e) => {
                tracing::error!(error = %e, "agent failure");
                Self::new(StatusCode::BAD_GATEWAY, "llm_error", format!("the language model failed: {e}"))
            }
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = ErrorBody { error: ErrorDetail { code: self.code.to_string(), message: self.message, details: self.details } };
        (self.status, Json(body)).into_response()
    }
}
