//! The parse step: a source's bytes become sections of text, each with where it came from (a
//! page, a sheet and its rows, a section of a page). Parsers of untrusted files crash, hang and
//! balloon (measured: a PDF page that is its own parent, a 1.5 KB xlsx that declares cell
//! XFD1048576), so the server never calls [`parse`] itself: it runs it in a child process through
//! [`isolate`], which bounds its time and memory and turns any death into one failed source.

pub mod isolate;
mod pdf;
mod sheet;
mod text;

use serde::{Deserialize, Serialize};

use crate::accept::{self, Refusal, SourceKind};

/// A parsed source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Document {
    pub kind: SourceKind,
    /// Pages of a PDF.
    pub pages: Option<usize>,
    pub sections: Vec<Section>,
}

/// A run of text from one place in the source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Section {
    /// `p. 3`, `Lamps, rows 2-14`, or `None` for a whole text.
    pub location: Option<String>,
    pub text: String,
    /// Rows of a table, one per line: split between lines, never inside one.
    pub rows: bool,
}

/// Why a source could not be read. Each has a stable code for the API.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
pub enum ParseError {
    #[error("{0}")]
    Refused(String, String),
    #[error("the PDF has {pages} pages; a knowledge base takes at most {limit} pages per file")]
    TooManyPages { pages: usize, limit: usize },
    #[error("the PDF is encrypted; upload a copy without a password")]
    Encrypted,
    #[error("no extractable text: {0}")]
    NoText(String),
    #[error("the file is damaged or not what it claims to be: {0}")]
    Damaged(String),
    #[error("the file declares {0}, more than a knowledge base reads")]
    TooBig(String),
    #[error("reading the file took longer than {0} s and was stopped")]
    Timeout(u64),
    #[error("reading the file needed more than {0} MB of memory and was stopped")]
    OutOfMemory(u64),
    #[error("the parser crashed on this file ({0})")]
    Crashed(String),
}

impl ParseError {
    pub fn code(&self) -> &str {
        match self {
            Self::Refused(code, _) => code,
            Self::TooManyPages { .. } => "too_many_pages",
            Self::Encrypted => "encrypted_pdf",
            Self::NoText(_) => "no_extractable_text",
            Self::Damaged(_) => "damaged_file",
            Self::TooBig(_) => "file_too_complex",
            Self::Timeout(_) => "parse_timeout",
            Self::OutOfMemory(_) => "parse_out_of_memory",
            Self::Crashed(_) => "parser_crashed",
        }
    }
}

impl From<Refusal> for ParseError {
    fn from(r: Refusal) -> Self {
        Self::Refused(r.code().to_string(), r.to_string())
    }
}

/// Reads a source in this process. Only call it on trusted bytes, or inside [`isolate`]'s child.
pub fn parse(bytes: &[u8], name: &str, max_pages: usize) -> Result<Document, ParseError> {
    let kind = accept::detect(bytes, name)?;
    let (pages, sections) = match kind {
        SourceKind::Pdf => {
            let (pages, sections) = pdf::parse(bytes, max_pages)?;
            (Some(pages), sections)
        }
        SourceKind::Xlsx | SourceKind::Xls | SourceKind::Ods => (None, sheet::parse_workbook(bytes, kind)?),
        SourceKind::Csv => (None, sheet::parse_csv(bytes)?),
        SourceKind::Html => (None, text::parse_html(bytes)?),
        SourceKind::Markdown | SourceKind::Text => (None, vec![Section { location: None, text: text::decode(bytes), rows: false }]),
    };
    let sections: Vec<Section> =
        sections.into_iter().map(|s| Section { text: text::normalize(&s.text), ..s }).filter(|s| !s.text.trim().is_empty()).collect();
    if sections.is_empty() {
        return Err(ParseError::NoText(match kind {
            SourceKind::Pdf => "the PDF has no text layer (a scan or images only); upload a PDF with selectable text".into(),
            _ => "the file holds no text".into(),
        }));
    }
    Ok(Document { kind, pages, sections })
}
