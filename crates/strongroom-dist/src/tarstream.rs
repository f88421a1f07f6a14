//! A strict, streaming tar walker (no extraction, no trust in any single header).
//!
//! Only regular files and directories become members. Links, devices, FIFOs, GNU long-link
//! names, Solaris `X` headers and unknown types are refused ("unexpected tar entry type"), as are
//! sparse members (GNU `S` type or pax `GNU.sparse.*` keys). Pax records are parsed strictly and a
//! pax `size` must equal the ustar size (TARmageddon, CVE-2025-62518). Anything two tar readers
//! could interpret differently is refused: bad checksums, ambiguous name prefixes, NULs inside
//! long names, two extended headers for one member, directories carrying data, duplicate names,
//! non-zero data after the end-of-archive marker, and names that differ only in case or Unicode
//! normalisation or make a file a directory (`collisions`).

use std::collections::HashSet;

use crate::collisions::NameSet;
use crate::paths::{check_member_path, decode_name};
use crate::{DistError, Limits};

/// Size of a tar header block.
pub(crate) const HEADER_SIZE: usize = 512;
const BLOCK: u64 = 512;
/// Largest pax extended header (local or global) we read into memory.
const MAX_PAX_BYTES: u64 = 1024 * 1024;
/// Largest GNU long name we read into memory.
const MAX_LONGNAME_BYTES: u64 = 64 * 1024;

/// A byte source that enforces decompression limits on everything it yields.
pub(crate) trait BlockSource {
    /// Read up to `buf.len()` bytes; `Ok(0)` only at the end of the stream.
    fn read_some(&mut self, buf: &mut [u8]) -> Result<usize, DistError>;
}

/// Receives the members of the archive.
pub(crate) trait TarVisitor {
    /// A new member; return `true` to receive its data through [`TarVisitor::data`].
    fn member(&mut self, path: &str, is_dir: bool, size: u64) -> Result<bool, DistError>;
    /// A chunk of the current member's data.
    fn data(&mut self, chunk: &[u8]) -> Result<(), DistError>;
}

/// Receives the data bytes of one member.
type Sink<'s> = &'s mut dyn FnMut(&[u8]) -> Result<(), DistError>;

fn malformed(reason: impl Into<String>) -> DistError {
    DistError::MalformedTar {
        reason: reason.into(),
    }
}

fn malformed_pax(reason: impl Into<String>) -> DistError {
    DistError::MalformedPax {
        reason: reason.into(),
    }
}

/// Parse a numeric header field as Python's `tarfile.nti` does, but strictly: base-256 with a
/// 0x80 prefix, or octal digits surrounded only by spaces/NULs (empty means 0).
pub(crate) fn parse_numeric(field: &[u8]) -> Option<u64> {
    match field.first() {
        Some(0x80) => {
            let mut value: u64 = 0;
            for &b in &field[1..] {
                value = value.checked_mul(256)?.checked_add(u64::from(b))?;
            }
            Some(value)
        }
        Some(&b) if b & 0x80 != 0 => None,
        _ => {
            let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
            let text = std::str::from_utf8(&field[..end]).ok()?;
            let digits = text.trim_matches(' ');
            if digits.is_empty() {
                return Some(0);
            }
            if !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
                return None;
            }
            u64::from_str_radix(digits, 8).ok()
        }
    }
}

/// True when the header's checksum field matches its unsigned or signed byte sum.
pub(crate) fn header_checksum_ok(block: &[u8; HEADER_SIZE]) -> bool {
    let Some(stored) = parse_numeric(&block[148..156]) else {
        return false;
    };
    let mut unsigned: i64 = 8 * i64::from(b' ');
    let mut signed: i64 = 8 * i64::from(b' ');
    for (i, &b) in block.iter().enumerate() {
        if (148..156).contains(&i) {
            continue;
        }
        unsigned += i64::from(b);
        signed += i64::from(b as i8);
    }
    i64::try_from(stored).is_ok_and(|s| s == unsigned || s == signed)
}

