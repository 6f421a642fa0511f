//! `tandem serve --demo`: a ready-to-try workspace on an empty database: an admin, an API key,
//! sample contacts, and a demo agent whose knowledge base is the demo business's documents
//! (`fixtures/kb/demo`, compiled in), ingested by the server's worker as soon as it starts.

use anyhow::Result;
use tandem_core::{Config, PropertyKind, Role};
use tandem_store::{import::ImportOptions, knowledge::NewSource, users::NewUser, Store};

const DEMO_CONTACTS: &[u8] = include_bytes!("../../../fixtures/demo/contacts.csv");
pub const DEMO_EMAIL: &str = "admin@demo.tandem";
pub const DEMO_PASSWORD: &str = "tandem-demo-password";
/// The demo agent's profile: the one `tandem eval` measures.
const DEMO_PROFILE: &str = include_str!("../../../eval/lumen-agent.toml");
/// The demo business's documents (Atelier Lumen, a Lyon lamp maker), in English and French.
const DEMO_KB: &[(&str, &[u8])] = &[
    ("price-list-and-policies.pdf", include_bytes!("../../../fixtures/kb/demo/price-list-and-policies.pdf")),
    ("tarifs-et-conditions.pdf", include_bytes!("../../../fixtures/kb/demo/tarifs-et-conditions.pdf")),
    ("catalogue.xlsx", include_bytes!("../../../fixtures/kb/demo/catalogue.xlsx")),
    ("stores.csv", include_bytes!("../../../fixtures/kb/demo/stores.csv")),
    ("faq.txt", include_bytes!("../../../fixtures/kb/demo/faq.txt")),
    ("about.html", include_bytes!("../../../fixtures/kb/demo/about.html")),
];

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
    let agent = store.create_agent(ws.id, "Lumen assistant").await?;
    let profile = tandem_agent::AgentProfile::from_toml(DEMO_PROFILE)?;
    store.set_agent_profile(ws.id, agent.id, &profile.name, &serde_json::to_value(&profile)?).await?;
    for (name, bytes) in DEMO_KB {
        let kind = tandem_knowledge::accept::detect(bytes, name).map_err(|r| anyhow::anyhow!("{name}: {r}"))?;
        let source = NewSource { name: name.to_string(), kind: Some(kind.as_str().into()), url: None, bytes: Some(bytes.to_vec()) };
        store.add_source(ws.id, agent.id, None, source, |_| Ok(())).await?;
    }
    tracing::info!(workspace = %ws.id, agent = %agent.id, contacts = report.created, "demo workspace created");
    eprintln!(
        "\nDemo workspace ready at http://{bind}\n  log in:   POST /api/v1/auth/login {{\"email\": \"{DEMO_EMAIL}\", \"password\": \"{DEMO_PASSWORD}\"}}\n  API key:  {key}\n  try:      curl -H 'Authorization: Bearer {key}' 'http://{bind}/api/v1/contacts?where=plan:eq:Premium'\n  agent:    {agent} (its knowledge base is being ingested: GET /api/v1/agents/{agent}/knowledge/sources)\n  ask it:   curl -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' -d '{{\"message\": \"Is there a discount code for new customers?\"}}' http://{bind}/api/v1/agents/{agent}/sandbox\n  search:   curl -H 'Authorization: Bearer {key}' -H 'Content-Type: application/json' -d '{{\"query\": \"warranty on a pendant lamp\"}}' http://{bind}/api/v1/agents/{agent}/knowledge/search\n  API docs: http://{bind}/api/v1/openapi.json\n",
        bind = config.server.bind,
        agent = agent.id
    );
    Ok(())
}
