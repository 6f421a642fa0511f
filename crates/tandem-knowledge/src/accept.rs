//! The accept step: what a knowledge base takes before anything is parsed. A source's type comes
//! from its bytes, never its name (a ZIP archive named `.pdf` is refused as what it is), and the
//! limits of PRODUCT.md §2 (10 sources, 20 MB in total) are checked with a message that says which
//! limit and by how much. The page limit (1,000 per file) is checked by the parser, which counts pages.

use std::io::{Cursor, Read};

/// What a source is, as read from its bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SourceKind {
    Pdf,
    Xlsx,
    Xls,
    Ods,
    Csv,
    Html,
    Markdown,
    Text,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub max_sources: usize,
    pub max_total_bytes: u64,
    pub max_pages: usize,
}

impl Default for Limits {
    /// PRODUCT.md §2: up to 10 files, 20 MB in total, 1,000 pages per file.
    fn default() -> Self {
        Self { max_sources: 10, max_total_bytes: 20 * 1000 * 1000, max_pages: 1000 }
    }
}

impl SourceKind {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pdf => "pdf",
            Self::Xlsx => "xlsx",
            Self::Xls => "xls",
            Self::Ods => "ods",
            Self::Csv => "csv",
            Self::Html => "html",
            Self::Markdown => "markdown",
            Self::Text => "text",
        }
    }
}

/// Why a source is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the file is empty")]
    Empty,
    #[error("the file is {0}; a knowledge base takes PDF, Excel (xlsx, xls, ods), CSV, text, Markdown and HTML")]
    Unsupported(&'static str),
    #[error("a knowledge base holds at most {limit} sources and this one has {existing}: delete one first")]
    TooManySources { limit: usize, existing: usize },
    #[error("a knowledge base holds at most {} in total: this file would bring it to {} ({} over)", mb(*limit), mb(*total), mb(total - limit))]
    TooLarge { limit: u64, total: u64 },
}

impl Refusal {
    /// Stable machine-readable code.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_source",
            Self::Unsupported(_) => "unsupported_source",
            Self::TooManySources { .. } => "too_many_sources",
            Self::TooLarge { .. } => "knowledge_base_too_large",
        }
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1_000_000.0)
}

/// Reads the names of a ZIP archive's entries and its ODF `mimetype`, without inflating anything else.
fn zip_contents(bytes: &[u8]) -> Option<(Vec<String>, Option<String>)> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).ok()?;
    let names: Vec<String> = archive.file_names().map(str::to_string).collect();
    let mimetype = archive.by_name("mimetype").ok().and_then(|f| {
        let mut s = String::new();
        f.take(200).read_to_string(&mut s).ok().map(|_| s.trim().to_string())
    });
    Some((names, mimetype))
}

fn looks_like_csv(text: &str) -> bool {
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).take(20).collect();
    if lines.len() < 2 {
        return false;
    }
    [',', ';', '\t'].iter().any(|d| {
        let first = lines[0].matches(*d).count();
        first > 0 && lines.iter().all(|l| l.matches(*d).count() == first)
    })
}

/// Recognises a source's type from its content; `name` only separates Markdown from plain text
/// and breaks ties for delimited text.
pub fn detect(bytes: &[u8], name: &str) -> Result<SourceKind, Refusal> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(Refusal::Empty);
    }
    // PDF readers accept up to 1 KB of junk before the header; so do we.
    if bytes.windows(5).take(1024).any(|w| w == b"%PDF-") {
        return Ok(SourceKind::Pdf);
    }
    if bytes.starts_with(b"PK\x03\x04") {
        let (names, mimetype) = zip_contents(bytes).ok_or(Refusal::Unsupported("a damaged ZIP archive"))?;
        if names.iter().any(|n| n == "xl/workbook.xml") {
            return Ok(SourceKind::Xlsx);
        }
        if mimetype.as_deref() == Some("application/vnd.oasis.opendocument.spreadsheet") {
            return Ok(SourceKind::Ods);
        }
        if names.iter().any(|n| n == "word/document.xml") {
            return Err(Refusal::Unsupported("a Word document (export it as PDF)"));
        }
        return Err(Refusal::Unsupported("a ZIP archive"));
    }
    if bytes.starts_with(b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1") {
        return Ok(SourceKind::Xls);
    }
    let binary = [
        (&b"\x89PNG"[..], "a PNG image"),
        (b"\xFF\xD8\xFF", "a JPEG image"),
        (b"GIF8", "a GIF image"),
        (b"\x1F\x8B", "a gzip archive"),
        (b"7z\xBC\xAF", "a 7-Zip archive"),
        (b"Rar!", "a RAR archive"),
        (b"\x7FELF", "a program"),
        (b"MZ", "a Windows program"),
    ];
    if let Some((_, what)) = binary.iter().find(|(magic, _)| bytes.starts_with(magic)) {
        return Err(Refusal::Unsupported(what));
    }
    if bytes.iter().take(8192).any(|&b| b == 0) {
        return Err(Refusal::Unsupported("a binary file"));
    }
    let text = String::from_utf8_lossy(&bytes[..bytes.len().min(64 * 1024)]);
    let head = text.trim_start_matches('\u{feff}').trim_start().to_ascii_lowercase();
    if head.starts_with("<!doctype html") || head.starts_with("<html") || (head.starts_with("<?xml") && head.contains("<html")) {
        return Ok(SourceKind::Html);
    }
    let lower = name.to_ascii_lowercase();
    if lower.ends_with(".md") || lower.ends_with(".markdown") {
        return Ok(SourceKind::Markdown);
    }
    if (lower.ends_with(".csv") || lower.ends_with(".tsv") || !lower.ends_with(".txt")) && looks_like_csv(&text) {
        return Ok(SourceKind::Csv);
    }
    Ok(SourceKind::Text)
}

