use tandem_llm::LlmError;

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("invalid agent profile: {0}")]
    InvalidProfile(String),
    /// Retrieval from the knowledge base failed (the model or the index is unavailable).
    #[error("knowledge base: {0}")]
    Knowledge(String),
    #[error(transparent)]
    Llm(#[from] LlmError),
    /// A template of `prompts/` failed to render (a bug, caught by the tests).
    #[error("prompt template `{0}`: {1}")]
    Prompt(&'static str, String),
    #[error("{0}")]
    InvalidInput(String),
}
