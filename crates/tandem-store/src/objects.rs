//! Custom objects (orders, memberships, subscriptions...): types defined by the workspace, records
//! holding JSON data, and associations between records and contacts.

use serde::Serialize;
use serde_json::{Map, Value};
use tandem_core::{ContactId, ObjectTypeId, PropertyKey, RecordId, Timestamp, WorkspaceId};

use crate::{
    error::corrupt,
    sql::{run, Sql},
    Page, Paged, Result, Store, StoreError,
};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ObjectType {
    pub id: ObjectTypeId,
    pub key: String,
    pub name: String,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ObjectRecord {
    pub id: RecordId,
    pub type_key: String,
    #[schema(value_type = Object)]
    pub data: Map<String, Value>,
    pub contact_ids: Vec<ContactId>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
}

const MAX_RECORD_BYTES: usize = 64 * 1024;

fn check_data(data: &Map<String, Value>) -> Result<String> {
    let text = serde_json::to_string(data).map_err(|e| StoreError::invalid("data", "invalid_data", e.to_string()))?;
    if text.len() > MAX_RECORD_BYTES {
        return Err(StoreError::invalid(
            "data",
            "too_large",
            format!("record data is {} bytes; the limit is {MAX_RECORD_BYTES}", text.len()),
        ));
    }
    Ok(text)
}

impl Store {
    pub async fn create_object_type(&self, ws: WorkspaceId, key: &str, name: &str) -> Result<ObjectType> {
        let key: PropertyKey = key.parse()?;
        let t = ObjectType {
            id: ObjectTypeId::new(),
            key: key.to_string(),
            name: if name.trim().is_empty() { key.to_string() } else { name.trim().into() },
            created_at: Timestamp::now(),
        };
        let mut sql = self.sql("INSERT INTO object_types (id, workspace_id, key, name, created_at) VALUES (");
        sql.bind(t.id.to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(t.key.clone())
            .push(", ")
            .bind(t.name.clone())
            .push(", ")
            .bind(t.created_at.millis())
            .push(")");
        run!(sql, execute(&*self.writes().await?))
            .map_err(StoreError::on_conflict("key_taken", format!("object type `{key}` already exists")))?;
        Ok(t)
    }

    pub async fn list_object_types(&self, ws: WorkspaceId) -> Result<Vec<ObjectType>> {
        let mut sql = self.sql("SELECT id, key, name, created_at FROM object_types WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" ORDER BY key");
        run!(sql, as (String, String, String, i64), fetch_all(&self.pool))?
            .into_iter()
            .map(|(id, key, name, at)| {
                Ok(ObjectType { id: id.parse().map_err(corrupt("object type id"))?, key, name, created_at: Timestamp::from_millis(at) })
            })
            .collect()
    }

    async fn object_type_id(&self, ws: WorkspaceId, key: &str) -> Result<String> {
        let mut sql = self.sql("SELECT id FROM object_types WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND key = ").bind(key.to_string());
        Ok(run!(sql, as (String,), fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("object type"))?.0)
    }

    pub async fn create_record(
        &self,
        ws: WorkspaceId,
        type_key: &str,
        data: Map<String, Value>,
        contacts: &[ContactId],
    ) -> Result<ObjectRecord> {
        let type_id = self.object_type_id(ws, type_key).await?;
        let text = check_data(&data)?;
        for c in contacts {
            self.get_contact(ws, *c).await?;
        }
        let id = RecordId::new();
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut sql = self.sql("INSERT INTO object_records (id, workspace_id, type_id, data, created_at, updated_at) VALUES (");
        sql.bind(id.to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(type_id)
            .push(", ")
            .bind(text)
            .push(", ")
            .bind(now)
            .push(", ")
            .bind(now)
            .push(")");
        run!(sql, execute(&mut *tx))?;
        for c in contacts {
            let mut sql = self.sql("INSERT INTO object_associations (record_id, contact_id, workspace_id, created_at) VALUES (");
            sql.bind(id.to_string())
                .push(", ")
                .bind(c.to_string())
                .push(", ")
                .bind(ws.to_string())
                .push(", ")
                .bind(now)
                .push(") ON CONFLICT DO NOTHING");
            run!(sql, execute(&mut *tx))?;
        }
        tx.commit().await?;
        self.get_record(ws, id).await
    }

    async fn query_records(&self, ws: WorkspaceId, build: impl FnOnce(&mut Sql)) -> Result<Vec<ObjectRecord>> {
        let mut sql = self.sql(
            "SELECT r.id, t.key, r.data, r.created_at, r.updated_at FROM object_records r JOIN object_types t ON t.id = r.type_id WHERE r.workspace_id = ",
        );
        sql.bind(ws.to_string());
        build(&mut sql);
        let rows = run!(sql, as (String, String, String, i64, i64), fetch_all(&self.pool))?;
        let mut records = Vec::with_capacity(rows.len());
        for (id, type_key, data, created, updated) in rows {
            records.push(ObjectRecord {
                id: id.parse().map_err(corrupt("record id"))?,
                type_key,
                data: serde_json::from_str(&data).map_err(corrupt("record data"))?,
                contact_ids: vec![],
                created_at: Timestamp::from_millis(created),
                updated_at: Timestamp::from_millis(updated),
            });
        }
        if !records.is_empty() {
            let mut sql = self.sql("SELECT record_id, contact_id FROM object_associations WHERE workspace_id = ");
            sql.bind(ws.to_string())
                .push(" AND record_id IN (")
                .bind_list(records.iter().map(|r| r.id.to_string()))
                .push(") ORDER BY created_at");
            for (rid, cid) in run!(sql, as (String, String), fetch_all(&self.pool))? {
                if let Some(r) = records.iter_mut().find(|r| r.id.to_string() == rid) {
                    r.contact_ids.push(cid.parse().map_err(corrupt("contact id"))?);
                }
            }
        }
        Ok(records)
    }

    pub async fn get_record(&self, ws: WorkspaceId, id: RecordId) -> Result<ObjectRecord> {
        self.query_records(ws, |sql| {
            sql.push(" AND r.id = ").bind(id.to_string());
        })
        .await?
        .pop()
        .ok_or(StoreError::NotFound("record"))
    }

    pub async fn list_records(&self, ws: WorkspaceId, type_key: &str, page: Page) -> Result<Paged<ObjectRecord>> {
        let type_id = self.object_type_id(ws, type_key).await?;
        let rows = self
            .query_records(ws, |sql| {
                sql.push(" AND r.type_id = ")
                    .bind(type_id)
                    .push(" ORDER BY r.created_at DESC, r.id DESC LIMIT ")
                    .bind(page.limit + 1)
                    .push(" OFFSET ")
                    .bind(page.offset);
            })
            .await?;
        Ok(page.finish(rows))
    }

    /// Records associated with a contact, all types.
    pub async fn contact_records(&self, ws: WorkspaceId, contact: ContactId) -> Result<Vec<ObjectRecord>> {
        self.get_contact(ws, contact).await?;
        self.query_records(ws, |sql| {
            sql.push(" AND r.id IN (SELECT a.record_id FROM object_associations a WHERE a.contact_id = ")
                .bind(contact.to_string())
                .push(") ORDER BY r.created_at DESC");
        })
        .await
    }

    pub async fn update_record(&self, ws: WorkspaceId, id: RecordId, data: Map<String, Value>) -> Result<ObjectRecord> {
        let text = check_data(&data)?;
        let mut sql = self.sql("UPDATE object_records SET data = ");
        sql.bind(text)
            .push(", updated_at = ")
            .bind(Timestamp::now().millis())
            .push(" WHERE workspace_id = ")
            .bind(ws.to_string())
            .push(" AND id = ")
            .bind(id.to_string());
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("record"));
        }
        self.get_record(ws, id).await
    }

    pub async fn delete_record(&self, ws: WorkspaceId, id: RecordId) -> Result<()> {
        self.delete_scoped("object_records", ws, &id.to_string(), "record").await
    }

    pub async fn associate_record(&self, ws: WorkspaceId, id: RecordId, contact: ContactId) -> Result<ObjectRecord> {
        self.get_record(ws, id).await?;
        self.get_contact(ws, contact).await?;
        let mut sql = self.sql("INSERT INTO object_associations (record_id, contact_id, workspace_id, created_at) VALUES (");
        sql.bind(id.to_string())
            .push(", ")
            .bind(contact.to_string())
            .push(", ")
            .bind(ws.to_string())
            .push(", ")
            .bind(Timestamp::now().millis())
            .push(") ON CONFLICT DO NOTHING");
        run!(sql, execute(&*self.writes().await?))?;
        self.get_record(ws, id).await
    }

    pub async fn dissociate_record(&self, ws: WorkspaceId, id: RecordId, contact: ContactId) -> Result<ObjectRecord> {
        let mut sql = self.sql("DELETE FROM object_associations WHERE workspace_id = ");
        sql.bind(ws.to_string()).push(" AND record_id = ").bind(id.to_string()).push(" AND contact_id = ").bind(contact.to_string());
        if run!(sql, execute(&*self.writes().await?))?.rows_affected() == 0 {
            return Err(StoreError::NotFound("association"));
        }
        self.get_record(ws, id).await
    }
}
