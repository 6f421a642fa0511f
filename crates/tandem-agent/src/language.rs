//! Which language a customer writes in, so the agent answers in it. Detection is restricted to
//! the languages the product serves (a short message otherwise scores as Latin or Esperanto).

use whatlang::{Detector, Lang};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Language(Lang);

/// The languages detected and named in prompts.
const SERVED: &[(Lang, &str, &str)] = &[
    (Lang::Eng, "en", "English"),
    (Lang::Fra, "fr", "French"),
    (Lang::Spa, "es", "Spanish"),
    (Lang::Ita, "it", "Italian"),
    (Lang::Deu, "de", "German"),
    (Lang::Por, "pt", "Portuguese"),
    (Lang::Nld, "nl", "Dutch"),
    (Lang::Cmn, "zh", "Chinese"),
    (Lang::Jpn, "ja", "Japanese"),
    (Lang::Kor, "ko", "Korean"),
    (Lang::Tha, "th", "Thai"),
    (Lang::Ara, "ar", "Arabic"),
    (Lang::Rus, "ru", "Russian"),
];

impl Language {
    pub const ENGLISH: Self = Self(Lang::Eng);
    pub const FRENCH: Self = Self(Lang::Fra);

    pub fn from_code(code: &str) -> Option<Self> {
        SERVED.iter().find(|(_, c, _)| c.eq_ignore_ascii_case(code)).map(|(l, _, _)| Self(*l))
    }

    /// ISO 639-1 code.
    pub fn code(self) -> &'static str {
        SERVED.iter().find(|(l, _, _)| *l == self.0).map_or("en", |(_, c, _)| c)
    }

    /// English name, as prompts say it.
    pub fn name(self) -> &'static str {
        SERVED.iter().find(|(l, _, _)| *l == self.0).map_or("English", |(_, _, n)| n)
    }

    /// The language of `text`, when it can be told; `None` for text too short or mixed to say.
    pub fn detect(text: &str) -> Option<Self> {
        let detector = Detector::with_allowlist(SERVED.iter().map(|(l, _, _)| *l).collect());
        let info = detector.detect(text)?;
        // Scripts decide on their own; Latin-script languages need some confidence, which short
        // messages rarely reach: a French marker word settles those.
        let script_decides = matches!(info.lang(), Lang::Cmn | Lang::Jpn | Lang::Kor | Lang::Tha | Lang::Ara | Lang::Rus);
        if script_decides || info.is_reliable() || info.confidence() > 0.5 {
            return Some(Self(info.lang()));
        }
        // Unsure between Latin-script languages: French markers decide, then English, the
        // likeliest language of a short plain-ASCII message to a business.
        if let Some(fr) = french_markers(text) {
            return Some(fr);
        }
        if info.lang() == Lang::Eng || text.is_ascii() {
            return Some(Self::ENGLISH);
        }
        Some(Self(info.lang())).filter(|_| info.confidence() > 0.2)
    }
}

/// Words that only French uses among the served Latin-script languages; a short message holding
/// two of them (or one and an accented letter) is French.
fn french_markers(text: &str) -> Option<Language> {
    const MARKERS: &[&str] = &[
        "je",
        "vous",
        "est",
        "une",
        "les",
        "des",
        "pour",
        "avec",
        "pas",
        "mon",
        "ma",
        "mes",
        "votre",
        "vos",
        "combien",
        "quel",
        "quelle",
        "bonjour",
        "merci",
        "où",
        "ça",
        "c'est",
        "j'ai",
        "puis-je",
        "peut-on",
        "êtes-vous",
        "parler",
        "veux",
    ];
    let lower = text.to_lowercase();
    let words: Vec<&str> = lower.split(|c: char| !c.is_alphanumeric() && c != '\'' && c != '-').filter(|w| !w.is_empty()).collect();
    let hits = words.iter().filter(|w| MARKERS.contains(w)).count();
    let accents = lower.chars().any(|c| "éèêàçùôîœ".contains(c));
    (hits >= 2 || (hits >= 1 && accents)).then_some(Language::FRENCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn customers_languages_are_told_apart() {
        let cases = [
            ("How much does the ORBE table lamp cost?", "en"),
            ("I want to talk to a human, please.", "en"),
            ("Combien coûte l'extension de garantie ?", "fr"),
            ("Je veux parler à un conseiller.", "fr"),
            ("Acceptez-vous les paiements par chèque ?", "fr"),
            ("退货政策是什么？", "zh"),
            ("返品の期限は何日ですか？", "ja"),
            ("นโยบายการคืนสินค้าเป็นอย่างไร", "th"),
        ];
        for (text, code) in cases {
            assert_eq!(Language::detect(text).map(Language::code), Some(code), "{text}");
        }
        assert_eq!(Language::from_code("FR"), Some(Language::FRENCH));
        assert_eq!(Language::FRENCH.name(), "French");
        assert!(Language::from_code("xx").is_none());
    }
}
