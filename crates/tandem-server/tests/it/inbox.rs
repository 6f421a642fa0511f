//! The shared inbox over HTTP: routing rules (a VIP label to the VIP team), round robin and
//! least-busy assignment, the AI agent first and its handoff to a team's queue, views, filters,
//! search, who sees which conversations, and metrics.

use reqwest::Method;
use serde_json::{json, Value};
use std::collections::HashMap;
use tandem_core::{ConversationId, ConversationStatus, MessageDirection, Role};
use tandem_store::{
    agent_runtime::{AgentStatus, NewAgentState},
    Backend,
};

use crate::{
    assert_error, json,
    tickets::{call, conversation, message, person, team, Person},
    TestApp,
};

fn ids(v: &Value) -> Vec<String> {
    v["items"].as_array().unwrap_or_else(|| panic!("not a list: {v}")).iter().map(|c| c["id"].as_str().unwrap().to_string()).collect()
}

fn sorted(mut v: Vec<String>) -> Vec<String> {
    v.sort();
    v
}

/// The ids the inbox lists for `query`, sorted, asked with an API key.
async fn listed(app: &TestApp, key: &str, query: &str) -> Vec<String> {
    let (s, v) = json(app.get(&format!("/api/v1/inbox/conversations?{query}"), key).await).await;
    assert_eq!(s, 200, "{v}");
    sorted(ids(&v))
}

/// The same, asked by a logged-in person.
async fn listed_for(app: &TestApp, who: &Person, query: &str) -> Vec<String> {
    let (s, v) = call(app, who, Method::GET, &format!("/api/v1/inbox/conversations?{query}"), None).await;
    assert_eq!(s, 200, "{v}");
    sorted(ids(&v))
}

async fn conversation_json(app: &TestApp, key: &str, id: ConversationId) -> Value {
    json(app.get(&format!("/api/v1/conversations/{id}"), key).await).await.1
}

