//! The random secrets core hands out (session cookies and their CSRF tokens, mail-link and
//! invitation tokens, login tickets, WebAuthn ceremony ids): only their hashes are stored.

use base64::Engine;
use sha2::{Digest, Sha256};

/// `n` random bytes, base64url without padding.
pub(crate) fn random_secret(n: usize) -> String {
    let mut bytes = vec![0u8; n];
    rand::fill(&mut bytes[..]);
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes)
}

/// The SHA-256 (hex) under which a secret (an API token, a session, a mail link) is stored.
pub fn hash_token(secret: &str) -> String {
    hex::encode(Sha256::digest(secret.as_bytes()))
}
