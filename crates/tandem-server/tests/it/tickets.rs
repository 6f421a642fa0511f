//! Tickets over HTTP: types with custom fields, the status lifecycle, tickets made from
//! conversations, internal notes, SLA due times in working hours, escalations, who sees and
//! assigns what, and isolation between workspaces.

use reqwest::{Client, Method};
use serde_json::{json, Value};
use tandem_core::{ChannelKind, ContactId, ConversationId, MessageDirection, MessageStatus, Role, TeamId, Timestamp, UserId};
use tandem_store::{contacts::ContactDraft, conversations::NewMessage, users::NewUser, Backend};

use crate::{assert_error, json, Tenant, TestApp, PASSWORD};

/// A user of the tenant logged in on a client of their own.
pub struct Person {
    pub id: UserId,
    pub client: Client,
}

pub async fn person(app: &TestApp, t: &Tenant, name: &str, role: Role) -> Person {
    let email = format!("{name}@{}.io", t.id.0.simple());
    let user = app
        .store()
        .create_user(t.id, NewUser { email: email.parse().unwrap(), name: name.into(), password: PASSWORD.into(), role })
        .await
        .unwrap();
    let client = Client::builder().cookie_store(true).build().unwrap();
    let resp = client
        .post(format!("{}/api/v1/auth/login", app.base))
        .json(&json!({"email": email, "password": PASSWORD, "workspace_id": t.id}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    Person { id: user.id, client }
}

/// A request as this person (their session cookie).
pub async fn call(app: &TestApp, p: &Person, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut rb = p.client.request(method, format!("{}{path}", app.base));
    if let Some(b) = body {
        rb = rb.json(&b);
    }
    json(rb.send().await.unwrap()).await
}

pub async fn team(app: &TestApp, t: &Tenant, name: &str, members: &[UserId]) -> TeamId {
    let team = app.store().create_team(t.id, name).await.unwrap();
    for m in members {
        app.store().add_team_member(t.id, team.id, *m).await.unwrap();
    }
    team.id
}

/// A contact and a conversation on a widget channel (no provider needed).
pub async fn conversation(app: &TestApp, t: &Tenant, first_name: &str, phone: Option<&str>) -> (ContactId, ConversationId) {
    let store = app.store();
    let channel = match store.list_channels(t.id).await.unwrap().into_iter().next() {
        Some(c) => c.id,
        None => store.create_channel(t.id, ChannelKind::Widget, "Site", Default::default()).await.unwrap().id,
    };
    let draft = ContactDraft {
        first_name: Some(first_name.into()),
        last_name: Some("Nelson".into()),
        phone: phone.map(|p| tandem_core::PhoneNumber::from_e164(p).unwrap()),
        ..ContactDraft::default()
    };
    let contact = store.create_contact(t.id, draft).await.unwrap().id;
    let conv = store.create_conversation(t.id, channel, contact).await.unwrap().id;
    (contact, conv)
}

pub async fn message(app: &TestApp, t: &Tenant, conv: ConversationId, direction: MessageDirection, body: &str) {
    let status = if direction == MessageDirection::Inbound { MessageStatus::Received } else { MessageStatus::Sent };
    let new = NewMessage { direction, body: body.into(), status, provider_message_id: None };
    app.store().add_message(t.id, conv, new).await.unwrap();
}

fn ms(v: &Value) -> i64 {
    Timestamp::try_from(v.as_str().unwrap_or_else(|| panic!("not a timestamp: {v}")).to_string()).unwrap().millis()
}

async fn lifecycle(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;

    // A custom type with fields; a built-in type can get fields too.
    let fields = json!([
        {"key": "order_ref", "label": "Order", "kind": "text", "options": [], "required": true},
        {"key": "reason", "label": "Reason", "kind": "single_select", "options": ["damaged", "late"], "required": false},
        {"key": "amount", "label": "Amount", "kind": "number", "options": [], "required": false}
    ]);
    let (s, ty) =
        json(app.send(Method::PUT, "/api/v1/ticket-types/complaint", key, json!({"name": "Complaint", "fields": fields})).await).await;
    assert_eq!((s, ty["builtin"].as_bool()), (200, Some(false)), "{ty}");
    assert_error(
        &json(app.send(Method::PUT, "/api/v1/ticket-types/complaint", &t.staff_key, json!({"name": "X"})).await).await,
        403,
        "forbidden",
    );
    assert_error(
        &json(app.send(Method::PUT, "/api/v1/ticket-types/Not%20A%20Key", key, json!({"name": "X"})).await).await,
        422,
        "invalid_type",
    );
    let (_, types) = json(app.get("/api/v1/ticket-types", key).await).await;
    let keys: Vec<&str> = types["items"].as_array().unwrap().iter().map(|t| t["key"].as_str().unwrap()).collect();
    assert_eq!(keys, ["bug_report", "feature_request", "billing", "refund", "general", "complaint"]);

    // Custom fields are checked.
    let bad = json(app.send(Method::POST, "/api/v1/tickets", key, json!({"subject": "Broken lamp", "type": "complaint"})).await).await;
    assert_error(&bad, 422, "required");
    let bad = json(
        app.send(
            Method::POST,
            "/api/v1/tickets",
            key,
            json!({"subject": "Broken", "type": "complaint", "fields": {"order_ref": "A1", "reason": "bored"}}),
        )
        .await,
    )
    .await;
    assert_eq!(bad.0, 422, "{}", bad.1);
    let bad = json(
        app.send(
            Method::POST,
            "/api/v1/tickets",
            key,
            json!({"subject": "Broken", "type": "complaint", "fields": {"order_ref": "A1", "colour": "red"}}),
        )
        .await,
    )
    .await;
    assert_error(&bad, 422, "unknown_field");
    assert_error(
        &json(app.send(Method::POST, "/api/v1/tickets", key, json!({"subject": "x", "type": "nope"})).await).await,
        404,
        "not_found",
    );
    assert_error(&json(app.send(Method::POST, "/api/v1/tickets", key, json!({"subject": "  "})).await).await, 422, "invalid_subject");
    assert_error(
        &json(app.send(Method::POST, "/api/v1/tickets", key, json!({"subject": "x", "priority": "asap"})).await).await,
        422,
        "invalid_body",
    );

    let (s, ticket) = json(
        app.send(
            Method::POST,
            "/api/v1/tickets",
            key,
            json!({"subject": "Broken lamp", "type": "complaint", "priority": "urgent", "fields": {"order_ref": "A-1", "amount": "12.5"}}),
        )
        .await,
    )
    .await;
    assert_eq!(s, 201, "{ticket}");
    assert_eq!(
        (ticket["status"].as_str(), ticket["priority"].as_str(), ticket["type"].as_str()),
        (Some("to_do"), Some("urgent"), Some("complaint"))
    );
    assert_eq!(ticket["fields"], json!({"order_ref": "A-1", "amount": 12.5}));
    // No working hours: the default urgent targets (1 h, 4 h) in calendar time.
    let created = ms(&ticket["created_at"]);
    assert_eq!(ms(&ticket["sla"]["first_response_due"]) - created, 3_600_000, "{ticket}");
    assert_eq!(ms(&ticket["sla"]["resolution_due"]) - created, 4 * 3_600_000);
    assert_eq!(ticket["sla"]["first_response_breached"], false);
    let id = ticket["id"].as_str().unwrap().to_string();
    let path = format!("/api/v1/tickets/{id}");

    // Status lifecycle: taking it up is the first response; resolved; only reopened after.
    let (s, t1) = json(app.send(Method::PATCH, &path, key, json!({"status": "in_progress"})).await).await;
    assert_eq!(s, 200, "{t1}");
    assert!(t1["first_response_at"].is_string());
    let (_, t2) =
        json(app.send(Method::PATCH, &path, key, json!({"status": "waiting", "fields": {"amount": null, "reason": "late"}})).await).await;
    assert_eq!(t2["fields"], json!({"order_ref": "A-1", "reason": "late"}), "null removes a field");
    let (_, t3) = json(app.send(Method::PATCH, &path, key, json!({"status": "resolved"})).await).await;
    assert!(t3["resolved_at"].is_string());
    assert_error(&json(app.send(Method::PATCH, &path, key, json!({"status": "in_progress"})).await).await, 422, "invalid_transition");
    let (_, t4) = json(app.send(Method::PATCH, &path, key, json!({"status": "reopened"})).await).await;
    assert_eq!(
        (t4["reopened_count"].as_i64(), t4["resolved_at"].is_null(), t4["waiting_count"].as_i64()),
        (Some(1), true, Some(1)),
        "{t4}"
    );
    assert_error(&json(app.send(Method::PATCH, &path, key, json!({"fields": {"order_ref": null}})).await).await, 422, "required");

    // Internal notes.
    let (s, note) = json(app.send(Method::POST, &format!("{path}/notes"), key, json!({"body": "Customer called twice."})).await).await;
    assert_eq!(s, 201, "{note}");
    assert_error(&json(app.send(Method::POST, &format!("{path}/notes"), key, json!({"body": " "})).await).await, 422, "invalid_note");
    let (_, notes) = json(app.get(&format!("{path}/notes"), key).await).await;
    assert_eq!(notes["items"][0]["body"], "Customer called twice.");
    assert!(notes["items"][0]["author"].as_str().unwrap().starts_with("api_key:"));

    // From a conversation: the link and contact are kept, the subject is the customer's first
    // message, and a person's reply in the conversation is the first response.
    let (contact, conv) = conversation(&app, &t, "Sheena", None).await;
    message(&app, &t, conv, MessageDirection::Inbound, "My order never arrived").await;
    let (s, from_conv) =
        json(app.send(Method::POST, "/api/v1/tickets", key, json!({"conversation_id": conv, "type": "refund"})).await).await;
    assert_eq!(s, 201, "{from_conv}");
    assert_eq!(
        (from_conv["subject"].as_str(), from_conv["contact_id"].as_str()),
        (Some("My order never arrived"), Some(contact.to_string().as_str()))
    );
    assert!(from_conv["first_response_at"].is_null());
    message(&app, &t, conv, MessageDirection::Outbound, "Sorry! Refunding now.").await;
    let conv_ticket = from_conv["id"].as_str().unwrap();
    let (_, again) = json(app.get(&format!("/api/v1/tickets/{conv_ticket}"), key).await).await;
    assert!(again["first_response_at"].is_string(), "{again}");
    assert_eq!(again["status"], "to_do");
    let (_, by_conv) = json(app.get(&format!("/api/v1/tickets?conversation_id={conv}"), key).await).await;
    assert_eq!(by_conv["items"].as_array().unwrap().len(), 1);
    let (_, refunds) = json(app.get("/api/v1/tickets?type=refund&open=true", key).await).await;
    assert_eq!(refunds["items"].as_array().unwrap().len(), 1);
    assert_error(&json(app.get("/api/v1/tickets?status=done", key).await).await, 422, "invalid_status");
    assert_error(&json(app.send(Method::DELETE, "/api/v1/ticket-types/complaint", key, json!({})).await).await, 409, "type_in_use");
    assert_error(&json(app.send(Method::DELETE, "/api/v1/ticket-types/refund", key, json!({})).await).await, 409, "builtin_type");

    // Another workspace can neither read nor change these tickets.
    let other = app.tenant("Other").await;
    let ok = &other.admin_key;
    assert_error(&json(app.get(&path, ok).await).await, 404, "not_found");
    assert_error(&json(app.send(Method::PATCH, &path, ok, json!({"status": "resolved"})).await).await, 404, "not_found");
    assert_error(&json(app.send(Method::POST, &format!("{path}/notes"), ok, json!({"body": "hi"})).await).await, 404, "not_found");
    assert_error(&json(app.get(&format!("{path}/notes"), ok).await).await, 404, "not_found");
    assert_error(&json(app.send(Method::DELETE, &path, ok, json!({})).await).await, 404, "not_found");
    assert_error(&json(app.send(Method::POST, "/api/v1/tickets", ok, json!({"conversation_id": conv})).await).await, 404, "not_found");
    assert_error(
        &json(app.send(Method::POST, "/api/v1/tickets", ok, json!({"subject": "x", "type": "complaint"})).await).await,
        404,
        "not_found",
    );
    let (_, theirs) = json(app.get("/api/v1/tickets", ok).await).await;
    assert_eq!(theirs["items"], json!([]));
    let (_, mine) = json(app.get(&path, key).await).await;
    assert_eq!(mine["status"], "reopened", "unchanged by the other workspace");

    // Only admins delete.
    assert_error(&json(app.send(Method::DELETE, &path, &t.staff_key, json!({})).await).await, 403, "forbidden");
    assert_eq!(app.send(Method::DELETE, &path, key, json!({})).await.status(), 204);
    assert_error(&json(app.get(&path, key).await).await, 404, "not_found");
}

#[tokio::test]
async fn ticket_lifecycle_sqlite() {
    lifecycle(Backend::Sqlite).await;
}

#[tokio::test]
async fn ticket_lifecycle_postgres() {
    lifecycle(Backend::Postgres).await;
}

#[tokio::test]
async fn ticket_access_rules() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Lumen").await;
    let lead = person(&app, &t, "lead", Role::TeamAdmin).await;
    let s1 = person(&app, &t, "s1", Role::Staff).await;
    let s2 = person(&app, &t, "s2", Role::Staff).await;
    let team_a = team(&app, &t, "A", &[lead.id, s1.id]).await;
    let team_b = team(&app, &t, "B", &[s2.id]).await;

    // Staff create tickets for themselves, not for others.
    let (s, own) =
        call(&app, &s1, Method::POST, "/api/v1/tickets", Some(json!({"subject": "Mine", "assignee_user_id": s1.id, "team_id": team_a})))
            .await;
    assert_eq!(s, 201, "{own}");
    let r = call(&app, &s1, Method::POST, "/api/v1/tickets", Some(json!({"subject": "Yours", "assignee_user_id": s2.id}))).await;
    assert_error(&r, 403, "forbidden");
    let r = call(&app, &s1, Method::POST, "/api/v1/tickets", Some(json!({"subject": "Theirs", "team_id": team_b}))).await;
    assert_error(&r, 403, "forbidden");

    // The admin files one in each team.
    let (_, in_a) =
        json(app.send(Method::POST, "/api/v1/tickets", &t.admin_key, json!({"subject": "Team A", "team_id": team_a})).await).await;
    let (_, in_b) =
        json(app.send(Method::POST, "/api/v1/tickets", &t.admin_key, json!({"subject": "Team B", "team_id": team_b})).await).await;
    let subjects = |v: &Value| {
        let mut s: Vec<String> = v["items"].as_array().unwrap().iter().map(|t| t["subject"].as_str().unwrap().to_string()).collect();
        s.sort();
        s
    };
    let (_, all) = json(app.get("/api/v1/tickets", &t.admin_key).await).await;
    assert_eq!(subjects(&all), ["Mine", "Team A", "Team B"]);
    let (_, of_lead) = call(&app, &lead, Method::GET, "/api/v1/tickets", None).await;
    assert_eq!(subjects(&of_lead), ["Mine", "Team A"], "a team admin sees their team's tickets");
    let (_, of_s1) = call(&app, &s1, Method::GET, "/api/v1/tickets", None).await;
    assert_eq!(subjects(&of_s1), ["Mine"], "staff see their own");
    let (_, of_s2) = call(&app, &s2, Method::GET, "/api/v1/tickets", None).await;
    assert_eq!(subjects(&of_s2), Vec::<String>::new());
    let (_, of_key) = json(app.get("/api/v1/tickets", &t.staff_key).await).await;
    assert_eq!(subjects(&of_key), Vec::<String>::new(), "a staff API key is nobody's");
    let a_path = format!("/api/v1/tickets/{}", in_a["id"].as_str().unwrap());
    let b_path = format!("/api/v1/tickets/{}", in_b["id"].as_str().unwrap());
    assert_error(&call(&app, &s1, Method::GET, &a_path, None).await, 404, "not_found");
    assert_error(&call(&app, &lead, Method::PATCH, &b_path, Some(json!({"status": "resolved"}))).await, 404, "not_found");

    // The team admin assigns within the team only.
    assert_error(&call(&app, &lead, Method::PATCH, &a_path, Some(json!({"assignee_user_id": s2.id}))).await, 403, "forbidden");
    let (s, given) = call(&app, &lead, Method::PATCH, &a_path, Some(json!({"assignee_user_id": s1.id}))).await;
    assert_eq!((s, given["assignee_user_id"].as_str()), (200, Some(s1.id.to_string().as_str())), "{given}");
    assert_error(&call(&app, &lead, Method::PATCH, &a_path, Some(json!({"team_id": team_b}))).await, 403, "forbidden");
    // Now s1 sees it and works it, but cannot hand it to someone else.
    let (s, worked) = call(&app, &s1, Method::PATCH, &a_path, Some(json!({"status": "in_progress"}))).await;
    assert_eq!((s, worked["status"].as_str()), (200, Some("in_progress")), "{worked}");
    assert_error(&call(&app, &s1, Method::PATCH, &a_path, Some(json!({"assignee_user_id": lead.id}))).await, 403, "forbidden");
    let (s, _) = call(&app, &s1, Method::PATCH, &a_path, Some(json!({"assignee_user_id": null}))).await;
    assert_eq!(s, 200, "staff may give a ticket back");
    assert_error(&call(&app, &s1, Method::DELETE, &a_path, None).await, 403, "forbidden");

    // A ticket from a conversation of team A belongs to team A, so its team admin sees it; staff
    // cannot make tickets from conversations they do not see.
    let (_, conv) = conversation(&app, &t, "Uma", None).await;
    app.store().update_conversation(t.id, conv, None, None, Some(Some(team_a))).await.unwrap();
    let (s, from_conv) = call(&app, &s1, Method::POST, "/api/v1/tickets", Some(json!({"conversation_id": conv}))).await;
    assert_eq!((s, from_conv["team_id"].as_str()), (201, Some(team_a.to_string().as_str())), "{from_conv}");
    let (_, of_lead) = call(&app, &lead, Method::GET, &format!("/api/v1/tickets?conversation_id={conv}"), None).await;
    assert_eq!(of_lead["items"].as_array().unwrap().len(), 1);
    assert_error(&call(&app, &s2, Method::POST, "/api/v1/tickets", Some(json!({"conversation_id": conv}))).await, 404, "not_found");
    assert_error(&call(&app, &s1, Method::GET, "/api/v1/tickets?open=maybe", None).await, 422, "invalid_value");
}

#[tokio::test]
async fn sla_in_working_hours_and_escalation_sqlite() {
    sla_and_escalation(Backend::Sqlite).await;
}

#[tokio::test]
async fn sla_in_working_hours_and_escalation_postgres() {
    sla_and_escalation(Backend::Postgres).await;
}

async fn sla_and_escalation(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let agent = person(&app, &t, "agent", Role::Staff).await;
    let escalations = team(&app, &t, "Escalations", &[]).await;
    let hours = json!({"time_zone": "Asia/Tokyo", "start": "09:00", "end": "18:00", "days": ["mon", "tue", "wed", "thu", "fri"]});
    let settings = json!({
        "working_hours": hours,
        "sla": {
            "urgent": {"first_response_minutes": 30, "resolution_minutes": 120},
            "high": {}, "medium": {}, "low": {},
            "escalations": [
                {"breach": "first_response", "priorities": ["urgent"], "action": {"type": "reassign_team", "team_id": escalations}},
                {"breach": "resolution", "action": {"type": "notify"}}
            ]
        }
    });
    let (s, saved) = json(app.send(Method::PUT, "/api/v1/inbox/settings", key, settings.clone()).await).await;
    assert_eq!(s, 200, "{saved}");
    assert_eq!(saved["working_hours"]["time_zone"], "Asia/Tokyo");
    let mut bad = settings.clone();
    bad["working_hours"]["time_zone"] = json!("Mars/Olympus");
    assert_eq!(json(app.send(Method::PUT, "/api/v1/inbox/settings", key, bad).await).await.0, 422);
    let mut bad = settings.clone();
    bad["sla"]["escalations"][0]["action"]["team_id"] = json!(TeamId::new());
    assert_error(&json(app.send(Method::PUT, "/api/v1/inbox/settings", key, bad).await).await, 422, "unknown_team");
    assert_error(&json(app.send(Method::PUT, "/api/v1/inbox/settings", &t.staff_key, settings.clone()).await).await, 403, "forbidden");

    let (_, ticket) = json(
        app.send(Method::POST, "/api/v1/tickets", key, json!({"subject": "Down", "priority": "urgent", "assignee_user_id": agent.id}))
            .await,
    )
    .await;
    let id = ticket["id"].as_str().unwrap().to_string();
    // Due times are the working-hours arithmetic of tandem-inbox, whatever time it is now.
    let wh: tandem_inbox::WorkingHours = serde_json::from_value(hours).unwrap();
    let created = Timestamp::from_millis(ms(&ticket["created_at"]));
    let due = tandem_inbox::working_hours::deadline(Some(&wh), created, 30 * 60_000);
    assert_eq!(ms(&ticket["sla"]["first_response_due"]), due.millis(), "{ticket}");
    assert_eq!(wh.working_millis_between(created, due), 30 * 60_000);
    assert!(wh.is_open_at(due.plus_millis(-1)), "the due time falls in working hours");

    // A week later nobody has answered: the first response escalates once, to the team's queue;
    // the resolution breach records a notification.
    let later = Timestamp::now().plus_millis(7 * 86_400_000);
    let done = app.store().escalate_tickets(t.id, later).await.unwrap();
    assert_eq!(done.len(), 2, "{done:?}");
    assert!(app.store().escalate_tickets(t.id, later).await.unwrap().is_empty(), "each breach escalates once");
    let (_, escalated) = json(app.get(&format!("/api/v1/tickets/{id}"), key).await).await;
    assert_eq!(
        (escalated["team_id"].as_str(), escalated["assignee_user_id"].as_str()),
        (Some(escalations.to_string().as_str()), None),
        "{escalated}"
    );
    let (_, events) = json(app.get(&format!("/api/v1/tickets/{id}/events"), key).await).await;
    let kinds: Vec<(&str, &str)> = events["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| (e["detail"]["breach"].as_str().unwrap(), e["detail"]["action"]["type"].as_str().unwrap()))
        .collect();
    assert_eq!(kinds, [("first_response", "reassign_team"), ("resolution", "notify")]);
    assert_eq!(events["items"][0]["detail"]["previous_assignee_user_id"], agent.id.to_string());
    // The sweep endpoint runs the same (nothing left to do) and needs a team admin.
    let (s, swept) = json(app.send(Method::POST, "/api/v1/inbox/sweep", key, json!({})).await).await;
    assert_eq!((s, swept["escalated"].as_array().map(Vec::len)), (200, Some(0)), "{swept}");
    assert_error(&json(app.send(Method::POST, "/api/v1/inbox/sweep", &t.staff_key, json!({})).await).await, 403, "forbidden");

    // The rule's user was deleted since the rule was saved: the escalation only notifies.
    let gone = person(&app, &t, "gone", Role::Staff).await;
    let mut rule = settings.clone();
    rule["sla"]["escalations"] = json!([{"breach": "first_response", "action": {"type": "reassign_user", "user_id": gone.id}}]);
    assert_eq!(app.send(Method::PUT, "/api/v1/inbox/settings", key, rule).await.status(), 200);
    app.store().delete_user(t.id, gone.id).await.unwrap();
    let (_, second) = json(app.send(Method::POST, "/api/v1/tickets", key, json!({"subject": "Slow", "priority": "urgent"})).await).await;
    let done = app.store().escalate_tickets(t.id, later).await.unwrap();
    assert_eq!(done.len(), 1, "{done:?}");
    assert_eq!(done[0].action, tandem_inbox::EscalationAction::Notify);
    let (_, events) = json(app.get(&format!("/api/v1/tickets/{}/events", second["id"].as_str().unwrap()), key).await).await;
    assert_eq!(events["items"][0]["detail"]["target_missing"], true, "{events}");
}

#[tokio::test]
async fn sla_skips_holidays_and_pauses_while_waiting_sqlite() {
    holidays_and_waiting(Backend::Sqlite).await;
}

#[tokio::test]
async fn sla_skips_holidays_and_pauses_while_waiting_postgres() {
    holidays_and_waiting(Backend::Postgres).await;
}

async fn holidays_and_waiting(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let sla = json!({"urgent": {"first_response_minutes": 30, "resolution_minutes": 120}, "high": {}, "medium": {}, "low": {}, "escalations": [
        {"breach": "resolution", "action": {"type": "notify"}}
    ]});

    // Open every day, but the next fourteen days in Tokyo (UTC+9, no daylight saving) are holidays.
    let today = time::OffsetDateTime::now_utc().to_offset(time::macros::offset!(+9)).date();
    let holidays: Vec<String> = (0..14).map(|d| (today + time::Duration::days(d)).to_string()).collect();
    let days = json!(["mon", "tue", "wed", "thu", "fri", "sat", "sun"]);
    let hours = json!({"time_zone": "Asia/Tokyo", "start": "09:00", "end": "18:00", "days": days, "holidays": holidays});
    let (s, saved) = json(app.send(Method::PUT, "/api/v1/inbox/settings", key, json!({"working_hours": hours, "sla": sla})).await).await;
    assert_eq!(s, 200, "{saved}");
    assert_eq!(saved["working_hours"]["holidays"].as_array().map(Vec::len), Some(14));
    let mut bad = hours.clone();
    bad["holidays"] = json!(["2025-02-30"]);
    let (s, refused) = json(app.send(Method::PUT, "/api/v1/inbox/settings", key, json!({"working_hours": bad})).await).await;
    assert_eq!(s, 422, "{refused}");
    assert!(refused["error"]["message"].as_str().unwrap().contains("`2025-02-30` is not a date"), "{refused}");

    let (_, ticket) = json(app.send(Method::POST, "/api/v1/tickets", key, json!({"subject": "Broken", "priority": "urgent"})).await).await;
    let created = Timestamp::from_millis(ms(&ticket["created_at"]));
    let due = ms(&ticket["sla"]["first_response_due"]);
    let wh: tandem_inbox::WorkingHours = serde_json::from_value(hours).unwrap();
    assert_eq!(due, tandem_inbox::working_hours::deadline(Some(&wh), created, 30 * 60_000).millis(), "{ticket}");
    // Thirty working minutes after the holidays: at 09:30 on the fifteenth day, not within a day.
    let fifteenth = (today + time::Duration::days(14)).with_hms(9, 30, 0).unwrap().assume_offset(time::macros::offset!(+9));
    assert_eq!(due, (fifteenth.unix_timestamp() * 1000), "{ticket}");

    // Calendar time from here on: waiting on the customer stops the resolution clock.
    let (s, _) = json(app.send(Method::PUT, "/api/v1/inbox/settings", key, json!({"working_hours": null, "sla": sla})).await).await;
    assert_eq!(s, 200);
    let (_, ticket) = json(app.send(Method::POST, "/api/v1/tickets", key, json!({"subject": "Refund", "priority": "urgent"})).await).await;
    let id = ticket["id"].as_str().unwrap().to_string();
    let created = ms(&ticket["created_at"]);
    assert_eq!(ms(&ticket["sla"]["resolution_due"]), created + 120 * 60_000);
    let path = format!("/api/v1/tickets/{id}");
    let moved = |status: &'static str| app.send(Method::PATCH, &path, key, json!({"status": status}));
    assert_eq!(moved("in_progress").await.status(), 200);
    let (_, waiting) = json(moved("waiting").await).await;
    assert_eq!(waiting["sla"]["resolution_paused"], true, "{waiting}");
    assert!(waiting["sla"]["resolution_due"].is_null(), "{waiting}");
    assert!(waiting["waiting_periods"][0]["until"].is_null(), "{waiting}");
    // A month later it still waits: no resolution breach, nothing escalates.
    let month = Timestamp::now().plus_millis(30 * 86_400_000);
    let escalated = app.store().escalate_tickets(t.id, month).await.unwrap();
    assert!(escalated.iter().all(|e| e.ticket_id.to_string() != id), "{escalated:?}");
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    // The customer answers: the clock runs again, the due time moved by the time spent waiting.
    let (_, back) = json(moved("in_progress").await).await;
    let period = &back["waiting_periods"][0];
    let waited = ms(&period["until"]) - ms(&period["from"]);
    assert!(waited >= 300, "{back}");
    assert_eq!(back["sla"]["resolution_paused"], false);
    assert_eq!(ms(&back["sla"]["resolution_due"]), created + 120 * 60_000 + waited, "{back}");
    assert_eq!(back["waiting_count"], 1);
    // Once overdue, the breach escalates as usual.
    let escalated = app.store().escalate_tickets(t.id, month).await.unwrap();
    assert!(escalated.iter().any(|e| e.ticket_id.to_string() == id && e.breach == tandem_inbox::Breach::Resolution), "{escalated:?}");
}

async fn tickets_of(app: &TestApp, key: &str, conversation: &str) -> Vec<Value> {
    let (_, list) = json(app.get(&format!("/api/v1/tickets?conversation_id={conversation}"), key).await).await;
    list["items"].as_array().unwrap().clone()
}

#[tokio::test]
async fn a_keyword_rule_opens_a_ticket_from_the_customers_message() {
    use crate::channels::{deliver, eventually, now_secs, the_conversation, wa_text, whatsapp_channel, with_graph};
    let graph = wiremock::MockServer::start().await;
    let app = TestApp::spawn_with(Backend::Sqlite, |c| with_graph(c, &graph)).await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let support = team(&app, &t, "Support", &[]).await;
    let channel = whatsapp_channel(&app, &t).await;
    let rules = json!([
        {"name": "Refunds", "keywords": ["refund", "money back", "remboursement"], "type": "refund", "priority": "high", "team_id": support},
        {"name": "Broken", "keywords": ["broken"], "type": "bug_report"}
    ]);
    let (s, saved) = json(app.send(Method::PUT, "/api/v1/inbox/settings", key, json!({"ticket_rules": rules})).await).await;
    assert_eq!(s, 200, "{saved}");
    assert_eq!(saved["ticket_rules"][0]["keywords"][2], "remboursement");
    // Refused: a team or a type the workspace does not have, a rule without keywords.
    let put = |rules: Value| app.send(Method::PUT, "/api/v1/inbox/settings", key, json!({"ticket_rules": rules}));
    assert_error(&json(put(json!([{"name": "X", "keywords": ["x"], "team_id": TeamId::new()}])).await).await, 422, "unknown_team");
    assert_error(&json(put(json!([{"name": "X", "keywords": ["x"], "type": "returns"}])).await).await, 422, "unknown_ticket_type");
    assert_eq!(json(put(json!([{"name": "X", "keywords": []}])).await).await.0, 422);

    // A message without a keyword opens nothing; one with a keyword (any case, accents aside) does.
    deliver(&app, &channel, &wa_text("wamid.K1", "Hello, is the Orbe lamp in stock?", now_secs())).await;
    let convo = the_conversation(&app, key).await;
    let id = convo["id"].as_str().unwrap().to_string();
    let body = wa_text("wamid.K2", "Bonjour, je demande un REMBOURSEMENT pour la lampe", now_secs());
    deliver(&app, &channel, &body).await;
    let opened = eventually(10, || async { tickets_of(&app, key, &id).await.into_iter().next() }).await;
    assert_eq!(
        (opened["type"].as_str(), opened["priority"].as_str(), opened["team_id"].as_str(), opened["created_by"].as_str()),
        (Some("refund"), Some("high"), Some(support.to_string().as_str()), Some("system")),
        "{opened}"
    );
    assert_eq!(opened["subject"], "Refunds: Bonjour, je demande un REMBOURSEMENT pour la lampe");
    let (_, events) = json(app.get(&format!("/api/v1/tickets/{}/events", opened["id"].as_str().unwrap()), key).await).await;
    assert_eq!(
        (events["items"][0]["kind"].as_str(), events["items"][0]["detail"]["keyword"].as_str()),
        (Some("auto_created"), Some("remboursement"))
    );

    // While it is open, other keywords and a redelivery open no other ticket.
    deliver(&app, &channel, &body).await;
    deliver(&app, &channel, &wa_text("wamid.K3", "Also the switch is broken", now_secs())).await;
    eventually(10, || async {
        let (_, messages) = json(app.get(&format!("/api/v1/conversations/{id}/messages"), key).await).await;
        (messages["items"].as_array().unwrap().len() == 3).then_some(())
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(tickets_of(&app, key, &id).await.len(), 1);
    // Once it is resolved, the next matching message opens a new one, by the first rule it matches.
    let path = format!("/api/v1/tickets/{}", opened["id"].as_str().unwrap());
    assert_eq!(app.send(Method::PATCH, &path, key, json!({"status": "resolved"})).await.status(), 200);
    deliver(&app, &channel, &wa_text("wamid.K4", "It arrived broken, I want my money back", now_secs())).await;
    let second = eventually(10, || async { tickets_of(&app, key, &id).await.into_iter().find(|t| t["id"] != opened["id"]) }).await;
    assert_eq!(
        (second["type"].as_str(), second["subject"].as_str()),
        (Some("refund"), Some("Refunds: It arrived broken, I want my money back"))
    );
}

#[tokio::test]
async fn escalations_notify_the_people_they_concern() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let agent = person(&app, &t, "agent", Role::Staff).await;
    let lead = person(&app, &t, "lead", Role::TeamAdmin).await;
    let night = team(&app, &t, "Night shift", &[lead.id]).await;
    let settings = json!({"sla": {
        "urgent": {"first_response_minutes": 30, "resolution_minutes": 120}, "high": {}, "medium": {}, "low": {},
        "escalations": [
            {"breach": "first_response", "action": {"type": "reassign_team", "team_id": night}},
            {"breach": "resolution", "action": {"type": "notify"}}
        ]
    }});
    assert_eq!(app.send(Method::PUT, "/api/v1/inbox/settings", key, settings).await.status(), 200);
    let new = json!({"subject": "Payment page down", "priority": "urgent", "assignee_user_id": agent.id});
    let (_, ticket) = json(app.send(Method::POST, "/api/v1/tickets", key, new).await).await;
    let (_, none) = call(&app, &lead, Method::GET, "/api/v1/notifications", None).await;
    assert_eq!(none["unread"], 0, "{none}");

    // A week later: the first response goes to the night shift's queue, and the resolution
    // breach, escalated after it, notifies that team rather than the previous assignee.
    let later = Timestamp::now().plus_millis(7 * 86_400_000);
    assert_eq!(app.store().escalate_tickets(t.id, later).await.unwrap().len(), 2);
    let (s, mine) = call(&app, &lead, Method::GET, "/api/v1/notifications", None).await;
    assert_eq!((s, mine["unread"].as_i64()), (200, Some(2)), "{mine}");
    let texts: Vec<&str> = mine["items"].as_array().unwrap().iter().map(|n| n["text"].as_str().unwrap()).collect();
    assert!(
        texts.contains(&"Ticket \u{201c}Payment page down\u{201d} missed its first-response target and was escalated to Night shift"),
        "{texts:?}"
    );
    assert!(texts.contains(&"Ticket \u{201c}Payment page down\u{201d} missed its resolution target"), "{texts:?}");
    assert!(mine["items"].as_array().unwrap().iter().all(|n| n["ticket_id"] == ticket["id"] && n["kind"] == "ticket.escalated"));
    let (_, theirs) = call(&app, &agent, Method::GET, "/api/v1/notifications", None).await;
    assert_eq!(theirs["items"].as_array().map(Vec::len), Some(0), "the former assignee is not told: {theirs}");

    // Read one, then all; nobody else's can be marked; an API key has none.
    let first = mine["items"][0]["id"].as_str().unwrap();
    let (s, _) = call(&app, &agent, Method::POST, &format!("/api/v1/notifications/{first}/read"), None).await;
    assert_eq!(s, 404, "another person's notification");
    let (s, _) = call(&app, &lead, Method::POST, &format!("/api/v1/notifications/{first}/read"), None).await;
    assert_eq!(s, 204);
    let (_, unread) = call(&app, &lead, Method::GET, "/api/v1/notifications?unread=true", None).await;
    assert_eq!((unread["unread"].as_i64(), unread["items"].as_array().map(Vec::len)), (Some(1), Some(1)), "{unread}");
    assert_eq!(call(&app, &lead, Method::POST, "/api/v1/notifications/read", None).await.0, 204);
    assert_eq!(call(&app, &lead, Method::GET, "/api/v1/notifications", None).await.1["unread"], 0);
    assert_error(&json(app.get("/api/v1/notifications", key).await).await, 403, "forbidden");
}