async fn routing(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let (u1, u2, u3, v1) = (
        person(&app, &t, "u1", Role::Staff).await,
        person(&app, &t, "u2", Role::Staff).await,
        person(&app, &t, "u3", Role::Staff).await,
        person(&app, &t, "v1", Role::Staff).await,
    );
    let support = team(&app, &t, "Support", &[u1.id, u2.id, u3.id]).await;
    let vip = team(&app, &t, "VIP", &[v1.id]).await;
    let settings = json!({"routing": {
        "rules": [{"when": {"type": "contact_label", "label": "VIP"}, "team_id": vip}],
        "default_team_id": support,
        "strategies": [{"team_id": support, "strategy": "round_robin"}, {"team_id": vip, "strategy": "least_busy"}]
    }});
    let (s, saved) = json(app.send(Method::PUT, "/api/v1/inbox/settings", key, settings).await).await;
    assert_eq!(s, 200, "{saved}");
    assert_error(
        &json(
            app.send(
                Method::PUT,
                "/api/v1/inbox/settings",
                key,
                json!({"routing": {"rules": [{"when": {"type": "moon"}, "team_id": vip}]}}),
            )
            .await,
        )
        .await,
        422,
        "invalid_body",
    );

    // Five conversations arrive; one contact is a VIP.
    let (vip_contact, vip_conv) = conversation(&app, &t, "Victoria", None).await;
    app.store().add_contact_labels(t.id, vip_contact, &["vip".into()]).await.unwrap();
    let mut normal = vec![];
    for name in ["Ann", "Ben", "Cid", "Dee"] {
        normal.push(conversation(&app, &t, name, None).await.1);
    }

    // Reading the inbox routes them: the VIP to the VIP team, the rest to Support in turn.
    let (s, inbox) = json(app.get("/api/v1/inbox/conversations?view=unassigned", key).await).await;
    assert_eq!(s, 200, "{inbox}");
    assert!(ids(&inbox).is_empty(), "everything was assigned: {inbox}");
    let vip_now = conversation_json(&app, key, vip_conv).await;
    assert_eq!(
        (vip_now["team_id"].as_str(), vip_now["assignee_user_id"].as_str()),
        (Some(vip.to_string().as_str()), Some(v1.id.to_string().as_str()))
    );
    let mut order = vec![];
    for c in &normal {
        let conv = conversation_json(&app, key, *c).await;
        assert_eq!(conv["team_id"], support.to_string());
        order.push(conv["assignee_user_id"].as_str().unwrap().to_string());
    }
    let mut members = [u1.id.to_string(), u2.id.to_string(), u3.id.to_string()];
    members.sort();
    let first = members.iter().position(|m| *m == order[0]).unwrap();
    let expected: Vec<String> = (0..4).map(|i| members[(first + i) % 3].clone()).collect();
    assert_eq!(order, expected, "round robin takes turns");

    // Least busy: the member with the fewest open conversations gets the next one.
    let (_, extra) = conversation(&app, &t, "Eve", None).await;
    let mut settings = saved.clone();
    settings["routing"]["strategies"][0]["strategy"] = json!("least_busy");
    app.send(Method::PUT, "/api/v1/inbox/settings", key, settings).await;
    let loads: HashMap<String, usize> = order.iter().fold(HashMap::new(), |mut m, u| {
        *m.entry(u.clone()).or_default() += 1;
        m
    });
    let (s, a) =
        json(app.send(Method::POST, &format!("/api/v1/conversations/{extra}/assign"), key, json!({"team_id": support})).await).await;
    assert_eq!((s, a["strategy"].as_str(), a["routed_by"].as_str()), (200, Some("least_busy"), Some("requested")), "{a}");
    let got = a["assignee_user_id"].as_str().unwrap();
    assert_eq!(loads.get(got).copied().unwrap_or(0), 1, "{got} had one conversation, the fewest: {loads:?}");

    // By hand: staff take a conversation of their team, but do not hand them out.
    let target = normal[0];
    let path = format!("/api/v1/conversations/{target}/assign");
    let (s, took) = call(&app, &u1, Method::POST, &path, Some(json!({"user_id": u1.id}))).await;
    assert_eq!((s, took["assignee_user_id"].as_str()), (200, Some(u1.id.to_string().as_str())), "{took}");
    assert_error(&call(&app, &u1, Method::POST, &path, Some(json!({"user_id": u2.id}))).await, 403, "forbidden");
    assert_error(&call(&app, &u1, Method::POST, &path, Some(json!({}))).await, 403, "forbidden");
    assert_error(&call(&app, &v1, Method::POST, &path, Some(json!({"user_id": v1.id}))).await, 404, "not_found");
    let r = json(app.send(Method::POST, &path, key, json!({"user_id": v1.id})).await).await;
    assert_error(&r, 422, "not_a_member");

    // AI first: on a channel with an agent, a conversation stays with the agent until it hands
    // off; then it goes to the team the agent named.
    let store = app.store();
    let channel = store.list_channels(t.id).await.unwrap()[0].id;
    let agent = store.create_agent(t.id, "Lumen bot").await.unwrap().id;
    store.set_channel_agent(t.id, channel, Some(agent)).await.unwrap();
    let (_, ai_conv) = conversation(&app, &t, "Fay", None).await;
    let active = NewAgentState { agent, status: AgentStatus::Active, handoff: None, lead_score: None, summary: None };
    store.set_conversation_agent(t.id, ai_conv, active).await.unwrap();
    let (_, ai) = json(app.get("/api/v1/inbox/conversations?view=ai", key).await).await;
    assert_eq!(ids(&ai), [ai_conv.to_string()]);
    assert!(conversation_json(&app, key, ai_conv).await["team_id"].is_null(), "the agent answers; nobody is assigned");
    let handed = NewAgentState {
        agent,
        status: AgentStatus::HandedOff,
        handoff: Some(("asked for a person", Some("vip"))),
        lead_score: None,
        summary: None,
    };
    store.set_conversation_agent(t.id, ai_conv, handed).await.unwrap();
    let (_, handed_off) = json(app.get("/api/v1/inbox/conversations?view=handed_off", key).await).await;
    assert_eq!(ids(&handed_off), [ai_conv.to_string()]);
    assert_eq!(handed_off["items"][0]["agent_status"], "handed_off");
    assert_eq!(handed_off["items"][0]["team_id"], vip.to_string(), "routed to the agent's handoff team");

    // Another workspace sees none of it and cannot assign it.
    let other = app.tenant("Other").await;
    let (_, theirs) = json(app.get("/api/v1/inbox/conversations", &other.admin_key).await).await;
    assert!(ids(&theirs).is_empty());
    assert_error(&json(app.send(Method::POST, &path, &other.admin_key, json!({"user_id": u1.id})).await).await, 404, "not_found");
}

