//! `.dist-info/RECORD`: strict CSV parsing, and the digests used to check each listed file.
//!
//! Rows are `path,algorithm=urlsafe-b64-digest-without-padding,size`. Paths are compared after
//! turning `\` into `/`, as Warehouse's `validate_record` does. Only SHA-256 and stronger SHA-2
//! digests are accepted (the wheel spec forbids MD5 and SHA-1); digests are compared as bytes.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;

use crate::DistError;
use crate::paths::is_forbidden_char;

/// A RECORD hash algorithm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum HashAlgo {
    Sha256,
    Sha384,
    Sha512,
}

impl HashAlgo {
    fn from_name(name: &str) -> Option<Self> {
        match name {
            "sha256" => Some(Self::Sha256),
            "sha384" => Some(Self::Sha384),
            "sha512" => Some(Self::Sha512),
            _ => None,
        }
    }

    fn digest_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha384 => 48,
            Self::Sha512 => 64,
        }
    }
}

/// One RECORD row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct RecordRow {
    pub path: String,
    pub hash: Option<(HashAlgo, Vec<u8>)>,
    pub size: Option<u64>,
}

/// Incremental digest of one member for comparison with its RECORD row.
pub(crate) struct MemberHasher(ring::digest::Context);

impl MemberHasher {
    pub fn new(algo: HashAlgo) -> Self {
        Self(ring::digest::Context::new(match algo {
            HashAlgo::Sha256 => &ring::digest::SHA256,
            HashAlgo::Sha384 => &ring::digest::SHA384,
            HashAlgo::Sha512 => &ring::digest::SHA512,
        }))
    }

    pub fn update(&mut self, data: &[u8]) {
        self.0.update(data);
    }

    pub fn finish(self) -> Vec<u8> {
        self.0.finish().as_ref().to_vec()
    }
}

fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut fields = Vec::new();
    let mut chars = line.chars().peekable();
    loop {
        let mut field = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            loop {
                match chars.next() {
                    None => return Err("unterminated quoted field".to_owned()),
                    Some('"') if chars.peek() == Some(&'"') => {
                        chars.next();
                        field.push('"');
                    }
                    Some('"') => break,
                    Some(c) => field.push(c),
                }
            }
            match chars.next() {
                None => {
                    fields.push(field);
                    return Ok(fields);
                }
                Some(',') => fields.push(field),
                Some(_) => return Err("text after a closing quote".to_owned()),
            }
        } else {
            loop {
                match chars.next() {
                    None => {
                        fields.push(field);
                        return Ok(fields);
                    }
                    Some(',') => break,
                    Some(c) => field.push(c),
                }
            }
            fields.push(field);
        }
    }
}

/// Parse RECORD. `record_path` only labels error messages.
pub(crate) fn parse(record_path: &str, bytes: &[u8]) -> Result<Vec<RecordRow>, DistError> {
    let invalid = |reason: String| DistError::InvalidRecord {
        path: record_path.to_owned(),
        reason,
    };
    let text = std::str::from_utf8(bytes).map_err(|_| invalid("not valid UTF-8".to_owned()))?;
    let mut rows: Vec<RecordRow> = Vec::new();
    let mut seen = std::collections::HashSet::new();
    for (number, raw_line) in text.split('\n').enumerate() {
        let line_no = number + 1;
        let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
        if line.is_empty() {
            continue;
        }
        if line.chars().any(is_forbidden_char) {
            return Err(invalid(format!(
                "line {line_no} contains a control character"
            )));
        }
        let fields = split_csv_line(line).map_err(|e| invalid(format!("line {line_no}: {e}")))?;
        let [path, hash, size] = <[String; 3]>::try_from(fields).map_err(|f| {
            invalid(format!(
                "line {line_no} has {} fields instead of 3",
                f.len()
            ))
        })?;
        let path = path.replace('\\', "/");
        if path.is_empty() {
            return Err(invalid(format!("line {line_no} has an empty path")));
        }
        if !seen.insert(path.clone()) {
            return Err(invalid(format!("{path:?} is listed more than once")));
        }
        let hash = if hash.is_empty() {
            None
        } else {
            let (name, value) = hash
                .split_once('=')
                .ok_or_else(|| invalid(format!("malformed hash for {path:?}")))?;
            let algo = HashAlgo::from_name(name).ok_or_else(|| {
                invalid(format!("unsupported hash algorithm {name:?} for {path:?}"))
            })?;
            let digest = URL_SAFE_NO_PAD
                .decode(value.trim_end_matches('='))
                .ok()
                .filter(|d| d.len() == algo.digest_len())
                .ok_or_else(|| invalid(format!("malformed {name} digest for {path:?}")))?;
            Some((algo, digest))
        };
        let size = if size.is_empty() {
            None
        } else if size.bytes().all(|b| b.is_ascii_digit()) && size.len() <= 20 {
            Some(
                size.parse::<u64>()
                    .map_err(|_| invalid(format!("malformed size for {path:?}")))?,
            )
        } else {
            return Err(invalid(format!("malformed size for {path:?}")));
        };
        rows.push(RecordRow { path, hash, size });
    }
    Ok(rows)
}
