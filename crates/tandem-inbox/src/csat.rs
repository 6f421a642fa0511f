//! Customer satisfaction (CSAT) surveys: what is asked when a ticket is resolved, and how a
//! customer's reply is read as a score. Customers answer in their own words on WhatsApp or SMS,
//! so a reply is read generously ("5", "5/5", "⭐⭐⭐⭐", "satisfait") but never guessed: a reply
//! that is not an answer ("thanks, and where is my invoice?") is left to the conversation.

use serde::{Deserialize, Serialize};
use tandem_core::ValidationError;

/// The scale the customer answers on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CsatScale {
    /// 1 (very unsatisfied) to 5 (very satisfied).
    #[default]
    FivePoint,
    /// Unsatisfied (1), neutral (2), satisfied (3).
    ThreePoint,
}

/// The WhatsApp template sent instead of the question once the conversation's window has closed
/// (a template without variables, approved on the channel).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatTemplate {
    pub name: String,
    pub language: String,
}

/// A workspace's survey settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CsatSettings {
    #[serde(default)]
    pub scale: CsatScale,
    /// The question; without it, a built-in one for the scale.
    #[serde(default)]
    pub question: Option<String>,
    #[serde(default)]
    pub template: Option<CsatTemplate>,
    /// Replies later than this are not answers any more.
    #[serde(default = "default_answer_hours")]
    pub answer_within_hours: u32,
}

fn default_answer_hours() -> u32 {
    72
}

impl CsatSettings {
    pub fn check(&self) -> Result<(), ValidationError> {
        if self.question.as_deref().is_some_and(|q| q.trim().is_empty() || q.chars().count() > 1000) {
            return Err(ValidationError::new("csat.question", "invalid_question", "a question is 1 to 1000 characters"));
        }
        if !(1..=24 * 30).contains(&self.answer_within_hours) {
            return Err(ValidationError::new("csat.answer_within_hours", "out_of_range", "answers are awaited 1 hour to 30 days"));
        }
        if self.template.as_ref().is_some_and(|t| t.name.trim().is_empty() || t.language.trim().is_empty()) {
            return Err(ValidationError::new("csat.template", "invalid_template", "a template has a name and a language"));
        }
        Ok(())
    }

    /// What the customer is asked.
    pub fn question_text(&self) -> String {
        match (&self.question, self.scale) {
            (Some(q), _) => q.clone(),
            (None, CsatScale::FivePoint) => "How satisfied are you with how we handled your request? \
                Reply with a number from 1 (very unsatisfied) to 5 (very satisfied)."
                .into(),
            (None, CsatScale::ThreePoint) => "How satisfied are you with how we handled your request? \
                Reply satisfied, neutral or unsatisfied."
                .into(),
        }
    }
}

impl CsatScale {
    /// The highest score.
    pub fn max(self) -> i64 {
        match self {
            CsatScale::FivePoint => 5,
            CsatScale::ThreePoint => 3,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            CsatScale::FivePoint => "five_point",
            CsatScale::ThreePoint => "three_point",
        }
    }

    /// The score a reply gives, when the reply is an answer on this scale.
    pub fn read(self, reply: &str) -> Option<i64> {
        let text = reply.trim().trim_end_matches(['.', '!', ' ']).trim().to_lowercase();
        if text.is_empty() || text.chars().count() > 40 {
            return None;
        }
        // "4", "4/5", "4 / 5"
        let number = text.split('/').next().map(str::trim).filter(|n| n.len() == 1).and_then(|n| n.parse::<i64>().ok());
        if let Some(n) = number {
            let whole = text.split_once('/').is_none_or(|(_, of)| of.trim() == self.max().to_string());
            return (whole && (1..=self.max()).contains(&n)).then_some(n);
        }
        let stars = text.chars().filter(|c| matches!(c, '⭐' | '★')).count() as i64;
        if stars > 0 && text.chars().all(|c| matches!(c, '⭐' | '★' | '\u{fe0f}' | ' ')) {
            return (stars <= self.max()).then(|| if self == CsatScale::ThreePoint { stars.min(3) } else { stars });
        }
        let words = text.trim_start_matches("very ").trim_start_matches("très ").trim_start_matches("tres ");
        let word = match words {
            "unsatisfied" | "dissatisfied" | "not satisfied" | "insatisfait" | "insatisfaite" | "pas satisfait" | "pas satisfaite"
            | "mécontent" | "mécontente" => Some(1),
            "neutral" | "neutre" | "ok" | "okay" | "moyen" => Some(2),
            "satisfied" | "satisfait" | "satisfaite" | "content" | "contente" => Some(3),
            _ => None,
        }?;
        Some(match self {
            CsatScale::ThreePoint => word,
            // On five points the words sit at the ends and the middle; "very" moves to the end.
            CsatScale::FivePoint => match (word, words.len() != text.len()) {
                (1, true) => 1,
                (1, false) => 2,
                (2, _) => 3,
                (_, false) => 4,
                (_, true) => 5,
            },
        })
    }
}