#[tokio::test]
async fn routing_and_assignment_sqlite() {
    routing(Backend::Sqlite).await;
}

#[tokio::test]
async fn routing_and_assignment_postgres() {
    routing(Backend::Postgres).await;
}

async fn views(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let staff = person(&app, &t, "staff", Role::Staff).await;
    let mate = person(&app, &t, "mate", Role::Staff).await;
    let sales = team(&app, &t, "Sales", &[staff.id, mate.id]).await;

    let (sheena_contact, sheena) = conversation(&app, &t, "Sheena", Some("+33612345678")).await;
    let (_, bob) = conversation(&app, &t, "Bob", None).await;
    let (_, carl) = conversation(&app, &t, "Carl", None).await;
    let (_, dora) = conversation(&app, &t, "Dora", None).await;
    message(&app, &t, bob, MessageDirection::Inbound, "I want a REFUND for my lamp").await;
    message(&app, &t, carl, MessageDirection::Inbound, "50%_off? really").await;
    app.store().add_contact_labels(t.id, sheena_contact, &["Gold".into()]).await.unwrap();
    let s = app.store();
    s.update_conversation(t.id, sheena, None, Some(Some(staff.id)), Some(Some(sales))).await.unwrap();
    s.update_conversation(t.id, bob, None, None, Some(Some(sales))).await.unwrap();
    s.update_conversation(t.id, carl, Some(tandem_core::ConversationStatus::Resolved), Some(Some(mate.id)), None).await.unwrap();

    let id = |c: ConversationId| c.to_string();
    // Search by name, phone (as people type it), message text (the full-text index: words in
    // any order, by their start, case-insensitive; punctuation is no query syntax).
    assert_eq!(listed(&app, key, "q=sheena").await, [id(sheena)]);
    assert_eq!(listed(&app, key, "q=06%2012%2034%2056%2078").await, [id(sheena)]);
    assert_eq!(listed(&app, key, "q=refund").await, [id(bob)]);
    assert_eq!(listed(&app, key, "q=Lamp%20refu").await, [id(bob)], "words in any order, the last one a prefix");
    assert_eq!(listed(&app, key, "q=fund").await, Vec::<String>::new(), "words match from their start");
    assert_eq!(listed(&app, key, "q=refund%20sofa").await, Vec::<String>::new(), "every word must match");
    assert_eq!(listed(&app, key, "q=50%25_").await, [id(carl)]);
    assert_eq!(
        listed(&app, key, "q=%22REALLY%22%20%3A*%20off%26").await,
        [id(carl)],
        "quotes, stars, colons and ampersands are no query syntax"
    );
    assert_eq!(listed(&app, key, "q=_").await, Vec::<String>::new(), "an underscore is a character, not a wildcard");
    assert_eq!(listed(&app, key, "q=nobody").await, Vec::<String>::new());
    // Filters.
    assert_eq!(listed(&app, key, "label=gold").await, [id(sheena)]);
    assert_eq!(listed(&app, key, "status=resolved").await, [id(carl)]);
    assert_eq!(listed(&app, key, &format!("assignee_user_id={}", staff.id)).await, [id(sheena)]);
    let channel = app.store().list_channels(t.id).await.unwrap()[0].id;
    assert_eq!(listed(&app, key, &format!("channel_id={channel}")).await, sorted(vec![id(sheena), id(bob), id(carl), id(dora)]));
    assert_eq!(listed(&app, key, "view=unassigned").await, sorted(vec![id(bob), id(dora)]));
    assert_error(&json(app.get("/api/v1/inbox/conversations?view=everything", key).await).await, 422, "invalid_view");
    assert_error(&json(app.get("/api/v1/inbox/conversations?status=closed", key).await).await, 422, "invalid_value");

    // Staff see their team's and their own conversations only.
    assert_eq!(listed_for(&app, &staff, "").await, sorted(vec![id(sheena), id(bob)]));
    assert_eq!(listed_for(&app, &staff, "view=mine").await, [id(sheena)]);
    assert_eq!(listed_for(&app, &staff, "view=team").await, sorted(vec![id(sheena), id(bob)]));
    assert_eq!(listed_for(&app, &staff, "view=unassigned").await, [id(bob)]);
    assert_eq!(
        listed_for(&app, &mate, "").await,
        sorted(vec![id(sheena), id(bob), id(carl)]),
        "their team's, and the one assigned to them"
    );
    assert_eq!(listed_for(&app, &mate, "q=refund").await, [id(bob)]);
    let (_, by_key) = json(app.get("/api/v1/inbox/conversations", &t.staff_key).await).await;
    assert_eq!(ids(&by_key).len(), 4, "an API key is an integration, not a person: it works on the whole inbox");

    // The conversation endpoints apply the same rule: what Staff do not see is not found.
    assert_eq!(sorted(ids(&call(&app, &staff, Method::GET, "/api/v1/conversations", None).await.1)), sorted(vec![id(sheena), id(bob)]));
    for path in [
        format!("/api/v1/conversations/{carl}"),
        format!("/api/v1/conversations/{carl}/messages"),
        format!("/api/v1/conversations/{carl}/window"),
        format!("/api/v1/conversations/{carl}/agent"),
    ] {
        // Carl's conversation is assigned to the mate, in no team.
        assert_error(&call(&app, &staff, Method::GET, &path, None).await, 404, "not_found");
        assert_eq!(call(&app, &mate, Method::GET, &path, None).await.0, 200, "{path}");
    }
    let dora_path = format!("/api/v1/conversations/{dora}/messages");
    assert_error(&call(&app, &staff, Method::POST, &dora_path, Some(json!({"body": "hello"}))).await, 404, "not_found");
    // Staff change their own assignment only.
    let bob_path = format!("/api/v1/conversations/{bob}");
    assert_error(&call(&app, &staff, Method::PATCH, &bob_path, Some(json!({"assignee_user_id": mate.id}))).await, 403, "forbidden");
    let (status, took) = call(&app, &staff, Method::PATCH, &bob_path, Some(json!({"assignee_user_id": staff.id}))).await;
    assert_eq!((status, took["assignee_user_id"].as_str()), (200, Some(staff.id.to_string().as_str())), "{took}");
    let sheena_path = format!("/api/v1/conversations/{sheena}");
    assert_error(&call(&app, &mate, Method::PATCH, &sheena_path, Some(json!({"assignee_user_id": null}))).await, 403, "forbidden");
    let (status, back) =
        call(&app, &staff, Method::PATCH, &sheena_path, Some(json!({"assignee_user_id": null, "status": "pending"}))).await;
    assert_eq!((status, back["assignee_user_id"].is_null(), back["status"].as_str()), (200, true, Some("pending")), "{back}");
    s.update_conversation(t.id, sheena, Some(tandem_core::ConversationStatus::Open), Some(Some(staff.id)), None).await.unwrap();
    let (_, all) = json(app.get("/api/v1/inbox/conversations?view=all", key).await).await;
    assert_eq!(all["items"].as_array().unwrap().len(), 4);
    let item = all["items"].as_array().unwrap().iter().find(|i| i["id"] == id(sheena)).unwrap().clone();
    assert_eq!((item["contact_name"].as_str(), item["contact_phone"].as_str()), (Some("Sheena Nelson"), Some("+33612345678")));
}

