use serde::Serialize;

/// Offset pagination: `limit` 1..=500 (default 50).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
}

impl Page {
    pub const MAX_LIMIT: i64 = 500;

    pub fn new(limit: Option<i64>, offset: Option<i64>) -> Self {
        Self { limit: limit.unwrap_or(50).clamp(1, Self::MAX_LIMIT), offset: offset.unwrap_or(0).max(0) }
    }

    /// Trims the `limit + 1` rows fetched into a page that knows whether more follow.
    pub(crate) fn finish<T>(self, mut rows: Vec<T>) -> Paged<T> {
        let has_more = rows.len() as i64 > self.limit;
        rows.truncate(self.limit as usize);
        Paged { next_offset: has_more.then_some(self.offset + self.limit), items: rows }
    }
}

impl Default for Page {
    fn default() -> Self {
        Self::new(None, None)
    }
}

/// One page of results and where the next one starts, if any.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Paged<T> {
    pub items: Vec<T>,
    pub next_offset: Option<i64>,
}
