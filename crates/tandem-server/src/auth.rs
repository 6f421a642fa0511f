//! Who is calling: an API key (`Authorization: Bearer tdm_...`) or a login session (the
//! `tandem_session` cookie). Every handler that takes [`Auth`] is authenticated; role checks are
//! explicit calls to [`Auth::require`].

use axum::{extract::FromRequestParts, http::request::Parts};
use tandem_core::{Actor, Role};

use crate::{error::ApiError, state::AppState};

pub const SESSION_COOKIE: &str = "tandem_session";

pub struct Auth(pub Actor);

impl Auth {
    /// Refuses (403) unless the caller's role is at least `role`.
    pub fn require(&self, role: Role) -> Result<(), ApiError> {
        if self.0.role.at_least(role) {
            Ok(())
        } else {
            Err(ApiError::forbidden(format!("this action needs the {role} role; you are {}", self.0.role)))
        }
    }
}

/// The value of cookie `name` in the request, if any.
pub fn cookie<'a>(parts: &'a Parts, name: &str) -> Option<&'a str> {
    parts
        .headers
        .get_all(axum::http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

impl FromRequestParts<AppState> for Auth {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &AppState) -> Result<Self, Self::Rejection> {
        if let Some(header) = parts.headers.get(axum::http::header::AUTHORIZATION) {
            let token = header
                .to_str()
                .ok()
                .and_then(|h| h.strip_prefix("Bearer ").or_else(|| h.strip_prefix("bearer ")))
                .map(str::trim)
                .ok_or_else(|| ApiError::unauthorized("invalid_authorization", "use `Authorization: Bearer <API key>`"))?;
            return match app.store.authenticate_api_key(token).await? {
                Some(actor) => Ok(Self(actor)),
                None => Err(ApiError::unauthorized("invalid_api_key", "this API key does not exist")),
            };
        }
        if let Some(token) = cookie(parts, SESSION_COOKIE) {
            return match app.store.session_actor(token).await? {
                Some(actor) => Ok(Self(actor)),
                None => Err(ApiError::unauthorized("session_expired", "the session has expired; log in again")),
            };
        }
        Err(ApiError::unauthorized("unauthenticated", "send an API key (`Authorization: Bearer ...`) or log in"))
    }
}
