//! Turns a [`ContactFilter`] into SQL. Custom properties are matched through `contact_values`
//! subqueries that use its `(workspace_id, key, value_text)` index; values are normalised through the
//! property definition first (so `plan:eq:premium` finds `Premium`).

use tandem_core::{Condition, ContactFilter, ContactSort, Operator, PropertyDefinition, PropertyKind, WorkspaceId};

use crate::{sql::Sql, Result, StoreError};

fn like_pattern(value: &str) -> String {
    let escaped = value.to_lowercase().replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_");
    format!("%{escaped}%")
}

fn comparison(op: Operator) -> &'static str {
    match op {
        Operator::Eq => "=",
        Operator::Ne => "<>",
        Operator::Gt => ">",
        Operator::Gte => ">=",
        Operator::Lt => "<",
        Operator::Lte => "<=",
        Operator::Contains | Operator::Exists => unreachable!("handled before"),
    }
}

fn push_default_field(sql: &mut Sql, cond: &Condition) {
    // The field name is one of DEFAULT_FIELDS (checked by the caller), never user text.
    let col = format!("c.{}", cond.field);
    let value = cond.value.clone().unwrap_or_default();
    match cond.op {
        Operator::Exists => {
            sql.push(&format!(" AND {col} IS NOT NULL AND {col} <> ''"));
        }
        Operator::Contains => {
            sql.push(&format!(" AND LOWER({col}) LIKE ")).bind(like_pattern(&value)).push(" ESCAPE '\\'");
        }
        Operator::Ne => {
            sql.push(&format!(" AND ({col} IS NULL OR LOWER({col}) <> LOWER(")).bind(value).push("))");
        }
        op => {
            sql.push(&format!(" AND LOWER({col}) {} LOWER(", comparison(op))).bind(value).push(")");
        }
    }
}

fn push_custom(sql: &mut Sql, ws: WorkspaceId, cond: &Condition, def: &PropertyDefinition) -> Result<()> {
    let subquery = |sql: &mut Sql, negate: bool| {
        sql.push(if negate { " AND c.id NOT IN (" } else { " AND c.id IN (" });
        sql.push("SELECT v.contact_id FROM contact_values v WHERE v.workspace_id = ")
            .bind(ws.to_string())
            .push(" AND v.key = ")
            .bind(def.key.to_string());
    };
    let raw = cond.value.clone().unwrap_or_default();
    match cond.op {
        Operator::Exists => {
            subquery(sql, false);
        }
        Operator::Contains => {
            subquery(sql, false);
            sql.push(" AND LOWER(v.value_text) LIKE ").bind(like_pattern(&raw)).push(" ESCAPE '\\'");
        }
        op => {
            // Read the filter value as the property reads a written value.
            let parsed = if def.kind.is_select() {
                def.parse_text(&raw)
            } else {
                PropertyDefinition { required: false, ..def.clone() }.parse_text(&raw)
            };
            let stored = parsed.map_err(|e| StoreError::invalid("filter", e.code, format!("filter on `{}`: {}", def.key, e.message)))?;
            let stored = stored
                .ok_or_else(|| StoreError::invalid("filter", "invalid_filter", format!("the condition on `{}` needs a value", def.key)))?;
            if def.kind == PropertyKind::MultiSelect && stored.texts.len() != 1 {
                return Err(StoreError::invalid("filter", "invalid_filter", "filter a multi-select on one value at a time"));
            }
            let (negate, op) = if op == Operator::Ne { (true, Operator::Eq) } else { (false, op) };
            subquery(sql, negate);
            match (def.kind, stored.number) {
                (PropertyKind::Number, Some(n)) => {
                    sql.push(&format!(" AND v.value_number {} ", comparison(op))).bind(n);
                }
                _ if matches!(op, Operator::Eq) => {
                    sql.push(" AND v.value_text = ").bind(stored.texts[0].clone());
                }
                (PropertyKind::Date, _) | (PropertyKind::Text, _) => {
                    sql.push(&format!(" AND v.value_text {} ", comparison(op))).bind(stored.texts[0].clone());
                }
                _ => {
                    return Err(StoreError::invalid(
                        "filter",
                        "invalid_operator",
                        format!("`{}` is a {} property: use eq, ne or exists", def.key, def.kind.as_str()),
                    ))
                }
            }
        }
    }
    sql.push(")");
    Ok(())
}

pub(crate) fn push_filter(sql: &mut Sql, ws: WorkspaceId, filter: &ContactFilter, definitions: &[PropertyDefinition]) -> Result<()> {
    for cond in &filter.conditions {
        cond.check()?;
        if cond.is_default_field() {
            push_default_field(sql, cond);
        } else {
            let def = definitions.iter().find(|d| d.key.as_str() == cond.field).ok_or_else(|| {
                StoreError::invalid("filter", "unknown_field", format!("`{}` is neither a contact field nor a custom property", cond.field))
            })?;
            push_custom(sql, ws, cond, def)?;
        }
    }
    for label in &filter.labels {
        sql.push(" AND c.id IN (SELECT cl.contact_id FROM contact_labels cl JOIN labels l ON l.id = cl.label_id WHERE l.workspace_id = ");
        sql.bind(ws.to_string()).push(" AND l.name = ").bind(label.clone()).push(")");
    }
    if let Some(list) = &filter.list_id {
        sql.push(" AND c.id IN (SELECT lm.contact_id FROM list_members lm WHERE lm.workspace_id = ")
            .bind(ws.to_string())
            .push(" AND lm.list_id = ")
            .bind(list.clone())
            .push(")");
    }
    if let Some(q) = filter.q.as_deref().map(str::trim).filter(|q| !q.is_empty()) {
        let p = like_pattern(q);
        sql.push(" AND (");
        for (i, col) in ["first_name", "last_name", "email", "phone", "company"].iter().enumerate() {
            if i > 0 {
                sql.push(" OR ");
            }
            sql.push(&format!("LOWER(c.{col}) LIKE ")).bind(p.clone()).push(" ESCAPE '\\'");
        }
        sql.push(" OR LOWER(COALESCE(c.first_name, '') || ' ' || COALESCE(c.last_name, '')) LIKE ").bind(p).push(" ESCAPE '\\')");
    }
    Ok(())
}

pub(crate) fn push_sort(sql: &mut Sql, sort: &ContactSort) {
    // `sort.field` is one of SORT_FIELDS (ContactSort only parses those).
    let dir = if sort.descending { "DESC" } else { "ASC" };
    if matches!(sort.field.as_str(), "created_at" | "updated_at") {
        sql.push(&format!(" ORDER BY c.{} {dir}, c.id {dir}", sort.field));
    } else {
        // Empty values last in both directions and in both databases.
        sql.push(&format!(" ORDER BY (c.{f} IS NULL) ASC, c.{f} {dir}, c.id {dir}", f = sort.field));
    }
}
