//! Text compared the way people read it: case, accents, typographic apostrophes and runs of
//! spaces do not matter, so `Conseillère` matches `conseillere`.

use unicode_normalization::UnicodeNormalization;

/// Lower case, accents removed, typographic apostrophes made plain, spaces collapsed.
pub fn fold(text: &str) -> String {
    let lowered: String = text.nfkd().filter(|c| !unicode_normalization::char::is_combining_mark(*c)).collect::<String>().to_lowercase();
    lowered.replace(['\u{2019}', '\u{2018}', '`'], "'").split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Whether `phrase` (already folded) appears in `folded` as whole words: not inside a longer
/// word, so `refund` is found in "a refund, please" but not in "refunded".
pub fn contains_words(folded: &str, phrase: &str) -> bool {
    if phrase.is_empty() {
        return false;
    }
    let word = |c: Option<char>| c.is_some_and(char::is_alphanumeric);
    folded.match_indices(phrase).any(|(at, _)| !word(folded[..at].chars().next_back()) && !word(folded[at + phrase.len()..].chars().next()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_case_accents_and_spaces() {
        assert_eq!(fold("  Conseillère   d\u{2019}ÉTÉ "), "conseillere d'ete");
    }

    #[test]
    fn finds_whole_words_only() {
        let text = fold("Je veux un REMBOURSEMENT, s'il vous plaît; money-back now");
        assert!(contains_words(&text, "remboursement"));
        assert!(contains_words(&text, "money-back"));
        assert!(contains_words(&text, "s'il vous plait"));
        assert!(!contains_words(&text, "rembourse"), "inside a longer word");
        assert!(!contains_words(&fold("refunded"), "refund"));
        assert!(contains_words(&fold("refund"), "refund"), "the whole text");
        assert!(!contains_words(&text, ""));
    }
}
