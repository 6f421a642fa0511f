//! Contact properties: the default ones every contact has (PRODUCT.md §5) and typed custom ones a
//! workspace defines. A custom value is checked against its definition on every write, from the
//! API (JSON) or from an import (a spreadsheet cell).

use serde::{Deserialize, Serialize};
use std::{fmt, str::FromStr};
use time::{format_description::well_known::Iso8601, macros::format_description, Date};

use crate::ValidationError;

/// Default contact fields that live in their own columns, usable in filters, sorts and import maps.
pub const DEFAULT_FIELDS: &[&str] = &["first_name", "last_name", "email", "phone", "location", "country", "company", "job_title"];

/// A custom property's key: lower-case ASCII letters, digits and `_`, starting with a letter.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct PropertyKey(String);

impl PropertyKey {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for PropertyKey {
    type Error = ValidationError;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        let ok = (1..=64).contains(&s.len())
            && s.starts_with(|c: char| c.is_ascii_lowercase())
            && s.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !ok {
            return Err(ValidationError::new(
                "key",
                "invalid_key",
                format!("`{s}` is not a property key: use 1-64 lower-case letters, digits or _, starting with a letter"),
            ));
        }
        if DEFAULT_FIELDS.contains(&s.as_str())
            || ["id", "labels", "created_at", "updated_at", "last_contacted_at", "owner_id"].contains(&s.as_str())
        {
            return Err(ValidationError::new("key", "reserved_key", format!("`{s}` is a default contact field")));
        }
        Ok(Self(s))
    }
}

impl FromStr for PropertyKey {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::try_from(s.to_string())
    }
}

impl From<PropertyKey> for String {
    fn from(k: PropertyKey) -> String {
        k.0
    }
}

impl fmt::Display for PropertyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum PropertyKind {
    Text,
    Number,
    Date,
    Boolean,
    SingleSelect,
    MultiSelect,
}

impl PropertyKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Text => "text",
            Self::Number => "number",
            Self::Date => "date",
            Self::Boolean => "boolean",
            Self::SingleSelect => "single_select",
            Self::MultiSelect => "multi_select",
        }
    }
    pub fn is_select(self) -> bool {
        matches!(self, Self::SingleSelect | Self::MultiSelect)
    }
}

impl FromStr for PropertyKind {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        serde_json::from_value(serde_json::Value::String(s.to_string())).map_err(|_| {
            ValidationError::new(
                "kind",
                "invalid_kind",
                format!("unknown property kind `{s}`; expected text, number, date, boolean, single_select or multi_select"),
            )
        })
    }
}

/// A custom property as the workspace defined it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PropertyDefinition {
    pub key: PropertyKey,
    pub label: String,
    pub kind: PropertyKind,
    /// Allowed values of a select property, as written.
    pub options: Vec<String>,
    pub required: bool,
}

/// A checked custom value in its storage form: one row per text (several for a multi-select) and a
/// number for numeric properties, so that filters run on indexed columns in both databases.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredValue {
    pub texts: Vec<String>,
    pub number: Option<f64>,
}

