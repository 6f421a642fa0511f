//! Splits a document's text into retrieval-sized pieces measured in tokens (cl100k, the unit LLM
//! context budgets use), with an overlap so that a sentence cut at a boundary is whole in one of
//! the two pieces. Markdown headings are kept as each chunk's heading path, since a chunk like
//! "14 days, 10 % fee" means little without "Returns > Electronics" above it.

use std::sync::OnceLock;
use text_splitter::{ChunkConfig, MarkdownSplitter};
use tiktoken_rs::CoreBPE;

/// Target chunk size in tokens.
pub const CHUNK_TOKENS: std::ops::Range<usize> = 350..500;
/// Tokens repeated between consecutive chunks.
pub const OVERLAP_TOKENS: usize = 50;

fn tokenizer() -> &'static CoreBPE {
    static BPE: OnceLock<CoreBPE> = OnceLock::new();
    BPE.get_or_init(|| tiktoken_rs::cl100k_base().expect("the cl100k tables are compiled into tiktoken-rs"))
}

/// Tokens in `text`, as budgets count them.
pub fn count_tokens(text: &str) -> usize {
    tokenizer().encode_ordinary(text).len()
}

#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// Position in the document, from 0.
    pub number: usize,
    pub text: String,
    /// Headings above the chunk, outermost first.
    pub headings: Vec<String>,
    pub tokens: usize,
}

impl Chunk {
    /// The text as embedded and indexed: the heading path, then the chunk.
    pub fn indexed_text(&self) -> String {
        if self.headings.is_empty() {
            self.text.clone()
        } else {
            format!("{}\n{}", self.headings.join(" > "), self.text)
        }
    }
}

/// The heading path in force at byte `offset` of a Markdown text.
fn headings_at(text: &str, offset: usize) -> Vec<String> {
    let mut path: Vec<(usize, String)> = Vec::new();
    for line in text[..offset].lines() {
        let level = line.chars().take_while(|c| *c == '#').count();
        if (1..=6).contains(&level) && line[level..].starts_with(' ') {
            path.retain(|(l, _)| *l < level);
            path.push((level, line[level..].trim().to_string()));
        }
    }
    path.into_iter().map(|(_, h)| h).collect()
}

/// Splits Markdown or plain text (plain text is Markdown without headings).
pub fn split(text: &str) -> Vec<Chunk> {
    let config = ChunkConfig::new(CHUNK_TOKENS)
        .with_sizer(tokenizer())
        .with_overlap(OVERLAP_TOKENS)
        .expect("overlap is smaller than the chunk size");
    let splitter = MarkdownSplitter::new(config);
    splitter
        .chunk_indices(text)
        .enumerate()
        .map(|(number, (offset, piece))| {
            let headings = headings_at(text, offset).into_iter().filter(|h| !piece.trim_start().starts_with(&format!("# {h}"))).collect();
            Chunk { number, text: piece.trim().to_string(), headings, tokens: count_tokens(piece) }
        })
        .filter(|c| !c.text.is_empty())
        .collect()
}

/// A chunk of a parsed source, ready to embed and index.
#[derive(Debug, Clone, PartialEq)]
pub struct Piece {
    /// Position in the source, from 0.
    pub number: usize,
    /// The text as embedded and shown: heading path or sheet rows first, then the chunk.
    pub text: String,
    /// Page, sheet rows or section.
    pub location: Option<String>,
    pub tokens: usize,
}

/// Splits every section of a parsed source. Table rows stay whole lines (a section of rows is
/// already chunk-sized); text is split by tokens with its heading path kept.
pub fn split_document(document: &crate::parse::Document) -> Vec<Piece> {
    let mut pieces = Vec::new();
    for section in &document.sections {
        if section.rows && count_tokens(&section.text) <= CHUNK_TOKENS.end {
            let text = match &section.location {
                Some(l) => format!("{l}\n{}", section.text),
                None => section.text.clone(),
            };
            pieces.push(Piece { number: pieces.len(), tokens: count_tokens(&text), text, location: section.location.clone() });
            continue;
        }
        for chunk in split(&section.text) {
            let location = match (&section.location, chunk.headings.is_empty()) {
                (Some(l), true) => Some(l.clone()),
                (Some(l), false) => Some(format!("{l} · {}", chunk.headings.join(" > "))),
                (None, false) => Some(chunk.headings.join(" > ")),
                (None, true) => None,
            };
            let text = chunk.indexed_text();
            pieces.push(Piece { number: pieces.len(), tokens: count_tokens(&text), text, location });
        }
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunks_are_token_sized_overlap_and_keep_headings() {
        let mut doc = String::from("# Policies\n\n## Returns\n\n");
        for i in 0..200 {
            doc.push_str(&format!("Return rule number {i} applies to orders placed online or in a shop. "));
        }
        doc.push_str("\n\n## Shipping\n\nParcels leave within 24 hours.\n");
        let chunks = split(&doc);
        assert!(chunks.len() >= 4, "{}", chunks.len());
        assert!(chunks.iter().all(|c| c.tokens <= CHUNK_TOKENS.end), "{:?}", chunks.iter().map(|c| c.tokens).collect::<Vec<_>>());
        // A chunk inside the Returns section (not the one that starts with its heading) carries it.
        let inner: Vec<&Chunk> = chunks.iter().filter(|c| c.text.contains("Return rule") && !c.text.contains("## Returns")).collect();
        assert!(inner.len() >= 2);
        assert!(inner.iter().all(|c| c.headings == ["Policies", "Returns"]), "{:?}", inner.iter().map(|c| &c.headings).collect::<Vec<_>>());
        let last = chunks.last().unwrap();
        assert!(last.text.contains("Parcels leave within 24 hours."));
        // Consecutive chunks of the section share text.
        let tail: String = inner[0].text.chars().rev().take(30).collect::<String>().chars().rev().collect();
        assert!(inner[1].text.contains(tail.trim()), "no overlap between {:?} and {:?}", inner[0].text, inner[1].text);
    }
}
