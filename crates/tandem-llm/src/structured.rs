//! Structured outputs (lead score, handoff decision, classification): the JSON Schema sent for
//! constrained decoding, and the check of the model's text against it on our side.

use crate::error::LlmError;
use jsonschema::Validator;
use serde::de::DeserializeOwned;

/// How many schema violations an `InvalidOutput` reason lists.
const MAX_REPORTED: usize = 3;

pub(crate) fn compile(schema: &serde_json::Value) -> Result<Validator, LlmError> {
    jsonschema::validator_for(schema).map_err(|e| LlmError::InvalidSchema(e.to_string()))
}

/// `T`'s type name without its path or generics, in the characters OpenAI allows for a schema name
/// (`a-zA-Z0-9_-`, at most 64).
pub(crate) fn schema_name<T>() -> String {
    let full = std::any::type_name::<T>();
    let base = full.split('<').next().unwrap_or(full);
    let last = base.rsplit("::").next().unwrap_or(base);
    let name: String = last.chars().map(|c| if c.is_ascii_alphanumeric() || c == '_' || c == '-' { c } else { '_' }).take(64).collect();
    if name.is_empty() {
        "output".into()
    } else {
        name
    }
}

/// The model's text as JSON valid against the schema, then as `T`. A Markdown code fence around
/// the JSON is tolerated: servers that ignore `response_format` tend to add one.
pub(crate) fn parse<T: DeserializeOwned>(validator: &Validator, text: &str) -> Result<T, LlmError> {
    let invalid = |reason: String| LlmError::InvalidOutput { reason, raw: text.to_string() };
    let json = strip_fence(text);
    let value: serde_json::Value = serde_json::from_str(json).map_err(|e| invalid(format!("not JSON: {e}")))?;
    let violations: Vec<String> = validator
        .iter_errors(&value)
        .take(MAX_REPORTED)
        .map(|e| {
            let at = e.instance_path().to_string();
            format!("{}: {e}", if at.is_empty() { "/" } else { &at })
        })
        .collect();
    if !violations.is_empty() {
        return Err(invalid(violations.join("; ")));
    }
    serde_json::from_value(value).map_err(|e| invalid(format!("does not fit the expected type: {e}")))
}

fn strip_fence(text: &str) -> &str {
    let trimmed = text.trim();
    let Some(rest) = trimmed.strip_prefix("```") else { return trimmed };
    let rest = rest.strip_prefix("json").unwrap_or(rest);
    rest.strip_suffix("```").unwrap_or(rest).trim()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde::Deserialize;

    #[derive(Debug, Deserialize, PartialEq)]
    struct LeadScore {
        score: u8,
    }

    #[test]
    fn schema_name_is_the_bare_type_name() {
        assert_eq!(schema_name::<LeadScore>(), "LeadScore");
        assert_eq!(schema_name::<Vec<LeadScore>>(), "Vec");
    }

    #[test]
    fn fenced_json_is_read_and_violations_name_the_field() {
        let schema = serde_json::json!({
            "type": "object",
            "properties": {"score": {"type": "integer", "minimum": 0, "maximum": 100}},
            "required": ["score"],
            "additionalProperties": false
        });
        let validator = compile(&schema).unwrap();
        assert_eq!(parse::<LeadScore>(&validator, "```json\n{\"score\": 7}\n```").unwrap(), LeadScore { score: 7 });
        match parse::<LeadScore>(&validator, r#"{"score": 150}"#) {
            Err(LlmError::InvalidOutput { reason, raw }) => {
                assert!(reason.contains("/score"), "{reason}");
                assert_eq!(raw, r#"{"score": 150}"#);
            }
            other => panic!("expected InvalidOutput, got {other:?}"),
        }
        assert!(matches!(compile(&serde_json::json!({"type": 12})), Err(LlmError::InvalidSchema(_))));
    }
}
