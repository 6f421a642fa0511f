use tandem_core::{ActorKind, Role};
use tandem_store::{users::NewUser, Store, StoreError};

use crate::on_both;

fn new_user(email: &str, role: Role) -> NewUser {
    NewUser { email: email.parse().unwrap(), name: "Someone".into(), password: "correct horse battery".into(), role }
}

on_both!(passwords_sessions_and_keys, |store: Store| async move {
    let ws = store.create_workspace("Acme", None).await.unwrap().id;
    let admin = store.create_user(ws, new_user("admin@acme.io", Role::Admin)).await.unwrap();
    assert!(matches!(
        store.create_user(ws, new_user("ADMIN@acme.io", Role::Staff)).await,
        Err(StoreError::Conflict { code: "email_taken", .. })
    ));
    let weak = NewUser { password: "short".into(), ..new_user("x@acme.io", Role::Staff) };
    assert!(matches!(store.create_user(ws, weak).await, Err(StoreError::Invalid(e)) if e.code == "weak_password"));

    // Wrong password and unknown account give the same refusal.
    for (email, pw) in [("admin@acme.io", "wrong password!"), ("nobody@acme.io", "correct horse battery")] {
        assert!(matches!(store.login(None, email, pw, 1).await, Err(StoreError::Refused { code: "invalid_credentials", .. })));
    }
    let (token, user) = store.login(None, "Admin@Acme.io", "correct horse battery", 1).await.unwrap();
    assert_eq!(user.id, admin.id);
    let actor = store.session_actor(&token).await.unwrap().unwrap();
    assert_eq!((actor.workspace_id, actor.role, actor.kind), (ws, Role::Admin, ActorKind::User(admin.id)));
    store.logout(&token).await.unwrap();
    assert!(store.session_actor(&token).await.unwrap().is_none());
    let (expired, _) = store.login(None, "admin@acme.io", "correct horse battery", 0).await.unwrap();
    assert!(store.session_actor(&expired).await.unwrap().is_none());

    // The same e-mail in two workspaces needs the workspace named.
    let other = store.create_workspace("Other", None).await.unwrap().id;
    store.create_user(other, new_user("admin@acme.io", Role::Staff)).await.unwrap();
    assert!(
        matches!(store.login(None, "admin@acme.io", "correct horse battery", 1).await, Err(StoreError::Invalid(e)) if e.code == "workspace_required")
    );
    assert_eq!(store.login(Some(other), "admin@acme.io", "correct horse battery", 1).await.unwrap().1.workspace_id, other);

    let (key, plain) = store.create_api_key(ws, "Zapier", Role::Staff).await.unwrap();
    assert!(plain.starts_with("tdm_") && plain.starts_with(&key.prefix));
    assert_eq!(store.authenticate_api_key(&plain).await.unwrap().unwrap().kind, ActorKind::ApiKey(key.id));
    assert!(store.authenticate_api_key("tdm_not-a-key").await.unwrap().is_none());
    assert!(store.list_api_keys(ws).await.unwrap()[0].last_used_at.is_some());
    // Revoking from another workspace finds nothing; from the owner it works.
    assert!(matches!(store.revoke_api_key(other, key.id).await, Err(StoreError::NotFound(_))));
    store.revoke_api_key(ws, key.id).await.unwrap();
    assert!(matches!(store.authenticate_api_key(&plain).await, Err(StoreError::Refused { code: "api_key_revoked", .. })));

    let team = store.create_team(ws, "Support").await.unwrap();
    assert_eq!(store.add_team_member(ws, team.id, admin.id).await.unwrap().member_ids, [admin.id]);
    let stranger = store.create_user(other, new_user("s@other.io", Role::Staff)).await.unwrap();
    assert!(matches!(store.add_team_member(ws, team.id, stranger.id).await, Err(StoreError::NotFound("user"))));
    store.audit(&actor, "read", "contact", None, None).await.unwrap();
    assert_eq!(store.list_audit(ws, Default::default()).await.unwrap().items[0].actor, format!("user:{}", admin.id));
    assert!(store.list_audit(other, Default::default()).await.unwrap().items.is_empty());
});
