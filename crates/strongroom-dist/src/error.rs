//! Typed reasons for refusing a distribution; each `Display` is the message the uploader sees.
//!
//! Messages stand alone (the core prefixes "Invalid distribution file. " where PyPI does) and
//! reuse PyPI's wording where PyPI has one. Member names taken from the archive are printed with
//! `{:?}` so control characters and quotes are escaped rather than echoed raw.

use thiserror::Error;

/// Why a distribution file was refused.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum DistError {
    /// The uploaded file could not be read from disk (a server-side problem, not the uploader's).
    #[error("Unable to read the distribution file: {0}")]
    Io(#[from] std::io::Error),

    /// A `.whl` or `.zip` that has no ZIP end-of-central-directory record at all.
    #[error("File is not a zipfile")]
    NotZip,
    /// A `.tar.gz` that is not gzip-compressed or does not start with a tar header.
    #[error("File is not a tarfile")]
    NotTar,
    /// A file that parses both as a ZIP archive and as a tar archive.
    #[error("File is both a zip and a tar file")]
    Polyglot,

    /// The raw ZIP framing failed validation (parser-differential defences).
    #[error("ZIP archive not accepted: {0}")]
    Zip(#[from] ZipError),
    /// A ZIP member uses a compression method other than STORE (0) or DEFLATE (8).
    #[error(
        "File does not use a supported compression type (member {path:?} uses method {method})"
    )]
    UnsupportedCompression { path: String, method: u16 },

    /// An absolute path, a `..`/`.`/empty component, a backslash or a drive letter / colon.
    #[error("Archive member has an invalid path: {path:?}")]
    InvalidPath { path: String },
    /// A member name containing a control character (or a Unicode line/paragraph separator).
    #[error("Invalid character in filename: {path:?}")]
    InvalidCharacter { path: String },
    /// A member name Windows or macOS cannot hold as written or would read as another name.
    #[error("Archive member {path:?} is not a portable file name: {reason}")]
    UnportableName {
        path: String,
        reason: crate::portable::Unportable,
    },
    /// A member name that is not valid UTF-8 (shown lossily).
    #[error("Filename not valid UTF-8: {path:?}")]
    NonUtf8Filename { path: String },
    /// The same member name appears twice in a tar archive.
    #[error("Duplicate filename in archive: {path:?}")]
    DuplicateMember { path: String },

    /// Two member paths that differ only in letter case or Unicode normalisation.
    #[error(
        "Archive members {first:?} and {second:?} differ only in letter case or Unicode normalization: they are one path on case-insensitive file systems"
    )]
    CaseCollision { first: String, second: String },
    /// A member path that is a file and also a directory holding other members.
    #[error("Archive member {path:?} is both a file and a directory")]
    FileIsDirectory { path: String },

    /// More members than `Limits::max_entries`.
    #[error("Archive contains more than {limit} entries")]
    TooManyEntries { limit: usize },
    /// Decompressed size over `Limits::ratio_min_size` and ratio over the threshold.
    #[error("File exceeds compression ratio of {threshold}")]
    CompressionRatio { threshold: f64 },
    /// A code member over `Limits::member_ratio_min_size` and its own ratio over the threshold.
    #[error(
        "Archive member {path:?} exceeds compression ratio of {threshold} ({uncompressed} bytes stored in {compressed}): source code this repetitive is refused"
    )]
    MemberCompressionRatio {
        path: String,
        threshold: f64,
        uncompressed: u64,
        compressed: u64,
    },
    /// Decompressed size over `Limits::max_total_uncompressed`.
    #[error("File decompresses to more than {limit} bytes")]
    TooLarge { limit: u64 },
    /// One member over `Limits::max_member_uncompressed`.
    #[error("Archive member {path:?} decompresses to more than {limit} bytes")]
    MemberTooLarge { path: String, limit: u64 },
    /// METADATA, PKG-INFO, WHEEL, RECORD or entry_points.txt over `Limits::max_metadata_bytes`.
    #[error("{path} is larger than the {limit}-byte limit for metadata files")]
    MetadataTooLarge { path: String, limit: u64 },

    /// A symlink, hardlink, device, FIFO or other non-file, non-directory tar entry.
    #[error("Archive contains an unexpected tar entry type ({kind}) at {path:?}")]
    UnexpectedEntryType { path: String, kind: String },
    /// A GNU sparse member or a pax header carrying `GNU.sparse.*` keys.
    #[error("Sparse members are not allowed: {path:?}")]
    SparseMember { path: String },
    /// A pax `size` record that disagrees with the ustar header size (TARmageddon).
    #[error(
        "Archive has mismatched pax and tar header sizes for {path:?} (pax size {pax}, tar size {ustar})"
    )]
    PaxSizeMismatch { path: String, pax: u64, ustar: u64 },
    /// A pax extended header that does not parse strictly.
    #[error("Malformed pax extended header: {reason}")]
    MalformedPax { reason: String },
    /// Any other tar-level fault (bad checksum, truncation, data after the end marker, ...).
    #[error("Malformed tar archive: {reason}")]
    MalformedTar { reason: String },
    /// Corrupt gzip data or trailing data after the gzip stream.
    #[error("Malformed gzip data: {reason}")]
    MalformedGzip { reason: String },

    /// Not exactly one top-level directory in an sdist (PyPI's wording).
    #[error("Incorrect number of top-level directories in sdist")]
    SdistTopLevel,
    /// No `PKG-INFO` directly inside the top-level directory (PyPI's wording).
    #[error("PKG-INFO not found at {path}")]
    PkgInfoMissing { path: String },

    /// No top-level `*.dist-info` directory in a wheel.
    #[error("Wheel does not contain a .dist-info directory")]
    NoDistInfo,
    /// Two or more top-level `*.dist-info` directories in a wheel.
    #[error("Wheel contains more than one .dist-info directory: {first} and {second}")]
    MultipleDistInfo { first: String, second: String },
    /// `<dist-info>/WHEEL` is missing (PyPI's wording).
    #[error("WHEEL not found at {path}")]
    MissingWheelFile { path: String },
    /// `<dist-info>/METADATA` is missing (PyPI's wording, without the upload filename).
    #[error("Wheel does not contain the required METADATA file: {path}")]
    MissingMetadata { path: String },
    /// `<dist-info>/RECORD` is missing (PyPI's wording, without the upload filename).
    #[error("Wheel does not contain the required RECORD file: {path}")]
    MissingRecord { path: String },
    /// RECORD is not UTF-8, is not valid CSV, or has a malformed row.
    #[error("Invalid RECORD file {path}: {reason}")]
    InvalidRecord { path: String, reason: String },
    /// A file in the wheel that RECORD does not list.
    #[error("RECORD does not list {path:?}")]
    RecordMissingEntry { path: String },
    /// RECORD lists a file that the wheel does not contain.
    #[error("RECORD lists {path:?}, which is not in the wheel")]
    RecordListsMissingFile { path: String },
    /// The RECORD hash of a file differs from the file's bytes.
    #[error("RECORD hash for {path:?} does not match the file's contents")]
    RecordHashMismatch { path: String },
    /// The RECORD size of a file differs from the file's size.
    #[error("RECORD size for {path:?} is {expected} but the file has {actual} bytes")]
    RecordSizeMismatch {
        path: String,
        expected: u64,
        actual: u64,
    },
    /// The `.dist-info/WHEEL` file is malformed.
    #[error("Invalid WHEEL file {path}: {reason}")]
    InvalidWheelFile { path: String, reason: String },
    /// A `Wheel-Version` whose major version is above the one installers read (1).
    #[error(
        "{path} declares Wheel-Version {version}, which installers cannot install: only Wheel-Version 1.x is supported"
    )]
    UnsupportedWheelVersion { path: String, version: String },
    /// `entry_points.txt` is malformed or names a path-like script.
    #[error("Wheel has invalid entry points: {reason}")]
    InvalidEntryPoints { reason: String },
}

