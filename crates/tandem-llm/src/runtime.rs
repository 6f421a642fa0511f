//! The LLM as the rest of Tandem uses it: one call that starts the local server when no endpoint is
//! configured, and a client pointed at whichever endpoint serves.

use crate::client::LlmClient;
use crate::config::LlmConfig;
use crate::error::LlmError;
use crate::local::LocalServer;

pub struct Llm {
    client: LlmClient,
    local: Option<LocalServer>,
}

impl Llm {
    /// With `base_url` set, a client for it; without, starts and supervises `llama-server` as
    /// `config.local` says and returns a client for it.
    pub async fn start(config: &LlmConfig) -> Result<Self, LlmError> {
        if !config.uses_local_server() {
            return Ok(Self { client: LlmClient::new(config)?, local: None });
        }
        let local = LocalServer::start(&config.local).await?;
        let client = LlmClient::with_base_url(config, local.base_url())?;
        Ok(Self { client, local: Some(local) })
    }

    pub fn client(&self) -> &LlmClient {
        &self.client
    }

    /// The supervised server, when Tandem runs one.
    pub fn local(&self) -> Option<&LocalServer> {
        self.local.as_ref()
    }

    /// Stops the local server, if any, and waits for it to exit.
    pub async fn shutdown(self) {
        if let Some(local) = self.local {
            local.shutdown().await;
        }
    }
}
