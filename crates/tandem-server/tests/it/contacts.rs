use reqwest::Method;
use serde_json::{json, Value};

use crate::{assert_error, json, TestApp};

fn names(page: &Value) -> Vec<&str> {
    page["items"].as_array().unwrap().iter().map(|c| c["first_name"].as_str().unwrap_or("")).collect()
}

#[tokio::test]
async fn contacts_filters_views_and_export_over_http() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Acme").await;
    let k = &t.admin_key;
    for (key, kind, options) in
        [("plan", "single_select", json!(["Free", "Premium"])), ("industry", "text", json!([])), ("seats", "number", json!([]))]
    {
        let (s, v) =
            json(app.send(Method::POST, "/api/v1/contact-properties", k, json!({"key": key, "kind": kind, "options": options})).await)
                .await;
        assert_eq!(s, 201, "{v}");
    }
    let people = [
        ("Ana", "Premium", "Tech", 12, true),
        ("Bob", "Premium", "Retail", 3, false),
        ("Chloé", "Free", "Tech", 1, true),
        ("Dan", "Premium", "Tech", 40, false),
    ];
    let mut ids = vec![];
    for (i, (name, plan, industry, seats, vip)) in people.iter().enumerate() {
        let body = json!({"first_name": name, "phone": format!("06 12 34 56 {:02}", i), "properties": {"plan": plan, "industry": industry, "seats": seats}});
        let (s, c) = json(app.send(Method::POST, "/api/v1/contacts", &t.staff_key, body).await).await;
        assert_eq!(s, 201, "{c}");
        if *vip {
            app.send(Method::POST, &format!("/api/v1/contacts/{}/labels", c["id"].as_str().unwrap()), k, json!({"labels": ["VIP"]})).await;
        }
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    let (app, k) = (&app, k);
    let list = |q: &'static str| async move { json(app.get(&format!("/api/v1/contacts?{q}"), k).await).await.1 };
    assert_eq!(names(&list("where=plan:eq:Premium&where=industry:eq:Tech&sort=first_name").await), ["Ana", "Dan"]);
    assert_eq!(names(&list("where=plan:eq:Premium&where=industry:eq:Tech&label=VIP").await), ["Ana"]);
    assert_eq!(names(&list("where=seats:gte:12&sort=-first_name").await), ["Dan", "Ana"]);
    let page = list("sort=first_name&limit=3").await;
    assert_eq!((names(&page), page["next_offset"].as_i64()), (vec!["Ana", "Bob", "Chloé"], Some(3)));
    assert_eq!(names(&list("sort=first_name&limit=3&offset=3").await), ["Dan"]);

    // PATCH keeps absent fields, clears nulls, re-validates.
    let ana = &ids[0];
    let (s, c) = json(
        app.send(Method::PATCH, &format!("/api/v1/contacts/{ana}"), k, json!({"company": "Acme", "properties": {"seats": null}})).await,
    )
    .await;
    assert_eq!(
        (s, c["company"].as_str(), c["properties"].get("seats"), c["properties"]["plan"].as_str()),
        (200, Some("Acme"), None, Some("Premium"))
    );
    assert_error(
        &json(app.send(Method::PATCH, &format!("/api/v1/contacts/{ana}"), k, json!({"properties": {"plan": "Gold"}})).await).await,
        422,
        "unknown_option",
    );
    // Same phone as Bob: a conflict.
    assert_error(
        &json(app.send(Method::PATCH, &format!("/api/v1/contacts/{ana}"), k, json!({"phone": "+33612345601"})).await).await,
        409,
        "contact_exists",
    );

    // Saved views: the workspace default, then the personal one wins (personal needs a login).
    let view = json!({"name": "Premium tech", "scope": "workspace", "is_default": true, "filter": {"conditions": [{"field": "plan", "op": "eq", "value": "Premium"}, {"field": "industry", "op": "eq", "value": "Tech"}]}, "sort": {"field": "first_name", "descending": false}});
    let (s, v) = json(app.send(Method::POST, "/api/v1/views", k, view).await).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(names(&list("view=default").await), ["Ana", "Dan"]);
    assert_eq!(
        names(&json(app.get(&format!("/api/v1/contacts?view={}&label=VIP", v["id"].as_str().unwrap()), &t.staff_key).await).await.1),
        ["Ana"]
    );
    assert_error(
        &json(app.send(Method::POST, "/api/v1/views", k, json!({"name": "Mine", "scope": "personal"})).await).await,
        400,
        "personal_view_needs_user",
    );
    app.request(Method::POST, "/api/v1/auth/login", None)
        .json(&json!({"email": "admin@acme.io", "password": crate::PASSWORD}))
        .send()
        .await
        .unwrap();
    let personal = json!({"name": "Mine", "scope": "personal", "is_default": true, "filter": {"labels": ["VIP"]}, "sort": {"field": "first_name", "descending": true}});
    assert_eq!(app.request(Method::POST, "/api/v1/views", None).json(&personal).send().await.unwrap().status(), 201);
    let (_, mine) = json(app.request(Method::GET, "/api/v1/contacts?view=default", None).send().await.unwrap()).await;
    assert_eq!(names(&mine), ["Chloé", "Ana"]);

    // Export of a filtered set.
    let resp = app.get("/api/v1/contacts/export.csv?where=plan:eq:Premium&sort=first_name", k).await;
    assert_eq!(resp.headers()["content-type"], "text/csv; charset=utf-8");
    let csv = resp.text().await.unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows[0].starts_with("id,first_name,last_name,email,phone,") && rows[0].ends_with(",plan,industry,seats"));
    assert!(rows[1].contains(",Ana,") && rows[1].contains(",Acme,") && rows[1].contains(",VIP,"), "{}", rows[1]);
    assert_error(&json(app.get("/api/v1/contacts/export.csv?where=plan:eq:Gold", k).await).await, 422, "unknown_option");
    let (_, log) = json(app.get("/api/v1/audit-log", k).await).await;
    assert!(log["items"].as_array().unwrap().iter().any(|e| e["action"] == "export"), "{log}");

    // Deleting needs Team Admin.
    assert_error(
        &json(app.request(Method::DELETE, &format!("/api/v1/contacts/{ana}"), Some(&t.staff_key)).send().await.unwrap()).await,
        403,
        "forbidden",
    );
    assert_eq!(app.request(Method::DELETE, &format!("/api/v1/contacts/{ana}"), Some(k)).send().await.unwrap().status(), 204);
    assert_eq!(app.get(&format!("/api/v1/contacts/{ana}"), k).await.status(), 404);
}