/// A NUL-terminated string field.
fn nts(field: &[u8]) -> &[u8] {
    let end = field.iter().position(|&b| b == 0).unwrap_or(field.len());
    &field[..end]
}

fn entry_kind(typeflag: u8) -> String {
    match typeflag {
        b'1' => "hard link".to_owned(),
        b'2' => "symbolic link".to_owned(),
        b'3' => "character device".to_owned(),
        b'4' => "block device".to_owned(),
        b'6' => "FIFO".to_owned(),
        b'K' => "GNU long link name".to_owned(),
        b'X' => "Solaris extended header".to_owned(),
        other if other.is_ascii_graphic() => format!("type '{}'", other as char),
        other => format!("type 0x{other:02x}"),
    }
}

/// What a local pax header says about the next member.
#[derive(Default)]
struct Pax {
    path: Option<String>,
    size: Option<u64>,
    sparse: bool,
}

/// Strictly parse pax records (`"<len> <key>=<value>\n"`, repeated, then only NUL padding).
fn parse_pax_records(data: &[u8]) -> Result<Vec<(String, Vec<u8>)>, DistError> {
    let mut records: Vec<(String, Vec<u8>)> = Vec::new();
    let mut pos = 0usize;
    while pos < data.len() {
        if data[pos] == 0 {
            if data[pos..].iter().any(|&b| b != 0) {
                return Err(malformed_pax("data after the NUL padding"));
            }
            break;
        }
        let rest = &data[pos..];
        let space = rest
            .iter()
            .take(21)
            .position(|&b| b == b' ')
            .ok_or_else(|| malformed_pax("record without a length"))?;
        let digits = &rest[..space];
        if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
            return Err(malformed_pax("record length is not a decimal number"));
        }
        let len: usize = std::str::from_utf8(digits)
            .ok()
            .and_then(|s| s.parse().ok())
            .ok_or_else(|| malformed_pax("record length is not a decimal number"))?;
        if len <= space + 1 || len > rest.len() {
            return Err(malformed_pax("record length out of range"));
        }
        let record = &rest[..len];
        if record[len - 1] != b'\n' {
            return Err(malformed_pax("record does not end with a newline"));
        }
        let body = &record[space + 1..len - 1];
        let eq = body
            .iter()
            .position(|&b| b == b'=')
            .ok_or_else(|| malformed_pax("record without '='"))?;
        let key = std::str::from_utf8(&body[..eq])
            .ok()
            .filter(|k| !k.is_empty())
            .ok_or_else(|| malformed_pax("record with an empty or non-UTF-8 keyword"))?;
        if records.iter().any(|(k, _)| k == key) {
            return Err(malformed_pax(format!("keyword {key:?} appears twice")));
        }
        records.push((key.to_owned(), body[eq + 1..].to_vec()));
        pos += len;
    }
    Ok(records)
}

fn parse_pax_size(value: &[u8]) -> Result<u64, DistError> {
    if value.is_empty() || value.len() > 20 || !value.iter().all(u8::is_ascii_digit) {
        return Err(malformed_pax("invalid size value"));
    }
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| malformed_pax("invalid size value"))
}

fn local_pax(data: &[u8]) -> Result<Pax, DistError> {
    let mut pax = Pax::default();
    for (key, value) in parse_pax_records(data)? {
        match key.as_str() {
            "path" => pax.path = Some(decode_name(&value)?),
            "size" => pax.size = Some(parse_pax_size(&value)?),
            k if k.starts_with("GNU.sparse.") => pax.sparse = true,
            _ => {}
        }
    }
    Ok(pax)
}

