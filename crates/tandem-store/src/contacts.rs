//! Contacts (PRODUCT.md §5): default properties in columns, custom properties in `contact_values`,
//! labels. Writes go through [`ContactDraft`], which holds only checked values.

use serde::Serialize;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap};
use tandem_core::{
    ContactFilter, ContactId, ContactSort, Email, PhoneNumber, PropertyDefinition, StoredValue, Timestamp, UserId, ValidationError,
    WorkspaceId,
};

use crate::{
    error::corrupt,
    sql::{run, Sql},
    Page, Paged, Result, Store, StoreError,
};

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Contact {
    pub id: ContactId,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    /// Primary e-mail (unique in the workspace).
    pub email: Option<String>,
    /// Primary phone in E.164 (unique in the workspace).
    pub phone: Option<String>,
    pub emails: Vec<String>,
    pub phones: Vec<String>,
    pub location: Option<String>,
    pub country: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub owner_id: Option<UserId>,
    pub labels: Vec<String>,
    /// Custom properties by key.
    #[schema(value_type = Object)]
    pub properties: BTreeMap<String, Value>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub last_contacted_at: Option<Timestamp>,
}

/// A contact's writable state, every value already checked.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ContactDraft {
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<Email>,
    pub phone: Option<PhoneNumber>,
    pub emails: Vec<Email>,
    pub phones: Vec<PhoneNumber>,
    pub location: Option<String>,
    pub country: Option<String>,
    pub company: Option<String>,
    pub job_title: Option<String>,
    pub owner_id: Option<UserId>,
    /// The complete set of custom values.
    pub properties: BTreeMap<String, StoredValue>,
}

/// What a draft is checked against: the workspace's property definitions and phone country.
pub struct DraftRules<'a> {
    pub definitions: &'a [PropertyDefinition],
    pub default_country: Option<&'a str>,
}

impl DraftRules<'_> {
    fn definition(&self, key: &str) -> Option<&PropertyDefinition> {
        self.definitions.iter().find(|d| d.key.as_str() == key)
    }
}

fn text_field(value: &Value, field: &str) -> Result<Option<String>, ValidationError> {
    match value {
        Value::Null => Ok(None),
        Value::String(s) if s.trim().is_empty() => Ok(None),
        Value::String(s) if s.len() > 1000 => {
            Err(ValidationError::new(field, "too_long", format!("`{field}` is longer than 1000 characters")))
        }
        Value::String(s) => Ok(Some(s.trim().to_string())),
        other => Err(ValidationError::new(field, "invalid_value", format!("`{field}` must be a string, not {other}"))),
    }
}

fn string_list(value: &Value, field: &str) -> Result<Vec<String>, ValidationError> {
    match value {
        Value::Null => Ok(vec![]),
        Value::Array(items) => items
            .iter()
            .map(|i| text_field(i, field).map(Option::unwrap_or_default))
            .filter(|r| r.as_ref().map_or(true, |s| !s.is_empty()))
            .collect(),
        _ => Err(ValidationError::new(field, "invalid_value", format!("`{field}` must be a list of strings"))),
    }
}

impl ContactDraft {
    /// Sets one default field or custom property from its text form (a spreadsheet cell).
    pub fn set_text(&mut self, field: &str, raw: &str, rules: &DraftRules<'_>) -> Result<(), ValidationError> {
        self.set_json(field, &Value::String(raw.to_string()), rules)
    }

