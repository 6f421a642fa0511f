use serde_json::json;
use tandem_llm::LlmConfig;

#[test]
fn defaults_are_the_embedded_deployment() {
    let config = LlmConfig::default();
    assert!(config.uses_local_server());
    assert_eq!(config.context_tokens.get(), 4096);
    assert_eq!(config.local.threads.get(), 2);
    assert_eq!(config.local.context_tokens.get(), 4096);
    assert_eq!(config.local.port, 0);
}

#[test]
fn a_partial_section_keeps_the_other_defaults_and_unknown_keys_are_refused() {
    let config: LlmConfig = serde_json::from_value(json!({
        "base_url": "http://127.0.0.1:8000/v1",
        "context_tokens": 8192,
        "local": {"threads": 4}
    }))
    .unwrap();
    assert!(!config.uses_local_server());
    assert_eq!(config.effective_context_tokens(), 8192);
    assert_eq!(config.local.threads.get(), 4);
    assert_eq!(config.max_retries, LlmConfig::default().max_retries);

    assert!(serde_json::from_value::<LlmConfig>(json!({"base_uri": "x"})).is_err());
    assert!(serde_json::from_value::<LlmConfig>(json!({"local": {"thread": 4}})).is_err());
    assert!(serde_json::from_value::<LlmConfig>(json!({"context_tokens": 0})).is_err(), "a zero context is refused at load");
}

#[test]
fn with_the_local_server_the_budget_context_is_also_capped_by_its_kv_cache() {
    let config: LlmConfig = serde_json::from_value(json!({"context_tokens": 32768, "local": {"context_tokens": 4096}})).unwrap();
    assert_eq!(config.effective_context_tokens(), 4096);
}