impl PropertyDefinition {
    /// Checks a value sent as JSON through the API. `null` clears the value (unless required).
    pub fn parse_json(&self, value: &serde_json::Value) -> Result<Option<StoredValue>, ValidationError> {
        use serde_json::Value as J;
        match (self.kind, value) {
            (_, J::Null) => self.empty(),
            (PropertyKind::Number, J::Number(n)) => {
                let n = n.as_f64().ok_or_else(|| self.error("invalid_number", format!("`{n}` is not a number")))?;
                Ok(Some(StoredValue { texts: vec![format_number(n)], number: Some(n) }))
            }
            (PropertyKind::Boolean, J::Bool(b)) => Ok(Some(StoredValue { texts: vec![b.to_string()], number: None })),
            (PropertyKind::MultiSelect, J::Array(items)) => {
                let texts = items
                    .iter()
                    .map(|i| {
                        i.as_str().map(str::to_string).ok_or_else(|| self.error("invalid_value", "multi-select values must be strings"))
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.parse_options(texts)
            }
            (_, J::String(s)) => self.parse_text(s),
            (_, other) => Err(self.error("invalid_value", format!("`{other}` is not a valid {} value", self.kind.as_str()))),
        }
    }

    /// Checks a value written as text (a CSV cell, a query string). Empty text means no value.
    pub fn parse_text(&self, raw: &str) -> Result<Option<StoredValue>, ValidationError> {
        let raw = raw.trim();
        if raw.is_empty() {
            return self.empty();
        }
        let one = |t: String| Ok(Some(StoredValue { texts: vec![t], number: None }));
        match self.kind {
            PropertyKind::Text => one(raw.to_string()),
            PropertyKind::Number => {
                let n: f64 = raw
                    .replace(['\u{a0}', ' ', '_'], "")
                    .parse()
                    .ok()
                    .filter(|n: &f64| n.is_finite())
                    .ok_or_else(|| self.error("invalid_number", format!("`{raw}` is not a number")))?;
                Ok(Some(StoredValue { texts: vec![format_number(n)], number: Some(n) }))
            }
            PropertyKind::Boolean => match raw.to_lowercase().as_str() {
                "true" | "yes" | "y" | "1" | "oui" => one("true".into()),
                "false" | "no" | "n" | "0" | "non" => one("false".into()),
                _ => Err(self.error("invalid_boolean", format!("`{raw}` is not a yes/no value"))),
            },
            PropertyKind::Date => parse_date(raw)
                .map(|d| Some(StoredValue { texts: vec![d], number: None }))
                .ok_or_else(|| self.error("invalid_date", format!("`{raw}` is not a date (expected YYYY-MM-DD)"))),
            PropertyKind::SingleSelect => self.parse_options(vec![raw.to_string()]),
            PropertyKind::MultiSelect => {
                self.parse_options(raw.split(';').map(|s| s.trim().to_string()).filter(|s| !s.is_empty()).collect())
            }
        }
    }

    /// Rebuilds the API form of a stored value.
    pub fn to_json(&self, value: &StoredValue) -> serde_json::Value {
        use serde_json::Value as J;
        let first = value.texts.first().cloned().unwrap_or_default();
        match self.kind {
            PropertyKind::Number => value.number.and_then(serde_json::Number::from_f64).map(J::Number).unwrap_or(J::Null),
            PropertyKind::Boolean => J::Bool(first == "true"),
            PropertyKind::MultiSelect => J::Array(value.texts.iter().cloned().map(J::String).collect()),
            _ => J::String(first),
        }
    }

    fn parse_options(&self, values: Vec<String>) -> Result<Option<StoredValue>, ValidationError> {
        if values.is_empty() {
            return self.empty();
        }
        if self.kind == PropertyKind::SingleSelect && values.len() > 1 {
            return Err(self.error("invalid_value", "a single-select property takes one value"));
        }
        let mut texts = Vec::with_capacity(values.len());
        for v in values {
            // Options match case-insensitively and are stored as the definition writes them.
            let option = self
                .options
                .iter()
                .find(|o| o.eq_ignore_ascii_case(v.trim()))
                .ok_or_else(|| self.error("unknown_option", format!("`{v}` is not one of: {}", self.options.join(", "))))?;
            if !texts.contains(option) {
                texts.push(option.clone());
            }
        }
        Ok(Some(StoredValue { texts, number: None }))
    }

    fn empty(&self) -> Result<Option<StoredValue>, ValidationError> {
        if self.required {
            Err(self.error("required", format!("`{}` is required", self.key)))
        } else {
            Ok(None)
        }
    }

    fn error(&self, code: &'static str, message: impl Into<String>) -> ValidationError {
        ValidationError::new(self.key.as_str(), code, message)
    }
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// Accepts `YYYY-MM-DD` or a full ISO 8601 date-time (its date part); returns `YYYY-MM-DD`.
pub fn parse_date(raw: &str) -> Option<String> {
    let fmt = format_description!("[year]-[month]-[day]");
    let date = Date::parse(raw, fmt)
        .ok()
        .or_else(|| time::OffsetDateTime::parse(raw, &Iso8601::DEFAULT).ok().map(|t| t.date()))
        .or_else(|| time::PrimitiveDateTime::parse(raw, &Iso8601::DEFAULT).ok().map(|t| t.date()))?;
    date.format(fmt).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn def(kind: PropertyKind, options: &[&str], required: bool) -> PropertyDefinition {
        PropertyDefinition {
            key: "plan".parse().unwrap(),
            label: "Plan".into(),
            kind,
            options: options.iter().map(|s| s.to_string()).collect(),
            required,
        }
    }

    #[test]
    fn select_values_match_options_case_insensitively() {
        let d = def(PropertyKind::SingleSelect, &["Free", "Premium AI"], false);
        assert_eq!(d.parse_text("premium ai").unwrap().unwrap().texts, vec!["Premium AI"]);
        assert_eq!(d.parse_text("Gold").unwrap_err().code, "unknown_option");
        let m = def(PropertyKind::MultiSelect, &["a", "b"], false);
        assert_eq!(m.parse_text("a; b; a").unwrap().unwrap().texts, vec!["a", "b"]);
        assert_eq!(m.parse_json(&serde_json::json!(["b"])).unwrap().unwrap().texts, vec!["b"]);
    }

    #[test]
    fn typed_values() {
        assert_eq!(def(PropertyKind::Number, &[], false).parse_text("1 200.5").unwrap().unwrap().number, Some(1200.5));
        assert_eq!(def(PropertyKind::Number, &[], false).parse_text("12k").unwrap_err().code, "invalid_number");
        assert_eq!(def(PropertyKind::Date, &[], false).parse_text("2026-02-30").unwrap_err().code, "invalid_date");
        assert_eq!(def(PropertyKind::Date, &[], false).parse_text("2026-02-03T10:00:00Z").unwrap().unwrap().texts, vec!["2026-02-03"]);
        assert_eq!(def(PropertyKind::Boolean, &[], false).parse_text("Oui").unwrap().unwrap().texts, vec!["true"]);
        assert_eq!(def(PropertyKind::Text, &[], true).parse_text("  ").unwrap_err().code, "required");
        assert_eq!(def(PropertyKind::Text, &[], true).parse_json(&serde_json::json!(3)).unwrap_err().code, "invalid_value");
    }

    #[test]
    fn keys_are_slugs_and_not_default_fields() {
        assert!("industry_2".parse::<PropertyKey>().is_ok());
        assert_eq!("Industry".parse::<PropertyKey>().unwrap_err().code, "invalid_key");
        assert_eq!("email".parse::<PropertyKey>().unwrap_err().code, "reserved_key");
    }
}