    /// Sets one field from its JSON form. `null` or an empty string clears it.
    pub fn set_json(&mut self, field: &str, value: &Value, rules: &DraftRules<'_>) -> Result<(), ValidationError> {
        match field {
            "first_name" => self.first_name = text_field(value, field)?,
            "last_name" => self.last_name = text_field(value, field)?,
            "location" => self.location = text_field(value, field)?,
            "company" => self.company = text_field(value, field)?,
            "job_title" => self.job_title = text_field(value, field)?,
            "country" => self.country = text_field(value, field)?,
            "email" => self.email = text_field(value, field)?.map(|s| s.parse()).transpose()?,
            "phone" => self.phone = text_field(value, field)?.map(|s| PhoneNumber::parse(&s, rules.default_country)).transpose()?,
            "emails" => self.emails = string_list(value, field)?.iter().map(|s| s.parse()).collect::<Result<_, _>>()?,
            "phones" => {
                self.phones =
                    string_list(value, field)?.iter().map(|s| PhoneNumber::parse(s, rules.default_country)).collect::<Result<_, _>>()?
            }
            "owner_id" => {
                self.owner_id = text_field(value, field)?
                    .map(|s| s.parse().map_err(|_| ValidationError::new(field, "invalid_id", format!("`{s}` is not a user id"))))
                    .transpose()?
            }
            key => {
                let def = rules.definition(key).ok_or_else(|| {
                    ValidationError::new(key, "unknown_field", format!("`{key}` is neither a contact field nor a custom property"))
                })?;
                match def.parse_json(value)? {
                    Some(v) => self.properties.insert(key.to_string(), v),
                    None => self.properties.remove(key),
                };
            }
        }
        Ok(())
    }

    /// Applies a JSON object (`{"first_name": ..., "properties": {"plan": ...}}`), collecting every
    /// error rather than stopping at the first.
    pub fn apply_json(&mut self, object: &Map<String, Value>, rules: &DraftRules<'_>) -> Result<(), Vec<ValidationError>> {
        let mut errors = Vec::new();
        for (field, value) in object {
            if field == "properties" {
                match value {
                    Value::Object(props) => {
                        for (key, v) in props {
                            if tandem_core::property::DEFAULT_FIELDS.contains(&key.as_str()) {
                                errors.push(ValidationError::new(
                                    key,
                                    "unknown_field",
                                    format!("`{key}` is a default field: set it outside `properties`"),
                                ));
                            } else if let Err(e) = self.set_json(key, v, rules) {
                                errors.push(e);
                            }
                        }
                    }
                    _ => errors.push(ValidationError::new("properties", "invalid_value", "`properties` must be an object")),
                }
            } else if !tandem_core::property::DEFAULT_FIELDS.contains(&field.as_str())
                && !["emails", "phones", "owner_id"].contains(&field.as_str())
            {
                errors.push(ValidationError::new(
                    field,
                    "unknown_field",
                    format!("`{field}` is not a contact field (custom properties go in `properties`)"),
                ));
            } else if let Err(e) = self.set_json(field, value, rules) {
                errors.push(e);
            }
        }
        if errors.is_empty() {
            Ok(())
        } else {
            Err(errors)
        }
    }

    /// Errors for required custom properties that have no value.
    pub fn missing_required(&self, rules: &DraftRules<'_>) -> Vec<ValidationError> {
        rules
            .definitions
            .iter()
            .filter(|d| d.required && !self.properties.contains_key(d.key.as_str()))
            .map(|d| ValidationError::new(d.key.as_str(), "required", format!("`{}` is required", d.key)))
            .collect()
    }

    /// Fills this draft with `other`'s values where `other` has one (a later duplicate row wins).
    pub fn merge_from(&mut self, other: ContactDraft) {
        macro_rules! take {
            ($($f:ident),*) => {$( if other.$f.is_some() { self.$f = other.$f; } )*};
        }
        take!(first_name, last_name, email, phone, location, country, company, job_title, owner_id);
        for e in other.emails {
            if !self.emails.contains(&e) {
                self.emails.push(e);
            }
        }
        for p in other.phones {
            if !self.phones.contains(&p) {
                self.phones.push(p);
            }
        }
        self.properties.extend(other.properties);
    }

    pub fn is_empty(&self) -> bool {
        *self == ContactDraft::default()
    }
}

#[derive(sqlx::FromRow)]
pub(crate) struct Row {
    id: String,
    first_name: Option<String>,
    last_name: Option<String>,
    email: Option<String>,
    phone: Option<String>,
    emails: String,
    phones: String,
    location: Option<String>,
    country: Option<String>,
    company: Option<String>,
    job_title: Option<String>,
    owner_id: Option<String>,
    created_at: i64,
    updated_at: i64,
    last_contacted_at: Option<i64>,
}

pub(crate) const COLUMNS: &str = "c.id, c.first_name, c.last_name, c.email, c.phone, c.emails, c.phones, c.location, c.country, c.company, c.job_title, c.owner_id, c.created_at, c.updated_at, c.last_contacted_at";

