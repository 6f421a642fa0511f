//! Spreadsheets and CSV. Each row becomes one line that stands on its own for retrieval —
//! `SKU: LX-210; Name: Orbe; Price: 129` — and rows are grouped into sections that keep their
//! sheet and row numbers. Archives are checked before anything is inflated.

use std::io::Cursor;

use super::{text::decode, ParseError, Section};
use crate::accept::SourceKind;

/// Most bytes a spreadsheet archive may inflate to.
const MAX_INFLATED_BYTES: u64 = 200 * 1024 * 1024;
/// Most columns read in a row: a cell beyond is a sign of a hostile file, not of a catalogue.
const MAX_COLUMNS: usize = 512;
/// Tokens of row lines gathered into one section (and so, at most, one chunk).
const ROWS_TOKENS: usize = 300;

/// Checks the declared sizes of a zip-based workbook before any entry is inflated.
fn check_archive(bytes: &[u8]) -> Result<(), ParseError> {
    let mut archive = zip::ZipArchive::new(Cursor::new(bytes)).map_err(|e| ParseError::Damaged(e.to_string()))?;
    let mut total: u64 = 0;
    for i in 0..archive.len() {
        let entry = archive.by_index_raw(i).map_err(|e| ParseError::Damaged(e.to_string()))?;
        total = total.saturating_add(entry.size());
        // Deflate cannot do better than ~1032:1; a claimed ratio beyond is a lie.
        if entry.compressed_size() > 0 && entry.size() / entry.compressed_size().max(1) > 1100 {
            return Err(ParseError::TooBig(format!(
                "an entry `{}` that inflates {}-fold",
                entry.name(),
                entry.size() / entry.compressed_size()
            )));
        }
    }
    if total > MAX_INFLATED_BYTES {
        return Err(ParseError::TooBig(format!("{} MB of uncompressed content", total / 1_000_000)));
    }
    Ok(())
}

/// A number as a person reads it: no `.0` on whole numbers, at most 6 significant decimals, and a
/// percentage where the column says so (spreadsheets store 15 % as 0.15).
fn number_text(f: f64, header: &str) -> String {
    let h = header.to_lowercase();
    let percent_column = h.contains('%')
        || ["discount", "rate", "percent", "margin", "vat", "remise", "taux", "pourcentage", "marge", "tva"].iter().any(|w| h.contains(w));
    if percent_column && f.abs() <= 1.0 && f.fract() != 0.0 {
        return format!("{}%", trim_float(f * 100.0));
    }
    trim_float(f)
}

fn trim_float(f: f64) -> String {
    if f.fract() == 0.0 && f.abs() < 1e15 {
        return format!("{}", f as i64);
    }
    let s = format!("{f:.6}");
    s.trim_end_matches('0').trim_end_matches('.').to_string()
}

fn cell_text(value: &calamine::DataRef<'_>, header: &str) -> String {
    use calamine::DataRef as D;
    match value {
        D::Empty => String::new(),
        D::String(s) | D::DateTimeIso(s) | D::DurationIso(s) => s.trim().to_string(),
        D::SharedString(s) => s.trim().to_string(),
        D::Int(i) => i.to_string(),
        D::Float(f) => number_text(*f, header),
        D::Bool(b) => if *b { "yes" } else { "no" }.to_string(),
        D::DateTime(dt) => {
            let (y, m, d, hh, mm, _, _) = dt.to_ymd_hms_milli();
            if (hh, mm) == (0, 0) {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02} {hh:02}:{mm:02}")
            }
        }
        D::Error(e) => format!("#{e:?}"),
    }
}

/// Gathers rows into sections of about [`ROWS_TOKENS`] tokens, each located by its rows.
struct RowSections {
    place: String,
    header: Vec<String>,
    sections: Vec<Section>,
    lines: Vec<String>,
    first_row: usize,
    last_row: usize,
    tokens: usize,
}

