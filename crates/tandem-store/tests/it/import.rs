use std::collections::BTreeMap;

use tandem_core::{ContactFilter, ContactSort, PropertyKind, WorkspaceId};
use tandem_store::{
    import::{ImportOptions, ImportReport, RowIssue},
    Page, Store, StoreError,
};

use crate::on_both;

const BAD_ROWS_CSV: &[u8] = include_bytes!("../../../../fixtures/contacts/bad_rows.csv");

async fn setup(store: &Store) -> WorkspaceId {
    let ws = store.create_workspace("Acme", Some("FR")).await.unwrap().id;
    store
        .create_property(ws, "plan", "Plan", PropertyKind::SingleSelect, vec!["Free".into(), "Pro AI".into(), "Premium".into()], true)
        .await
        .unwrap();
    store.create_property(ws, "renewal", "Renewal", PropertyKind::Date, vec![], false).await.unwrap();
    // Gus exists before the import: his row updates him.
    let mut gus = tandem_store::contacts::ContactDraft {
        first_name: Some("Gus".into()),
        email: Some("gus@acme.io".parse().unwrap()),
        company: Some("Lambert SA".into()),
        ..Default::default()
    };
    gus.properties.insert("plan".into(), tandem_core::StoredValue { texts: vec!["Free".into()], number: None });
    store.create_contact(ws, gus).await.unwrap();
    ws
}

fn options(dry_run: bool) -> ImportOptions {
    ImportOptions {
        mapping: BTreeMap::from([("Tags".to_string(), "labels".to_string()), ("Renewal".to_string(), "renewal".to_string())]),
        dry_run,
        default_country: None,
    }
}

fn issue(row: usize, column: Option<&str>, code: &str, imported: bool) -> (usize, Option<String>, String, bool) {
    (row, column.map(str::to_string), code.to_string(), imported)
}

fn summary(r: &ImportReport) -> Vec<(usize, Option<String>, String, bool)> {
    r.issues.iter().map(|i: &RowIssue| (i.row, i.column.clone(), i.code.clone(), i.imported)).collect()
}

async fn import(store: &Store, ws: WorkspaceId, bytes: &[u8], dry_run: bool) -> Result<ImportReport, StoreError> {
    store.import_contacts(ws, bytes.to_vec(), &options(dry_run), &|_, _| {}).await
}

fn check_report(r: &ImportReport) {
    assert_eq!((r.total_rows, r.created, r.updated, r.merged, r.failed), (7, 1, 1, 1, 4), "{r:#?}");
    assert_eq!(
        summary(r),
        vec![
            issue(3, Some("Phone"), "invalid_phone", false),
            issue(4, Some("Plan"), "unknown_option", false),
            issue(5, Some("Renewal"), "invalid_date", false),
            issue(6, Some("Plan"), "required", false),
            issue(7, None, "duplicate", true),
        ]
    );
    assert_eq!(r.issues[0].message, "`12ab` is not a valid phone number: unreadable");
    assert_eq!(r.issues[1].message, "`Gold` is not one of: Free, Pro AI, Premium");
    assert_eq!(r.issues[4].message, "same e-mail as row 2: merged into it");
    assert_eq!(r.mapping.get("Email").map(String::as_str), Some("email"));
    assert_eq!(r.mapping.get("Tags").map(String::as_str), Some("labels"));
}

async fn contacts(store: &Store, ws: WorkspaceId) -> Vec<(String, Option<String>, Option<String>, Vec<String>, serde_json::Value)> {
    let page = store.list_contacts(ws, &ContactFilter::default(), &"email".parse::<ContactSort>().unwrap(), Page::default()).await.unwrap();
    page.items
        .into_iter()
        .map(|c| (c.first_name.unwrap_or_default(), c.email, c.phone, c.labels, serde_json::to_value(&c.properties).unwrap()))
        .collect()
}