impl Row {
    pub(crate) fn into_contact(self) -> Result<Contact> {
        Ok(Contact {
            id: self.id.parse().map_err(corrupt("contact id"))?,
            first_name: self.first_name,
            last_name: self.last_name,
            email: self.email,
            phone: self.phone,
            emails: serde_json::from_str(&self.emails).map_err(corrupt("contact emails"))?,
            phones: serde_json::from_str(&self.phones).map_err(corrupt("contact phones"))?,
            location: self.location,
            country: self.country,
            company: self.company,
            job_title: self.job_title,
            owner_id: self.owner_id.map(|o| o.parse()).transpose().map_err(corrupt("owner id"))?,
            labels: vec![],
            properties: BTreeMap::new(),
            created_at: Timestamp::from_millis(self.created_at),
            updated_at: Timestamp::from_millis(self.updated_at),
            last_contacted_at: self.last_contacted_at.map(Timestamp::from_millis),
        })
    }
}

impl Contact {
    /// The draft that would write this contact back unchanged.
    pub fn to_draft(&self, rules: &DraftRules<'_>) -> Result<ContactDraft> {
        let mut d = ContactDraft {
            first_name: self.first_name.clone(),
            last_name: self.last_name.clone(),
            email: self.email.as_deref().map(str::parse).transpose().map_err(corrupt("email"))?,
            phone: self.phone.as_deref().map(PhoneNumber::from_e164).transpose().map_err(corrupt("phone"))?,
            emails: self.emails.iter().map(|e| e.parse()).collect::<Result<_, _>>().map_err(corrupt("email"))?,
            phones: self.phones.iter().map(|p| PhoneNumber::from_e164(p)).collect::<Result<_, _>>().map_err(corrupt("phone"))?,
            location: self.location.clone(),
            country: self.country.clone(),
            company: self.company.clone(),
            job_title: self.job_title.clone(),
            owner_id: self.owner_id,
            properties: BTreeMap::new(),
        };
        for (key, value) in &self.properties {
            // Values of a deleted definition are gone; a definition whose type changed is re-checked.
            if let Some(def) = rules.definition(key) {
                if let Ok(Some(v)) = def.parse_json(value) {
                    d.properties.insert(key.clone(), v);
                }
            }
        }
        Ok(d)
    }
}

/// Binds the columns of a draft in [`INSERT_COLUMNS`] order (after id and workspace).
pub(crate) fn bind_draft(sql: &mut Sql, d: &ContactDraft) {
    let json_list = |items: Vec<String>| serde_json::to_string(&items).unwrap_or_else(|_| "[]".into());
    sql.bind(d.first_name.clone()).push(", ").bind(d.last_name.clone()).push(", ");
    sql.bind(d.email.as_ref().map(|e| e.to_string())).push(", ").bind(d.phone.as_ref().map(|p| p.to_string())).push(", ");
    sql.bind(json_list(d.emails.iter().map(|e| e.to_string()).collect())).push(", ");
    sql.bind(json_list(d.phones.iter().map(|p| p.to_string()).collect())).push(", ");
    sql.bind(d.location.clone()).push(", ").bind(d.country.clone()).push(", ").bind(d.company.clone()).push(", ");
    sql.bind(d.job_title.clone()).push(", ").bind(d.owner_id.map(|o| o.to_string()));
}

pub(crate) const INSERT_COLUMNS: &str = "id, workspace_id, first_name, last_name, email, phone, emails, phones, location, country, company, job_title, owner_id, created_at, updated_at";

fn duplicate_error(d: &ContactDraft) -> impl FnOnce(sqlx::Error) -> StoreError + '_ {
    move |e| {
        let who = d.email.as_ref().map(|e| e.to_string()).or(d.phone.as_ref().map(|p| p.to_string())).unwrap_or_default();
        StoreError::on_conflict("contact_exists", format!("a contact with {who} already exists"))(e)
    }
}

impl Store {
    /// The rules drafts of this workspace are checked against.
    pub async fn draft_rules_data(&self, ws: WorkspaceId) -> Result<(Vec<PropertyDefinition>, Option<String>)> {
        Ok((self.property_definitions(ws).await?, self.get_workspace(ws).await?.default_country))
    }

