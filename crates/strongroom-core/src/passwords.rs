//! Passwords: the length and content rules, a strength estimate that penalises the username and
//! email, Argon2id hashing, and a verification that costs the same for unknown accounts.

use argon2::password_hash::phc::{Output, ParamsString, PasswordHash, Salt};
use argon2::{Algorithm, Argon2, Block, Params, Version};

use crate::{CoreError, Settings};

/// The weakest estimate accepted for a new password (zxcvbn's scale: 0–4, PyPI needs ≥ 2).
pub const MIN_SCORE: u8 = 2;

/// Passwords so common that guessing starts with them (lowercase; checked as whole and as base).
const COMMON: &[&str] = &[
    "password",
    "123456",
    "12345678",
    "123456789",
    "1234567890",
    "qwerty",
    "qwertyuiop",
    "abc123",
    "111111",
    "123123",
    "letmein",
    "welcome",
    "monkey",
    "dragon",
    "football",
    "baseball",
    "iloveyou",
    "trustno1",
    "sunshine",
    "master",
    "shadow",
    "superman",
    "princess",
    "starwars",
    "whatever",
    "freedom",
    "passw0rd",
    "p@ssw0rd",
    "p@ssword",
    "admin",
    "administrator",
    "login",
    "secret",
    "changeme",
    "default",
    "pypi",
    "python",
    "strongroom",
    "hello",
    "charlie",
    "michael",
    "jordan",
    "hunter",
    "hunter2",
    "access",
    "computer",
    "internet",
    "mustang",
    "asdfghjkl",
    "asdfgh",
    "zxcvbnm",
    "1q2w3e4r",
    "1qaz2wsx",
    "qazwsx",
    "000000",
    "654321",
    "666666",
    "888888",
    "987654321",
    "passport",
    "letmein1",
    "welcome1",
    "password1",
    "summer",
    "winter",
    "spring",
    "autumn",
    "january",
    "december",
    "loveme",
    "killer",
    "pepper",
];

/// Length 8–4096 characters and no NUL (checked before any hashing, so huge inputs cost nothing).
pub fn validate_password(pw: &str) -> Result<(), CoreError> {
    if pw.len() > 4096 * 4 || pw.chars().count() > 4096 {
        return Err(CoreError::Invalid(
            "Password too long: use at most 4096 characters.".into(),
        ));
    }
    if pw.chars().count() < 8 {
        return Err(CoreError::Invalid(
            "Password too short: use at least 8 characters.".into(),
        ));
    }
    if pw.contains('\0') {
        return Err(CoreError::Invalid(
            "Password must not contain NUL characters.".into(),
        ));
    }
    Ok(())
}

/// The rules for a *new* password: [`validate_password`] plus a strength score ≥ [`MIN_SCORE`]
/// with the username and email as known words.
pub fn check_new_password(pw: &str, username: &str, email: &str) -> Result<(), CoreError> {
    validate_password(pw)?;
    if strength(pw, &[username, email]) < MIN_SCORE {
        return Err(CoreError::Invalid(
            "Password is too easily guessed. Avoid your username or email, common passwords, sequences and repeats; a few unrelated words make a strong password."
                .into(),
        ));
    }
    Ok(())
}

/// A small zxcvbn-style estimate (0–4) of how hard `pw` is to guess.
///
/// Guessable parts (the user's own words, common passwords, sequences like `abcd`/`4321`,
/// repeats like `aaaa`) are removed; what remains is scored by its length and alphabet.
pub fn strength(pw: &str, user_inputs: &[&str]) -> u8 {
    let lower = pw.to_lowercase();
    let mut words: Vec<String> = COMMON.iter().map(|w| (*w).to_owned()).collect();
    for input in user_inputs {
        let i = input.to_lowercase();
        if i.len() >= 3 {
            words.push(i.clone());
        }
        // The parts of an email address and of dotted/underscored names count on their own.
        for part in i.split(['@', '.', '_', '-', '+']) {
            if part.len() >= 3 {
                words.push(part.to_owned());
            }
        }
    }
    let unleet: String = lower
        .chars()
        .map(|c| match c {
            '0' => 'o',
            '1' | '!' => 'i',
            '3' => 'e',
            '4' | '@' => 'a',
            '5' | '$' => 's',
            '7' => 't',
            _ => c,
        })
        .collect();
    let mut rest: Vec<char> = lower.chars().collect();
    let unleet_chars: Vec<char> = unleet.chars().collect();
    // Longest words first, so "password" is taken before "pass".
    words.sort_by_key(|w| std::cmp::Reverse(w.chars().count()));
    for w in &words {
        let wc: Vec<char> = w.chars().collect();
        blank_matches(&mut rest, &lower.chars().collect::<Vec<_>>(), &wc);
        blank_matches(&mut rest, &unleet_chars, &wc);
    }
    blank_years(&mut rest);
    blank_runs(&mut rest);
    let remaining: Vec<char> = rest.into_iter().filter(|c| *c != '\u{0}').collect();
    let bits = entropy_bits(&remaining) + guessable_bits(pw.chars().count() - remaining.len());
    match bits {
        b if b < 28.0 => 0,
        b if b < 36.0 => 1,
        b if b < 50.0 => 2,
        b if b < 64.0 => 3,
        _ => 4,
    }
}

