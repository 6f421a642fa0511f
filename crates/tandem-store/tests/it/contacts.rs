use serde_json::json;
use tandem_core::{ContactFilter, ContactSort};
use tandem_store::{
    contacts::{ContactDraft, DraftRules},
    Page, Store, StoreError,
};

use crate::{on_both, workspace};

async fn create(
    store: &Store,
    ws: tandem_core::WorkspaceId,
    body: serde_json::Value,
) -> Result<tandem_store::contacts::Contact, StoreError> {
    let (defs, country) = store.draft_rules_data(ws).await?;
    let rules = DraftRules { definitions: &defs, default_country: country.as_deref() };
    let mut draft = ContactDraft::default();
    draft.apply_json(body.as_object().unwrap(), &rules).map_err(|e| StoreError::Invalid(e[0].clone()))?;
    store.create_contact(ws, draft).await
}

fn filter(conditions: &[&str], labels: &[&str]) -> ContactFilter {
    ContactFilter {
        conditions: conditions.iter().map(|c| c.parse().unwrap()).collect(),
        labels: labels.iter().map(|s| s.to_string()).collect(),
        ..Default::default()
    }
}

async fn names(store: &Store, ws: tandem_core::WorkspaceId, f: &ContactFilter, sort: &str) -> Vec<String> {
    store
        .list_contacts(ws, f, &sort.parse::<ContactSort>().unwrap(), Page::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .map(|c| c.first_name.unwrap_or_default())
        .collect()
}

on_both!(typed_properties_filters_and_sorts, |store: Store| async move {
    let ws = workspace(&store).await;
    let ana = create(&store, ws, json!({"first_name": "Ana", "email": "ANA@acme.io", "phone": "06 12 34 56 78", "company": "Acme", "properties": {"plan": "premium", "industry": "Tech", "seats": 12, "renewal": "2027-01-31"}})).await.unwrap();
    assert_eq!(ana.email.as_deref(), Some("ana@acme.io"));
    assert_eq!(ana.phone.as_deref(), Some("+33612345678"));
    assert_eq!(ana.properties["plan"], json!("Premium"));
    assert_eq!(ana.properties["seats"], json!(12.0));
    create(
        &store,
        ws,
        json!({"first_name": "Bob", "email": "bob@acme.io", "properties": {"plan": "Premium", "industry": "Retail", "seats": 3}}),
    )
    .await
    .unwrap();
    create(&store, ws, json!({"first_name": "Chloé", "phone": "+44 20 7946 0958", "properties": {"plan": "Free", "industry": "Tech"}}))
        .await
        .unwrap();

    // Bad values are refused with the property's reason.
    let err = create(&store, ws, json!({"first_name": "X", "properties": {"plan": "Gold"}})).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref e) if e.code == "unknown_option"), "{err:?}");
    let err = create(&store, ws, json!({"first_name": "X", "properties": {"renewal": "31/01/2027"}})).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref e) if e.code == "invalid_date"), "{err:?}");
    let err = create(&store, ws, json!({"first_name": "X", "phone": "12"})).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref e) if e.code == "invalid_phone"), "{err:?}");
    // The same e-mail twice is a conflict.
    let err = create(&store, ws, json!({"first_name": "Ana2", "email": "ana@acme.io"})).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict { code: "contact_exists", .. }), "{err:?}");

    assert_eq!(names(&store, ws, &filter(&["plan:eq:Premium", "industry:eq:Tech"], &[]), "first_name").await, ["Ana"]);
    assert_eq!(names(&store, ws, &filter(&["plan:eq:premium"], &[]), "first_name").await, ["Ana", "Bob"]);
    assert_eq!(names(&store, ws, &filter(&["plan:ne:Premium"], &[]), "first_name").await, ["Chloé"]);
    assert_eq!(names(&store, ws, &filter(&["seats:gt:5"], &[]), "first_name").await, ["Ana"]);
    assert_eq!(names(&store, ws, &filter(&["seats:exists"], &[]), "-first_name").await, ["Bob", "Ana"]);
    assert_eq!(names(&store, ws, &filter(&["renewal:lt:2027-02-01"], &[]), "first_name").await, ["Ana"]);
    assert_eq!(names(&store, ws, &filter(&["company:eq:acme"], &[]), "first_name").await, ["Ana"]);
    assert_eq!(names(&store, ws, &ContactFilter { q: Some("chlo".into()), ..Default::default() }, "first_name").await, ["Chloé"]);
    let err = store.list_contacts(ws, &filter(&["plan:eq:Gold"], &[]), &ContactSort::default(), Page::default()).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref e) if e.code == "unknown_option"), "{err:?}");
    let err = store.list_contacts(ws, &filter(&["nope:eq:1"], &[]), &ContactSort::default(), Page::default()).await.unwrap_err();
    assert!(matches!(err, StoreError::Invalid(ref e) if e.code == "unknown_field"), "{err:?}");

    // Labels combine with properties.
    store.add_contact_labels(ws, ana.id, &["VIP".into(), "Lead".into()]).await.unwrap();
    assert_eq!(names(&store, ws, &filter(&["industry:eq:Tech"], &["VIP"]), "first_name").await, ["Ana"]);
    assert!(names(&store, ws, &filter(&["industry:eq:Retail"], &["VIP"]), "first_name").await.is_empty());
    assert_eq!(store.get_contact(ws, ana.id).await.unwrap().labels, ["Lead", "VIP"]);

    // Pagination says when more follow.
    let page = store.list_contacts(ws, &ContactFilter::default(), &"first_name".parse().unwrap(), Page::new(Some(2), None)).await.unwrap();
    assert_eq!(page.items.len(), 2);
    assert_eq!(page.next_offset, Some(2));
    let page =
        store.list_contacts(ws, &ContactFilter::default(), &"first_name".parse().unwrap(), Page::new(Some(2), Some(2))).await.unwrap();
    assert_eq!((page.items.len(), page.next_offset), (1, None));
});