/// Checks a new source of `size` bytes against a knowledge base whose other sources have
/// `existing` sizes (a replaced source is left out of `existing` by the caller).
pub fn check_limits(existing: &[u64], size: u64, limits: &Limits) -> Result<(), Refusal> {
    if existing.len() >= limits.max_sources {
        return Err(Refusal::TooManySources { limit: limits.max_sources, existing: existing.len() });
    }
    let total = existing.iter().sum::<u64>() + size;
    if total > limits.max_total_bytes {
        return Err(Refusal::TooLarge { limit: limits.max_total_bytes, total });
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    fn zip_with(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored)).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    #[test]
    fn type_comes_from_content_not_name() {
        assert_eq!(detect(b"%PDF-1.7\n...", "prices.pdf"), Ok(SourceKind::Pdf));
        assert_eq!(detect(b"\xEF\xBB\xBF\n%PDF-1.4", "x"), Ok(SourceKind::Pdf));
        assert_eq!(detect(&zip_with(&[("xl/workbook.xml", b"<workbook/>")]), "catalogue.pdf"), Ok(SourceKind::Xlsx));
        assert_eq!(detect(&zip_with(&[("mimetype", b"application/vnd.oasis.opendocument.spreadsheet")]), "a.xlsx"), Ok(SourceKind::Ods));
        assert_eq!(detect(&zip_with(&[("notes.txt", b"hello")]), "prices.pdf"), Err(Refusal::Unsupported("a ZIP archive")));
        assert_eq!(detect(&zip_with(&[("word/document.xml", b"<w/>")]), "faq.pdf").unwrap_err().code(), "unsupported_source");
        assert_eq!(detect(b"\x89PNG\r\n\x1a\n", "faq.txt"), Err(Refusal::Unsupported("a PNG image")));
        assert_eq!(detect(b"  \n ", "faq.txt"), Err(Refusal::Empty));
        assert_eq!(detect(b"<!DOCTYPE html><html><body>Hi</body></html>", "faq.txt"), Ok(SourceKind::Html));
        assert_eq!(detect(b"sku;name;price\nLX-210;ORBE;129\nLX-450;ARC;349\n", "catalogue.txt"), Ok(SourceKind::Text));
        assert_eq!(detect(b"sku;name;price\nLX-210;ORBE;129\nLX-450;ARC;349\n", "catalogue"), Ok(SourceKind::Csv));
        assert_eq!(detect(b"# FAQ\n\nShipping takes 2 days.", "faq.md"), Ok(SourceKind::Markdown));
        assert_eq!(detect("Livraison offerte dès 80 €, même le dimanche.".as_bytes(), "faq.txt"), Ok(SourceKind::Text));
    }

    #[test]
    fn limits_say_which_and_by_how_much() {
        let limits = Limits::default();
        assert!(check_limits(&[1_000_000; 9], 5_000_000, &limits).is_ok());
        let e = check_limits(&[1_000; 10], 10, &limits).unwrap_err();
        assert_eq!(e.to_string(), "a knowledge base holds at most 10 sources and this one has 10: delete one first");
        let e = check_limits(&[15_000_000], 8_400_000, &limits).unwrap_err();
        assert_eq!(e.code(), "knowledge_base_too_large");
        assert_eq!(e.to_string(), "a knowledge base holds at most 20.0 MB in total: this file would bring it to 23.4 MB (3.4 MB over)");
    }
}
