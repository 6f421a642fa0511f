//! PDF text, page by page, with `pdf_oxide` (it reads CID-keyed CJK fonts such as Adobe-GB1 and
//! recovers truncated files, where lighter crates fail). Pages are counted before any text is
//! extracted, so a 5,000-page file is refused at once.

use super::{text::repair_spacing_accents, ParseError, Section};

/// A PDF with an `/Encrypt` dictionary in its trailer.
fn declares_encryption(bytes: &[u8]) -> bool {
    bytes.windows(8).any(|w| w == b"/Encrypt")
}

/// Returns the page count and one section per page with text.
pub fn parse(bytes: &[u8], max_pages: usize) -> Result<(usize, Vec<Section>), ParseError> {
    let encrypted = declares_encryption(bytes);
    let doc = pdf_oxide::PdfDocument::from_bytes(bytes.to_vec()).map_err(|e| match e {
        pdf_oxide::error::Error::EncryptedPdf => ParseError::Encrypted,
        _ if encrypted => ParseError::Encrypted,
        e => ParseError::Damaged(e.to_string()),
    })?;
    let pages = doc.page_count().map_err(|e| ParseError::Damaged(format!("cannot count its pages: {e}")))?;
    if pages > max_pages {
        return Err(ParseError::TooManyPages { pages, limit: max_pages });
    }
    let mut sections = Vec::with_capacity(pages);
    let mut failures = 0;
    for page in 0..pages {
        match doc.extract_text(page) {
            Ok(text) => {
                sections.push(Section { location: Some(format!("p. {}", page + 1)), text: repair_spacing_accents(&text), rows: false })
            }
            Err(pdf_oxide::error::Error::EncryptedPdf) => return Err(ParseError::Encrypted),
            Err(e) => {
                failures += 1;
                tracing::debug!(page = page + 1, error = %e, "page without text");
            }
        }
    }
    let readable = sections.iter().any(|s| s.text.chars().any(char::is_alphanumeric));
    if !readable && encrypted {
        return Err(ParseError::Encrypted);
    }
    // Nothing read and no end-of-file marker: the file was cut, not scanned.
    if !readable && !bytes.windows(5).any(|w| w == b"%%EOF") {
        return Err(ParseError::Damaged("the PDF is truncated (no end-of-file marker) and no text could be recovered".into()));
    }
    if !readable && failures == pages && pages > 0 {
        return Err(ParseError::Damaged("no page could be read".into()));
    }
    Ok((pages, sections))
}