/// Global headers apply to every later member in Python's `tarfile`; refuse those that would
/// change a member's name, size or layout.
fn check_global_pax(data: &[u8]) -> Result<(), DistError> {
    for (key, _) in parse_pax_records(data)? {
        if key.starts_with("GNU.sparse.") {
            return Err(DistError::SparseMember {
                path: "(global pax header)".to_owned(),
            });
        }
        if matches!(key.as_str(), "path" | "linkpath" | "size") {
            return Err(malformed_pax(format!("global header sets {key:?}")));
        }
    }
    Ok(())
}

struct Walker<'a, S: BlockSource> {
    src: &'a mut S,
    scratch: Vec<u8>,
}

impl<S: BlockSource> Walker<'_, S> {
    /// Fill `buf` completely; `Ok(false)` on a clean end of stream before any byte.
    fn fill(&mut self, buf: &mut [u8]) -> Result<bool, DistError> {
        let mut filled = 0;
        while filled < buf.len() {
            let n = self.src.read_some(&mut buf[filled..])?;
            if n == 0 {
                if filled == 0 {
                    return Ok(false);
                }
                return Err(malformed("unexpected end of archive"));
            }
            filled += n;
        }
        Ok(true)
    }

    /// Stream `size` data bytes plus block padding, passing data to `sink` if given.
    fn data(&mut self, size: u64, mut sink: Option<Sink<'_>>) -> Result<(), DistError> {
        let padded = size.div_ceil(BLOCK) * BLOCK;
        let mut left = padded;
        let mut scratch = std::mem::take(&mut self.scratch);
        while left > 0 {
            let want = usize::try_from(left.min(scratch.len() as u64)).unwrap_or(scratch.len());
            let n = self.src.read_some(&mut scratch[..want])?;
            if n == 0 {
                return Err(malformed("unexpected end of archive inside member data"));
            }
            let done = padded - left;
            if let Some(sink) = sink.as_mut()
                && done < size
            {
                let useful = usize::try_from((size - done).min(n as u64)).unwrap_or(n);
                sink(&scratch[..useful])?;
            }
            left -= n as u64;
        }
        self.scratch = scratch;
        Ok(())
    }

    fn read_extension(&mut self, size: u64, max: u64, what: &str) -> Result<Vec<u8>, DistError> {
        if size > max {
            return Err(malformed(format!("{what} larger than {max} bytes")));
        }
        let mut out = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        self.data(
            size,
            Some(&mut |chunk: &[u8]| {
                out.extend_from_slice(chunk);
                Ok(())
            }),
        )?;
        Ok(out)
    }
}

