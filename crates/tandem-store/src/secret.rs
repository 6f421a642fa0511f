//! Secrets we hand out once (API keys, session tokens): random, stored only as a SHA-256 digest.
//! Passwords use argon2 instead (they are low-entropy and need a slow hash).

use argon2::password_hash::{rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use rand::RngCore;
use sha2::{Digest, Sha256};

/// A freshly generated secret: the plain text (shown once) and the digest we keep.
pub struct Secret {
    pub plain: String,
    pub digest: String,
}

impl Secret {
    /// `prefix` + 32 random bytes in URL-safe base64, e.g. `tdm_live_…`.
    pub fn generate(prefix: &str) -> Self {
        use base64::Engine;
        let mut bytes = [0u8; 32];
        rand::rngs::OsRng.fill_bytes(&mut bytes);
        let plain = format!("{prefix}{}", base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes));
        let digest = digest(&plain);
        Self { plain, digest }
    }
}

pub fn digest(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}

pub(crate) fn hash_password(password: &str) -> Result<String, crate::StoreError> {
    argon2::Argon2::default()
        .hash_password(password.as_bytes(), &SaltString::generate(&mut OsRng))
        .map(|h| h.to_string())
        .map_err(|e| crate::StoreError::Corrupt(format!("password hashing failed: {e}")))
}

pub(crate) fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash).is_ok_and(|h| argon2::Argon2::default().verify_password(password.as_bytes(), &h).is_ok())
}
