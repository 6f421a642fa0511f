//! CSV export of a filtered set of contacts, streamed in chunks (one query, read as it arrives).

use futures::TryStreamExt;
use tandem_core::{ContactFilter, ContactSort, WorkspaceId};

use crate::{
    contacts::{Contact, Row, COLUMNS},
    Result, Store, StoreError,
};

const CHUNK: usize = 500;

fn csv_error(e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("csv: {e}"))
}

impl Store {
    /// Writes the header and every matching contact as CSV into `sink` a chunk at a time, waiting
    /// when the reader is slow; stops early when the receiver is gone. Returns the contacts written.
    pub async fn export_contacts_csv(
        &self,
        ws: WorkspaceId,
        filter: &ContactFilter,
        sort: &ContactSort,
        sink: tokio::sync::mpsc::Sender<Vec<u8>>,
    ) -> Result<usize> {
        let definitions = self.property_definitions(ws).await?;
        let keys: Vec<String> = definitions.iter().map(|d| d.key.to_string()).collect();
        let mut header = vec![
            "id",
            "first_name",
            "last_name",
            "email",
            "phone",
            "emails",
            "phones",
            "location",
            "country",
            "company",
            "job_title",
            "owner_id",
            "labels",
            "created_at",
            "updated_at",
            "last_contacted_at",
        ]
        .into_iter()
        .map(str::to_string)
        .collect::<Vec<_>>();
        header.extend(keys.iter().cloned());
        let mut out = csv::Writer::from_writer(Vec::new());
        out.write_record(&header).map_err(csv_error)?;
        if sink.send(out.into_inner().map_err(csv_error)?).await.is_err() {
            return Ok(0);
        }

        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM contacts c WHERE c.workspace_id = "));
        sql.bind(ws.to_string());
        let driver = self.pick_driver(ws, filter, &definitions).await?;
        crate::contacts_filter::push_filter(&mut sql, ws, filter, &definitions, driver)?;
        crate::contacts_filter::push_sort(&mut sql, sort);
        let (text, args) = sql.into_parts()?;
        let mut rows = sqlx::query_as_with::<_, Row, _>(&text, args).fetch(&self.pool);
        let mut written = 0;
        let mut batch: Vec<Contact> = Vec::with_capacity(CHUNK);
        loop {
            let next = rows.try_next().await?;
            let end = next.is_none();
            if let Some(row) = next {
                batch.push(row.into_contact()?);
            }
            if batch.len() >= CHUNK || (end && !batch.is_empty()) {
                self.attach_details(ws, &mut batch).await?;
                let mut out = csv::Writer::from_writer(Vec::new());
                for c in batch.drain(..) {
                    let text = |v: &serde_json::Value| match v {
                        serde_json::Value::String(s) => s.clone(),
                        serde_json::Value::Array(a) => a.iter().filter_map(|x| x.as_str()).collect::<Vec<_>>().join(";"),
                        other => other.to_string(),
                    };
                    let mut record = vec![
                        c.id.to_string(),
                        c.first_name.unwrap_or_default(),
                        c.last_name.unwrap_or_default(),
                        c.email.unwrap_or_default(),
                        c.phone.unwrap_or_default(),
                        c.emails.join(";"),
                        c.phones.join(";"),
                        c.location.unwrap_or_default(),
                        c.country.unwrap_or_default(),
                        c.company.unwrap_or_default(),
                        c.job_title.unwrap_or_default(),
                        c.owner_id.map(|o| o.to_string()).unwrap_or_default(),
                        c.labels.join(";"),
                        c.created_at.to_rfc3339(),
                        c.updated_at.to_rfc3339(),
                        c.last_contacted_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
                    ];
                    record.extend(keys.iter().map(|k| c.properties.get(k).map(text).unwrap_or_default()));
                    out.write_record(&record).map_err(csv_error)?;
                    written += 1;
                }
                if sink.send(out.into_inner().map_err(csv_error)?).await.is_err() {
                    return Ok(written);
                }
            }
            if end {
                return Ok(written);
            }
        }
    }
}
