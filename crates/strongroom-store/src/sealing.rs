//! Sealed secrets: values the index must read back (TOTP seeds, the server keys in
//! `server_secrets`, queued mail bodies with live links) are stored encrypted with a key that is
//! not in the database, so a copy of the database alone does not bypass 2FA.
//!
//! AES-256-GCM from `ring`, a random 96-bit nonce per value, and associated data that binds each
//! ciphertext to its purpose and row (a sealed seed moved to another user's row does not open).
//! The stored text is versioned and names its key:
//! `sealed:v1:<key id>:<base64url(nonce ‖ ciphertext ‖ tag)>`, where the key id is derived from
//! the key (HMAC-SHA-256), so a wrong key is recognised before anything is decrypted and keys
//! can be rotated later (a keyring opening old ids while sealing with the new one).

use base64::Engine;
use ring::aead::{AES_256_GCM, Aad, LessSafeKey, NONCE_LEN, Nonce, UnboundKey};
use ring::rand::{SecureRandom, SystemRandom};

/// Prefix of every sealed value (any format version).
pub const SEALED_PREFIX: &str = "sealed:";
/// The current format's prefix.
const V1: &str = "sealed:v1:";
/// Bytes in a key.
pub const KEY_LEN: usize = 32;
/// Hex digits of a key id.
const KEY_ID_LEN: usize = 16;
const TAG_LEN: usize = 16;

/// What a sealed value may go wrong with.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SealError {
    /// No key was given to the store.
    #[error("no secrets key is configured: the store cannot read or write sealed secrets")]
    NoKey,
    /// The key text is not 32 bytes of base64 or hex.
    #[error("the secrets key is not 32 bytes written as base64 or 64 hex digits")]
    BadKey,
    /// The value was sealed with a key this keyring does not hold.
    #[error(
        "the secrets in this database were sealed with key {found}, but the configured key is {configured}"
    )]
    UnknownKey { found: String, configured: String },
    /// The stored value is not in any sealed format (a plaintext left by an older version, or
    /// written by hand).
    #[error("{0} is stored unsealed (restart strongroom to seal it)")]
    NotSealed(String),
    /// The stored value claims to be sealed but cannot be parsed.
    #[error("{0} is not a valid sealed value")]
    Malformed(String),
    /// The ciphertext does not open with this key and this binding: it was altered, or moved
    /// from another row.
    #[error("{0} does not open: it was altered or belongs to another row")]
    Forged(String),
    /// The system's random source failed.
    #[error("the system random source failed")]
    Random,
}

/// Where a sealed value lives: the associated data of its ciphertext. A value only opens for
/// the row (and purpose) it was sealed for.
#[derive(Debug, Clone, Copy)]
pub enum Binding<'a> {
    /// `totp_secrets.secret` of one user.
    TotpSeed { user_id: i64 },
    /// `server_secrets.value` of one name.
    ServerSecret { name: &'a str },
    /// `outbox.body` of one mail, to one address.
    MailBody { id: i64, to: &'a str },
}

impl Binding<'_> {
    fn associated_data(&self, header: &str) -> String {
        let row = match self {
            Binding::TotpSeed { user_id } => format!("totp_secrets.secret\0user_id={user_id}"),
            Binding::ServerSecret { name } => format!("server_secrets.value\0name={name}"),
            Binding::MailBody { id, to } => format!("outbox.body\0id={id}\0to={to}"),
        };
        format!("strongroom\0{header}\0{row}")
    }

    /// The value's name in messages (never its content).
    pub fn describe(&self) -> String {
        match self {
            Binding::TotpSeed { user_id } => format!("the TOTP seed of user {user_id}"),
            Binding::ServerSecret { name } => format!("the server secret {name:?}"),
            Binding::MailBody { id, .. } => format!("the body of queued mail {id}"),
        }
    }
}

/// One 256-bit secrets key with its id.
pub struct SecretsKey {
    id: String,
    key: LessSafeKey,
    raw: [u8; KEY_LEN],
}

impl std::fmt::Debug for SecretsKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

