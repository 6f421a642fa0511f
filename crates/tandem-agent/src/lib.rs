//! Tandem's AI agents. An [`AgentProfile`] says what an agent is (mission, tone, length, goals,
//! guardrails, handoff rules, lead scoring); an [`Agent`] answers customer turns with it, from a
//! knowledge base it reads through a [`Retriever`], with a model reached through `tandem-llm`.
//! [`assist`] holds the tools for people: smart replies and the writing assistant. Prompts live
//! in `prompts/` and are compiled in. This crate knows nothing of HTTP or SQL.

pub mod assist;
pub mod checks;
mod error;
pub mod focus;
pub mod language;
pub mod pipeline;
pub mod profile;
mod prompts;

pub use error::AgentError;
pub use pipeline::{Agent, Passage, Retriever, Speaker, Turn, TurnOutcome};
pub use profile::AgentProfile;