on_both!(another_workspace_sees_nothing, |store: Store| async move {
    let a = workspace(&store).await;
    let b = store.create_workspace("Other", None).await.unwrap().id;
    let c = create(&store, a, json!({"first_name": "Ana", "email": "ana@acme.io"})).await.unwrap();
    assert!(matches!(store.get_contact(b, c.id).await, Err(StoreError::NotFound("contact"))));
    assert!(matches!(store.delete_contact(b, c.id).await, Err(StoreError::NotFound("contact"))));
    assert!(store.list_contacts(b, &ContactFilter::default(), &ContactSort::default(), Page::default()).await.unwrap().items.is_empty());
    let list = store.create_list(b, "B list").await.unwrap();
    assert!(matches!(store.add_list_members(b, list.id, &[c.id]).await, Err(StoreError::NotFound("contact"))));
    assert_eq!(store.get_list(b, list.id).await.unwrap().member_count, 0);
    // The same e-mail may exist in both workspaces.
    create(&store, b, json!({"first_name": "Ana", "email": "ana@acme.io"})).await.unwrap();
    // b has no `plan` property: filtering on it is an error, not a leak.
    assert!(store.list_contacts(b, &filter(&["plan:eq:Free"], &[]), &ContactSort::default(), Page::default()).await.is_err());
});

on_both!(lists_notes_objects_views_and_export, |store: Store| async move {
    let ws = workspace(&store).await;
    let ana = create(&store, ws, json!({"first_name": "Ana", "email": "ana@acme.io", "properties": {"plan": "Premium"}})).await.unwrap();
    let bob = create(&store, ws, json!({"first_name": "Bob", "email": "bob@acme.io", "properties": {"plan": "Free"}})).await.unwrap();
    let list = store.create_list(ws, "Newsletter").await.unwrap();
    assert_eq!(store.add_list_members(ws, list.id, &[ana.id, bob.id, ana.id]).await.unwrap().member_count, 2);
    let in_list = ContactFilter { list_id: Some(list.id.to_string()), ..Default::default() };
    assert_eq!(names(&store, ws, &in_list, "first_name").await, ["Ana", "Bob"]);
    store.remove_list_member(ws, list.id, bob.id).await.unwrap();
    assert_eq!(names(&store, ws, &in_list, "first_name").await, ["Ana"]);

    let actor = tandem_core::Actor::system(ws);
    store.add_note(ws, ana.id, &actor, "Called, wants a quote").await.unwrap();
    assert_eq!(store.list_notes(ws, ana.id).await.unwrap()[0].body, "Called, wants a quote");

    store.create_object_type(ws, "order", "Order").await.unwrap();
    let rec =
        store.create_record(ws, "order", json!({"number": "A-1", "total": 42}).as_object().unwrap().clone(), &[ana.id]).await.unwrap();
    assert_eq!(rec.contact_ids, [ana.id]);
    store.associate_record(ws, rec.id, bob.id).await.unwrap();
    assert_eq!(store.contact_records(ws, bob.id).await.unwrap()[0].data["number"], json!("A-1"));
    assert!(matches!(store.create_record(ws, "invoice", Default::default(), &[]).await, Err(StoreError::NotFound("object type"))));

    // A personal default view wins over the workspace default.
    let user = store
        .create_user(
            ws,
            tandem_store::users::NewUser {
                email: "staff@acme.io".parse().unwrap(),
                name: "Sam".into(),
                password: "correct horse battery".into(),
                role: tandem_core::Role::Staff,
            },
        )
        .await
        .unwrap();
    let premium = filter(&["plan:eq:Premium"], &[]);
    let wsv = store.create_view(ws, None, "Premium", &premium, &ContactSort::default(), true).await.unwrap();
    assert_eq!(store.default_view(ws, Some(user.id)).await.unwrap().unwrap().id, wsv.id);
    let mine = store.create_view(ws, Some(user.id), "Mine", &ContactFilter::default(), &"first_name".parse().unwrap(), true).await.unwrap();
    assert_eq!(store.default_view(ws, Some(user.id)).await.unwrap().unwrap().id, mine.id);
    assert_eq!(store.default_view(ws, None).await.unwrap().unwrap().id, wsv.id);
    assert!(store.create_view(ws, None, "Broken", &filter(&["nope:eq:1"], &[]), &ContactSort::default(), false).await.is_err());

    let (tx, mut rx) = tokio::sync::mpsc::channel(4);
    let collect = tokio::spawn(async move {
        let mut csv = Vec::new();
        while let Some(chunk) = rx.recv().await {
            csv.extend(chunk);
        }
        csv
    });
    let n = store.export_contacts_csv(ws, &premium, &ContactSort::default(), tx).await.unwrap();
    let csv = collect.await.unwrap();
    assert_eq!(n, 1);
    let text = String::from_utf8(csv).unwrap();
    let mut lines = text.lines();
    assert!(lines.next().unwrap().ends_with("last_contacted_at,plan,industry,seats,renewal"));
    let row = lines.next().unwrap();
    assert!(row.contains(",Ana,,ana@acme.io,") && row.ends_with(",Premium,,,"), "{row}");
    assert!(lines.next().is_none());
});