impl SecretsKey {
    /// A key from its 32 bytes.
    pub fn from_bytes(raw: [u8; KEY_LEN]) -> SecretsKey {
        let mac = ring::hmac::sign(
            &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &raw),
            b"strongroom secrets key id v1",
        );
        let id = hex::encode(&mac.as_ref()[..KEY_ID_LEN / 2]);
        // AES-256 takes any 32 bytes: the only error ring reports is a wrong length.
        let unbound = UnboundKey::new(&AES_256_GCM, &raw).unwrap_or_else(|_| unreachable!());
        SecretsKey {
            id,
            key: LessSafeKey::new(unbound),
            raw,
        }
    }

    /// A fresh random key.
    pub fn generate() -> Result<SecretsKey, SealError> {
        let mut raw = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut raw)
            .map_err(|_| SealError::Random)?;
        Ok(SecretsKey::from_bytes(raw))
    }

    /// A key written as text: base64 (standard or URL-safe, padded or not) or 64 hex digits,
    /// surrounding whitespace ignored. The error never repeats the text.
    pub fn from_text(text: &str) -> Result<SecretsKey, SealError> {
        let t = text.trim();
        let bytes = if t.len() == 2 * KEY_LEN && t.bytes().all(|b| b.is_ascii_hexdigit()) {
            hex::decode(t).ok()
        } else {
            let unpadded = t.trim_end_matches('=');
            base64::engine::general_purpose::STANDARD_NO_PAD
                .decode(unpadded)
                .or_else(|_| base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(unpadded))
                .ok()
        };
        let raw: [u8; KEY_LEN] = bytes
            .and_then(|b| b.try_into().ok())
            .ok_or(SealError::BadKey)?;
        Ok(SecretsKey::from_bytes(raw))
    }

    /// The key as the text a key file holds (standard base64, as `openssl rand -base64 32`).
    pub fn to_text(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.raw)
    }

    /// The key's id: 16 hex digits derived from the key (safe to print and log).
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// The keys a store seals and opens with: today one; rotation will add the old ones for opening.
#[derive(Debug)]
pub struct Keyring {
    primary: SecretsKey,
}

impl Keyring {
    /// A keyring sealing and opening with `key`.
    pub fn new(key: SecretsKey) -> Keyring {
        Keyring { primary: key }
    }

    /// The id of the key new values are sealed with.
    pub fn primary_id(&self) -> &str {
        self.primary.id()
    }

    /// Whether a key of this id is held.
    pub fn holds(&self, id: &str) -> bool {
        self.primary.id == id
    }

    /// Seal `plaintext` for `binding`.
    pub fn seal(&self, binding: Binding<'_>, plaintext: &str) -> Result<String, SealError> {
        let key = &self.primary;
        let header = format!("{V1}{}", key.id);
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| SealError::Random)?;
        let ad = binding.associated_data(&header);
        let mut buf = plaintext.as_bytes().to_vec();
        key.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ad.as_bytes()),
                &mut buf,
            )
            .map_err(|_| SealError::Random)?;
        let mut payload = Vec::with_capacity(NONCE_LEN + buf.len());
        payload.extend_from_slice(&nonce);
        payload.extend_from_slice(&buf);
        Ok(format!(
            "{header}:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
        ))
    }

    /// Open a stored value sealed for `binding`.
    pub fn open(&self, binding: Binding<'_>, stored: &str) -> Result<String, SealError> {
        let what = || binding.describe();
        let Some(rest) = stored.strip_prefix(V1) else {
            return Err(if stored.starts_with(SEALED_PREFIX) {
                SealError::Malformed(what())
            } else {
                SealError::NotSealed(what())
            });
        };
        let (id, payload) = rest
            .split_once(':')
            .ok_or_else(|| SealError::Malformed(what()))?;
        if !self.holds(id) {
            return Err(SealError::UnknownKey {
                found: id.to_owned(),
                configured: self.primary.id.clone(),
            });
        }
        let mut payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .map_err(|_| SealError::Malformed(what()))?;
        if payload.len() < NONCE_LEN + TAG_LEN {
            return Err(SealError::Malformed(what()));
        }
        let mut nonce = [0u8; NONCE_LEN];
        nonce.copy_from_slice(&payload[..NONCE_LEN]);
        let header = format!("{V1}{id}");
        let ad = binding.associated_data(&header);
        let plain = self
            .primary
            .key
            .open_in_place(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(ad.as_bytes()),
                &mut payload[NONCE_LEN..],
            )
            .map_err(|_| SealError::Forged(what()))?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Forged(what()))
    }
}

