//! The `[llm]` configuration section lives in tandem-core, with the rest of Tandem's typed
//! configuration; this crate reads it from there.

pub use tandem_core::llm::{LlmConfig, LocalServerConfig};