#[tokio::test]
async fn views_search_and_visibility_sqlite() {
    views(Backend::Sqlite).await;
}

#[tokio::test]
async fn views_search_and_visibility_postgres() {
    views(Backend::Postgres).await;
}

#[tokio::test]
async fn metrics_by_type_assignee_and_first_contact_resolution_sqlite() {
    metrics(Backend::Sqlite).await;
}

#[tokio::test]
async fn metrics_by_type_assignee_and_first_contact_resolution_postgres() {
    metrics(Backend::Postgres).await;
}

async fn metrics(backend: Backend) {
    let app = TestApp::spawn_on(backend).await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let agent = person(&app, &t, "agent", Role::Staff).await;
    let mut made = vec![];
    for (kind, assignee) in [("refund", true), ("refund", true), ("bug_report", false)] {
        let body = if assignee {
            json!({"subject": "s", "type": kind, "assignee_user_id": agent.id})
        } else {
            json!({"subject": "s", "type": kind})
        };
        let (_, tk) = json(app.send(Method::POST, "/api/v1/tickets", key, body).await).await;
        made.push(format!("/api/v1/tickets/{}", tk["id"].as_str().unwrap()));
    }
    // One resolved at once, one resolved after waiting on the customer, one open.
    app.send(Method::PATCH, &made[0], key, json!({"status": "resolved"})).await;
    app.send(Method::PATCH, &made[1], key, json!({"status": "waiting"})).await;
    app.send(Method::PATCH, &made[1], key, json!({"status": "resolved"})).await;
    let (_, conv) = conversation(&app, &t, "Gil", None).await;
    message(&app, &t, conv, MessageDirection::Inbound, "hello").await;
    message(&app, &t, conv, MessageDirection::Outbound, "hi!").await;

    let (s, m) = json(app.get("/api/v1/inbox/metrics", key).await).await;
    assert_eq!(s, 200, "{m}");
    let tk = &m["tickets"];
    assert_eq!((tk["total"].as_i64(), tk["resolved"].as_i64()), (Some(3), Some(2)), "{m}");
    assert_eq!(tk["first_contact_resolution_rate"].as_f64(), Some(0.5));
    assert_eq!(tk["by_type"], json!([{"kind": "refund", "count": 2}, {"kind": "bug_report", "count": 1}]));
    assert_eq!(tk["first_response"]["count"], 2);
    let mine = tk["by_assignee"].as_array().unwrap().iter().find(|a| a["user_id"] == agent.id.to_string()).unwrap();
    assert_eq!((mine["assigned"].as_i64(), mine["resolved"].as_i64()), (Some(2), Some(2)));
    let c = &m["conversations"];
    assert_eq!((c["total"].as_i64(), c["first_response"]["count"].as_i64()), (Some(1), Some(1)), "{m}");
    assert_eq!(c["by_type"][0]["kind"], "widget");
    assert_eq!(m["working_hours"], false);

    // A range without tickets, a bad range, and the role needed.
    let (_, empty) = json(app.get("/api/v1/inbox/metrics?from=2020-01-01T00:00:00Z&to=2020-02-01T00:00:00Z", key).await).await;
    assert_eq!((empty["tickets"]["total"].as_i64(), empty["tickets"]["first_contact_resolution_rate"].is_null()), (Some(0), true));
    assert_error(
        &json(app.get("/api/v1/inbox/metrics?from=2021-01-01T00:00:00Z&to=2020-01-01T00:00:00Z", key).await).await,
        422,
        "invalid_range",
    );
    assert_error(&json(app.get("/api/v1/inbox/metrics?from=yesterday", key).await).await, 422, "invalid_timestamp");
    assert_error(&json(app.get("/api/v1/inbox/metrics", &t.staff_key).await).await, 403, "forbidden");
}

