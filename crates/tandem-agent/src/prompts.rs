//! The prompt templates of `prompts/` (minijinja), compiled into the binary so that a deployed
//! Tandem always runs the prompts it was tested with.

use std::sync::OnceLock;

use minijinja::Environment;
use serde::Serialize;

use crate::AgentError;

const TEMPLATES: &[(&str, &str)] = &[
    ("answer", include_str!("../../../prompts/answer.j2")),
    ("assess", include_str!("../../../prompts/assess.j2")),
    ("smart_reply", include_str!("../../../prompts/smart_reply.j2")),
    ("rewrite", include_str!("../../../prompts/rewrite.j2")),
    ("translate", include_str!("../../../prompts/translate.j2")),
    ("topic", include_str!("../../../prompts/topic.j2")),
];

fn environment() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        env.set_trim_blocks(true);
        for (name, source) in TEMPLATES {
            env.add_template(name, source).expect("prompts/ templates parse (checked by the tests)");
        }
        env
    })
}

/// Renders the template `name` with `context`.
pub fn render(name: &'static str, context: impl Serialize) -> Result<String, AgentError> {
    let template = environment().get_template(name).map_err(|e| AgentError::Prompt(name, e.to_string()))?;
    let text = template.render(context).map_err(|e| AgentError::Prompt(name, e.to_string()))?;
    Ok(text.trim().to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_template_renders() {
        let chunk = serde_json::json!({"source": "faq.txt", "location": "p. 2", "text": "Returns within 30 days."});
        let answer = render(
            "answer",
            serde_json::json!({"name": "A", "mission": "m", "instructions": "Be kind.", "tone": "friendly", "length": "brief",
                "language": "French", "goals": ["g1"], "refuse_topics": ["politics"], "chunks": [chunk]}),
        )
        .unwrap();
        assert!(
            answer.contains("[1] faq.txt (p. 2)\nReturns within 30 days.") && answer.contains("Write the answer in French."),
            "{answer}"
        );
        assert!(
            answer.contains("- g1") && answer.contains("reply with the single word REFUSE") && answer.contains("* politics"),
            "{answer}"
        );
        let assess = render(
            "assess",
            serde_json::json!({"name": "A", "history": [{"role": "customer", "text": "hi"}], "message": "m",
                "refuse_topics": ["politics"], "raise": ["big orders"], "lower": [], "fields": ["company", "budget"]}),
        )
        .unwrap();
        assert!(assess.contains("* big orders") && assess.contains("company, budget") && assess.contains("customer: hi"), "{assess}");
        let topic = render(
            "topic",
            serde_json::json!({"message": "Who should I vote for?", "business": ["products"], "topics": ["medicine", "politics"]}),
        )
        .unwrap();
        assert!(
            topic.contains("1. products\n2. medicine\n3. politics\n") && topic.contains("\"\"\"Who should I vote for?\"\"\""),
            "{topic}"
        );
        for name in ["smart_reply", "rewrite", "translate"] {
            let text = render(
                name,
                serde_json::json!({"count": 3, "language": "English", "tone": "friendly", "draft": "d", "text": "t",
                "message": "m", "history": [], "chunks": []}),
            )
            .unwrap();
            assert!(!text.is_empty() && !text.contains("{{"), "{name}: {text}");
        }
    }
}
