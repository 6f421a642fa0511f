//! Contact import from CSV or Excel: a column-to-property mapping, a dry-run preview, a per-row
//! report (row, column, reason). Rows are checked whole before anything is written: a row with any
//! error is not imported at all; valid rows are written in batches, each batch in one transaction.
//! Duplicates (same e-mail or E.164 phone) are merged, within the file and with existing contacts.
//!
//! The file is read on a blocking thread and handed over in batches through a bounded channel, so
//! memory stays flat whatever the number of rows.

pub mod mapping;
pub mod reader;

use serde::Serialize;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use tandem_core::{ContactId, Timestamp, ValidationError, WorkspaceId};

use crate::{
    contacts::{insert_values, ContactDraft, DraftRules, INSERT_COLUMNS},
    sql::run,
    Result, Store, StoreError,
};
use mapping::Target;
use reader::Record;

#[derive(Debug, Clone, Default)]
pub struct ImportOptions {
    /// Header → target (`email`, a custom key, `labels` or `ignore`). Unmapped headers that name a
    /// field are mapped automatically.
    pub mapping: BTreeMap<String, String>,
    /// Check and report without writing.
    pub dry_run: bool,
    /// Country for phone numbers without a `+` code; defaults to the workspace's.
    pub default_country: Option<String>,
}

/// One problem with one row.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct RowIssue {
    /// Row number as a spreadsheet shows it (the header is row 1).
    pub row: usize,
    /// The file's column header, when the problem is in one cell.
    pub column: Option<String>,
    pub code: String,
    pub message: String,
    /// False when the row was skipped; true for notices on imported rows (merged duplicates).
    pub imported: bool,
}

#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct ImportReport {
    pub dry_run: bool,
    /// Data rows read (blank rows not counted).
    pub total_rows: usize,
    pub created: usize,
    /// Rows that updated a contact that existed before the import.
    pub updated: usize,
    /// Rows merged into an earlier row of the same file.
    pub merged: usize,
    pub failed: usize,
    pub issues: Vec<RowIssue>,
    /// The mapping used: header → target.
    pub mapping: BTreeMap<String, String>,
    pub ignored_columns: Vec<String>,
    /// The first contacts as they would be written (dry run only).
    #[schema(value_type = Vec<Object>)]
    pub preview: Vec<serde_json::Value>,
}

/// Progress as rows are processed: (rows done, rows in the file).
pub type Progress<'a> = &'a (dyn Fn(usize, usize) + Send + Sync);

const BATCH_ROWS: usize = 1000;
const PREVIEW_ROWS: usize = 20;
const MAX_ISSUES: usize = 10_000;

/// A contact the import has seen: created by it or found in the store.
struct Known {
    id: ContactId,
    first_row: usize,
}

/// What one batch will write.
#[derive(Default)]
struct BatchPlan {
    creates: Vec<(ContactId, ContactDraft, BTreeSet<String>)>,
    /// Contacts that exist (before the import or from an earlier batch), with the rows' values.
    updates: Vec<(ContactId, ContactDraft, BTreeSet<String>)>,
}

impl BatchPlan {
    fn add(&mut self, id: ContactId, draft: ContactDraft, labels: BTreeSet<String>, existing: bool) {
        let list = if existing { &mut self.updates } else { &mut self.creates };
        if let Some((_, d, l)) = list.iter_mut().find(|(i, _, _)| *i == id) {
            d.merge_from(draft);
            l.extend(labels);
        } else {
            list.push((id, draft, labels));
        }
    }
}

fn dedupe_keys(d: &ContactDraft) -> Vec<(String, &'static str)> {
    let mut keys = Vec::new();
    if let Some(e) = &d.email {
        keys.push((format!("e:{e}"), "e-mail"));
    }
    if let Some(p) = &d.phone {
        keys.push((format!("p:{p}"), "phone"));
    }
    keys
}

fn total_rows(bytes: &[u8]) -> std::result::Result<usize, reader::ReadError> {
    let mut n = 0;
    reader::read_table(bytes, &mut |r| {
        if matches!(r, Record::Row { .. }) {
            n += 1;
        }
        true
    })?;
    Ok(n)
}

