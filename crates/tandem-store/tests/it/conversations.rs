use serde_json::json;
use tandem_core::{ChannelKind, ConversationStatus, MessageDirection, MessageStatus};
use tandem_store::{contacts::ContactDraft, conversations::NewMessage, Store, StoreError};

use crate::on_both;

on_both!(redelivered_provider_message_is_stored_once, |store: Store| async move {
    let ws = store.create_workspace("Acme", None).await.unwrap().id;
    let ch = store
        .create_channel(
            ws,
            ChannelKind::Whatsapp,
            "Sales line",
            json!({"phone_number_id": "123", "app_secret": "s3cret"}).as_object().unwrap().clone(),
        )
        .await
        .unwrap();
    assert_eq!(store.list_channels(ws).await.unwrap()[0].clone().redacted().config["app_secret"], json!("********"));
    let contact = store.create_contact(ws, ContactDraft { first_name: Some("Ana".into()), ..Default::default() }).await.unwrap();
    let conv = store.create_conversation(ws, ch.id, contact.id).await.unwrap();
    let inbound = || NewMessage {
        direction: MessageDirection::Inbound,
        body: "Bonjour".into(),
        status: MessageStatus::Received,
        provider_message_id: Some("wamid.1".into()),
    };
    let (first, created) = store.add_message(ws, conv.id, inbound()).await.unwrap();
    assert!(created);
    let (again, created) = store.add_message(ws, conv.id, inbound()).await.unwrap();
    assert!(!created);
    assert_eq!(again.id, first.id);
    store
        .add_message(
            ws,
            conv.id,
            NewMessage {
                direction: MessageDirection::Outbound,
                body: "Hello".into(),
                status: MessageStatus::Queued,
                provider_message_id: None,
            },
        )
        .await
        .unwrap();
    let msgs = store.list_messages(ws, conv.id, Default::default()).await.unwrap().items;
    assert_eq!(msgs.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(), ["Bonjour", "Hello"]);
    assert!(store.get_contact(ws, contact.id).await.unwrap().last_contacted_at.is_some());
    let conv = store.update_conversation(ws, conv.id, Some(ConversationStatus::Resolved), None, None).await.unwrap();
    assert_eq!(conv.status, ConversationStatus::Resolved);

    let other = store.create_workspace("Other", None).await.unwrap().id;
    assert!(matches!(store.list_messages(other, conv.id, Default::default()).await, Err(StoreError::NotFound("conversation"))));
    assert!(matches!(store.add_message(other, conv.id, inbound()).await, Err(StoreError::NotFound("conversation"))));
});