#[tokio::test]
async fn the_sweep_job_routes_waiting_conversations_and_reschedules_itself() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Lumen").await;
    let agent = person(&app, &t, "agent", Role::Staff).await;
    let support = team(&app, &t, "Support", &[agent.id]).await;
    let settings = json!({"routing": {"default_team_id": support, "strategies": [{"team_id": support, "strategy": "round_robin"}]}});
    assert_eq!(app.send(Method::PUT, "/api/v1/inbox/settings", &t.admin_key, settings).await.status(), 200);
    let store = app.store();
    // Saving the settings queued the first sweep a minute from now.
    assert!(!store.schedule_inbox_sweep(t.id, 0).await.unwrap(), "a sweep is already queued");
    let (_, waiting) = conversation(&app, &t, "Hal", None).await;
    // Run one now: the worker picks it up.
    let job = store.enqueue_job(t.id, tandem_store::inbox::SWEEP_JOB, &json!({}), 3).await.unwrap();
    let done = crate::channels::eventually(10, || async {
        let j = store.get_job(t.id, job.id).await.unwrap();
        (j.status == tandem_store::jobs::JobStatus::Succeeded).then_some(j)
    })
    .await;
    assert_eq!(done.result, Some(json!({"routed": 1, "woken": 0, "escalated": 0})));
    let conv = store.get_conversation(t.id, waiting).await.unwrap();
    assert_eq!((conv.team_id, conv.assignee_user_id), (Some(support), Some(agent.id)));
    // The next sweep is queued; finished ones are pruned by the next run.
    assert!(!store.schedule_inbox_sweep(t.id, 0).await.unwrap());
    assert_eq!(store.prune_inbox_sweeps(t.id).await.unwrap(), 1);
    assert_error(&json(store_job(&app, &t, job.id).await).await, 404, "not_found");
}