/// The key id named by a sealed value (`None` for a plaintext or a malformed value).
pub fn key_id_of(stored: &str) -> Option<&str> {
    let rest = stored.strip_prefix(V1)?;
    let id = rest.split(':').next()?;
    (id.len() == KEY_ID_LEN).then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ring_of(byte: u8) -> Keyring {
        Keyring::new(SecretsKey::from_bytes([byte; KEY_LEN]))
    }

    const ALICE: Binding<'static> = Binding::TotpSeed { user_id: 1 };

    #[test]
    fn a_sealed_value_opens_for_its_row_and_hides_its_plaintext() {
        let ring = ring_of(7);
        let seed = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";
        let sealed = ring.seal(ALICE, seed).expect("seal");
        assert!(sealed.starts_with("sealed:v1:"), "{sealed}");
        assert_eq!(key_id_of(&sealed), Some(ring.primary_id()));
        assert!(
            !sealed.contains(seed) && !sealed.contains("JBSWY3DP"),
            "{sealed}"
        );
        assert_eq!(ring.open(ALICE, &sealed).expect("open"), seed);
        // a random nonce per value: the same seed never seals to the same text
        assert_ne!(ring.seal(ALICE, seed).expect("seal"), sealed);
    }

    #[test]
    fn another_key_is_named_and_refused_before_decrypting() {
        let sealed = ring_of(7).seal(ALICE, "SEED").expect("seal");
        let other = ring_of(8);
        match other.open(ALICE, &sealed) {
            Err(SealError::UnknownKey { found, configured }) => {
                assert_eq!(found, ring_of(7).primary_id());
                assert_eq!(configured, other.primary_id());
                assert_ne!(found, configured);
            }
            other => panic!("expected UnknownKey, got {other:?}"),
        }
    }

    #[test]
    fn a_wrong_key_under_the_right_id_does_not_open() {
        // a forged key id (the header is part of the associated data, and the id is derived
        // from the key, but a hand-edited id must still fail to open)
        let a = ring_of(7);
        let b = ring_of(8);
        let sealed = a.seal(ALICE, "SEED").expect("seal");
        let relabelled = sealed.replacen(a.primary_id(), b.primary_id(), 1);
        assert_eq!(
            b.open(ALICE, &relabelled),
            Err(SealError::Forged(ALICE.describe()))
        );
    }

    #[test]
    fn a_tampered_ciphertext_does_not_open() {
        let ring = ring_of(7);
        let sealed = ring.seal(ALICE, "JBSWY3DPEHPK3PXP").expect("seal");
        let (head, payload) = sealed.rsplit_once(':').expect("payload");
        let mut bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .expect("b64");
        for i in [0, NONCE_LEN, bytes.len() - 1] {
            let mut b = bytes.clone();
            b[i] ^= 1;
            let t = format!(
                "{head}:{}",
                base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&b)
            );
            assert_eq!(
                ring.open(ALICE, &t),
                Err(SealError::Forged(ALICE.describe())),
                "byte {i}"
            );
        }
        bytes.truncate(NONCE_LEN + TAG_LEN - 1);
        let short = format!(
            "{head}:{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&bytes)
        );
        assert_eq!(
            ring.open(ALICE, &short),
            Err(SealError::Malformed(ALICE.describe()))
        );
    }

    #[test]
    fn a_value_moved_to_another_row_or_purpose_does_not_open() {
        let ring = ring_of(7);
        let sealed = ring.seal(ALICE, "ATTACKERSEED").expect("seal");
        let bob = Binding::TotpSeed { user_id: 2 };
        assert_eq!(
            ring.open(bob, &sealed),
            Err(SealError::Forged(bob.describe()))
        );
        let key = Binding::ServerSecret { name: "1" };
        assert!(matches!(ring.open(key, &sealed), Err(SealError::Forged(_))));
        let mail = ring
            .seal(
                Binding::MailBody {
                    id: 3,
                    to: "a@x.test",
                },
                "reset link",
            )
            .expect("seal");
        for b in [
            Binding::MailBody {
                id: 4,
                to: "a@x.test",
            },
            Binding::MailBody {
                id: 3,
                to: "mallory@x.test",
            },
        ] {
            assert!(
                matches!(ring.open(b, &mail), Err(SealError::Forged(_))),
                "{b:?}"
            );
        }
    }

    #[test]
    fn plaintext_and_unknown_formats_are_refused_not_passed_through() {
        let ring = ring_of(7);
        assert_eq!(
            ring.open(ALICE, "JBSWY3DPEHPK3PXP"),
            Err(SealError::NotSealed(ALICE.describe()))
        );
        assert_eq!(
            ring.open(ALICE, "sealed:v9:abcd:xyz"),
            Err(SealError::Malformed(ALICE.describe()))
        );
        assert_eq!(key_id_of("JBSWY3DPEHPK3PXP"), None);
    }

    #[test]
    fn key_text_is_base64_or_hex_and_round_trips() {
        let key = SecretsKey::generate().expect("key");
        let text = key.to_text();
        assert_eq!(SecretsKey::from_text(&text).expect("b64").id(), key.id());
        assert_eq!(
            SecretsKey::from_text(&format!("  {text}\n"))
                .expect("padded")
                .id(),
            key.id()
        );
        let url = text.replace('+', "-").replace('/', "_");
        assert_eq!(SecretsKey::from_text(&url).expect("url").id(), key.id());
        let hex = hex::encode(key.raw);
        assert_eq!(SecretsKey::from_text(&hex).expect("hex").id(), key.id());
        for bad in ["", "short", &text[..20], &hex[..62], "not base64 at all!!"] {
            assert_eq!(
                SecretsKey::from_text(bad).map(|_| ()),
                Err(SealError::BadKey),
                "{bad}"
            );
        }
        // the id is stable and says nothing of the key
        assert_eq!(key.id().len(), KEY_ID_LEN);
        assert_eq!(
            SecretsKey::from_bytes([7; KEY_LEN]).id(),
            SecretsKey::from_bytes([7; KEY_LEN]).id()
        );
        assert!(!format!("{key:?}").contains(&text));
    }
}