    pub async fn create_contact(&self, ws: WorkspaceId, draft: ContactDraft) -> Result<Contact> {
        if let Some(owner) = draft.owner_id {
            self.get_user(ws, owner).await?;
        }
        let id = ContactId::new();
        let now = Timestamp::now().millis();
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        let mut sql = self.sql(&format!("INSERT INTO contacts ({INSERT_COLUMNS}) VALUES ("));
        sql.bind(id.to_string()).push(", ").bind(ws.to_string()).push(", ");
        bind_draft(&mut sql, &draft);
        sql.push(", ").bind(now).push(", ").bind(now).push(")");
        run!(sql, execute(&mut *tx)).map_err(duplicate_error(&draft))?;
        insert_values(self, &mut tx, ws, &[(id, &draft.properties)]).await?;
        tx.commit().await?;
        self.get_contact(ws, id).await
    }

    /// Replaces a contact's state with `draft` (callers build it from the current contact).
    pub async fn save_contact(&self, ws: WorkspaceId, id: ContactId, draft: ContactDraft) -> Result<Contact> {
        if let Some(owner) = draft.owner_id {
            self.get_user(ws, owner).await?;
        }
        let turn = self.writes().await?;
        let mut tx = turn.begin().await?;
        write_existing(self, &mut tx, ws, id, &draft).await?;
        tx.commit().await?;
        self.get_contact(ws, id).await
    }

    pub async fn get_contact(&self, ws: WorkspaceId, id: ContactId) -> Result<Contact> {
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM contacts c WHERE c.workspace_id = "));
        sql.bind(ws.to_string()).push(" AND c.id = ").bind(id.to_string());
        let row = run!(sql, as Row, fetch_optional(&self.pool))?.ok_or(StoreError::NotFound("contact"))?;
        let mut contacts = vec![row.into_contact()?];
        self.attach_details(ws, &mut contacts).await?;
        Ok(contacts.remove(0))
    }

    pub async fn delete_contact(&self, ws: WorkspaceId, id: ContactId) -> Result<()> {
        self.delete_scoped("contacts", ws, &id.to_string(), "contact").await
    }

    /// Contacts matching `filter`, sorted, one page.
    pub async fn list_contacts(&self, ws: WorkspaceId, filter: &ContactFilter, sort: &ContactSort, page: Page) -> Result<Paged<Contact>> {
        let definitions = self.property_definitions(ws).await?;
        let mut sql = self.sql(&format!("SELECT {COLUMNS} FROM contacts c WHERE c.workspace_id = "));
        sql.bind(ws.to_string());
        let driver = self.pick_driver(ws, filter, &definitions).await?;
        crate::contacts_filter::push_filter(&mut sql, ws, filter, &definitions, driver)?;
        crate::contacts_filter::push_sort(&mut sql, sort);
        sql.push(" LIMIT ").bind(page.limit + 1).push(" OFFSET ").bind(page.offset);
        let rows = run!(sql, as Row, fetch_all(&self.pool))?;
        let mut contacts = rows.into_iter().map(Row::into_contact).collect::<Result<Vec<_>>>()?;
        let page = page.finish(std::mem::take(&mut contacts));
        let mut items = page.items;
        self.attach_details(ws, &mut items).await?;
        Ok(Paged { items, next_offset: page.next_offset })
    }

