//! Helpers shared by the provider tests.

use std::path::PathBuf;

/// A fixture file's bytes: `fixtures/channels/{provider}/{name}`.
pub fn fixture(provider: &str, name: &str) -> Vec<u8> {
    let path: PathBuf = [env!("CARGO_MANIFEST_DIR"), "..", "..", "fixtures", "channels", provider, name].iter().collect();
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Lower-cased header pairs.
pub fn headers(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| (k.to_ascii_lowercase(), v.to_string())).collect()
}
