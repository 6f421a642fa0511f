//! Tickets opened automatically: a rule names keywords (words or phrases, in any language) and
//! the ticket a customer's message saying one of them opens, with its type, priority and team.
//! Keywords match whole words or phrases, whatever the case and accents: `cassé` matches
//! "c'est CASSE" but not "cassée" (another word: list the forms a rule should catch). The first
//! rule that matches wins.

use serde::{Deserialize, Serialize};
use tandem_core::{
    text::{contains_words, fold},
    TeamId, ValidationError,
};

use crate::{sla::Priority, ticket::TicketTypeKey};

pub const MAX_RULES: usize = 50;
pub const MAX_KEYWORDS: usize = 50;
const MAX_NAME_CHARS: usize = 80;
const MAX_KEYWORD_CHARS: usize = 80;

/// A rule as the API reads and writes it; checked into [`TicketRule`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TicketRuleSpec {
    /// Shown on the tickets it opens.
    pub name: String,
    /// Words or phrases, e.g. `["refund", "money back", "remboursement"]`.
    pub keywords: Vec<String>,
    /// The ticket's type (default `general`).
    #[serde(rename = "type", default = "TicketTypeKey::general")]
    #[schema(value_type = String)]
    pub kind: TicketTypeKey,
    /// Default `medium`.
    #[serde(default = "medium")]
    pub priority: Priority,
    /// The team whose queue the ticket goes to; none by default.
    #[serde(default)]
    #[schema(value_type = Option<String>)]
    pub team_id: Option<TeamId>,
}

fn medium() -> Priority {
    Priority::Medium
}

/// A valid rule: a name, 1 to 50 keywords of 1 to 80 characters, kept folded for matching.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "TicketRuleSpec", into = "TicketRuleSpec")]
pub struct TicketRule {
    spec: TicketRuleSpec,
    folded: Vec<String>,
}

impl utoipa::PartialSchema for TicketRule {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        <TicketRuleSpec as utoipa::PartialSchema>::schema()
    }
}
impl utoipa::ToSchema for TicketRule {}

impl TryFrom<TicketRuleSpec> for TicketRule {
    type Error = ValidationError;
    fn try_from(mut spec: TicketRuleSpec) -> Result<Self, Self::Error> {
        spec.name = spec.name.trim().to_string();
        if spec.name.is_empty() || spec.name.chars().count() > MAX_NAME_CHARS {
            return Err(ValidationError::new(
                "name",
                "invalid_rule",
                format!("a ticket rule needs a name of 1 to {MAX_NAME_CHARS} characters"),
            ));
        }
        spec.keywords = spec.keywords.iter().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()).collect();
        if spec.keywords.is_empty() || spec.keywords.len() > MAX_KEYWORDS {
            return Err(ValidationError::new(
                "keywords",
                "invalid_rule",
                format!("ticket rule `{}` needs 1 to {MAX_KEYWORDS} keywords", spec.name),
            ));
        }
        if let Some(long) = spec.keywords.iter().find(|k| k.chars().count() > MAX_KEYWORD_CHARS) {
            return Err(ValidationError::new(
                "keywords",
                "invalid_rule",
                format!("keyword `{long}` is over {MAX_KEYWORD_CHARS} characters"),
            ));
        }
        let folded = spec.keywords.iter().map(|k| fold(k)).collect();
        Ok(Self { spec, folded })
    }
}

impl From<TicketRule> for TicketRuleSpec {
    fn from(r: TicketRule) -> Self {
        r.spec
    }
}

impl TicketRule {
    pub fn name(&self) -> &str {
        &self.spec.name
    }
    pub fn kind(&self) -> &TicketTypeKey {
        &self.spec.kind
    }
    pub fn priority(&self) -> Priority {
        self.spec.priority
    }
    pub fn team_id(&self) -> Option<TeamId> {
        self.spec.team_id
    }

    /// The keyword (as written in the rule) that `message` says, if any.
    pub fn matches(&self, message: &str) -> Option<&str> {
        let text = fold(message);
        self.folded.iter().position(|k| contains_words(&text, k)).map(|i| self.spec.keywords[i].as_str())
    }
}

/// The first rule a customer's message matches, with the keyword it said.
pub fn first_match<'a>(rules: &'a [TicketRule], message: &str) -> Option<(&'a TicketRule, &'a str)> {
    rules.iter().find_map(|r| r.matches(message).map(|k| (r, k)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(v: serde_json::Value) -> Result<TicketRule, serde_json::Error> {
        serde_json::from_value(v)
    }

    #[test]
    fn rules_are_checked_and_defaulted() {
        let r = rule(serde_json::json!({"name": " Refunds ", "keywords": ["refund", " money back ", ""]})).unwrap();
        assert_eq!((r.name(), r.kind().as_str(), r.priority()), ("Refunds", "general", Priority::Medium));
        assert_eq!(serde_json::to_value(&r).unwrap()["keywords"], serde_json::json!(["refund", "money back"]));
        for bad in [
            serde_json::json!({"name": "", "keywords": ["x"]}),
            serde_json::json!({"name": "Empty", "keywords": ["  "]}),
            serde_json::json!({"name": "Long", "keywords": ["x".repeat(81)]}),
            serde_json::json!({"name": "Typo", "keywords": ["x"], "priority": "asap"}),
            serde_json::json!({"name": "Extra", "keywords": ["x"], "when": "always"}),
        ] {
            assert!(rule(bad.clone()).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_first_matching_rule_wins_by_whole_words() {
        let rules: Vec<TicketRule> = serde_json::from_value(serde_json::json!([
            {"name": "Refunds", "keywords": ["refund", "money back", "remboursement"], "type": "refund", "priority": "high"},
            {"name": "Broken", "keywords": ["broken", "cassé"], "type": "bug_report"},
        ]))
        .unwrap();
        let (r, k) = first_match(&rules, "Bonjour, je veux un REMBOURSEMENT svp").unwrap();
        assert_eq!((r.name(), k, r.priority()), ("Refunds", "remboursement", Priority::High));
        assert_eq!(first_match(&rules, "My lamp is CASSE and I want my money  back").map(|(r, _)| r.name()), Some("Refunds"));
        assert_eq!(first_match(&rules, "la lampe est CASSE").map(|(r, k)| (r.name(), k)), Some(("Broken", "cassé")));
        assert!(first_match(&rules, "la lampe est cassée").is_none(), "another form is another word");
        assert!(first_match(&rules, "I was refunded already, thanks").is_none(), "refunded is another word");
        assert!(first_match(&rules, "Do you ship to Lyon?").is_none());
    }
}
