//! The one error shape every parser in the domain returns: which field, a machine code, a human message.

use serde::Serialize;

/// A value that could not become a domain type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{field}: {message}")]
pub struct ValidationError {
    /// The field or column the value came from.
    pub field: String,
    /// Stable, machine-readable reason (e.g. `invalid_phone`).
    pub code: &'static str,
    /// What a person should read.
    pub message: String,
}

impl ValidationError {
    pub fn new(field: impl Into<String>, code: &'static str, message: impl Into<String>) -> Self {
        Self { field: field.into(), code, message: message.into() }
    }
}
