//! Which file column fills which contact field.

use std::collections::BTreeMap;
use tandem_core::{property::DEFAULT_FIELDS, PropertyDefinition};

use crate::{Result, StoreError};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    Field(String),
    /// Label names separated by `;`.
    Labels,
    Ignore,
}

impl Target {
    pub fn name(&self) -> String {
        match self {
            Self::Field(f) => f.clone(),
            Self::Labels => "labels".into(),
            Self::Ignore => "ignore".into(),
        }
    }
}

/// Header spellings people use for default fields (English and French).
const ALIASES: &[(&str, &str)] = &[
    ("firstname", "first_name"),
    ("given_name", "first_name"),
    ("prenom", "first_name"),
    ("prénom", "first_name"),
    ("lastname", "last_name"),
    ("surname", "last_name"),
    ("family_name", "last_name"),
    ("nom", "last_name"),
    ("e_mail", "email"),
    ("mail", "email"),
    ("email_address", "email"),
    ("courriel", "email"),
    ("phone_number", "phone"),
    ("mobile", "phone"),
    ("telephone", "phone"),
    ("téléphone", "phone"),
    ("tel", "phone"),
    ("city", "location"),
    ("ville", "location"),
    ("pays", "country"),
    ("organization", "company"),
    ("organisation", "company"),
    ("entreprise", "company"),
    ("societe", "company"),
    ("société", "company"),
    ("title", "job_title"),
    ("poste", "job_title"),
    ("tags", "labels"),
    ("label", "labels"),
];

fn normalise(header: &str) -> String {
    header.trim().to_lowercase().replace([' ', '-', '.'], "_")
}

fn target_for(name: &str, definitions: &[PropertyDefinition]) -> Option<Target> {
    match name {
        "labels" => Some(Target::Labels),
        "ignore" => Some(Target::Ignore),
        f if DEFAULT_FIELDS.contains(&f) || definitions.iter().any(|d| d.key.as_str() == f) => Some(Target::Field(f.to_string())),
        _ => None,
    }
}

/// Resolves every header: the given mapping first (every entry must name a header of the file and
/// a known target), then automatic matches on field names and common aliases; the rest is ignored.
pub fn resolve(
    headers: &[String],
    mapping: &BTreeMap<String, String>,
    definitions: &[PropertyDefinition],
) -> Result<Vec<(String, Target)>> {
    for (header, target) in mapping {
        if !headers.iter().any(|h| h.trim() == header.trim()) {
            return Err(StoreError::invalid(
                "mapping",
                "unknown_column",
                format!("the file has no column `{header}` (columns: {})", headers.join(", ")),
            ));
        }
        if target_for(target, definitions).is_none() {
            return Err(StoreError::invalid(
                "mapping",
                "unknown_field",
                format!("`{target}` is neither a contact field, a custom property, `labels` nor `ignore`"),
            ));
        }
    }
    let mut out = Vec::with_capacity(headers.len());
    let mut taken: Vec<Target> = Vec::new();
    for header in headers {
        let target = match mapping.get(header.trim()) {
            Some(t) => target_for(t, definitions).expect("checked above"),
            None => {
                let n = normalise(header);
                let n = ALIASES.iter().find(|(a, _)| *a == n).map(|(_, f)| f.to_string()).unwrap_or(n);
                target_for(&n, definitions)
                    .filter(|t| !taken.contains(t) && !mapping.values().any(|v| *v == t.name()))
                    .unwrap_or(Target::Ignore)
            }
        };
        if let Target::Field(_) = &target {
            if taken.contains(&target) {
                return Err(StoreError::invalid("mapping", "duplicate_target", format!("two columns are mapped to `{}`", target.name())));
            }
            taken.push(target.clone());
        }
        out.push((header.clone(), target));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn explicit_then_automatic() {
        let defs = vec![PropertyDefinition {
            key: "plan".parse().unwrap(),
            label: "Plan".into(),
            kind: tandem_core::PropertyKind::Text,
            options: vec![],
            required: false,
        }];
        let headers: Vec<String> = ["E-mail", "Prénom", "Abonnement", "Plan", "Notes"].iter().map(|s| s.to_string()).collect();
        let mapping = BTreeMap::from([("Abonnement".to_string(), "plan".to_string())]);
        let r = resolve(&headers, &mapping, &defs).unwrap();
        let names: Vec<String> = r.iter().map(|(_, t)| t.name()).collect();
        assert_eq!(names, ["email", "first_name", "plan", "ignore", "ignore"]);
        assert_eq!(
            resolve(&headers, &BTreeMap::from([("Nope".into(), "plan".into())]), &defs).unwrap_err().to_string(),
            "mapping: the file has no column `Nope` (columns: E-mail, Prénom, Abonnement, Plan, Notes)"
        );
    }
}