/// Walk every header of the tar stream in `src`, reporting members to `visitor`.
pub(crate) fn walk<S: BlockSource, V: TarVisitor>(
    src: &mut S,
    limits: &Limits,
    visitor: &mut V,
) -> Result<(), DistError> {
    let mut w = Walker {
        src,
        scratch: vec![0u8; 64 * 1024],
    };
    let mut pax: Option<Pax> = None;
    let mut longname: Option<String> = None;
    let mut seen: HashSet<String> = HashSet::new();
    let mut names = NameSet::default();
    let mut block = [0u8; HEADER_SIZE];
    let mut first = true;
    loop {
        let at_start = std::mem::replace(&mut first, false);
        let got = match w.fill(&mut block) {
            Err(DistError::MalformedTar { .. }) if at_start => return Err(DistError::NotTar),
            other => other?,
        };
        // Like Python's `tarfile.is_tarfile`: an empty stream, or one whose first block is
        // zeros or not a valid header, is not a tar file at all.
        if at_start && (!got || block.iter().all(|&b| b == 0) || !header_checksum_ok(&block)) {
            return Err(DistError::NotTar);
        }
        if !got {
            // Python's tarfile and tar-rs both accept a missing end-of-archive marker.
            break;
        }
        if block.iter().all(|&b| b == 0) {
            break;
        }
        if !header_checksum_ok(&block) {
            return Err(malformed("header checksum mismatch"));
        }
        let field = |range: std::ops::Range<usize>, name: &str| {
            parse_numeric(&block[range]).ok_or_else(|| malformed(format!("invalid {name} field")))
        };
        for (range, name) in [(100..108, "mode"), (108..116, "uid"), (116..124, "gid")] {
            field(range, name)?;
        }
        field(136..148, "mtime")?;
        let size = field(124..136, "size")?;
        let typeflag = block[156];
        let raw_name = nts(&block[0..100]);
        let display = String::from_utf8_lossy(raw_name).into_owned();

        match typeflag {
            b'x' => {
                if pax.is_some() {
                    return Err(malformed_pax("two pax headers for one member"));
                }
                let data = w.read_extension(size, MAX_PAX_BYTES, "pax header")?;
                pax = Some(local_pax(&data)?);
                continue;
            }
            b'g' => {
                let data = w.read_extension(size, MAX_PAX_BYTES, "global pax header")?;
                check_global_pax(&data)?;
                continue;
            }
            b'L' => {
                if longname.is_some() {
                    return Err(malformed("two GNU long name headers for one member"));
                }
                let data = w.read_extension(size, MAX_LONGNAME_BYTES, "GNU long name")?;
                let end = data.iter().rposition(|&b| b != 0).map_or(0, |i| i + 1);
                if data[..end].contains(&0) {
                    return Err(malformed("NUL inside a GNU long name"));
                }
                longname = Some(decode_name(&data[..end])?);
                continue;
            }
            b'0' | 0 | b'7' | b'5' => {}
            b'S' => return Err(DistError::SparseMember { path: display }),
            other => {
                return Err(DistError::UnexpectedEntryType {
                    path: display,
                    kind: entry_kind(other),
                });
            }
        }

        let pending = pax.take().unwrap_or_default();
        let long = longname.take();
        let is_dir = typeflag == b'5' || (typeflag == 0 && raw_name.ends_with(b"/"));
        let magic = &block[257..265];
        let prefix = nts(&block[345..500]);
        let mut name = match (pending.path, long) {
            (Some(_), Some(_)) => return Err(malformed("both a GNU long name and a pax path")),
            (Some(p), None) | (None, Some(p)) => p,
            (None, None) => {
                let base = decode_name(raw_name)?;
                if prefix.is_empty() {
                    base
                } else if &magic[..6] == b"ustar\0" {
                    format!("{}/{base}", decode_name(prefix)?)
                } else {
                    return Err(malformed("name prefix field in a non-ustar header"));
                }
            }
        };
        if pending.sparse {
            return Err(DistError::SparseMember { path: name });
        }
        if let Some(pax_size) = pending.size
            && pax_size != size
        {
            return Err(DistError::PaxSizeMismatch {
                path: name,
                pax: pax_size,
                ustar: size,
            });
        }
        if is_dir {
            if size != 0 {
                return Err(malformed(format!("directory {name:?} carries data")));
            }
            while name.ends_with('/') {
                name.pop();
            }
        } else if name.ends_with('/') {
            return Err(DistError::InvalidPath { path: name });
        }
        check_member_path(&name)?;
        limits.check_entries(seen.len() + 1)?;
        if !seen.insert(name.clone()) {
            return Err(DistError::DuplicateMember { path: name });
        }
        names.add(&name, is_dir);
        limits.check_member(&name, size)?;
        if visitor.member(&name, is_dir, size)? {
            w.data(size, Some(&mut |chunk: &[u8]| visitor.data(chunk)))?;
        } else {
            w.data(size, None)?;
        }
    }
    if pax.is_some() || longname.is_some() {
        return Err(malformed("extended header without a following member"));
    }
    // Everything after the end marker must be zero padding: a lenient extractor (`tar -i`)
    // would otherwise find hidden members there.
    let mut scratch = std::mem::take(&mut w.scratch);
    loop {
        let n = w.src.read_some(&mut scratch)?;
        if n == 0 {
            return names.check();
        }
        if scratch[..n].iter().any(|&b| b != 0) {
            return Err(malformed("data after the end-of-archive marker"));
        }
    }
}