/// Mark (with NUL) every occurrence of `word` in `source` in the working copy `rest`.
fn blank_matches(rest: &mut [char], source: &[char], word: &[char]) {
    if word.is_empty() || word.len() > source.len() {
        return;
    }
    for start in 0..=source.len() - word.len() {
        if source[start..start + word.len()] == *word {
            for c in &mut rest[start..start + word.len()] {
                *c = '\u{0}';
            }
        }
    }
}

/// Blank years (1900–2099): the most guessed digits after sequences.
fn blank_years(rest: &mut [char]) {
    if rest.len() < 4 {
        return;
    }
    for i in 0..=rest.len() - 4 {
        let w = &rest[i..i + 4];
        if w.iter().all(char::is_ascii_digit) && matches!((w[0], w[1]), ('1', '9') | ('2', '0')) {
            for c in &mut rest[i..i + 4] {
                *c = '\u{0}';
            }
        }
    }
}

/// Blank runs of 3+ repeated characters and 3+ steps of an ascending/descending sequence.
fn blank_runs(rest: &mut [char]) {
    let n = rest.len();
    let mut i = 0;
    while i < n {
        let mut j = i + 1;
        // repeats
        while j < n && rest[j] == rest[i] && rest[i] != '\u{0}' {
            j += 1;
        }
        if j - i >= 3 {
            for c in &mut rest[i..j] {
                *c = '\u{0}';
            }
            i = j;
            continue;
        }
        // sequences (+1 or -1 per step)
        for delta in [1i64, -1] {
            let mut k = i + 1;
            while k < n
                && rest[k] != '\u{0}'
                && rest[k - 1] != '\u{0}'
                && i64::from(u32::from(rest[k])) - i64::from(u32::from(rest[k - 1])) == delta
            {
                k += 1;
            }
            if k - i >= 3 {
                for c in &mut rest[i..k] {
                    *c = '\u{0}';
                }
                break;
            }
        }
        i += 1;
    }
}

fn entropy_bits(chars: &[char]) -> f64 {
    if chars.is_empty() {
        return 0.0;
    }
    let mut pool = 0u32;
    if chars.iter().any(char::is_ascii_lowercase) {
        pool += 26;
    }
    if chars.iter().any(char::is_ascii_uppercase) {
        pool += 26;
    }
    if chars.iter().any(char::is_ascii_digit) {
        pool += 10;
    }
    if chars.iter().any(|c| c.is_ascii_punctuation() || *c == ' ') {
        pool += 33;
    }
    if chars.iter().any(|c| !c.is_ascii()) {
        pool += 100;
    }
    let distinct = {
        let mut d: Vec<&char> = chars.iter().collect();
        d.sort();
        d.dedup();
        d.len()
    };
    // A string of few distinct characters is weaker than its length suggests.
    let effective = chars.len().min(distinct * 2);
    #[allow(clippy::cast_precision_loss)]
    let bits = effective as f64 * f64::from(pool.max(1)).log2();
    bits
}

/// Removed (guessable) characters still add a little: the attacker must pick which word.
fn guessable_bits(n: usize) -> f64 {
    if n == 0 { 0.0 } else { 10.0 }
}

/// Argon2id with the configured cost (tests lower it; production keeps OWASP's default).
fn argon2(settings: &Settings) -> Result<Argon2<'static>, CoreError> {
    let params = Params::new(
        settings.argon2_memory_kib,
        settings.argon2_iterations,
        1,
        None,
    )
    .map_err(|e| CoreError::Internal(format!("argon2 parameters: {e}")))?;
    Ok(Argon2::new(Algorithm::Argon2id, Version::V0x13, params))
}

/// Argon2's working memory (one 1 KiB [`Block`] per KiB of cost), owned by the caller and
/// reused hash after hash, so that a burst of logins does not allocate and free 19 MiB per
/// attempt (freed blocks that size stay with the process: see `crate::hash_pool`). Up to
/// `keep` blocks are kept; a hash needing more (one made with a higher cost before the
/// setting was lowered) gets a buffer of its own for that one computation.
#[derive(Debug)]
pub struct HashMemory {
    blocks: Vec<Block>,
    keep: usize,
}

impl HashMemory {
    /// Memory that keeps up to `keep_kib` KiB between hashes (allocated on first use).
    pub fn new(keep_kib: u32) -> HashMemory {
        HashMemory {
            blocks: Vec::new(),
            keep: usize::try_from(keep_kib).unwrap_or(usize::MAX),
        }
    }

