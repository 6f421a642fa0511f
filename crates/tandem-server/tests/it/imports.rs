use reqwest::{
    multipart::{Form, Part},
    Method,
};
use serde_json::{json, Value};
use std::time::Duration;

use crate::{assert_error, json, TestApp};

const BAD_ROWS_CSV: &[u8] = include_bytes!("../../../../fixtures/contacts/bad_rows.csv");

fn form(bytes: &[u8], name: &str, dry_run: bool) -> Form {
    Form::new()
        .part("file", Part::bytes(bytes.to_vec()).file_name(name.to_string()))
        .text("mapping", json!({"Tags": "labels", "Renewal": "renewal"}).to_string())
        .text("dry_run", dry_run.to_string())
}

async fn setup(app: &TestApp, key: &str) {
    for body in [
        json!({"key": "plan", "kind": "single_select", "options": ["Free", "Pro AI", "Premium"], "required": true}),
        json!({"key": "renewal", "kind": "date"}),
    ] {
        assert_eq!(app.send(Method::POST, "/api/v1/contact-properties", key, body).await.status(), 201);
    }
}

fn issues(report: &Value) -> Vec<(u64, String, String)> {
    report["issues"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| (i["row"].as_u64().unwrap(), i["column"].as_str().unwrap_or("-").to_string(), i["code"].as_str().unwrap().to_string()))
        .collect()
}

#[tokio::test]
async fn import_dry_run_then_job_with_progress_and_report() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Acme").await;
    setup(&app, &t.admin_key).await;
    let upload = |f: Form| app.request(Method::POST, "/api/v1/contacts/imports", Some(&t.staff_key)).multipart(f).send();

    let (status, dry) = json(upload(form(BAD_ROWS_CSV, "contacts.csv", true)).await.unwrap()).await;
    assert_eq!(status, 200, "{dry}");
    let expected = vec![
        (3, "Phone".to_string(), "invalid_phone".to_string()),
        (4, "Plan".into(), "unknown_option".into()),
        (5, "Renewal".into(), "invalid_date".into()),
        (6, "Plan".into(), "required".into()),
        (7, "-".into(), "duplicate".into()),
    ];
    assert_eq!(issues(&dry), expected);
    assert_eq!((dry["created"].as_u64(), dry["failed"].as_u64(), dry["preview"].as_array().unwrap().len()), (Some(2), Some(4), 3));
    assert_eq!(json(app.get("/api/v1/contacts", &t.admin_key).await).await.1["items"], json!([]), "dry run wrote nothing");

    let (status, job) = json(upload(form(BAD_ROWS_CSV, "contacts.csv", false)).await.unwrap()).await;
    // The worker may have claimed it already.
    assert!(status == 202 && (job["status"] == "queued" || job["status"] == "running"), "{job}");
    let mut done = Value::Null;
    for _ in 0..200 {
        let (_, j) = json(app.get(&format!("/api/v1/jobs/{}", job["id"].as_str().unwrap()), &t.staff_key).await).await;
        if j["status"] == "succeeded" || j["status"] == "failed" || j["status"] == "dead" {
            done = j;
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(done["status"], "succeeded", "{done}");
    assert_eq!((done["progress_done"].as_u64(), done["progress_total"].as_u64()), (Some(7), Some(7)));
    assert_eq!(issues(&done["result"]), expected);
    let (_, contacts) = json(app.get("/api/v1/contacts?sort=email", &t.admin_key).await).await;
    let emails: Vec<&str> = contacts["items"].as_array().unwrap().iter().map(|c| c["email"].as_str().unwrap()).collect();
    assert_eq!(emails, ["ana@acme.io", "gus@acme.io"]);
    assert_eq!(contacts["items"][0]["labels"], json!(["Lead", "Newsletter", "VIP"]));
}

#[tokio::test]
async fn files_that_are_not_csv_are_refused_clearly() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Acme").await;
    setup(&app, &t.admin_key).await;
    let upload = |f: Form| app.request(Method::POST, "/api/v1/contacts/imports", Some(&t.admin_key)).multipart(f).send();
    let png = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR";
    let got = json(upload(form(png, "contacts.csv", false)).await.unwrap()).await;
    assert_error(&got, 422, "unsupported_file");
    assert_eq!(got.1["error"]["message"], "the file is a PNG image, not a CSV or Excel (xlsx) file");
    let no_file = Form::new().text("dry_run", "true");
    assert_error(&json(upload(no_file).await.unwrap()).await, 400, "missing_file");
    let bad_map = Form::new().part("file", Part::bytes(BAD_ROWS_CSV.to_vec()).file_name("c.csv")).text("mapping", "Tags=labels");
    assert_error(&json(upload(bad_map).await.unwrap()).await, 400, "invalid_mapping");
    let unknown_column = Form::new()
        .part("file", Part::bytes(BAD_ROWS_CSV.to_vec()).file_name("c.csv"))
        .text("mapping", r#"{"Tier": "plan"}"#)
        .text("dry_run", "true");
    assert_error(&json(upload(unknown_column).await.unwrap()).await, 422, "unknown_column");
    // No job was queued for any of these.
    assert!(app.store().claim_job(1000).await.unwrap().is_none());
}