#[tokio::test]
async fn a_snoozed_conversation_opens_at_its_time_or_when_the_customer_writes() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Lumen").await;
    let other = app.tenant("Other").await;
    let key = &t.admin_key;
    let store = app.store();
    let (_, timed) = conversation(&app, &t, "Hal", None).await;
    let (_, waiting) = conversation(&app, &t, "Ivy", None).await;
    let path = |c: ConversationId| format!("/api/v1/conversations/{c}");
    let in_an_hour = tandem_core::Timestamp::now().plus_millis(3_600_000);

    // Snoozed for an hour: the sweep is scheduled, nothing wakes before the hour.
    let (s, snoozed) =
        json(app.send(Method::PATCH, &path(timed), key, json!({"status": "snoozed", "snoozed_until": in_an_hour.to_rfc3339()})).await)
            .await;
    assert_eq!((s, snoozed["status"].as_str()), (200, Some("snoozed")), "{snoozed}");
    assert_eq!(snoozed["snoozed_until"], in_an_hour.to_rfc3339());
    assert!(!store.schedule_inbox_sweep(t.id, 0).await.unwrap(), "snoozing queued the sweep that wakes it");
    assert!(store.wake_snoozed(t.id, tandem_core::Timestamp::now()).await.unwrap().is_empty());
    let (_, list) = json(app.get("/api/v1/inbox/conversations?status=snoozed", key).await).await;
    assert_eq!(list["items"][0]["snoozed_until"], in_an_hour.to_rfc3339(), "{list}");
    // Refusals: a time without the status, a time past, another workspace.
    let past = tandem_core::Timestamp::now().plus_millis(-60_000).to_rfc3339();
    assert_error(&json(app.send(Method::PATCH, &path(timed), key, json!({"snoozed_until": past})).await).await, 422, "invalid_snooze");
    let refused = app.send(Method::PATCH, &path(waiting), key, json!({"status": "snoozed", "snoozed_until": past})).await;
    assert_error(&json(refused).await, 422, "invalid_snooze");
    assert_eq!(store.get_conversation(t.id, waiting).await.unwrap().status, ConversationStatus::Open, "a refused snooze changes nothing");
    assert_error(&json(app.send(Method::PATCH, &path(timed), &other.admin_key, json!({"status": "open"})).await).await, 404, "not_found");
    // The hour comes: open again, without a snooze time.
    assert_eq!(store.wake_snoozed(t.id, in_an_hour.plus_millis(1)).await.unwrap(), [timed]);
    let woken = store.get_conversation(t.id, timed).await.unwrap();
    assert_eq!((woken.status, woken.snoozed_until), (ConversationStatus::Open, None));

    // Snoozed until the customer writes: no time wakes it, their message does.
    let (_, until_reply) = json(app.send(Method::PATCH, &path(waiting), key, json!({"status": "snoozed"})).await).await;
    assert!(until_reply["snoozed_until"].is_null(), "{until_reply}");
    assert!(store.wake_snoozed(t.id, in_an_hour.plus_millis(300 * 86_400_000)).await.unwrap().is_empty());
    message(&app, &t, waiting, MessageDirection::Outbound, "We will get back to you").await;
    assert_eq!(store.get_conversation(t.id, waiting).await.unwrap().status, ConversationStatus::Snoozed, "our own message wakes nothing");
    message(&app, &t, waiting, MessageDirection::Inbound, "Any news?").await;
    assert_eq!(store.get_conversation(t.id, waiting).await.unwrap().status, ConversationStatus::Open);
    // Pending (waiting on the customer) opens the same way; moving a snoozed one by hand clears its time.
    assert_eq!(app.send(Method::PATCH, &path(waiting), key, json!({"status": "pending"})).await.status(), 200);
    message(&app, &t, waiting, MessageDirection::Inbound, "Here is my order number").await;
    assert_eq!(store.get_conversation(t.id, waiting).await.unwrap().status, ConversationStatus::Open);
    let again = json!({"status": "snoozed", "snoozed_until": in_an_hour.to_rfc3339()});
    assert_eq!(app.send(Method::PATCH, &path(timed), key, again).await.status(), 200);
    let (_, opened) = json(app.send(Method::PATCH, &path(timed), key, json!({"status": "open"})).await).await;
    assert!(opened["snoozed_until"].is_null(), "{opened}");
}

async fn store_job(app: &TestApp, t: &crate::Tenant, id: tandem_core::JobId) -> reqwest::Response {
    app.get(&format!("/api/v1/jobs/{id}"), &t.admin_key).await
}