/// The satisfaction figures of a period.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct CsatSummary {
    pub responses: usize,
    /// Answers at the top of their scale (4 or 5 of 5, satisfied of 3).
    pub satisfied: usize,
    /// `satisfied` out of `responses`, in percent (the usual CSAT score); `null` without answers.
    pub csat_percent: Option<f64>,
    /// The mean answer on five points (three-point answers count as 1, 3 and 5).
    pub average_of_five: Option<f64>,
}

/// Sums up answers given on either scale.
pub fn summarise(answers: &[(CsatScale, i64)]) -> CsatSummary {
    let satisfied = answers
        .iter()
        .filter(|(scale, score)| match scale {
            CsatScale::FivePoint => *score >= 4,
            CsatScale::ThreePoint => *score == 3,
        })
        .count();
    let on_five: Vec<f64> = answers
        .iter()
        .map(|(scale, score)| match scale {
            CsatScale::FivePoint => *score as f64,
            CsatScale::ThreePoint => (*score * 2 - 1) as f64,
        })
        .collect();
    let n = answers.len();
    CsatSummary {
        responses: n,
        satisfied,
        csat_percent: (n > 0).then(|| (satisfied as f64 * 1000.0 / n as f64).round() / 10.0),
        average_of_five: (n > 0).then(|| (on_five.iter().sum::<f64>() * 100.0 / n as f64).round() / 100.0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replies_are_read_on_their_scale() {
        let five = CsatScale::FivePoint;
        for (reply, score) in [("5", 5), (" 4. ", 4), ("3/5", 3), ("⭐⭐⭐⭐", 4), ("★★", 2), ("very satisfied", 5), ("Satisfait", 4)]
        {
            assert_eq!(five.read(reply), Some(score), "{reply}");
        }
        for reply in ["6", "0", "4/10", "45", "thanks! where is my invoice?", "", "⭐⭐⭐⭐⭐⭐"] {
            assert_eq!(five.read(reply), None, "{reply}");
        }
        let three = CsatScale::ThreePoint;
        for (reply, score) in [("satisfied", 3), ("Neutre", 2), ("pas satisfait", 1), ("1", 1), ("3/3", 3)] {
            assert_eq!(three.read(reply), Some(score), "{reply}");
        }
        assert_eq!(three.read("5"), None);
    }

    #[test]
    fn the_summary_counts_the_top_of_each_scale_as_satisfied() {
        let s = summarise(&[(CsatScale::FivePoint, 5), (CsatScale::FivePoint, 3), (CsatScale::ThreePoint, 3), (CsatScale::ThreePoint, 1)]);
        assert_eq!((s.responses, s.satisfied, s.csat_percent, s.average_of_five), (4, 2, Some(50.0), Some(3.5)));
        assert_eq!(summarise(&[]).csat_percent, None);
    }

    #[test]
    fn settings_are_checked_and_the_question_follows_the_scale() {
        let mut s = CsatSettings { scale: CsatScale::ThreePoint, question: None, template: None, answer_within_hours: 72 };
        assert!(s.check().is_ok());
        assert!(s.question_text().contains("satisfied, neutral or unsatisfied"));
        s.answer_within_hours = 0;
        assert_eq!(s.check().unwrap_err().code, "out_of_range");
        s.answer_within_hours = 72;
        s.question = Some("  ".into());
        assert_eq!(s.check().unwrap_err().code, "invalid_question");
        let parsed: CsatSettings = serde_json::from_str(r#"{"scale": "five_point"}"#).unwrap();
        assert_eq!(parsed.answer_within_hours, 72);
        assert!(serde_json::from_str::<CsatSettings>(r#"{"scale": "ten_point"}"#).is_err());
    }
}