    /// Bytes held between hashes now.
    pub fn held_bytes(&self) -> usize {
        self.blocks.len() * Block::SIZE
    }

    fn with<R>(&mut self, n: usize, f: impl FnOnce(&mut [Block]) -> R) -> R {
        if n <= self.keep {
            if self.blocks.len() < n {
                if self.blocks.capacity() < n {
                    self.blocks = mapped_blocks(n);
                }
                self.blocks.resize(n, Block::default());
            }
            f(&mut self.blocks[..n])
        } else {
            let mut once = mapped_blocks(n);
            once.resize(n, Block::default());
            f(&mut once)
        }
    }
}

/// Blocks asked for: past glibc's largest mmap threshold (32 MiB on 64-bit systems), so the
/// allocator always maps them on their own and unmaps them when they are dropped. A 19 MiB
/// request would be served from a heap arena once glibc's dynamic threshold has risen past it,
/// and freed memory there stays with the process (that is how an idle pool kept its memory).
/// Only the blocks a hash writes become resident; the rest of the reservation is never touched.
/// (The `strongroom` binary allocates with jemalloc, which returns such blocks by itself; this
/// keeps a build on the system allocator, MSVC's or a test's, from holding them.)
const MAPPED_MIN_BLOCKS: usize = 32 * 1024 * 1024 / Block::SIZE + 1;

/// An empty vector with room for at least `n` blocks, mapped on its own (see above).
fn mapped_blocks(n: usize) -> Vec<Block> {
    Vec::with_capacity(n.max(MAPPED_MIN_BLOCKS))
}

fn phc_error(e: impl std::fmt::Display) -> CoreError {
    CoreError::Internal(format!("password hashing failed: {e}"))
}

/// Hash a secret (password or recovery code) with Argon2id and a random salt, in `memory`.
pub fn hash_secret_in(
    settings: &Settings,
    secret: &str,
    memory: &mut HashMemory,
) -> Result<String, CoreError> {
    let a = argon2(settings)?;
    let mut salt = [0u8; 16];
    rand::fill(&mut salt[..]);
    let mut out = vec![
        0u8;
        a.params()
            .output_len()
            .unwrap_or(Params::DEFAULT_OUTPUT_LEN)
    ];
    memory
        .with(a.params().block_count(), |blocks| {
            a.hash_password_into_with_memory(secret.as_bytes(), &salt, &mut out, blocks)
        })
        .map_err(phc_error)?;
    let phc = PasswordHash {
        algorithm: Algorithm::Argon2id.ident(),
        version: Some(Version::V0x13.into()),
        params: ParamsString::try_from(a.params()).map_err(phc_error)?,
        salt: Some(Salt::new(&salt).map_err(phc_error)?),
        hash: Some(Output::new(&out).map_err(phc_error)?),
    };
    Ok(phc.to_string())
}

/// Whether `secret` matches the PHC string `hash` (the parameters come from the hash itself),
/// computed in `memory`. The comparison is constant-time (`Output`'s equality).
pub fn verify_secret_in(hash: &str, secret: &str, memory: &mut HashMemory) -> bool {
    let Ok(parsed) = PasswordHash::new(hash) else {
        return false;
    };
    let (Some(salt), Some(expected)) = (&parsed.salt, &parsed.hash) else {
        return false;
    };
    let Ok(algorithm) = Algorithm::try_from(parsed.algorithm.as_str()) else {
        return false;
    };
    let version = match parsed.version.map(Version::try_from) {
        None => Version::default(),
        Some(Ok(v)) => v,
        Some(Err(_)) => return false,
    };
    let Ok(params) = Params::try_from(&parsed) else {
        return false;
    };
    let a = Argon2::new(algorithm, version, params);
    let mut out = vec![0u8; expected.len()];
    let computed = memory.with(a.params().block_count(), |blocks| {
        a.hash_password_into_with_memory(secret.as_bytes(), salt, &mut out, blocks)
    });
    computed.is_ok() && Output::new(&out).is_ok_and(|o| o == *expected)
}

/// [`hash_secret_in`] with memory of its own (tests and one-off tools; requests use the pool).
pub fn hash_secret(settings: &Settings, secret: &str) -> Result<String, CoreError> {
    hash_secret_in(
        settings,
        secret,
        &mut HashMemory::new(settings.argon2_memory_kib),
    )
}

/// [`verify_secret_in`] with memory of its own (tests and one-off tools; requests use the pool).
pub fn verify_secret(hash: &str, secret: &str) -> bool {
    verify_secret_in(hash, secret, &mut HashMemory::new(0))
}

