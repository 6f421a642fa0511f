//! Parsers on real files: the demo business knowledge base (made by `fixtures/kb/demo-src/make.py`)
//! and the benign files of the hostile corpus. Hostile files go through the isolated parser in
//! the server's tests.

use tandem_knowledge::{
    accept::SourceKind,
    chunk,
    parse::{parse, ParseError},
};

fn demo(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../fixtures/kb/demo/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

fn hostile(name: &str) -> Vec<u8> {
    std::fs::read(format!("{}/../../fixtures/kb/hostile/{name}", env!("CARGO_MANIFEST_DIR"))).unwrap()
}

#[test]
fn pdf_pages_keep_their_numbers_and_french_accents() {
    let doc = parse(&demo("price-list-and-policies.pdf"), "price-list-and-policies.pdf", 1000).unwrap();
    assert_eq!((doc.kind, doc.pages), (SourceKind::Pdf, Some(5)));
    let page = |n: usize| &doc.sections.iter().find(|s| s.location.as_deref() == Some(&format!("p. {n}"))).unwrap().text;
    assert!(page(1).contains("LX-340"), "{}", page(1));
    assert!(doc.sections.iter().any(|s| s.text.contains("WC-2025-00412")));

    let fr = parse(&demo("tarifs-et-conditions.pdf"), "tarifs.pdf", 1000).unwrap();
    let all: String = fr.sections.iter().map(|s| s.text.as_str()).collect::<Vec<_>>().join("\n");
    for word in ["Conditions générales de vente", "main-d'œuvre", "« MédiaConso Rhône »", "délai"] {
        assert!(all.contains(word), "{word} missing from:\n{all}");
    }
}

#[test]
fn chinese_and_two_column_pdfs_read_right() {
    let cjk = parse(&hostile("cjk.pdf"), "cjk.pdf", 1000).unwrap();
    let text: String = cjk.sections.iter().map(|s| s.text.as_str()).collect();
    assert!(text.contains("退货政策") && text.contains("400-800-1234"), "{text}");

    let two = parse(&hostile("two-column.pdf"), "two-column.pdf", 1000).unwrap();
    let text = &two.sections[0].text;
    // The left column (shipping) reads whole before the right one (returns), and no line mixes
    // them: the content stream interleaves the two, row by row.
    let shipping = [
        "We ship every order within two business days.",
        "Orders over 300 euros need a signature.",
        "Lost parcels are replaced after ten days.",
    ];
    let returns = [
        "You may return any item within thirty days.",
        "Return shipping is free for defective items.",
        "Our returns desk answers within one business day.",
    ];
    let at = |s: &str| text.find(s).unwrap_or_else(|| panic!("`{s}` missing from:\n{text}"));
    let last_shipping = shipping.iter().map(|s| at(s)).max().unwrap();
    let first_return = returns.iter().map(|s| at(s)).min().unwrap();
    assert!(last_shipping < first_return, "columns interleaved:\n{text}");
    for line in text.lines() {
        assert!(!(shipping.iter().any(|s| line.contains(s)) && returns.iter().any(|s| line.contains(s))), "mixed line: {line}");
    }
}

#[test]
fn the_page_limit_is_checked_before_extraction() {
    let e = parse(&hostile("many-pages.pdf"), "many-pages.pdf", 1000).unwrap_err();
    assert_eq!(e, ParseError::TooManyPages { pages: 1001, limit: 1000 });
    assert_eq!(e.code(), "too_many_pages");
    assert_eq!(parse(&hostile("many-pages.pdf"), "many-pages.pdf", 2000).unwrap().pages, Some(1001));
}

#[test]
fn spreadsheet_rows_become_lines_with_sheet_and_rows() {
    let doc = parse(&demo("catalogue.xlsx"), "catalogue.pdf", 1000).unwrap();
    assert_eq!(doc.kind, SourceKind::Xlsx);
    let first = &doc.sections[0];
    assert!(first.rows && first.location.as_deref().unwrap().starts_with("Lamps, rows 2-"), "{:?}", first.location);
    let line = first.text.lines().next().unwrap();
    // A date cell reads as a date and a percentage cell as a percentage.
    assert!(line.starts_with("SKU: "), "{line}");
    assert!(line.split("; ").any(|f| f.len() == "Launch date: 2024-03-15".len() && f.starts_with("Launch date: 20")), "{line}");
    assert!(doc.sections.iter().any(|s| s.text.contains('%')), "no percentage rendered");
    assert!(doc.sections.iter().any(|s| s.location.as_deref().unwrap().starts_with("Spare parts, rows")));

    let csv = parse(&demo("stores.csv"), "stores.csv", 1000).unwrap();
    assert_eq!(csv.kind, SourceKind::Csv);
    assert!(csv.sections[0].text.lines().next().unwrap().contains(": "), "{}", csv.sections[0].text);
}

#[test]
fn html_keeps_the_article_and_drops_the_page_furniture() {
    let doc = parse(&demo("about.html"), "about.html", 1000).unwrap();
    assert_eq!(doc.kind, SourceKind::Html);
    let text = &doc.sections[0].text;
    assert!(text.contains("Lumen Pro"), "{text}");
    for furniture in ["cookie", "Newsletter", "newsletter"] {
        assert!(!text.contains(furniture), "`{furniture}` kept in:\n{text}");
    }
}

#[test]
fn every_demo_source_chunks_to_retrieval_sized_pieces() {
    for name in ["price-list-and-policies.pdf", "tarifs-et-conditions.pdf", "catalogue.xlsx", "stores.csv", "faq.txt", "about.html"] {
        let doc = parse(&demo(name), name, 1000).unwrap();
        let pieces = chunk::split_document(&doc);
        assert!(!pieces.is_empty(), "{name}");
        assert!(
            pieces.iter().all(|p| p.tokens <= chunk::CHUNK_TOKENS.end + 40),
            "{name}: {:?}",
            pieces.iter().map(|p| p.tokens).collect::<Vec<_>>()
        );
        assert!(pieces.iter().enumerate().all(|(i, p)| p.number == i));
    }
}

#[test]
fn refusals_have_their_codes() {
    assert_eq!(parse(b"", "empty.txt", 1000).unwrap_err().code(), "empty_source");
    assert_eq!(parse(&hostile("archive-named.pdf"), "archive-named.pdf", 1000).unwrap_err().code(), "unsupported_source");
    assert_eq!(parse(&hostile("image-only.pdf"), "scan.pdf", 1000).unwrap_err().code(), "no_extractable_text");
    assert_eq!(parse(&hostile("encrypted.pdf"), "locked.pdf", 1000).unwrap_err(), ParseError::Encrypted);
    assert_eq!(parse(&hostile("zip-bomb.xlsx"), "bomb.xlsx", 1000).unwrap_err().code(), "file_too_complex");
    assert_eq!(parse(&hostile("xfd1048576.xlsx"), "xfd.xlsx", 1000).unwrap_err().code(), "file_too_complex");
}
