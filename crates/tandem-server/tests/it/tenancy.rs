//! One workspace can neither read, change nor detect another's data: every attempt is a 404,
//! exactly as for an id that does not exist.

use reqwest::Method;
use serde_json::{json, Value};
use tandem_store::Backend;

use crate::{assert_error, json, TestApp};

async fn created(app: &TestApp, method: Method, path: &str, key: &str, body: Value) -> Value {
    let (status, v) = json(app.send(method, path, key, body).await).await;
    assert!(status == 200 || status == 201 || status == 202, "{path}: {status} {v}");
    v
}

async fn isolation(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let a = app.tenant("Acme").await;
    let b = app.tenant("Other").await;
    let k = &a.admin_key;

    created(
        &app,
        Method::POST,
        "/api/v1/contact-properties",
        k,
        json!({"key": "plan", "kind": "single_select", "options": ["Free", "Premium"]}),
    )
    .await;
    let contact = created(
        &app,
        Method::POST,
        "/api/v1/contacts",
        k,
        json!({"first_name": "Ana", "email": "ana@acme.io", "properties": {"plan": "Premium"}}),
    )
    .await;
    let c = contact["id"].as_str().unwrap();
    created(&app, Method::POST, &format!("/api/v1/contacts/{c}/labels"), k, json!({"labels": ["VIP"]})).await;
    created(&app, Method::POST, &format!("/api/v1/contacts/{c}/notes"), k, json!({"body": "secret note"})).await;
    let list = created(&app, Method::POST, "/api/v1/lists", k, json!({"name": "Newsletter"})).await;
    let l = list["id"].as_str().unwrap();
    created(&app, Method::POST, &format!("/api/v1/lists/{l}/members"), k, json!({"contact_ids": [c]})).await;
    created(&app, Method::POST, "/api/v1/object-types", k, json!({"key": "order"})).await;
    let record = created(&app, Method::POST, "/api/v1/object-types/order/records", k, json!({"data": {"n": 1}, "contact_ids": [c]})).await;
    let r = record["id"].as_str().unwrap();
    let channel = created(
        &app,
        Method::POST,
        "/api/v1/channels",
        k,
        json!({"kind": "telegram", "name": "Sales", "config": {"bot_token": "123456:ABC-DEF", "secret_token": "x"}}),
    )
    .await;
    let ch = channel["id"].as_str().unwrap();
    let conv = created(&app, Method::POST, "/api/v1/conversations", k, json!({"channel_id": ch, "contact_id": c})).await;
    let cv = conv["id"].as_str().unwrap();
    created(&app, Method::POST, &format!("/api/v1/conversations/{cv}/messages"), k, json!({"body": "Hello Ana"})).await;
    let label_id = json(app.get("/api/v1/labels", k).await).await.1["items"][0]["id"].as_str().unwrap().to_string();
    let team = created(&app, Method::POST, "/api/v1/teams", k, json!({"name": "Support"})).await;
    let tm = team["id"].as_str().unwrap();
    let view = created(
        &app,
        Method::POST,
        "/api/v1/views",
        k,
        json!({"name": "Premium", "scope": "workspace", "filter": {"conditions": [{"field": "plan", "op": "eq", "value": "Premium"}]}}),
    )
    .await;
    let vw = view["id"].as_str().unwrap();
    let job = {
        let form = reqwest::multipart::Form::new()
            .part("file", reqwest::multipart::Part::bytes(b"Email\nx@acme.io\n".to_vec()).file_name("c.csv"));
        let (status, job) =
            json(app.request(Method::POST, "/api/v1/contacts/imports", Some(k)).multipart(form).send().await.unwrap()).await;
        assert_eq!(status, 202, "{job}");
        job["id"].as_str().unwrap().to_string()
    };
    let users = json(app.get("/api/v1/users", k).await).await.1;
    let user = users["items"][0]["id"].as_str().unwrap().to_string();
    let key_id = json(app.get("/api/v1/api-keys", k).await).await.1["items"][0]["id"].as_str().unwrap().to_string();

    // With B's admin key, A's ids do not exist, whatever the method.
    let probes: Vec<(Method, String, Value)> = vec![
        (Method::GET, format!("/api/v1/contacts/{c}"), Value::Null),
        (Method::PATCH, format!("/api/v1/contacts/{c}"), json!({"first_name": "Hacked"})),
        (Method::DELETE, format!("/api/v1/contacts/{c}"), Value::Null),
        (Method::POST, format!("/api/v1/contacts/{c}/labels"), json!({"labels": ["x"]})),
        (Method::DELETE, format!("/api/v1/contacts/{c}/labels/VIP"), Value::Null),
        (Method::GET, format!("/api/v1/contacts/{c}/notes"), Value::Null),
        (Method::POST, format!("/api/v1/contacts/{c}/notes"), json!({"body": "x"})),
        (Method::GET, format!("/api/v1/contacts/{c}/records"), Value::Null),
        (Method::GET, format!("/api/v1/lists/{l}"), Value::Null),
        (Method::DELETE, format!("/api/v1/lists/{l}"), Value::Null),
        (Method::POST, format!("/api/v1/lists/{l}/members"), json!({"contact_ids": [c]})),
        (Method::DELETE, format!("/api/v1/lists/{l}/members/{c}"), Value::Null),
        (Method::GET, format!("/api/v1/records/{r}"), Value::Null),
        (Method::PATCH, format!("/api/v1/records/{r}"), json!({"data": {}})),
        (Method::DELETE, format!("/api/v1/records/{r}"), Value::Null),
        (Method::PUT, format!("/api/v1/records/{r}/contacts/{c}"), Value::Null),
        (Method::GET, "/api/v1/object-types/order/records".to_string(), Value::Null),
        (Method::GET, format!("/api/v1/channels/{ch}"), Value::Null),
        (Method::DELETE, format!("/api/v1/channels/{ch}"), Value::Null),
        (Method::GET, format!("/api/v1/conversations/{cv}"), Value::Null),
        (Method::PATCH, format!("/api/v1/conversations/{cv}"), json!({"status": "resolved"})),
        (Method::GET, format!("/api/v1/conversations/{cv}/messages"), Value::Null),
        (Method::POST, format!("/api/v1/conversations/{cv}/messages"), json!({"body": "x"})),
        (Method::DELETE, format!("/api/v1/labels/{label_id}"), Value::Null),
        (Method::DELETE, format!("/api/v1/teams/{tm}"), Value::Null),
        (Method::DELETE, format!("/api/v1/views/{vw}"), Value::Null),
        (Method::GET, format!("/api/v1/jobs/{job}"), Value::Null),
        (Method::PATCH, format!("/api/v1/users/{user}"), json!({"role": "staff"})),
        (Method::DELETE, format!("/api/v1/users/{user}"), Value::Null),
        (Method::DELETE, format!("/api/v1/api-keys/{key_id}"), Value::Null),
        (Method::GET, format!("/api/v1/contacts?view={vw}"), Value::Null),
    ];
    for (method, path, body) in &probes {
        let rb = app.request(method.clone(), path, Some(&b.admin_key));
        let rb = if body.is_null() { rb } else { rb.json(body) };
        let got = json(rb.send().await.unwrap()).await;
        assert_error(&got, 404, "not_found");
        // Identical to an id that never existed.
        let fake = path.replace(c, "01a00000-0000-7000-8000-000000000000");
        if fake != *path {
            let rb = app.request(method.clone(), &fake, Some(&b.admin_key));
            let rb = if body.is_null() { rb } else { rb.json(body) };
            assert_eq!(json(rb.send().await.unwrap()).await.1, got.1, "{method} {path}");
        }
    }

    // B's lists show nothing of A, and A's list id filters to nothing.
    for path in [
        "/api/v1/contacts",
        "/api/v1/labels",
        "/api/v1/lists",
        "/api/v1/channels",
        "/api/v1/conversations",
        "/api/v1/object-types",
        "/api/v1/views",
        "/api/v1/teams",
    ] {
        let (status, v) = json(app.get(path, &b.admin_key).await).await;
        assert_eq!((status, v["items"].as_array().map(Vec::len)), (200, Some(0)), "{path}: {v}");
    }
    let (_, v) = json(app.get(&format!("/api/v1/contacts?list_id={l}"), &b.admin_key).await).await;
    assert_eq!(v["items"], json!([]));
    let (_, v) = json(app.get("/api/v1/contacts?label=VIP&q=ana", &b.admin_key).await).await;
    assert_eq!(v["items"], json!([]));
    let export = app.get("/api/v1/contacts/export.csv", &b.admin_key).await.text().await.unwrap();
    assert_eq!(export.lines().count(), 1, "{export}");
    // B may hold a contact with A's e-mail: no conflict reveals that A has one.
    assert_eq!(app.send(Method::POST, "/api/v1/contacts", &b.admin_key, json!({"email": "ana@acme.io"})).await.status(), 201);

    // A's data is untouched.
    let (_, ana) = json(app.get(&format!("/api/v1/contacts/{c}"), k).await).await;
    assert_eq!((ana["first_name"].as_str(), ana["labels"].clone()), (Some("Ana"), json!(["VIP"])));
    assert_eq!(json(app.get(&format!("/api/v1/lists/{l}"), k).await).await.1["member_count"], 1);
    assert_eq!(json(app.get(&format!("/api/v1/conversations/{cv}/messages"), k).await).await.1["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn workspaces_are_isolated_on_sqlite() {
    isolation(Backend::Sqlite).await;
}

#[tokio::test]
async fn workspaces_are_isolated_on_postgres() {
    isolation(Backend::Postgres).await;
}
