//! Reads a table (CSV or Excel xlsx) row by row, recognising the format by its bytes, never by its
//! name: a PDF or a ZIP archive named `.csv` is refused as what it is.

use std::io::Cursor;

/// Widest table accepted: wider files are almost always not contact lists.
pub const MAX_COLUMNS: usize = 200;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Csv,
    Xlsx,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReadError {
    #[error("the file is {0}, not a CSV or Excel (xlsx) file")]
    Unsupported(&'static str),
    #[error("the file is empty or has no header row")]
    Empty,
    #[error("the table has more than {MAX_COLUMNS} columns")]
    TooManyColumns,
    #[error("the file cannot be read: {0}")]
    Malformed(String),
}

impl ReadError {
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unsupported(_) => "unsupported_file",
            Self::Empty => "empty_file",
            Self::TooManyColumns => "too_many_columns",
            Self::Malformed(_) => "malformed_file",
        }
    }
}

/// What a reader hands on: the header first, then data rows numbered as a spreadsheet shows them
/// (the header is row 1).
#[derive(Debug, Clone, PartialEq)]
pub enum Record {
    Header(Vec<String>),
    Row { number: usize, cells: Vec<String> },
}

/// Recognises the table format from the first bytes.
pub fn detect(bytes: &[u8]) -> Result<FileKind, ReadError> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(ReadError::Empty);
    }
    if starts(b"PK\x03\x04") {
        use calamine::Reader;
        return match calamine::Xlsx::new(Cursor::new(bytes)) {
            Ok(_) => Ok(FileKind::Xlsx),
            Err(_) => Err(ReadError::Unsupported("a ZIP archive")),
        };
    }
    let what = if starts(b"%PDF") {
        "a PDF document"
    } else if starts(b"\x89PNG") {
        "a PNG image"
    } else if starts(b"\xFF\xD8\xFF") {
        "a JPEG image"
    } else if starts(b"GIF8") {
        "a GIF image"
    } else if starts(b"\xD0\xCF\x11\xE0") {
        "a legacy Office file (xls): save it as xlsx or CSV"
    } else if starts(b"\x1F\x8B") {
        "a gzip archive"
    } else if bytes.iter().take(8192).any(|&b| b == 0) {
        "a binary file"
    } else {
        return Ok(FileKind::Csv);
    };
    Err(ReadError::Unsupported(what))
}

/// Reads every record into `sink`, stopping early when it returns `false`.
pub fn read_table(bytes: &[u8], sink: &mut dyn FnMut(Record) -> bool) -> Result<(), ReadError> {
    match detect(bytes)? {
        FileKind::Csv => read_csv(bytes, sink),
        FileKind::Xlsx => read_xlsx(bytes, sink),
    }
}

/// Comma, semicolon (French spreadsheet exports) or tab: whichever the header line uses most.
fn sniff_delimiter(bytes: &[u8]) -> u8 {
    let line = bytes.split(|&b| b == b'\n').next().unwrap_or(bytes);
    [b',', b';', b'\t'].into_iter().max_by_key(|d| line.iter().filter(|b| *b == d).count()).unwrap_or(b',')
}

/// UTF-8, or Windows-1252/Latin-1 as older spreadsheet exports write it.
fn decode(field: &[u8]) -> String {
    match std::str::from_utf8(field) {
        Ok(s) => s.trim().to_string(),
        Err(_) => field.iter().map(|&b| b as char).collect::<String>().trim().to_string(),
    }
}

fn read_csv(bytes: &[u8], sink: &mut dyn FnMut(Record) -> bool) -> Result<(), ReadError> {
    let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
    let mut reader = csv::ReaderBuilder::new().delimiter(sniff_delimiter(bytes)).flexible(true).has_headers(false).from_reader(bytes);
    let mut record = csv::ByteRecord::new();
    let mut first = true;
    let mut number = 0;
    loop {
        match reader.read_byte_record(&mut record) {
            Ok(false) => break,
            Ok(true) => {}
            Err(e) => return Err(ReadError::Malformed(format!("line {}: {e}", record.position().map_or(0, |p| p.line())))),
        }
        number += 1;
        if record.len() > MAX_COLUMNS {
            return Err(ReadError::TooManyColumns);
        }
        let cells: Vec<String> = record.iter().map(decode).collect();
        let keep_going = if first {
            first = false;
            if cells.iter().all(String::is_empty) {
                return Err(ReadError::Empty);
            }
            sink(Record::Header(cells))
        } else {
            sink(Record::Row { number, cells })
        };
        if !keep_going {
            return Ok(());
        }
    }
    if first {
        return Err(ReadError::Empty);
    }
    Ok(())
}