    /// Loads labels and custom values of a page of contacts in two queries.
    pub(crate) async fn attach_details(&self, ws: WorkspaceId, contacts: &mut [Contact]) -> Result<()> {
        if contacts.is_empty() {
            return Ok(());
        }
        let ids: Vec<String> = contacts.iter().map(|c| c.id.to_string()).collect();
        let index: HashMap<String, usize> = ids.iter().cloned().enumerate().map(|(i, id)| (id, i)).collect();
        let definitions = self.property_definitions(ws).await?;
        let mut sql =
            self.sql("SELECT cl.contact_id, l.name FROM contact_labels cl JOIN labels l ON l.id = cl.label_id WHERE l.workspace_id = ");
        sql.bind(ws.to_string()).push(" AND cl.contact_id IN (").bind_list(ids.clone()).push(") ORDER BY l.name");
        for (cid, name) in run!(sql, as (String, String), fetch_all(&self.pool))? {
            if let Some(&i) = index.get(&cid) {
                contacts[i].labels.push(name);
            }
        }
        // The ids come from a workspace-scoped query already. A `workspace_id = ?` term here would
        // invite the planner onto the (workspace_id, key, ...) indexes and a scan of every value of
        // the workspace (120 ms at 100,000 contacts) instead of 50 probes by contact id.
        let mut sql = self.sql("SELECT contact_id, key, value_text, value_number FROM contact_values WHERE contact_id IN (");
        sql.bind_list(ids).push(")");
        let mut values: HashMap<(usize, String), StoredValue> = HashMap::new();
        for (cid, key, text, number) in run!(sql, as (String, String, String, Option<f64>), fetch_all(&self.pool))? {
            if let Some(&i) = index.get(&cid) {
                let v = values.entry((i, key)).or_insert(StoredValue { texts: vec![], number: None });
                v.texts.push(text);
                v.number = v.number.or(number);
            }
        }
        for ((i, key), value) in values {
            if let Some(def) = definitions.iter().find(|d| d.key.as_str() == key) {
                contacts[i].properties.insert(key, def.to_json(&value));
            }
        }
        Ok(())
    }

    /// Marks that the business wrote to the contact (PRODUCT.md §5 "last contacted").
    pub async fn touch_contact_contacted(&self, ws: WorkspaceId, id: ContactId, at: Timestamp) -> Result<()> {
        let mut sql = self.sql("UPDATE contacts SET last_contacted_at = ");
        sql.bind(at.millis()).push(" WHERE workspace_id = ").bind(ws.to_string()).push(" AND id = ").bind(id.to_string());
        run!(sql, execute(&*self.writes().await?))?;
        Ok(())
    }
}

/// Overwrites a stored contact's fields and custom values with `draft`.
pub(crate) async fn write_existing(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: WorkspaceId,
    id: ContactId,
    draft: &ContactDraft,
) -> Result<()> {
    let mut sql = store.sql("UPDATE contacts SET (first_name, last_name, email, phone, emails, phones, location, country, company, job_title, owner_id, updated_at) = (");
    bind_draft(&mut sql, draft);
    sql.push(", ")
        .bind(Timestamp::now().millis())
        .push(") WHERE workspace_id = ")
        .bind(ws.to_string())
        .push(" AND id = ")
        .bind(id.to_string());
    if run!(sql, execute(&mut **tx)).map_err(duplicate_error(draft))?.rows_affected() == 0 {
        return Err(StoreError::NotFound("contact"));
    }
    let mut sql = store.sql("DELETE FROM contact_values WHERE contact_id = ");
    sql.bind(id.to_string());
    run!(sql, execute(&mut **tx))?;
    insert_values(store, tx, ws, &[(id, &draft.properties)]).await
}

/// Inserts custom values of several contacts, several rows per statement.
pub(crate) async fn insert_values(
    store: &Store,
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    ws: WorkspaceId,
    contacts: &[(ContactId, &BTreeMap<String, StoredValue>)],
) -> Result<()> {
    let rows: Vec<(String, &str, &String, Option<f64>)> = contacts
        .iter()
        .flat_map(|(id, props)| props.iter().flat_map(move |(k, v)| v.texts.iter().map(move |t| (id.to_string(), k.as_str(), t, v.number))))
        .collect();
    // 5 parameters a row; stay far below SQLite's 32766-parameter limit.
    for chunk in rows.chunks(1000) {
        let mut sql = store.sql("INSERT INTO contact_values (workspace_id, contact_id, key, value_text, value_number) VALUES ");
        for (i, (cid, key, text, number)) in chunk.iter().enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push("(")
                .bind(ws.to_string())
                .push(", ")
                .bind(cid.clone())
                .push(", ")
                .bind(key.to_string())
                .push(", ")
                .bind((*text).clone())
                .push(", ")
                .bind(*number)
                .push(")");
        }
        run!(sql, execute(&mut **tx))?;
    }
    Ok(())
}
