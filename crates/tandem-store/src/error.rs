use tandem_core::ValidationError;

/// What can go wrong in the store, sorted by what the caller should tell its user.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The row does not exist in this workspace (it may exist in another: callers must not say so).
    #[error("{0} not found")]
    NotFound(&'static str),
    /// A uniqueness rule was hit (e.g. a second contact with the same e-mail).
    #[error("{message}")]
    Conflict { code: &'static str, message: String },
    /// The input was refused by a domain rule.
    #[error(transparent)]
    Invalid(#[from] ValidationError),
    /// The operation is not allowed in the current state (e.g. credentials revoked).
    #[error("{message}")]
    Refused { code: &'static str, message: String },
    /// A debit larger than the workspace's credits (what is left of the cycle's allowance plus
    /// top-ups). Nothing was charged or written.
    #[error("not enough credits: {needed} needed, {available} available")]
    InsufficientCredits { needed: i64, available: i64 },
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored value that should have been valid was not: a bug or a hand-edited row.
    #[error("stored data is inconsistent: {0}")]
    Corrupt(String),
}

impl StoreError {
    pub fn invalid(field: &str, code: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid(ValidationError::new(field, code, message))
    }

    /// Turns a unique-constraint violation into a [`StoreError::Conflict`] with the given words.
    pub(crate) fn on_conflict(code: &'static str, message: impl Into<String>) -> impl FnOnce(sqlx::Error) -> StoreError {
        move |e| match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict { code, message: message.into() },
            _ => StoreError::Database(e),
        }
    }
}

pub(crate) fn corrupt<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> StoreError {
    move |e| StoreError::Corrupt(format!("{what}: {e}"))
}