#[tokio::test]
async fn the_openapi_document_describes_tickets_and_the_inbox() {
    let app = TestApp::spawn().await;
    let (status, doc) = json(app.client.get(format!("{}/api/v1/openapi.json", app.base)).send().await.unwrap()).await;
    assert_eq!(status, 200);
    for path in [
        "/api/v1/tickets",
        "/api/v1/tickets/{id}",
        "/api/v1/tickets/{id}/notes",
        "/api/v1/tickets/{id}/events",
        "/api/v1/ticket-types",
        "/api/v1/ticket-types/{key}",
        "/api/v1/inbox/settings",
        "/api/v1/inbox/conversations",
        "/api/v1/conversations/{id}/assign",
        "/api/v1/inbox/sweep",
        "/api/v1/inbox/metrics",
    ] {
        assert!(doc["paths"][path].is_object(), "{path} missing from OpenAPI");
    }
    // Every schema a reference names is in the document.
    fn refs(v: &Value, out: &mut Vec<String>) {
        match v {
            Value::Object(o) => {
                if let Some(Value::String(r)) = o.get("$ref") {
                    out.push(r.clone());
                }
                o.values().for_each(|x| refs(x, out));
            }
            Value::Array(a) => a.iter().for_each(|x| refs(x, out)),
            _ => {}
        }
    }
    let mut all = vec![];
    refs(&doc, &mut all);
    for r in all.iter().filter(|r| r.contains("Ticket") || r.contains("Inbox") || r.contains("Sla") || r.contains("Working")) {
        let name = r.trim_start_matches("#/components/schemas/");
        assert!(doc["components"]["schemas"][name].is_object(), "{r} is referenced but not defined");
    }
    for name in ["Ticket", "InboxSettings", "SlaStatus", "Routing"] {
        assert!(doc["components"]["schemas"][name].is_object(), "{name} missing");
    }
}

#[tokio::test]
async fn after_hours_conversations_wait_in_the_team_queue_until_opening() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let agent = person(&app, &t, "agent", Role::Staff).await;
    let support = team(&app, &t, "Support", &[agent.id]).await;
    // Open all day, but only on a day three days from today: closed now.
    let days = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
    let other_day = days[(time::OffsetDateTime::now_utc().weekday().number_days_from_monday() as usize + 3) % 7];
    let routing = json!({"default_team_id": support, "strategies": [{"team_id": support, "strategy": "round_robin"}]});
    let closed = json!({"working_hours": {"time_zone": "UTC", "start": "00:00", "end": "24:00", "days": [other_day]}, "routing": routing});
    assert_eq!(app.send(Method::PUT, "/api/v1/inbox/settings", key, closed).await.status(), 200);
    let (_, waiting) = conversation(&app, &t, "Ivy", None).await;
    assert_eq!(listed(&app, key, "view=unassigned").await, [waiting.to_string()]);
    let conv = conversation_json(&app, key, waiting).await;
    assert_eq!((conv["team_id"].as_str(), conv["assignee_user_id"].as_str()), (Some(support.to_string().as_str()), None), "{conv}");
    let (_, a) =
        json(app.send(Method::POST, &format!("/api/v1/conversations/{waiting}/assign"), key, json!({"team_id": support})).await).await;
    assert_eq!((a["deferred"].as_bool(), a["assignee_user_id"].as_str()), (Some(true), None), "{a}");
    // Open again (no working hours: always open): the queue is handed out.
    assert_eq!(app.send(Method::PUT, "/api/v1/inbox/settings", key, json!({"routing": routing})).await.status(), 200);
    assert!(listed(&app, key, "view=unassigned").await.is_empty());
    assert_eq!(conversation_json(&app, key, waiting).await["assignee_user_id"], agent.id.to_string());
}