fn read_error(e: reader::ReadError) -> StoreError {
    StoreError::invalid("file", e.code(), e.to_string())
}

impl Store {
    /// Imports contacts from `bytes` (CSV or xlsx) into workspace `ws`.
    pub async fn import_contacts(
        &self,
        ws: WorkspaceId,
        bytes: Vec<u8>,
        options: &ImportOptions,
        progress: Progress<'_>,
    ) -> Result<ImportReport> {
        let (definitions, workspace_country) = self.draft_rules_data(ws).await?;
        let country = match &options.default_country {
            Some(c) => Some(crate::workspaces::parse_country(c)?),
            None => workspace_country,
        };
        let rules = DraftRules { definitions: &definitions, default_country: country.as_deref() };
        let bytes = std::sync::Arc::new(bytes);
        let total = {
            let b = bytes.clone();
            tokio::task::spawn_blocking(move || total_rows(&b))
                .await
                .map_err(|e| StoreError::Corrupt(e.to_string()))?
                .map_err(read_error)?
        };

        let (tx, mut rx) = tokio::sync::mpsc::channel::<std::result::Result<Vec<Record>, reader::ReadError>>(4);
        let reader_task = {
            let bytes = bytes.clone();
            tokio::task::spawn_blocking(move || {
                let mut batch = Vec::with_capacity(BATCH_ROWS);
                let result = reader::read_table(&bytes, &mut |record| {
                    batch.push(record);
                    if batch.len() >= BATCH_ROWS {
                        return tx.blocking_send(Ok(std::mem::take(&mut batch))).is_ok();
                    }
                    true
                });
                let _ = match result {
                    Ok(()) if !batch.is_empty() => tx.blocking_send(Ok(batch)),
                    Ok(()) => Ok(()),
                    Err(e) => tx.blocking_send(Err(e)),
                };
            })
        };

        let mut report = ImportReport { dry_run: options.dry_run, ..Default::default() };
        let mut columns: Vec<(String, Target)> = Vec::new();
        let mut seen: HashMap<String, usize> = HashMap::new();
        let mut known: Vec<Known> = Vec::new();
        let mut done = 0usize;
        let (mut created_since_analyze, mut analyzed_at) = (0usize, 0usize);
        progress(0, total);

        while let Some(batch) = rx.recv().await {
            let mut plan = BatchPlan::default();
            let mut valid: Vec<(usize, ContactDraft, BTreeSet<String>)> = Vec::new();
            for record in batch.map_err(read_error)? {
                match record {
                    Record::Header(headers) => {
                        let resolved = mapping::resolve(&headers, &options.mapping, &definitions)?;
                        report.mapping =
                            resolved.iter().filter(|(_, t)| *t != Target::Ignore).map(|(h, t)| (h.clone(), t.name())).collect();
                        report.ignored_columns = resolved.iter().filter(|(_, t)| *t == Target::Ignore).map(|(h, _)| h.clone()).collect();
                        columns = resolved;
                    }
                    Record::Row { number, cells } => {
                        done += 1;
                        if cells.iter().all(|c| c.is_empty()) {
                            continue;
                        }
                        report.total_rows += 1;
                        match parse_row(&columns, &cells, &rules) {
                            Ok((draft, labels)) => valid.push((number, draft, labels)),
                            Err(errors) => {
                                report.failed += 1;
                                for (column, e) in errors {
                                    push_issue(
                                        &mut report,
                                        RowIssue { row: number, column, code: e.code.into(), message: e.message, imported: false },
                                    );
                                }
                            }
                        }
                    }
                }
            }

            let existing = self.find_existing(ws, &valid).await?;
            for (number, draft, labels) in valid {
                let keys = dedupe_keys(&draft);
                let in_file: BTreeSet<usize> = keys.iter().filter_map(|(k, _)| seen.get(k).copied()).collect();
                let in_store: BTreeSet<ContactId> = keys.iter().filter_map(|(k, _)| existing.get(k).copied()).collect();
                if in_file.len() > 1 || in_store.len() > 1 {
                    report.failed += 1;
                    push_issue(
                        &mut report,
                        RowIssue {
                            row: number,
                            column: None,
                            code: "ambiguous_duplicate".into(),
                            message: "the e-mail and the phone belong to two different contacts".into(),
                            imported: false,
                        },
                    );
                    continue;
                }
                let (index, is_new_in_file) = if let Some(&i) = in_file.iter().next() {
                    let (_, what) = keys.iter().find(|(k, _)| seen.get(k) == Some(&i)).expect("matched above");
                    report.merged += 1;
                    let first = known[i].first_row;
                    push_issue(
                        &mut report,
                        RowIssue {
                            row: number,
                            column: None,
                            code: "duplicate".into(),
                            message: format!("same {what} as row {first}: merged into it"),
                            imported: true,
                        },
                    );
                    (i, false)
                } else if let Some(&id) = in_store.iter().next() {
                    report.updated += 1;
                    known.push(Known { id, first_row: number });
                    (known.len() - 1, false)
                } else {
                    report.created += 1;
                    known.push(Known { id: ContactId::new(), first_row: number });
                    (known.len() - 1, true)
                };
                for (k, _) in &keys {
                    seen.entry(k.clone()).or_insert(index);
                }
                if options.dry_run && report.preview.len() < PREVIEW_ROWS {
                    report.preview.push(preview(number, &draft, &labels));
                }
                let id = known[index].id;
                let created_in_this_batch = plan.creates.iter().any(|(c, _, _)| *c == id);
                plan.add(id, draft, labels, !(is_new_in_file || created_in_this_batch));
            }
            if !options.dry_run {
                let written = plan.creates.len();
                self.write_batch(ws, plan, &rules).await?;
                created_since_analyze += written;
                // Re-analyse each time the table may have grown several-fold (a handful of times per import).
                if created_since_analyze >= 1000 && created_since_analyze >= 3 * analyzed_at {
                    self.refresh_statistics().await?;
                    analyzed_at += created_since_analyze;
                    created_since_analyze = 0;
                }
            }
            progress(done, total);
        }
        reader_task.await.map_err(|e| StoreError::Corrupt(e.to_string()))?;
        if columns.is_empty() {
            return Err(read_error(reader::ReadError::Empty));
        }
        if created_since_analyze > 0 {
            self.refresh_statistics().await?;
        }
        report.issues.sort_by_key(|i| i.row);
        Ok(report)
    }

