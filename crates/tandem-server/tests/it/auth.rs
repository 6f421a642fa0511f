use reqwest::Method;
use serde_json::json;

use crate::{assert_error, json, TestApp, PASSWORD};

#[tokio::test]
async fn keys_missing_unknown_revoked_and_malformed_are_refused() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Acme").await;
    assert_error(&json(app.request(Method::GET, "/api/v1/contacts", None).send().await.unwrap()).await, 401, "unauthenticated");
    assert_error(&json(app.get("/api/v1/contacts", "tdm_made_up").await).await, 401, "invalid_api_key");
    let basic = app.request(Method::GET, "/api/v1/contacts", None).header("Authorization", "Basic YTpi").send().await.unwrap();
    assert_error(&json(basic).await, 401, "invalid_authorization");
    assert_eq!(app.get("/api/v1/contacts", &t.staff_key).await.status(), 200);

    // Revoke the staff key with the admin key: it stops working at once.
    let (_, keys) = json(app.get("/api/v1/api-keys", &t.admin_key).await).await;
    let staff = keys["items"].as_array().unwrap().iter().find(|k| k["name"] == "staff").unwrap()["id"].as_str().unwrap().to_string();
    assert_eq!(app.request(Method::DELETE, &format!("/api/v1/api-keys/{staff}"), Some(&t.admin_key)).send().await.unwrap().status(), 200);
    assert_error(&json(app.get("/api/v1/contacts", &t.staff_key).await).await, 401, "api_key_revoked");
}

#[tokio::test]
async fn staff_cannot_do_admin_actions() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Acme").await;
    let admin_only = [
        (Method::POST, "/api/v1/contact-properties", json!({"key": "plan", "kind": "text"})),
        (Method::POST, "/api/v1/api-keys", json!({"name": "x", "role": "admin"})),
        (Method::POST, "/api/v1/users", json!({"email": "x@acme.io", "name": "X", "password": PASSWORD, "role": "admin"})),
        (
            Method::POST,
            "/api/v1/channels",
            json!({"kind": "telegram", "name": "Bot", "config": {"bot_token": "123456:ABC-DEF", "secret_token": "s3cret"}}),
        ),
        (Method::POST, "/api/v1/object-types", json!({"key": "order"})),
        (Method::PATCH, "/api/v1/workspace", json!({"name": "Mine now"})),
        (Method::POST, "/api/v1/views", json!({"name": "All", "scope": "workspace"})),
        (Method::POST, "/api/v1/teams", json!({"name": "Support"})),
    ];
    for (method, path, body) in admin_only {
        assert_error(&json(app.send(method.clone(), path, &t.staff_key, body.clone()).await).await, 403, "forbidden");
        let ok = app.send(method, path, &t.admin_key, body).await.status().as_u16();
        assert!(ok == 200 || ok == 201, "{path}: admin got {ok}");
    }
    for path in ["/api/v1/audit-log", "/api/v1/api-keys"] {
        assert_error(&json(app.get(path, &t.staff_key).await).await, 403, "forbidden");
    }
    // Nothing the staff key tried was created.
    let (_, props) = json(app.get("/api/v1/contact-properties", &t.admin_key).await).await;
    assert_eq!(props["items"].as_array().unwrap().len(), 1);
}

#[tokio::test]
async fn login_session_cookie_and_logout() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Acme").await;
    let wrong = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .json(&json!({"email": "admin@acme.io", "password": "nope nope nope"}))
        .send()
        .await
        .unwrap();
    assert_error(&json(wrong).await, 401, "invalid_credentials");
    let resp = app
        .request(Method::POST, "/api/v1/auth/login", None)
        .json(&json!({"email": "admin@acme.io", "password": PASSWORD}))
        .send()
        .await
        .unwrap();
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(cookie.starts_with("tandem_session=tdm_s_") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Lax"), "{cookie}");
    let (status, me) = json(resp).await;
    assert_eq!((status, me["role"].as_str(), me["user"]["email"].as_str()), (200, Some("admin"), Some("admin@acme.io")));
    // The client's cookie store now authenticates requests.
    let (status, me) = json(app.request(Method::GET, "/api/v1/me", None).send().await.unwrap()).await;
    assert_eq!((status, me["workspace"]["name"].as_str()), (200, Some("Acme")));
    assert_eq!(app.request(Method::POST, "/api/v1/auth/logout", None).send().await.unwrap().status(), 204);
    assert_eq!(app.request(Method::GET, "/api/v1/me", None).send().await.unwrap().status(), 401);
    // The login is in the audit log.
    let (_, log) = json(app.get("/api/v1/audit-log", &t.admin_key).await).await;
    assert!(
        log["items"].as_array().unwrap().iter().any(|e| e["action"] == "login" && e["actor"].as_str().unwrap().starts_with("user:")),
        "{log}"
    );
}