/// A cell as a person reads it: whole numbers without `.0`, dates as `YYYY-MM-DD`.
fn cell_text(value: &calamine::DataRef<'_>) -> String {
    use calamine::DataRef as D;
    match value {
        D::Empty => String::new(),
        D::String(s) | D::DateTimeIso(s) | D::DurationIso(s) => s.trim().to_string(),
        D::SharedString(s) => s.trim().to_string(),
        D::Int(i) => i.to_string(),
        D::Float(f) if f.fract() == 0.0 && f.abs() < 1e15 => format!("{}", *f as i64),
        D::Float(f) => f.to_string(),
        D::Bool(b) => b.to_string(),
        D::DateTime(dt) => {
            let (y, m, d, hh, mm, ss, _) = dt.to_ymd_hms_milli();
            if (hh, mm, ss) == (0, 0, 0) {
                format!("{y:04}-{m:02}-{d:02}")
            } else {
                format!("{y:04}-{m:02}-{d:02}T{hh:02}:{mm:02}:{ss:02}")
            }
        }
        D::Error(e) => format!("#{e:?}"),
    }
}

/// Streams the first worksheet cell by cell, so a sheet declaring a huge size allocates nothing for it.
fn read_xlsx(bytes: &[u8], sink: &mut dyn FnMut(Record) -> bool) -> Result<(), ReadError> {
    use calamine::Reader;
    let mut book = calamine::Xlsx::new(Cursor::new(bytes)).map_err(|e| ReadError::Malformed(e.to_string()))?;
    let sheet = book.sheet_names().first().cloned().ok_or(ReadError::Empty)?;
    let mut cells = book.worksheet_cells_reader(&sheet).map_err(|e| ReadError::Malformed(e.to_string()))?;
    let mut current: Option<(u32, Vec<String>)> = None;
    let mut header_seen = false;
    let mut emit = |row: u32, values: Vec<String>, header_seen: &mut bool| -> bool {
        if !*header_seen {
            *header_seen = true;
            sink(Record::Header(values))
        } else {
            sink(Record::Row { number: row as usize + 1, cells: values })
        }
    };
    while let Some(cell) = cells.next_cell().map_err(|e| ReadError::Malformed(e.to_string()))? {
        let (row, col) = cell.get_position();
        if col as usize >= MAX_COLUMNS {
            return Err(ReadError::TooManyColumns);
        }
        let text = cell_text(cell.get_value());
        if current.as_ref().is_some_and(|(r, _)| *r != row) {
            let (r, values) = current.take().expect("checked above");
            if !emit(r, values, &mut header_seen) {
                return Ok(());
            }
        }
        let (_, values) = current.get_or_insert_with(|| (row, Vec::new()));
        if values.len() <= col as usize {
            values.resize(col as usize + 1, String::new());
        }
        values[col as usize] = text;
    }
    if let Some((r, values)) = current {
        emit(r, values, &mut header_seen);
    }
    if !header_seen {
        return Err(ReadError::Empty);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn collect(bytes: &[u8]) -> Result<Vec<Record>, ReadError> {
        let mut out = vec![];
        read_table(bytes, &mut |r| {
            out.push(r);
            true
        })?;
        Ok(out)
    }

    #[test]
    fn csv_with_semicolons_bom_and_latin1() {
        let records = collect(b"\xEF\xBB\xBFnom;ville\nRen\xe9;Lyon\n").unwrap();
        assert_eq!(records[0], Record::Header(vec!["nom".into(), "ville".into()]));
        assert_eq!(records[1], Record::Row { number: 2, cells: vec!["René".into(), "Lyon".into()] });
    }

    #[test]
    fn refuses_other_formats_by_content() {
        assert_eq!(detect(b"%PDF-1.7\n...").unwrap_err(), ReadError::Unsupported("a PDF document"));
        assert_eq!(detect(b"PK\x03\x04garbage").unwrap_err(), ReadError::Unsupported("a ZIP archive"));
        assert_eq!(detect(b"a,b\x00c").unwrap_err(), ReadError::Unsupported("a binary file"));
        assert_eq!(detect(b"  \n").unwrap_err(), ReadError::Empty);
    }
}