    /// Existing contacts matching the batch's e-mails and phones, by dedupe key.
    async fn find_existing(&self, ws: WorkspaceId, rows: &[(usize, ContactDraft, BTreeSet<String>)]) -> Result<HashMap<String, ContactId>> {
        let emails: Vec<String> = rows.iter().filter_map(|(_, d, _)| d.email.as_ref().map(|e| e.to_string())).collect();
        let phones: Vec<String> = rows.iter().filter_map(|(_, d, _)| d.phone.as_ref().map(|p| p.to_string())).collect();
        let mut found = HashMap::new();
        for (column, values, prefix) in [("email", emails, "e:"), ("phone", phones, "p:")] {
            for chunk in values.chunks(500) {
                let mut sql = self.sql(&format!("SELECT id, {column} FROM contacts WHERE workspace_id = "));
                sql.bind(ws.to_string()).push(&format!(" AND {column} IN (")).bind_list(chunk.to_vec()).push(")");
                for (id, value) in run!(sql, as (String, String), fetch_all(&self.pool))? {
                    found.insert(format!("{prefix}{value}"), id.parse().map_err(crate::error::corrupt("contact id"))?);
                }
            }
        }
        Ok(found)
    }

    async fn write_batch(&self, ws: WorkspaceId, plan: BatchPlan, rules: &DraftRules<'_>) -> Result<()> {
        // Updates merge into the stored contact: read it first, outside the write transaction.
        let mut updates = Vec::with_capacity(plan.updates.len());
        for (id, draft, labels) in plan.updates {
            let mut current = self.get_contact(ws, id).await?.to_draft(rules)?;
            current.merge_from(draft);
            updates.push((id, current, labels));
        }
        let mut label_ids = HashMap::new();
        for name in plan.creates.iter().chain(updates.iter()).flat_map(|(_, _, l)| l.iter()).collect::<BTreeSet<_>>() {
            label_ids.insert(name.clone(), self.ensure_label(&*self.writes().await?, ws, name).await?);
        }
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        for chunk in plan.creates.chunks(500) {
            let mut sql = self.sql(&format!("INSERT INTO contacts ({INSERT_COLUMNS}) VALUES "));
            for (i, (id, d, _)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(").bind(id.to_string()).push(", ").bind(ws.to_string()).push(", ");
                crate::contacts::bind_draft(&mut sql, d);
                sql.push(", ").bind(now).push(", ").bind(now).push(")");
            }
            run!(sql, execute(&mut *tx)).map_err(StoreError::on_conflict(
                "contact_exists",
                "a contact of this file was created by someone else during the import; run it again",
            ))?;
        }
        let values: Vec<_> = plan.creates.iter().map(|(id, d, _)| (*id, &d.properties)).collect();
        insert_values(self, &mut tx, ws, &values).await?;
        for (id, d, _) in &updates {
            crate::contacts::write_existing(self, &mut tx, ws, *id, d).await?;
        }
        let label_ids = &label_ids;
        let links: Vec<(String, &String)> = plan
            .creates
            .iter()
            .chain(updates.iter())
            .flat_map(|(id, _, labels)| labels.iter().map(move |l| (id.to_string(), &label_ids[l])))
            .collect();
        for chunk in links.chunks(1000) {
            let mut sql = self.sql("INSERT INTO contact_labels (contact_id, label_id, workspace_id) VALUES ");
            for (i, (cid, lid)) in chunk.iter().enumerate() {
                if i > 0 {
                    sql.push(", ");
                }
                sql.push("(").bind(cid.clone()).push(", ").bind((*lid).clone()).push(", ").bind(ws.to_string()).push(")");
            }
            sql.push(" ON CONFLICT DO NOTHING");
            run!(sql, execute(&mut *tx))?;
        }
        tx.commit().await?;
        Ok(())
    }
}

fn push_issue(report: &mut ImportReport, issue: RowIssue) {
    if report.issues.len() < MAX_ISSUES {
        report.issues.push(issue);
    }
}

type RowErrors = Vec<(Option<String>, ValidationError)>;

/// Checks one row whole: every cell, then required properties and that the contact can be told apart.
fn parse_row(
    columns: &[(String, Target)],
    cells: &[String],
    rules: &DraftRules<'_>,
) -> std::result::Result<(ContactDraft, BTreeSet<String>), RowErrors> {
    let mut draft = ContactDraft::default();
    let mut labels = BTreeSet::new();
    let mut errors: RowErrors = Vec::new();
    for ((header, target), cell) in columns.iter().zip(cells.iter().chain(std::iter::repeat(&String::new()))) {
        match target {
            Target::Ignore => {}
            Target::Labels => labels.extend(cell.split(';').map(str::trim).filter(|l| !l.is_empty()).map(str::to_string)),
            Target::Field(field) => {
                if let Err(e) = draft.set_text(field, cell, rules) {
                    errors.push((Some(header.clone()), e));
                }
            }
        }
    }
    let header_of = |key: &str| columns.iter().find(|(_, t)| matches!(t, Target::Field(f) if f == key)).map(|(h, _)| h.clone());
    for e in draft.missing_required(rules) {
        if !errors.iter().any(|(_, x)| x.field == e.field) {
            errors.push((header_of(&e.field).or(Some(e.field.clone())), e));
        }
    }
    let identified = draft.email.is_some() || draft.phone.is_some() || draft.first_name.is_some() || draft.last_name.is_some();
    if !identified && errors.is_empty() {
        errors.push((None, ValidationError::new("contact", "required", "a contact needs a name, an e-mail or a phone")));
    }
    if errors.is_empty() {
        Ok((draft, labels))
    } else {
        Err(errors)
    }
}

fn preview(row: usize, d: &ContactDraft, labels: &BTreeSet<String>) -> serde_json::Value {
    serde_json::json!({
        "row": row,
        "first_name": d.first_name, "last_name": d.last_name,
        "email": d.email.as_ref().map(|e| e.to_string()), "phone": d.phone.as_ref().map(|p| p.to_string()),
        "company": d.company, "country": d.country,
        "labels": labels,
        "properties": d.properties.iter().map(|(k, v)| (k.clone(), v.texts.join("; "))).collect::<BTreeMap<_, _>>(),
    })
}