/// Verify against a fixed hash made with the same cost, so an unknown account costs what a known
/// one does (no timing oracle for usernames).
pub fn burn_verification_in(settings: &Settings, memory: &mut HashMemory) {
    use std::sync::OnceLock;
    static DUMMY: OnceLock<Option<String>> = OnceLock::new();
    let dummy =
        DUMMY.get_or_init(|| hash_secret_in(settings, "strongroom dummy password", memory).ok());
    if let Some(h) = dummy {
        let _ = verify_secret_in(h, "not the dummy password", memory);
    }
}

/// [`burn_verification_in`] with memory of its own.
pub fn burn_verification(settings: &Settings) {
    burn_verification_in(settings, &mut HashMemory::new(settings.argon2_memory_kib));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cheap() -> Settings {
        Settings {
            argon2_memory_kib: 64,
            argon2_iterations: 1,
            ..Settings::default()
        }
    }

    #[test]
    fn length_and_content_rules() {
        assert!(validate_password("1234567").is_err(), "7 characters");
        assert!(validate_password(&"x".repeat(64)).is_ok());
        assert!(validate_password(&"x".repeat(4096)).is_ok());
        assert!(validate_password(&"x".repeat(4097)).is_err());
        assert!(validate_password("with\0nul inside").is_err());
        assert!(
            validate_password("🦀🦀🦀🦀🦀🦀🦀🦀").is_ok(),
            "emoji count as characters"
        );
        let started = std::time::Instant::now();
        assert!(check_new_password(&"x".repeat(100_000), "u", "u@example.org").is_err());
        assert!(
            started.elapsed() < std::time::Duration::from_millis(50),
            "refused before any work"
        );
    }

    #[test]
    fn weak_passwords_are_refused_and_user_words_penalised() {
        for weak in [
            "password",
            "password1",
            "P@ssw0rd!",
            "12345678",
            "abcdefgh",
            "aaaaaaaaaaaa",
            "qwertyuiop",
            "87654321",
        ] {
            assert!(
                check_new_password(weak, "alice", "alice@example.org").is_err(),
                "{weak}"
            );
        }
        // The same shape is fine without the user's own words, refused with them.
        assert!(check_new_password("kowalski-2024!", "someone", "x@example.org").is_ok());
        assert!(check_new_password("kowalski-2024!", "kowalski", "x@example.org").is_err());
        assert!(check_new_password("jkowalski2024", "bob", "jkowalski@example.org").is_err());
        for strong in [
            "correct horse battery staple",
            "Tr0ub4dor&3xyz",
            "v9#Lq!z2Wm@8",
            "🦀 crab rave 🦀 forever",
        ] {
            assert!(
                check_new_password(strong, "alice", "alice@example.org").is_ok(),
                "{strong}"
            );
        }
    }

    #[test]
    fn argon2id_round_trip_without_truncation() {
        let s = cheap();
        let a = format!("{}A", "x".repeat(80));
        let b = format!("{}B", "x".repeat(80));
        let h = hash_secret(&s, &a).expect("hash");
        assert!(h.starts_with("$argon2id$"), "{h}");
        assert!(verify_secret(&h, &a));
        assert!(
            !verify_secret(&h, &b),
            "same first 72 bytes must not verify"
        );
        assert!(!verify_secret("not a phc string", &a));
        assert_ne!(hash_secret(&s, &a).expect("hash"), h, "random salt");
    }

    #[test]
    fn caller_memory_is_reused_and_agrees_with_the_reference_implementation() {
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let s = cheap();
        let mut mem = HashMemory::new(s.argon2_memory_kib);
        let h = hash_secret_in(&s, "a long test passphrase", &mut mem).expect("hash");
        assert_eq!(
            mem.held_bytes(),
            64 * 1024,
            "exactly the configured cost is kept"
        );
        // The reference implementation (its own allocation) accepts our hash, and ours its.
        let reference = argon2(&s).expect("argon2");
        let parsed = PasswordHash::new(&h).expect("phc");
        assert!(
            reference
                .verify_password(b"a long test passphrase", &parsed)
                .is_ok()
        );
        let theirs = reference
            .hash_password(b"another passphrase")
            .expect("hash")
            .to_string();
        assert!(verify_secret_in(&theirs, "another passphrase", &mut mem));
        assert!(!verify_secret_in(&theirs, "another passphrasE", &mut mem));
        assert_eq!(mem.held_bytes(), 64 * 1024, "reused, not grown");
        // A hash made with a higher cost than is kept is verified in memory of its own.
        let bigger = Settings {
            argon2_memory_kib: 256,
            ..cheap()
        };
        let hb = hash_secret(&bigger, "x long passphrase").expect("hash");
        assert!(verify_secret_in(&hb, "x long passphrase", &mut mem));
        assert_eq!(
            mem.held_bytes(),
            64 * 1024,
            "the larger buffer was not kept"
        );
    }
}
