//! Contact filters and sorts, shared by the list endpoint, saved views and CSV export.
//! Text form of a condition: `field:op:value`, e.g. `plan:eq:Premium`.

use serde::{Deserialize, Serialize};
use std::str::FromStr;

use crate::{property::DEFAULT_FIELDS, ValidationError};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Operator {
    Eq,
    Ne,
    Contains,
    Gt,
    Gte,
    Lt,
    Lte,
    Exists,
}

impl FromStr for Operator {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            ValidationError::new(
                "filter",
                "invalid_operator",
                format!("unknown operator `{s}`; expected eq, ne, contains, gt, gte, lt, lte or exists"),
            )
        })
    }
}

/// One condition on a default field or a custom property.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Condition {
    pub field: String,
    pub op: Operator,
    #[serde(default)]
    pub value: Option<String>,
}

impl FromStr for Condition {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let mut parts = s.splitn(3, ':');
        let (field, op) = match (parts.next(), parts.next()) {
            (Some(f), Some(o)) if !f.is_empty() => (f.to_string(), o.parse::<Operator>()?),
            _ => {
                return Err(ValidationError::new(
                    "filter",
                    "invalid_filter",
                    format!("`{s}` is not a filter; write field:op:value, e.g. plan:eq:Premium"),
                ))
            }
        };
        let value = parts.next().map(str::to_string);
        let cond = Condition { field, op, value };
        cond.check()?;
        Ok(cond)
    }
}

impl Condition {
    /// True when the field is one of the contact's own columns rather than a custom property.
    pub fn is_default_field(&self) -> bool {
        DEFAULT_FIELDS.contains(&self.field.as_str())
    }

    pub fn check(&self) -> Result<(), ValidationError> {
        if self.op != Operator::Exists && self.value.is_none() {
            return Err(ValidationError::new("filter", "invalid_filter", format!("the condition on `{}` needs a value", self.field)));
        }
        Ok(())
    }
}

/// All conditions must hold (AND), plus optional label, list and free-text search.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactFilter {
    #[serde(default)]
    pub conditions: Vec<Condition>,
    /// Label names; the contact must carry every one.
    #[serde(default)]
    pub labels: Vec<String>,
    #[serde(default)]
    pub list_id: Option<String>,
    /// Matches name, e-mail, phone or company.
    #[serde(default)]
    pub q: Option<String>,
}

impl ContactFilter {
    pub fn is_empty(&self) -> bool {
        self.conditions.is_empty() && self.labels.is_empty() && self.list_id.is_none() && self.q.is_none()
    }

    /// Adds another filter's constraints to this one (a saved view refined by query parameters).
    pub fn merge(mut self, other: ContactFilter) -> Self {
        self.conditions.extend(other.conditions);
        self.labels.extend(other.labels);
        self.list_id = other.list_id.or(self.list_id);
        self.q = other.q.or(self.q);
        self
    }
}

/// Sortable contact columns.
pub const SORT_FIELDS: &[&str] =
    &["created_at", "updated_at", "last_contacted_at", "first_name", "last_name", "email", "company", "country"];

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ContactSort {
    pub field: String,
    pub descending: bool,
}

impl Default for ContactSort {
    fn default() -> Self {
        Self { field: "created_at".into(), descending: true }
    }
}

impl FromStr for ContactSort {
    type Err = ValidationError;
    /// `name` ascending, `-name` descending.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (descending, field) = match s.strip_prefix('-') {
            Some(f) => (true, f),
            None => (false, s),
        };
        if !SORT_FIELDS.contains(&field) {
            return Err(ValidationError::new(
                "sort",
                "invalid_sort",
                format!("cannot sort by `{field}`; use one of {}", SORT_FIELDS.join(", ")),
            ));
        }
        Ok(Self { field: field.to_string(), descending })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_conditions() {
        let c: Condition = "url:eq:https://x.io".parse().unwrap();
        assert_eq!((c.field.as_str(), c.op, c.value.as_deref()), ("url", Operator::Eq, Some("https://x.io")));
        assert!("plan:exists".parse::<Condition>().is_ok());
        assert_eq!("plan:eq".parse::<Condition>().unwrap_err().code, "invalid_filter");
        assert_eq!("plan:like:x".parse::<Condition>().unwrap_err().code, "invalid_operator");
        assert_eq!("-company".parse::<ContactSort>().unwrap(), ContactSort { field: "company".into(), descending: true });
        assert!("password".parse::<ContactSort>().is_err());
    }
}