/// Why the raw ZIP framing was refused. Wording follows Warehouse's `zipfiles.py`.
#[derive(Debug, Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ZipError {
    /// A record signature that is not a local header, central header or end record.
    #[error("Unknown record signature at offset {offset}")]
    UnknownSignature { offset: u64 },
    /// Truncated records, malformed extra fields, records out of order, multi-disk archives...
    #[error("Malformed zip file: {reason}")]
    Malformed { reason: &'static str },
    /// A ZIP64 or Unicode-path extra field appearing twice in one header.
    #[error("Invalid duplicate extra in {location}")]
    DuplicateExtra { location: &'static str },
    /// An Info-ZIP Unicode Path extra field (0x7075) that differs from the header name.
    #[error("Unicode path extra field does not match the filename {path:?}")]
    UnicodePathMismatch { path: String },
    /// A non-ASCII name without general-purpose flag bit 11 (readers would decode it as CP437).
    #[error("Non-ASCII filename without the UTF-8 flag: {path:?}")]
    NonAsciiWithoutUtf8Flag { path: String },
    /// General-purpose flag bit 3: sizes deferred to a data descriptor.
    #[error("ZIP contains a data descriptor ({path:?})")]
    DataDescriptor { path: String },
    /// An encrypted member.
    #[error("Encrypted members are not allowed: {path:?}")]
    Encrypted { path: String },
    /// A local header whose name has no central-directory entry.
    #[error("Filename not in central directory: {path:?}")]
    NotInCentralDirectory { path: String },
    /// A central-directory entry whose name has no local header.
    #[error("Missing filename in local headers: {path:?}")]
    MissingLocalHeader { path: String },
    /// The same name in two local headers.
    #[error("Duplicate filename in local headers: {path:?}")]
    DuplicateLocal { path: String },
    /// The same name in two central-directory entries.
    #[error("Duplicate filename in central directory: {path:?}")]
    DuplicateCentral { path: String },
    /// A local header and its central-directory entry disagree on `field`.
    #[error("Mis-matched {field} for {path:?}")]
    Mismatch { path: String, field: &'static str },
    /// A central-directory entry with a file comment.
    #[error("Comment in central directory ({path:?})")]
    CentralComment { path: String },
    /// An archive comment in the end-of-central-directory record.
    #[error("Comment in end of central directory record")]
    EocdComment,
    /// The end record's entry count differs from the central directory.
    #[error("Mismatched central directory records")]
    MismatchedRecords,
    /// The end record's central-directory offset differs from where it starts.
    #[error("Mismatched central directory offset")]
    MismatchedOffset,
    /// The end record's central-directory size differs from its real size.
    #[error("Mismatched central directory size")]
    MismatchedSize,
    /// A ZIP64 end record with extensible data.
    #[error("ZIP64 extensible data not allowed")]
    Zip64ExtensibleData,
    /// ZIP64 fields that disagree with each other or with the 32-bit fields.
    #[error("Inconsistent ZIP64 data: {reason}")]
    Zip64 { reason: &'static str },
    /// Bytes after the end-of-central-directory record (including a second end record).
    #[error("Trailing data")]
    TrailingData,
    /// A member whose Unix mode marks it as a symbolic link.
    #[error("Symbolic links are not allowed: {path:?}")]
    Symlink { path: String },
    /// A member whose Unix mode marks it as a device, FIFO or socket.
    #[error("Member is not a regular file or directory: {path:?}")]
    SpecialFile { path: String },
    /// Directory attributes on a name without a trailing slash.
    #[error("Directory attributes on a member whose name is not a directory: {path:?}")]
    TypeMismatch { path: String },
    /// A directory entry (name ending in `/`) with content.
    #[error("Directory entry has data: {path:?}")]
    DirectoryWithData { path: String },
    /// A member whose data does not match its CRC-32.
    #[error("Bad CRC-32 for file {path:?}")]
    CrcMismatch { path: String },
    /// A member whose decompressed size differs from its header.
    #[error("Decompressed size of {path:?} does not match its header")]
    SizeMismatch { path: String },
    /// A member whose DEFLATE data is corrupt.
    #[error("Corrupt compressed data in {path:?}")]
    CorruptData { path: String },
    /// A second, independent ZIP reader saw a different archive.
    #[error("ZIP readers disagree about the archive: {reason}")]
    ParserDisagreement { reason: String },
}
