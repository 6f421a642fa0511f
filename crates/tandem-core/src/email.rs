//! An e-mail address, trimmed and lower-cased so that duplicates are recognised.

use serde::Serialize;
use std::{fmt, str::FromStr};

use crate::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct Email(String);

impl Email {
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for Email {
    type Err = ValidationError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let v = s.trim().to_lowercase();
        let bad = || ValidationError::new("email", "invalid_email", format!("`{}` is not an e-mail address", s.trim()));
        let (local, domain) = v.split_once('@').ok_or_else(bad)?;
        let domain_ok = domain.contains('.')
            && !domain.starts_with('.')
            && !domain.ends_with('.')
            && domain.chars().all(|c| c.is_alphanumeric() || c == '.' || c == '-');
        if local.is_empty() || !domain_ok || v.len() > 254 || v.chars().any(char::is_whitespace) {
            return Err(bad());
        }
        Ok(Self(v))
    }
}

impl fmt::Display for Email {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_and_rejects() {
        assert_eq!(" Ana@Example.COM ".parse::<Email>().unwrap().as_str(), "ana@example.com");
        for bad in ["", "ana", "ana@", "@x.com", "ana@localhost", "a b@x.com", "ana@x..com."] {
            assert!(bad.parse::<Email>().is_err(), "{bad}");
        }
    }
}