#[tokio::test]
async fn an_unroutable_conversation_is_looked_at_again_after_a_minute_or_at_handoff() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Lumen").await;
    let key = &t.admin_key;
    let v = person(&app, &t, "v", Role::Staff).await;
    let vip = team(&app, &t, "VIP", &[v.id]).await;
    let settings = json!({"routing": {"rules": [{"when": {"type": "contact_label", "label": "vip"}, "team_id": vip}]}});
    assert_eq!(app.send(Method::PUT, "/api/v1/inbox/settings", key, settings).await.status(), 200);
    let (contact, conv) = conversation(&app, &t, "Jon", None).await;
    // No rule places it and there is no default team: it stays unrouted.
    assert_eq!(listed(&app, key, "view=unassigned").await, [conv.to_string()]);
    // Labelled meanwhile: reads within the minute do not route it again...
    app.store().add_contact_labels(t.id, contact, &["VIP".into()]).await.unwrap();
    listed(&app, key, "").await;
    assert!(conversation_json(&app, key, conv).await["team_id"].is_null());
    // ...but a handoff does, at once.
    let agent = app.store().create_agent(t.id, "bot").await.unwrap().id;
    let handed = NewAgentState {
        agent,
        status: AgentStatus::HandedOff,
        handoff: Some(("asked for a person", None)),
        lead_score: None,
        summary: None,
    };
    app.store().set_conversation_agent(t.id, conv, handed).await.unwrap();
    listed(&app, key, "").await;
    assert_eq!(conversation_json(&app, key, conv).await["team_id"], vip.to_string());
}

#[tokio::test]
async fn a_person_taking_a_conversation_over_silences_the_agent_until_given_back() {
    let app = TestApp::spawn().await;
    let t = app.tenant("Lumen").await;
    let camille = person(&app, &t, "camille", Role::Staff).await;
    let (_, convo) = conversation(&app, &t, "Sheena", None).await;
    let store = app.store();
    let channel = store.get_conversation(t.id, convo).await.unwrap().channel_id;
    // In Camille's team's queue: Staff see their team's conversations.
    let support = team(&app, &t, "Support", &[camille.id]).await;
    store.update_conversation(t.id, convo, None, None, Some(Some(support))).await.unwrap();
    let path = format!("/api/v1/conversations/{convo}/agent/take-over");

    // Without an agent on the channel there is nothing to take over (a plain assignment is).
    assert_error(&call(&app, &camille, Method::POST, &path, None).await, 409, "no_agent");

    let agent = store.create_agent(t.id, "Lumen assistant").await.unwrap().id;
    store.set_channel_agent(t.id, channel, Some(agent)).await.unwrap();
    message(&app, &t, convo, MessageDirection::Inbound, "My lamp arrived broken.").await;
    // An API key is no person: it cannot take a conversation over.
    assert_error(&json(app.send(Method::POST, &path, &t.admin_key, json!({})).await).await, 403, "forbidden");

    let (status, taken) = call(&app, &camille, Method::POST, &path, None).await;
    assert_eq!(
        (status, taken["status"].as_str(), taken["handoff_reason"].as_str()),
        (200, Some("handed_off"), Some("taken_over")),
        "{taken}"
    );
    let (_, convo_json) = call(&app, &camille, Method::GET, &format!("/api/v1/conversations/{convo}"), None).await;
    assert_eq!(convo_json["assignee_user_id"], camille.id.to_string(), "{convo_json}");

    // The agent's turn on the customer's message stays silent, and says why.
    let turn = format!("/api/v1/conversations/{convo}/agent/turn");
    let (_, job) = json(app.send(Method::POST, &turn, &t.admin_key, json!({})).await).await;
    assert_eq!(crate::agents::wait_job(&app, &t.admin_key, &job).await["status"], "succeeded");
    let (_, view) = json(app.get(&format!("/api/v1/conversations/{convo}/agent"), &t.admin_key).await).await;
    let steps: Vec<(&str, &str)> =
        view["decisions"].as_array().unwrap().iter().map(|d| (d["step"].as_str().unwrap(), d["outcome"].as_str().unwrap())).collect();
    assert!(steps.contains(&("take_over", "silent")) && steps.contains(&("turn", "silent")), "{steps:?}");
    let (_, messages) = json(app.get(&format!("/api/v1/conversations/{convo}/messages"), &t.admin_key).await).await;
    assert!(messages["items"].as_array().unwrap().iter().all(|m| m["direction"] == "inbound"), "{messages}");

    // Given back, the agent answers again.
    let (status, back) = call(&app, &camille, Method::POST, &format!("/api/v1/conversations/{convo}/agent/resume"), None).await;
    assert_eq!((status, back["status"].as_str()), (200, Some("active")), "{back}");

    // Another workspace cannot take it over: the conversation does not exist there.
    let other = app.tenant("Other").await;
    let stranger = person(&app, &other, "stranger", Role::Admin).await;
    assert_error(&call(&app, &stranger, Method::POST, &path, None).await, 404, "not_found");
}
