//! A phone number in E.164 (`+33612345678`): the form every messaging provider uses, so the same
//! customer typed as `06 12 34 56 78` or `+33 6 12 34 56 78` is one contact.

use serde::Serialize;
use std::fmt;

use crate::ValidationError;

#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
#[serde(transparent)]
pub struct PhoneNumber(String);

impl PhoneNumber {
    /// Parses `input`; a number without a `+` country code is read in `default_country`
    /// (ISO 3166 alpha-2, e.g. `FR`), and refused when there is none.
    pub fn parse(input: &str, default_country: Option<&str>) -> Result<Self, ValidationError> {
        let raw = input.trim();
        let bad = |why: &str| ValidationError::new("phone", "invalid_phone", format!("`{raw}` is not a valid phone number: {why}"));
        if raw.is_empty() {
            return Err(bad("empty"));
        }
        let region = match default_country {
            Some(c) if !raw.starts_with('+') && !raw.starts_with("00") => {
                Some(c.trim().to_ascii_uppercase().parse::<phonenumber::country::Id>().map_err(|_| bad("unknown default country"))?)
            }
            _ => None,
        };
        let normalised = raw.strip_prefix("00").map(|r| format!("+{r}")).unwrap_or_else(|| raw.to_string());
        if region.is_none() && !normalised.starts_with('+') {
            return Err(bad("no country code (start with +) and no default country"));
        }
        let number = phonenumber::parse(region, &normalised).map_err(|_| bad("unreadable"))?;
        if !phonenumber::is_valid(&number) {
            return Err(bad("no such number in its country's numbering plan"));
        }
        Ok(Self(number.format().mode(phonenumber::Mode::E164).to_string()))
    }

    /// Accepts a value already in E.164 (from the store).
    pub fn from_e164(value: &str) -> Result<Self, ValidationError> {
        Self::parse(value, None)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for PhoneNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_national_and_international_forms() {
        let a = PhoneNumber::parse("06 12 34 56 78", Some("FR")).unwrap();
        let b = PhoneNumber::parse("+33 6 12 34 56 78", None).unwrap();
        let c = PhoneNumber::parse("0033612345678", Some("US")).unwrap();
        assert_eq!(a.as_str(), "+33612345678");
        assert_eq!(a, b);
        assert_eq!(b, c);
    }

    #[test]
    fn refuses_garbage_and_ambiguous() {
        assert_eq!(PhoneNumber::parse("12ab", Some("FR")).unwrap_err().code, "invalid_phone");
        assert!(PhoneNumber::parse("0612345678", None).is_err());
        assert!(PhoneNumber::parse("+33 1", None).is_err());
    }
}
