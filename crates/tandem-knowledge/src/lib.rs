//! Tandem's knowledge base: what an agent knows, and how it is found again.
//!
//! Text goes through [`chunk`] (token-sized pieces that keep their source, page or row and
//! heading path), is embedded by [`embed`] (a multilingual e5 model run by ONNX Runtime through
//! fastembed) and turned into a [`lexical`] sparse vector, and both are stored in [`index`] (the
//! Qdrant engine embedded in-process). Search fuses the dense and the lexical rankings by reciprocal
//! rank. No HTTP and no SQL here: the server and the store decide when to call this.

pub mod accept;
pub mod chunk;
pub mod embed;
mod error;
pub mod fetch;
pub mod index;
pub mod lexical;
pub mod parse;
#[cfg(feature = "test-qdrant")]
pub mod test_qdrant;

pub use error::KnowledgeError;