on_both!(csv_with_bad_rows_gives_exact_report, |store: Store| async move {
    let ws = setup(&store).await;
    let before = contacts(&store, ws).await;
    let dry = import(&store, ws, BAD_ROWS_CSV, true).await.unwrap();
    check_report(&dry);
    assert_eq!(dry.preview.len(), 3);
    assert_eq!(contacts(&store, ws).await, before, "a dry run writes nothing");

    let report = import(&store, ws, BAD_ROWS_CSV, false).await.unwrap();
    check_report(&report);
    let all = contacts(&store, ws).await;
    assert_eq!(all.len(), 2);
    let (name, email, phone, labels, props) = &all[0];
    assert_eq!((name.as_str(), email.as_deref(), phone.as_deref()), ("Ana", Some("ana@acme.io"), Some("+33612345678")));
    assert_eq!(labels, &["Lead", "Newsletter", "VIP"]);
    assert_eq!(props, &serde_json::json!({"plan": "Premium", "renewal": "2027-01-31"}));
    let (name, _, phone, _, props) = &all[1];
    assert_eq!((name.as_str(), phone.as_deref()), ("Gus", Some("+33698765432")));
    assert_eq!(props, &serde_json::json!({"plan": "Pro AI"}));
    let gus = store
        .list_contacts(ws, &ContactFilter { q: Some("gus".into()), ..Default::default() }, &ContactSort::default(), Page::default())
        .await
        .unwrap()
        .items
        .remove(0);
    assert_eq!(gus.company.as_deref(), Some("Lambert SA"), "merging keeps what the file does not say");

    // Importing the same file again creates nothing new.
    let again = import(&store, ws, BAD_ROWS_CSV, false).await.unwrap();
    assert_eq!((again.created, again.updated, again.merged, again.failed), (0, 2, 1, 4));
    assert_eq!(contacts(&store, ws).await.len(), 2);
});

/// The fixture CSV written as an Excel workbook, with a real date cell and a numeric cell.
fn xlsx_twin() -> Vec<u8> {
    let mut book = rust_xlsxwriter::Workbook::new();
    let sheet = book.add_worksheet();
    let text = String::from_utf8(BAD_ROWS_CSV.to_vec()).unwrap();
    let mut reader = csv::ReaderBuilder::new().has_headers(false).flexible(true).from_reader(text.as_bytes());
    let date_format = rust_xlsxwriter::Format::new().set_num_format("yyyy-mm-dd");
    for (r, record) in reader.records().enumerate() {
        for (c, cell) in record.unwrap().iter().enumerate() {
            let (r, c) = (r as u32, c as u16);
            if cell == "2027-01-31" {
                let date = rust_xlsxwriter::ExcelDateTime::parse_from_str(cell).unwrap();
                sheet.write_datetime_with_format(r, c, &date, &date_format).unwrap();
            } else if !cell.is_empty() {
                sheet.write_string(r, c, cell).unwrap();
            }
        }
    }
    book.save_to_buffer().unwrap()
}

on_both!(excel_twin_imports_like_csv, |store: Store| async move {
    let csv_ws = setup(&store).await;
    let xlsx_ws = setup(&store).await;
    let from_csv = import(&store, csv_ws, BAD_ROWS_CSV, false).await.unwrap();
    let from_xlsx = import(&store, xlsx_ws, &xlsx_twin(), false).await.unwrap();
    check_report(&from_xlsx);
    assert_eq!(summary(&from_csv), summary(&from_xlsx));
    assert_eq!(contacts(&store, csv_ws).await, contacts(&store, xlsx_ws).await);
});

on_both!(files_that_are_not_tables_are_refused, |store: Store| async move {
    let ws = setup(&store).await;
    let err = import(&store, ws, b"%PDF-1.4\n1 0 obj\n<<>>\nendobj\n", false).await.unwrap_err();
    assert!(matches!(&err, StoreError::Invalid(e) if e.code == "unsupported_file"), "{err:?}");
    assert_eq!(err.to_string(), "file: the file is a PDF document, not a CSV or Excel (xlsx) file");
    let err = import(&store, ws, b"PK\x03\x04\x14\x00\x00\x00not really", false).await.unwrap_err();
    assert!(err.to_string().contains("a ZIP archive"), "{err}");
    let err = import(&store, ws, b"", false).await.unwrap_err();
    assert!(matches!(&err, StoreError::Invalid(e) if e.code == "empty_file"), "{err:?}");
    let bad_map = ImportOptions { mapping: BTreeMap::from([("Plan".into(), "tier".into())]), ..Default::default() };
    let err = store.import_contacts(ws, BAD_ROWS_CSV.to_vec(), &bad_map, &|_, _| {}).await.unwrap_err();
    assert!(matches!(&err, StoreError::Invalid(e) if e.code == "unknown_field"), "{err:?}");
    assert_eq!(contacts(&store, ws).await.len(), 1, "nothing was written");
});
