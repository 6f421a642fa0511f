//! `tandem serve --demo`: a ready-to-try workspace on an empty database.

use anyhow::Result;
use tandem_core::{Config, PropertyKind, Role};
use tandem_store::{import::ImportOptions, users::NewUser, Store};

const DEMO_CONTACTS: &[u8] = include_bytes!("../../../fixtures/demo/contacts.csv");
pub const DEMO_EMAIL: &str = "admin@demo.tandem";
pub const DEMO_PASSWORD: &str = "tandem-demo-password";

/// Creates the demo workspace unless the database already has a workspace.
pub async fn ensure(store: &Store, config: &Config) -> Result<()> {
    if let Some(ws) = store.list_workspaces().await?.into_iter().next() {
        tracing::info!(workspace = %ws.id, "database already has a workspace: no demo data added");
        return Ok(());
    }
    let ws = store.create_workspace("Demo", Some("FR")).await?;
    store
        .create_user(
            ws.id,
            NewUser { email: DEMO_EMAIL.parse()?, name: "Demo admin".into(), password: DEMO_PASSWORD.into(), role: Role::Admin },
        )
        .await?;
    store
        .create_property(ws.id, "plan", "Plan", PropertyKind::SingleSelect, vec!["Free".into(), "Pro AI".into(), "Premium".into()], false)
        .await?;
    store.create_property(ws.id, "industry", "Industry", PropertyKind::Text, vec![], false).await?;
    let options = ImportOptions { mapping: [("Tags".to_string(), "labels".to_string())].into(), ..Default::default() };
    let report = store.import_contacts(ws.id, DEMO_CONTACTS.to_vec(), &options, &|_, _| {}).await?;
    let (_, key) = store.create_api_key(ws.id, "demo", Role::Admin).await?;
    tracing::info!(workspace = %ws.id, contacts = report.created, "demo workspace created");
    eprintln!(
        "\nDemo workspace ready at http://{bind}\n  log in:   POST /api/v1/auth/login {{\"email\": \"{DEMO_EMAIL}\", \"password\": \"{DEMO_PASSWORD}\"}}\n  API key:  {key}\n  try:      curl -H 'Authorization: Bearer {key}' 'http://{bind}/api/v1/contacts?where=plan:eq:Premium'\n  API docs: http://{bind}/api/v1/openapi.json\n",
        bind = config.server.bind
    );
    Ok(())
}
