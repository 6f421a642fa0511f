//! Plain text, Markdown and HTML, and the normalisation every extracted text goes through.

use unicode_normalization::UnicodeNormalization;

use super::{ParseError, Section};

/// UTF-8 (with or without BOM); anything else is read as Windows-1252, the usual legacy encoding
/// of French and English text files.
pub fn decode(bytes: &[u8]) -> String {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    match std::str::from_utf8(bytes) {
        Ok(s) => s.to_string(),
        Err(_) => encoding_rs::WINDOWS_1252.decode_without_bom_handling(bytes).0.into_owned(),
    }
}

/// Spacing accents that TeX-made PDFs place beside the letter instead of on it, with the
/// combining mark they stand for.
const SPACING_ACCENTS: &[(char, char)] = &[
    ('\u{B4}', '\u{301}'),  // ´ acute
    ('`', '\u{300}'),       // ` grave
    ('\u{2C6}', '\u{302}'), // ˆ circumflex
    ('^', '\u{302}'),
    ('\u{A8}', '\u{308}'),  // ¨ diaeresis
    ('\u{2DC}', '\u{303}'), // ˜ tilde
    ('\u{B8}', '\u{327}'),  // ¸ cedilla
];

/// `´ e` or `´e` → `é` (the accent, at most one space, then a vowel, `c` or `n`). For PDF text only:
/// in Markdown a backtick is code, not an accent.
pub fn repair_spacing_accents(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < chars.len() {
        if let Some((_, combining)) = SPACING_ACCENTS.iter().find(|(a, _)| *a == chars[i]) {
            let next = if chars.get(i + 1) == Some(&' ') { i + 2 } else { i + 1 };
            if let Some(letter) = chars.get(next).filter(|c| "aeiouyAEIOUYcCnN".contains(**c)) {
                let composed: String = [*letter, *combining].iter().collect::<String>().nfc().collect();
                if composed.chars().count() == 1 {
                    out.push_str(&composed);
                    i = next + 1;
                    continue;
                }
            }
        }
        out.push(chars[i]);
        i += 1;
    }
    out
}

/// NFKC (ligatures such as `ﬁ` and full-width forms become plain letters), control characters dropped, runs of spaces collapsed, at most one blank line in a row.
pub fn normalize(text: &str) -> String {
    let text: String = text.nfkc().collect();
    let mut out = String::with_capacity(text.len());
    let mut blank_lines = 0;
    for line in text.lines() {
        let line: String = line.chars().filter(|c| !c.is_control() || *c == '\t').collect();
        let line = line.split([' ', '\t']).filter(|w| !w.is_empty()).collect::<Vec<_>>().join(" ");
        if line.is_empty() {
            blank_lines += 1;
            if blank_lines > 1 || out.is_empty() {
                continue;
            }
        } else {
            blank_lines = 0;
        }
        out.push_str(&line);
        out.push('\n');
    }
    out.trim_end().to_string()
}

/// The main text of a web page (navigation, footers and ads left out), as Markdown so headings
/// become chunk heading paths.
pub fn parse_html(bytes: &[u8]) -> Result<Vec<Section>, ParseError> {
    let html = decode(bytes);
    let config = dom_smoothie::Config { text_mode: dom_smoothie::TextMode::Markdown, max_elements_to_parse: 200_000, ..Default::default() };
    let mut readability = dom_smoothie::Readability::new(html.as_str(), None, Some(config))
        .map_err(|e| ParseError::Damaged(format!("unreadable HTML: {e}")))?;
    let article = readability.parse().map_err(|e| ParseError::NoText(format!("no main text found in the page: {e}")))?;
    let mut text = article.text_content.to_string();
    if !article.title.is_empty() && !text.contains(article.title.as_str()) {
        text = format!("# {}\n\n{text}", article.title);
    }
    Ok(vec![Section { location: None, text, rows: false }])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalisation_repairs_what_pdf_extraction_breaks() {
        assert_eq!(repair_spacing_accents("Garantie ´ etendue, d´ej`a pay´ee, it´s"), "Garantie étendue, déjà payée, it´s");
        assert_eq!(normalize("ﬁchier ＬＸ－２１０"), "fichier LX-210");
        assert_eq!(normalize("a  \t b\n\n\n\nc\u{7}"), "a b\n\nc");
        assert_eq!(decode(b"caf\xE9 \x80"), "café €");
        assert_eq!(decode("\u{feff}déjà".as_bytes()), "déjà");
    }
}