impl RowSections {
    fn new(place: &str) -> Self {
        Self { place: place.into(), header: vec![], sections: vec![], lines: vec![], first_row: 0, last_row: 0, tokens: 0 }
    }

    /// Adds a row (1-based number as the spreadsheet shows it); the first non-empty row is the header.
    fn row(&mut self, number: usize, cells: Vec<String>) {
        if cells.iter().all(|c| c.is_empty()) {
            return;
        }
        if self.header.is_empty() {
            self.header = cells;
            return;
        }
        let line = cells
            .iter()
            .enumerate()
            .filter(|(_, v)| !v.is_empty())
            .map(|(i, v)| match self.header.get(i).filter(|h| !h.is_empty()) {
                Some(h) => format!("{h}: {v}"),
                None => v.clone(),
            })
            .collect::<Vec<_>>()
            .join("; ");
        let tokens = crate::chunk::count_tokens(&line);
        if !self.lines.is_empty() && self.tokens + tokens > ROWS_TOKENS {
            self.flush();
        }
        if self.lines.is_empty() {
            self.first_row = number;
        }
        self.last_row = number;
        self.tokens += tokens;
        self.lines.push(line);
    }

    fn flush(&mut self) {
        if self.lines.is_empty() {
            return;
        }
        let rows = if self.first_row == self.last_row {
            format!("row {}", self.first_row)
        } else {
            format!("rows {}-{}", self.first_row, self.last_row)
        };
        let location = if self.place.is_empty() { rows } else { format!("{}, {rows}", self.place) };
        self.sections.push(Section { location: Some(location), text: self.lines.join("\n"), rows: true });
        self.lines.clear();
        self.tokens = 0;
    }

    fn finish(mut self) -> Vec<Section> {
        self.flush();
        self.sections
    }

    /// Adds a row of cells, each rendered under its column's header.
    fn values(&mut self, number: usize, values: &[calamine::DataRef<'_>]) {
        let texts = values.iter().enumerate().map(|(i, v)| cell_text(v, self.header.get(i).map_or("", String::as_str))).collect();
        self.row(number, texts);
    }
}

/// xlsx is streamed cell by cell (a sheet declaring a huge size allocates nothing); xls and ods
/// are read by range.
pub fn parse_workbook(bytes: &[u8], kind: SourceKind) -> Result<Vec<Section>, ParseError> {
    use calamine::Reader;
    let damaged = |e: calamine::Error| ParseError::Damaged(e.to_string());
    let mut out = Vec::new();
    if kind == SourceKind::Xlsx {
        check_archive(bytes)?;
        let mut book = calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| ParseError::Damaged(e.to_string()))?;
        for sheet in book.sheet_names() {
            let mut rows = RowSections::new(&sheet);
            let mut cells = book.worksheet_cells_reader(&sheet).map_err(|e| ParseError::Damaged(e.to_string()))?;
            let mut current: Option<(u32, Vec<calamine::DataRef<'_>>)> = None;
            while let Some(cell) = cells.next_cell().map_err(|e| ParseError::Damaged(e.to_string()))? {
                let (row, col) = cell.get_position();
                if col as usize >= MAX_COLUMNS {
                    return Err(ParseError::TooBig(format!("a cell in column {} of sheet `{sheet}`", col + 1)));
                }
                if current.as_ref().is_some_and(|(r, _)| *r != row) {
                    let (r, values) = current.take().expect("checked above");
                    rows.values(r as usize + 1, &values);
                }
                let (_, values) = current.get_or_insert_with(|| (row, Vec::new()));
                if values.len() <= col as usize {
                    values.resize(col as usize + 1, calamine::DataRef::Empty);
                }
                values[col as usize] = cell.get_value().clone();
            }
            if let Some((r, values)) = current {
                rows.values(r as usize + 1, &values);
            }
            out.extend(rows.finish());
        }
    } else {
        if kind == SourceKind::Ods {
            check_archive(bytes)?;
        }
        let mut book = calamine::open_workbook_auto_from_rs(Cursor::new(bytes)).map_err(damaged)?;
        for sheet in book.sheet_names() {
            let range = book.worksheet_range(&sheet).map_err(damaged)?;
            if range.width() > MAX_COLUMNS {
                return Err(ParseError::TooBig(format!("{} columns in sheet `{sheet}`", range.width())));
            }
            let start = range.start().map_or(0, |(r, _)| r as usize);
            let mut rows = RowSections::new(&sheet);
            for (i, row) in range.rows().enumerate() {
                let values: Vec<calamine::DataRef<'_>> = row.iter().map(data_ref).collect();
                rows.values(start + i + 1, &values);
            }
            out.extend(rows.finish());
        }
    }
    Ok(out)
}

fn data_ref(value: &calamine::Data) -> calamine::DataRef<'_> {
    use calamine::{Data as V, DataRef as D};
    match value {
        V::Int(i) => D::Int(*i),
        V::Float(f) => D::Float(*f),
        V::String(s) => D::SharedString(s),
        V::Bool(b) => D::Bool(*b),
        V::DateTime(d) => D::DateTime(*d),
        V::DateTimeIso(s) => D::DateTimeIso(s.clone()),
        V::DurationIso(s) => D::DurationIso(s.clone()),
        V::Error(e) => D::Error(e.clone()),
        V::Empty => D::Empty,
    }
}

