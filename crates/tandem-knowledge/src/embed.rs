//! Dense embeddings with fastembed on ONNX Runtime, loaded dynamically from the library that
//! `scripts/models/fetch` installs. The library and the model files are checked before use, so a
//! missing or wrong-version ONNX Runtime is an error with its path, never a panic inside `ort`.

use fastembed::{InitOptionsUserDefined, Pooling, TextEmbedding, TokenizerFiles, UserDefinedEmbeddingModel};
use std::{
    path::{Path, PathBuf},
    sync::{Mutex, OnceLock},
};

use crate::KnowledgeError;

/// Which embedding model a directory holds; it decides the prefixes and the dimension.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModelFamily {
    /// multilingual-e5-small (default): `query: ` / `passage: ` prefixes, 384 dimensions.
    E5,
    /// all-MiniLM-L6-v2 (English fallback): no prefixes, 384 dimensions.
    MiniLm,
}

impl ModelFamily {
    fn prefixes(self) -> (&'static str, &'static str) {
        match self {
            Self::E5 => ("query: ", "passage: "),
            Self::MiniLm => ("", ""),
        }
    }
}

#[derive(Debug, Clone)]
pub struct EmbedderConfig {
    /// Directory with `model.onnx`, `tokenizer.json`, `config.json`, `special_tokens_map.json`,
    /// `tokenizer_config.json`.
    pub model_dir: PathBuf,
    pub family: ModelFamily,
    /// The ONNX Runtime shared library (≥ 1.24).
    pub onnxruntime: PathBuf,
}

impl EmbedderConfig {
    /// From `ORT_DYLIB_PATH` and `TANDEM_E5_DIR`, as `scripts/models/fetch` prints them.
    pub fn from_env() -> Result<Self, KnowledgeError> {
        let var = |name: &str| {
            std::env::var_os(name).map(PathBuf::from).ok_or_else(|| {
                KnowledgeError::ModelUnavailable(format!("{name} is not set: run scripts/models/fetch and export what it prints"))
            })
        };
        Ok(Self { model_dir: var("TANDEM_E5_DIR")?, family: ModelFamily::E5, onnxruntime: var("ORT_DYLIB_PATH")? })
    }
}

/// Most tokens embedded in one batch: memory grows with batch × sequence length.
pub const BATCH_TOKEN_BUDGET: usize = 8192;
const MAX_LENGTH: usize = 512;
pub const DIMENSION: usize = 384;

/// The process-wide ONNX Runtime environment, created from the first library path given.
fn environment(library: &Path) -> Result<ort::environment::Environment, KnowledgeError> {
    static ENV: OnceLock<Result<(PathBuf, ort::environment::Environment), String>> = OnceLock::new();
    let loaded = ENV.get_or_init(|| {
        if !library.is_file() {
            return Err(format!("ONNX Runtime library {} does not exist (run scripts/models/fetch)", library.display()));
        }
        let env = ort::init_from(library).map_err(|e| format!("ONNX Runtime library {}: {e}", library.display()))?;
        env.with_name("tandem").build().map(|e| (library.to_path_buf(), e)).map_err(|e| format!("ONNX Runtime did not start: {e}"))
    });
    match loaded {
        Ok((path, env)) if path == library => Ok(env.clone()),
        Ok((path, _)) => Err(KnowledgeError::ModelUnavailable(format!(
            "ONNX Runtime is already loaded from {}; cannot load {} too",
            path.display(),
            library.display()
        ))),
        Err(e) => Err(KnowledgeError::ModelUnavailable(e.clone())),
    }
}

fn read(dir: &Path, name: &str) -> Result<Vec<u8>, KnowledgeError> {
    let path = dir.join(name);
    std::fs::read(&path).map_err(|e| KnowledgeError::ModelUnavailable(format!("{}: {e} (run scripts/models/fetch)", path.display())))
}

/// A loaded embedding model. Thread-safe; one inference runs at a time (ONNX Runtime already uses
/// every core for one batch).
pub struct Embedder {
    model: Mutex<TextEmbedding>,
    family: ModelFamily,
}

impl Embedder {
    pub fn load(config: &EmbedderConfig) -> Result<Self, KnowledgeError> {
        let env = environment(&config.onnxruntime)?;
        let dir = &config.model_dir;
        let files = TokenizerFiles {
            tokenizer_file: read(dir, "tokenizer.json")?,
            config_file: read(dir, "config.json")?,
            special_tokens_map_file: read(dir, "special_tokens_map.json")?,
            tokenizer_config_file: read(dir, "tokenizer_config.json")?,
        };
        let model = UserDefinedEmbeddingModel::new(read(dir, "model.onnx")?, files).with_pooling(Pooling::Mean);
        let options = InitOptionsUserDefined::new().with_max_length(MAX_LENGTH).with_environment(env);
        let model = TextEmbedding::try_new_from_user_defined(model, options)
            .map_err(|e| KnowledgeError::ModelUnavailable(format!("{}: {e}", dir.display())))?;
        Ok(Self { model: Mutex::new(model), family: config.family })
    }

    /// Embeds texts as given (prefixes included), in batches sized by token count.
    fn embed_raw(&self, texts: Vec<String>) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        let mut model = self.model.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut out = Vec::with_capacity(texts.len());
        let mut start = 0;
        while start < texts.len() {
            // Grow the batch while its padded size (longest × count) stays within budget.
            let (mut end, mut longest) = (start, 0usize);
            while end < texts.len() {
                let len = crate::chunk::count_tokens(&texts[end]).min(MAX_LENGTH) + 2;
                if end > start && longest.max(len) * (end - start + 1) > BATCH_TOKEN_BUDGET {
                    break;
                }
                longest = longest.max(len);
                end += 1;
            }
            let batch = &texts[start..end];
            out.extend(model.embed(batch, Some(batch.len())).map_err(|e| KnowledgeError::Embedding(e.to_string()))?);
            start = end;
        }
        Ok(out)
    }

    /// Embeds passages to index.
    pub fn embed_passages(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        let prefix = self.family.prefixes().1;
        self.embed_raw(texts.iter().map(|t| format!("{prefix}{t}")).collect())
    }

    /// Embeds a search query.
    pub fn embed_query(&self, text: &str) -> Result<Vec<f32>, KnowledgeError> {
        let prefix = self.family.prefixes().0;
        Ok(self.embed_raw(vec![format!("{prefix}{text}")])?.remove(0))
    }

    /// Embeds texts exactly as given, for tests that compare with reference embeddings.
    pub fn embed_verbatim(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        self.embed_raw(texts.to_vec())
    }

    /// The plain fastembed loop (fixed batch size, no prefixes, no token counting): the baseline
    /// the benchmark compares [`Embedder::embed_passages`] with.
    pub fn embed_fixed_batches(&self, texts: &[String], batch: usize) -> Result<Vec<Vec<f32>>, KnowledgeError> {
        let mut model = self.model.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        model.embed(texts, Some(batch.max(1))).map_err(|e| KnowledgeError::Embedding(e.to_string()))
    }
}
