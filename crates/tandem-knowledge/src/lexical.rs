//! Lexical (BM25-style) sparse vectors, so exact terms (product codes, names, prices) and French or
//! CJK keywords are found where embeddings are weak.
//!
//! Text is NFKC-normalised and lower-cased. Latin-script words give their French and English
//! Snowball stems (both: a knowledge base mixes languages, and query and passage are treated the
//! same way), with diacritics folded so `délai` and `delai` meet; common stop words are dropped.
//! Runs of CJK or Thai characters, written without spaces, give overlapping character bigrams.
//! Each term is hashed to a sparse index; a passage's values are saturated term frequencies
//! (BM25's k1/b with a fixed average length), and the index applies IDF at query time.

use std::collections::BTreeMap;
use unicode_normalization::{char::is_combining_mark, UnicodeNormalization};

/// BM25 term-frequency saturation.
const K1: f32 = 1.2;
/// BM25 length normalisation.
const B: f32 = 0.75;
/// Typical passage length in terms, for length normalisation.
const AVG_TERMS: f32 = 300.0;

const STOP_WORDS: &[&str] = &[
    // English
    "a", "an", "and", "are", "as", "at", "be", "by", "do", "does", "for", "from", "how", "i", "if", "in", "is", "it", "me", "my", "of",
    "on", "or", "our", "the", "this", "that", "to", "was", "we", "what", "when", "where", "which", "who", "will", "with", "you", "your",
    "can", // French
    "au", "aux", "ce", "ces", "dans", "de", "des", "du", "elle", "en", "est", "et", "il", "je", "la", "le", "les", "leur", "mais", "me",
    "mes", "mon", "ne", "nous", "on", "ou", "où", "par", "pas", "pour", "qu", "que", "qui", "sa", "se", "ses", "son", "sur", "ta", "te",
    "tu", "un", "une", "vos", "votre", "vous", "y", "l", "d", "j", "n", "s", "c", "quel", "quelle", "quels", "quelles", "combien",
    "comment", "est-ce",
];

/// A sparse vector: sorted, unique indices and their values.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SparseVector {
    pub indices: Vec<u32>,
    pub values: Vec<f32>,
}

fn is_cjk_or_thai(c: char) -> bool {
    matches!(c as u32,
        0x3040..=0x30FF   // Hiragana, Katakana
        | 0x3400..=0x4DBF // CJK extension A
        | 0x4E00..=0x9FFF // CJK unified
        | 0xF900..=0xFAFF // CJK compatibility
        | 0xAC00..=0xD7AF // Hangul
        | 0x0E00..=0x0E7F // Thai
    )
}

fn fold_diacritics(word: &str) -> String {
    word.nfd().filter(|c| !is_combining_mark(*c)).collect()
}

/// The terms of a text, in order, repeated as often as they occur.
pub fn terms(text: &str) -> Vec<String> {
    let english = rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::English);
    let french = rust_stemmers::Stemmer::create(rust_stemmers::Algorithm::French);
    let text: String = text.nfkc().collect::<String>().to_lowercase();
    let mut out = Vec::new();
    let mut word = String::new();
    let mut cjk: Vec<char> = Vec::new();
    let flush_word = |word: &mut String, out: &mut Vec<String>| {
        if word.is_empty() {
            return;
        }
        let w = std::mem::take(word);
        if STOP_WORDS.contains(&w.as_str()) {
            return;
        }
        if w.chars().any(|c| c.is_ascii_digit()) {
            // Codes and numbers are kept whole (`tx200`, `49`).
            out.push(w);
            return;
        }
        let en = fold_diacritics(&english.stem(&w));
        let fr = fold_diacritics(&french.stem(&w));
        if en == fr {
            out.push(en);
        } else {
            out.push(en);
            out.push(fr);
        }
    };
    let flush_cjk = |cjk: &mut Vec<char>, out: &mut Vec<String>| {
        match cjk.len() {
            0 => {}
            1 => out.push(cjk[0].to_string()),
            _ => out.extend(cjk.windows(2).map(|w| w.iter().collect::<String>())),
        }
        cjk.clear();
    };
    for c in text.chars() {
        if is_cjk_or_thai(c) {
            flush_word(&mut word, &mut out);
            cjk.push(c);
        } else if c.is_alphanumeric() {
            flush_cjk(&mut cjk, &mut out);
            word.push(c);
        } else {
            flush_word(&mut word, &mut out);
            flush_cjk(&mut cjk, &mut out);
        }
    }
    flush_word(&mut word, &mut out);
    flush_cjk(&mut cjk, &mut out);
    out
}

/// Stable 32-bit index of a term (FNV-1a).
pub fn term_index(term: &str) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in term.as_bytes() {
        h ^= *b as u32;
        h = h.wrapping_mul(0x0100_0193);
    }
    h
}

fn to_sparse(counts: BTreeMap<u32, f32>) -> SparseVector {
    let (indices, values) = counts.into_iter().unzip();
    SparseVector { indices, values }
}

/// The sparse vector of a passage: BM25-saturated term frequencies.
pub fn passage_vector(text: &str) -> SparseVector {
    let terms = terms(text);
    let len = terms.len() as f32;
    let mut tf: BTreeMap<u32, f32> = BTreeMap::new();
    for t in &terms {
        *tf.entry(term_index(t)).or_default() += 1.0;
    }
    let norm = K1 * (1.0 - B + B * len / AVG_TERMS);
    to_sparse(tf.into_iter().map(|(i, f)| (i, f * (K1 + 1.0) / (f + norm))).collect())
}

/// The sparse vector of a query: each distinct term once.
pub fn query_vector(text: &str) -> SparseVector {
    to_sparse(terms(text).iter().map(|t| (term_index(t), 1.0)).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn french_and_english_words_meet_their_variants() {
        assert_eq!(terms("Délais de livraison"), terms("delai livraisons"));
        let q: Vec<String> = terms("shipping prices");
        assert!(q.contains(&"ship".to_string()) && q.contains(&"price".to_string()), "{q:?}");
        assert!(terms("Le prix est de 49 €").contains(&"49".to_string()));
        assert!(terms("the of and").is_empty());
    }

    #[test]
    fn cjk_and_thai_give_bigrams() {
        assert_eq!(terms("退货政策"), ["退货", "货政", "政策"]);
        assert_eq!(terms("配送 TX200"), ["配送", "tx200"]);
        assert_eq!(terms("ส่ง").len(), 2);
    }

    #[test]
    fn passage_weights_saturate_and_query_is_flat() {
        let p = passage_vector("refund refund refund policy");
        let refund = p.indices.iter().position(|&i| i == term_index("refund")).unwrap();
        let policy = p.indices.iter().position(|&i| i == term_index("polici")).unwrap();
        assert!(p.values[refund] > p.values[policy] && p.values[refund] < 3.0 * p.values[policy]);
        assert!(query_vector("refund refund").values == [1.0]);
        assert!(p.indices.windows(2).all(|w| w[0] < w[1]));
    }
}
