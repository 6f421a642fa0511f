//! Starting the local server without one: every missing piece is an error that says what to do.

use tandem_llm::{LocalServer, LocalServerConfig, LocalServerError};

#[tokio::test]
async fn a_missing_binary_names_its_path_and_the_fetch_script() {
    let config = LocalServerConfig {
        binary: Some("/nonexistent/llama-server".into()),
        model: Some("/nonexistent/model.gguf".into()),
        ..LocalServerConfig::default()
    };
    let error = LocalServer::start(&config).await.err().expect("no server can start");
    assert!(matches!(error, LocalServerError::BinaryMissing(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("/nonexistent/llama-server") && message.contains("scripts/llm/fetch"), "{message}");
}

#[tokio::test]
async fn a_missing_model_names_its_path_and_the_fetch_script() {
    let binary = std::env::current_exe().unwrap();
    let config = LocalServerConfig { binary: Some(binary), model: Some("/nonexistent/model.gguf".into()), ..LocalServerConfig::default() };
    let error = LocalServer::start(&config).await.err().expect("no server can start");
    assert!(matches!(error, LocalServerError::ModelMissing(_)), "{error:?}");
    let message = error.to_string();
    assert!(message.contains("/nonexistent/model.gguf") && message.contains("scripts/llm/fetch"), "{message}");
}

#[tokio::test]
async fn a_binary_that_exits_at_once_is_reported_with_its_output() {
    // A real executable that is not llama-server: it exits non-zero immediately.
    let binary = std::path::PathBuf::from("/bin/false");
    let model = std::env::current_exe().unwrap(); // any existing file passes the path check
    let config = LocalServerConfig { binary: Some(binary), model: Some(model), ..LocalServerConfig::default() };
    let error = LocalServer::start(&config).await.err().expect("the server exits");
    assert!(matches!(error, LocalServerError::Exited { .. }), "{error:?}");
}
