use reqwest::Method;
use serde_json::json;

use crate::{assert_error, json, TestApp};

#[tokio::test]
async fn bad_requests_get_clear_errors() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Acme").await;
    let k = &t.admin_key;
    let post = |body: &'static str, ctype: &'static str| {
        app.request(Method::POST, "/api/v1/contacts", Some(k)).header("content-type", ctype).body(body).send()
    };
    assert_error(&json(post("{\"first_name\": ", "application/json").await.unwrap()).await, 400, "invalid_json");
    assert_error(&json(post("first_name=Ana", "application/x-www-form-urlencoded").await.unwrap()).await, 415, "unsupported_media_type");
    assert_error(&json(post("[1, 2]", "application/json").await.unwrap()).await, 422, "invalid_body");
    let big = format!("{{\"first_name\": \"{}\"}}", "a".repeat(3 * 1024 * 1024));
    let resp =
        app.request(Method::POST, "/api/v1/contacts", Some(k)).header("content-type", "application/json").body(big).send().await.unwrap();
    assert_error(&json(resp).await, 413, "body_too_large");
    assert_error(&json(app.get("/api/v1/nope", k).await).await, 404, "not_found");
    assert_error(&json(app.request(Method::PUT, "/api/v1/contacts", Some(k)).send().await.unwrap()).await, 405, "method_not_allowed");
    assert_error(&json(app.get("/api/v1/contacts/not-a-uuid", k).await).await, 404, "not_found");

    // Field problems are all reported, with their codes.
    let (status, body) =
        json(app.send(Method::POST, "/api/v1/contacts", k, json!({"email": "nope", "phone": "12", "colour": "red"})).await).await;
    assert_eq!(status, 422, "{body}");
    let mut codes: Vec<&str> = body["error"]["details"].as_array().unwrap().iter().map(|d| d["code"].as_str().unwrap()).collect();
    codes.sort();
    assert_eq!(codes, ["invalid_email", "invalid_phone", "unknown_field"]);
    assert_error(&json(app.get("/api/v1/contacts?where=plan", k).await).await, 422, "invalid_filter");
    assert_error(&json(app.get("/api/v1/contacts?sort=password", k).await).await, 422, "invalid_sort");
    assert_error(&json(app.get("/api/v1/contacts?limit=ten", k).await).await, 400, "invalid_parameter");
    assert_error(&json(app.get("/api/v1/contacts?colour=red", k).await).await, 400, "unknown_parameter");
    assert_eq!(
        app.store().list_contacts(t.id, &Default::default(), &Default::default(), Default::default()).await.unwrap().items.len(),
        0,
        "nothing was half-written"
    );
}

#[tokio::test]
async fn health_readiness_metrics_and_openapi() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Acme").await;
    assert_eq!(app.client.get(format!("{}/healthz", app.base)).send().await.unwrap().text().await.unwrap(), "ok");
    assert_eq!(app.client.get(format!("{}/readyz", app.base)).send().await.unwrap().status(), 200);
    app.get("/api/v1/contacts", &t.staff_key).await;
    let metrics = app.client.get(format!("{}/metrics", app.base)).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("tandem_http_requests_total{method=\"GET\",route=\"/api/v1/contacts\",status=\"200\"}"), "{metrics}");
    assert!(metrics.contains("tandem_http_request_duration_seconds_bucket"), "{metrics}");

    let (status, doc) = json(app.client.get(format!("{}/api/v1/openapi.json", app.base)).send().await.unwrap()).await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/api/v1/contacts",
        "/api/v1/contacts/{id}",
        "/api/v1/contacts/imports",
        "/api/v1/jobs/{id}",
        "/api/v1/api-keys",
        "/api/v1/views",
        "/api/v1/audit-log",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from OpenAPI");
    }
    assert!(doc["components"]["schemas"]["Contact"].is_object());
    assert!(doc["components"]["securitySchemes"]["api_key"].is_object());
    // Every documented operation answers (no route documented but not served).
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys().filter(|m| ["get", "post", "patch", "put", "delete"].contains(&m.as_str())) {
            let url = path
                .replace("{id}", "01a00000-0000-7000-8000-000000000000")
                .replace("{user_id}", "x")
                .replace("{contact_id}", "x")
                .replace("{key}", "x")
                .replace("{name}", "x");
            let m = Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
            let status = app.request(m, &url, Some(&t.staff_key)).send().await.unwrap().status().as_u16();
            assert!(status != 405 && !(status == 404 && url.ends_with("/nope")), "{method} {url}: {status}");
        }
    }
}
