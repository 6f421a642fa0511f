//! The paragraph of the retrieved passages that plainly answers the question.
//!
//! A passage is ~500 tokens: on an FAQ that is eight questions with their answers, and a small
//! model reading it sometimes answers the neighbouring question (asked about the welcome
//! discount, it describes the loyalty programme printed just above). When one paragraph shares
//! clearly more of the question's words than any other, it is shown to the model first, as its
//! own excerpt. When no paragraph stands out (a French question over English documents, two
//! paragraphs equally close), nothing is added and the model reads the passages as retrieved.

use std::collections::HashSet;

use crate::Passage;

/// Share of the question's words a paragraph must hold to be put first.
const MIN_COVERAGE: f32 = 0.6;
/// Fewer words than this and a match says little (a question of one word matches anything).
const MIN_QUESTION_WORDS: usize = 2;
/// Shorter paragraphs (in bytes: a Chinese sentence is short in characters) are headings, not answers.
const MIN_PARAGRAPH_BYTES: usize = 24;

/// The best paragraph, with the passage it comes from.
#[derive(Debug, Clone, PartialEq)]
pub struct Focus {
    pub passage: usize,
    pub text: String,
}

/// The paragraph of `passages` that stands out for `question`, if one does.
pub fn best_paragraph(question: &str, passages: &[Passage]) -> Option<Focus> {
    let wanted = words(question);
    if wanted.len() < MIN_QUESTION_WORDS {
        return None;
    }
    let mut scored: Vec<(usize, usize, &str)> = Vec::new();
    for (index, passage) in passages.iter().enumerate() {
        let paragraphs = paragraphs(&passage.text);
        if paragraphs.len() < 2 {
            continue; // the passage is already that paragraph
        }
        for paragraph in paragraphs {
            let have = words(paragraph);
            scored.push((wanted.intersection(&have).count(), index, paragraph));
        }
    }
    scored.sort_by_key(|s| std::cmp::Reverse(s.0));
    let (best, passage, text) = *scored.first()?;
    let runner_up = scored.get(1).map_or(0, |s| s.0);
    let coverage = best as f32 / wanted.len() as f32;
    (coverage >= MIN_COVERAGE && best > runner_up).then(|| Focus { passage, text: text.to_string() })
}

/// Blank-line paragraphs; a passage without blank lines (spreadsheet rows) splits by line.
fn paragraphs(text: &str) -> Vec<&str> {
    let by_blank: Vec<&str> = text.split("\n\n").map(str::trim).filter(|p| p.len() >= MIN_PARAGRAPH_BYTES).collect();
    if by_blank.len() > 1 {
        return by_blank;
    }
    text.lines().map(str::trim).filter(|p| p.len() >= MIN_PARAGRAPH_BYTES).collect()
}

/// The words that carry meaning: lower-cased, plural `s` dropped, function words left out;
/// scripts written without spaces (Chinese, Japanese, Thai) count by pairs of characters.
fn words(text: &str) -> HashSet<String> {
    let mut out = HashSet::new();
    for token in text.split(|c: char| !c.is_alphanumeric()).filter(|t| !t.is_empty()) {
        let token = token.to_lowercase();
        let chars: Vec<char> = token.chars().collect();
        if chars.iter().any(|&c| unspaced(c)) {
            out.extend(chars.windows(2).map(|w| w.iter().collect::<String>()));
            continue;
        }
        if chars.len() < 3 || STOP_WORDS.contains(&token.as_str()) {
            continue;
        }
        let stem = if chars.len() > 3 && token.ends_with('s') { &token[..token.len() - 1] } else { &token[..] };
        out.insert(stem.to_string());
    }
    out
}

fn unspaced(c: char) -> bool {
    matches!(c as u32, 0x0E00..=0x0E7F | 0x3040..=0x30FF | 0x3400..=0x4DBF | 0x4E00..=0x9FFF | 0xAC00..=0xD7AF)
}

const STOP_WORDS: &[&str] = &[
    "the", "and", "for", "are", "you", "your", "our", "with", "there", "this", "that", "what", "how", "can", "does", "have", "has", "from",
    "any", "was", "were", "will", "would", "could", "should", "about", "which", "who", "when", "where", "why", "its", "all", "but", "not",
    "yes", "les", "des", "une", "pour", "que", "qui", "vous", "nous", "avec", "dans", "sur", "pas", "est", "son", "ses", "aux", "par",
    "mon", "mes", "quel", "quelle", "quels", "quelles", "comment", "puis",
];

#[cfg(test)]
mod tests {
    use super::*;

    fn passage(text: &str) -> Passage {
        Passage { source: "faq.txt".into(), location: None, text: text.into(), score: 1.0, similarity: None }
    }

    const FAQ: &str = "Q: Do you have a loyalty programme?\nA: Yes, it is called Lumen Circle and it is free.\n\n\
        Q: Is there a welcome discount for new customers?\nA: Subscribe to our newsletter and you will receive the code BONJOUR10.\n\n\
        Q: How long do the LED bulbs last?\nA: About 15,000 hours.";

    #[test]
    fn the_paragraph_that_asks_the_question_comes_first() {
        let focus = best_paragraph("Is there a discount for new customers?", &[passage("Opening hours: 10:00 to 19:00"), passage(FAQ)]);
        let focus = focus.expect("one paragraph stands out");
        assert_eq!(focus.passage, 1);
        assert!(focus.text.contains("BONJOUR10"), "{focus:?}");
    }

    #[test]
    fn nothing_stands_out_for_a_question_in_another_language_or_a_tie() {
        assert_eq!(best_paragraph("Y a-t-il une remise de bienvenue ?", &[passage(FAQ)]), None);
        let tie = "Lamps for the kitchen, in brass.\n\nLamps for the bedroom, in brass.";
        assert_eq!(best_paragraph("brass lamps", &[passage(tie)]), None);
        assert_eq!(best_paragraph("discount", &[passage(FAQ)]), None, "one word is not enough");
    }

    #[test]
    fn rows_of_a_spreadsheet_are_paragraphs_and_cjk_counts_by_pairs() {
        let rows = "Store: Lyon Presqu'ile; Phone: 04 72 00 00 00\nStore: Paris Marais; Phone: 01 42 00 00 00";
        let focus = best_paragraph("phone of the Paris Marais store", &[passage(rows)]).unwrap();
        assert!(focus.text.contains("Paris"), "{focus:?}");
        let zh = "退货政策：三十天内可以退货。\n\n配送时间：三到五个工作日。";
        assert!(best_paragraph("配送时间多久", &[passage(zh)]).unwrap().text.starts_with("配送"));
    }
}