/// CSV with its delimiter sniffed (comma, semicolon, tab), UTF-8 or Windows-1252.
pub fn parse_csv(bytes: &[u8]) -> Result<Vec<Section>, ParseError> {
    let text = decode(bytes);
    let first = text.lines().next().unwrap_or_default();
    let delimiter = [b',', b';', b'\t'].into_iter().max_by_key(|d| first.bytes().filter(|b| b == d).count()).unwrap_or(b',');
    let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).flexible(true).has_headers(false).from_reader(text.as_bytes());
    let mut rows = RowSections::new("");
    // (byte offset, newlines before it) of the last record seen.
    let mut counted = (0usize, 0usize);
    for (i, record) in reader.records().enumerate() {
        let record = record.map_err(|e| ParseError::Damaged(format!("CSV line {}: {e}", i + 1)))?;
        if record.len() > MAX_COLUMNS {
            return Err(ParseError::TooBig(format!("{} columns on line {}", record.len(), i + 1)));
        }
        // The file's own line number, as a spreadsheet shows it (the reader skips blank lines).
        // A record's position is where the reader started looking for it: blank lines before it
        // are skipped here. Lines are counted from the previous record on (linear in the file).
        let line = match record.position() {
            None => i + 1,
            Some(p) => {
                let bytes = text.as_bytes();
                let mut start = (p.byte() as usize).min(bytes.len());
                while start < bytes.len() && matches!(bytes[start], b'\n' | b'\r') {
                    start += 1;
                }
                let (from, before) = counted;
                let here = before + bytes[from.min(start)..start].iter().filter(|b| **b == b'\n').count();
                counted = (start, here);
                here + 1
            }
        };
        rows.row(line, record.iter().map(|c| c.trim().to_string()).collect());
    }
    Ok(rows.finish())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_read_as_lines_under_their_headers() {
        let sections = parse_csv("SKU;Name;Price;Discount\nLX-210;Orbe;129;0.15\n\nLX-450;Arc;349.5;\n".as_bytes()).unwrap();
        assert_eq!(sections.len(), 1);
        assert_eq!(sections[0].location.as_deref(), Some("rows 2-4"));
        assert_eq!(sections[0].text, "SKU: LX-210; Name: Orbe; Price: 129; Discount: 0.15\nSKU: LX-450; Name: Arc; Price: 349.5");
        assert_eq!(number_text(0.15, "Discount"), "15%");
        assert_eq!(number_text(0.125, "Remise (%)"), "12.5%");
        assert_eq!(number_text(0.15, "Weight (kg)"), "0.15");
        assert_eq!(number_text(129.0, "Price"), "129");
    }
}
