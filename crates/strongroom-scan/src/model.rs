//! The scanner's vocabulary: capabilities, rules, findings and the result of one archive's scan.
//! These are stored (as JSON, `file_scans.scan`) and shown to owners and admins, so their
//! serialised names are stable: renaming one is a migration.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

/// Bumped whenever a rule changes what it finds: stored beside each scan, so a scan made by an
/// older scanner can be told apart (and re-run) later.
pub const SCANNER_VERSION: u32 = 1;

/// What code in a file can do. A release's capabilities are the union over its files; the
/// capability diff compares them release to release (the tell of the `ctx` incident: 0.2.2 added
/// environment reads, encoding and network to `ctx.py`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Capability {
    /// Opens sockets or makes HTTP requests (`socket`, `urllib`, `http.client`, `requests`, …).
    Network,
    /// Starts processes (`subprocess`, `os.system`, `os.popen`, `os.exec*`, `pty.spawn`, …).
    ProcessSpawn,
    /// Reads the process environment (`os.environ`, `os.getenv`).
    EnvironmentRead,
    /// Names a credential file (`~/.aws/credentials`, `~/.pypirc`, `~/.ssh/id_*`, browser cookie
    /// stores, …).
    CredentialFileRead,
    /// Runs code it computes: `exec`/`eval`/`compile`, `marshal.loads`, `__import__` or
    /// `importlib.import_module` on a computed name, `getattr` on a computed attribute of a module.
    DynamicCode,
    /// Decodes data (base64, hex, zlib, marshal, codecs) whose result reaches dynamic code.
    DecodeToCode,
    /// Base64/hex/zlib decoding at all (a weak signal alone; part of the ctx tell).
    Encoding,
    /// Overrides an install-time command in `setup.py` (`cmdclass` `install`, `develop`,
    /// `egg_info`), or names an in-tree build backend (`backend-path` in `pyproject.toml`).
    InstallHook,
    /// A `.pth` file with a line Python executes (`import …`) at every interpreter start.
    ExecutablePth,
    /// Ships a native executable or library (ELF, PE, Mach-O).
    BundledBinary,
    /// Writes files (`open(…, "w")`, `urlretrieve` to a path, `os.chmod`).
    FileWrite,
    /// Unicode bidirectional control characters in source (Trojan Source).
    BidiControl,
}

impl Capability {
    /// Every capability, in display order.
    pub const ALL: [Capability; 12] = [
        Capability::Network,
        Capability::ProcessSpawn,
        Capability::EnvironmentRead,
        Capability::CredentialFileRead,
        Capability::DynamicCode,
        Capability::DecodeToCode,
        Capability::Encoding,
        Capability::InstallHook,
        Capability::ExecutablePth,
        Capability::BundledBinary,
        Capability::FileWrite,
        Capability::BidiControl,
    ];

    /// The stable name (as serialised).
    pub fn as_str(self) -> &'static str {
        match self {
            Capability::Network => "network",
            Capability::ProcessSpawn => "process-spawn",
            Capability::EnvironmentRead => "environment-read",
            Capability::CredentialFileRead => "credential-file-read",
            Capability::DynamicCode => "dynamic-code",
            Capability::DecodeToCode => "decode-to-code",
            Capability::Encoding => "encoding",
            Capability::InstallHook => "install-hook",
            Capability::ExecutablePth => "executable-pth",
            Capability::BundledBinary => "bundled-binary",
            Capability::FileWrite => "file-write",
            Capability::BidiControl => "bidi-control",
        }
    }

    /// The kinds whose first appearance in a project raises the score ("new capability").
    pub fn is_dangerous(self) -> bool {
        !matches!(self, Capability::Encoding | Capability::FileWrite)
    }
}

impl std::fmt::Display for Capability {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The rules (../shared/reference/security.md M1–M14). The id is stable and shown with every
/// finding; docs/scanning.md describes each.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Rule {
    /// M1: environment values (or a credential file's content) flow into an encoding and a
    /// network call in the same scope.
    #[serde(rename = "SR-M1-env-exfiltration")]
    EnvExfiltration,
    /// M2: `setup.py` overrides `install`/`develop`/`egg_info` with a command that starts a
    /// process or reaches the network.
    #[serde(rename = "SR-M2-install-hook")]
    InstallHookOverride,
    /// M3: decoded data (base64, marshal, zlib, hex) fed to exec/eval/compile.
    #[serde(rename = "SR-M3-decode-exec")]
    DecodeExec,
    /// M4: download to a file, make it executable, start it.
    #[serde(rename = "SR-M4-download-execute")]
    DownloadExecute,
    /// M5: a `.pth` line that runs exec, base64, subprocess, socket or urllib at interpreter start.
    #[serde(rename = "SR-M5-executable-pth")]
    ExecutablePth,
    /// M6: a string literal in code (not a comment or docstring) naming a known exfiltration
    /// endpoint (webhook.site, ngrok, the Telegram bot API, Discord webhooks, pastebin), a
    /// raw-IP URL or a `.xyz`/`.top` host.
    #[serde(rename = "SR-M6-shady-endpoint")]
    ShadyEndpoint,
    /// M7: a credential file is read and something is sent over the network.
    #[serde(rename = "SR-M7-credential-theft")]
    CredentialTheft,
    /// M8: a detached or silenced process (`DEVNULL` output, `DETACHED_PROCESS`,
    /// `CREATE_NO_WINDOW`, `start_new_session`).
    #[serde(rename = "SR-M8-silent-process")]
    SilentProcess,
    /// M9: bytes taken from an image (pixel LSBs, data after `IEND`) reach dynamic code.
    #[serde(rename = "SR-M9-steganography")]
    Steganography,
    /// M10: obfuscated API access (`getattr(__import__("o"+"s"), …)`, long `chr()` joins) or
    /// bidi control characters in source.
    #[serde(rename = "SR-M10-obfuscation")]
    Obfuscation,
    /// M11: PyArmor (or similar) encrypted code: rejected at upload.
    #[serde(rename = "SR-M11-encrypted-code")]
    EncryptedCode,
    /// M12: typosquat profile (a name one edit from a popular project, a 0.0.x version, an empty
    /// description, a single module with dangerous capabilities). Decided in core, which knows
    /// the popular names.
    #[serde(rename = "SR-M12-typosquat-profile")]
    TyposquatProfile,
    /// M14: a native executable shipped in an sdist or pure-Python wheel, with code that starts
    /// a process.
    #[serde(rename = "SR-M14-bundled-binary")]
    BundledBinary,
    /// A file whose sha256 is listed in an ingested malicious-package OSV record: rejected.
    #[serde(rename = "SR-known-malicious")]
    KnownMalicious,
    /// Informational: a native binary (compiled extension) in the archive.
    #[serde(rename = "SR-native-binary")]
    NativeBinary,
    /// Informational: a large member that is neither code nor text (opaque to the scanner).
    #[serde(rename = "SR-opaque-blob")]
    OpaqueBlob,
    /// Code the scanner could not read within its bounds (too large, past the archive's time or
    /// byte budget, compiled without its source): High, so a human reads it.
    #[serde(rename = "SR-unscanned-source")]
    UnscannedSource,
    /// Informational: an in-tree build backend (`backend-path`) runs the sdist's own code at
    /// build time.
    #[serde(rename = "SR-in-tree-build-backend")]
    InTreeBuildBackend,
}

impl Rule {
    /// The rules that describe what the code does with data or processes (exfiltration,
    /// install hooks, decode-and-exec, download-and-run, executable `.pth`, credential theft,
    /// silent processes, steganography, a bundled binary that is started): a project whose
    /// release gains one of these, or finds it at a worse severity than before, changed
    /// character, which the upload policy weighs ("new behaviour"). Endpoints named in
    /// literals, obfuscation and the informational rules describe text, not behaviour.
    pub fn is_behaviour(self) -> bool {
        matches!(
            self,
            Rule::EnvExfiltration
                | Rule::InstallHookOverride
                | Rule::DecodeExec
                | Rule::DownloadExecute
                | Rule::ExecutablePth
                | Rule::CredentialTheft
                | Rule::SilentProcess
                | Rule::Steganography
                | Rule::BundledBinary
        )
    }

    /// The stable id (as serialised), e.g. `SR-M1-env-exfiltration`.
    pub fn id(self) -> &'static str {
        match self {
            Rule::EnvExfiltration => "SR-M1-env-exfiltration",
            Rule::InstallHookOverride => "SR-M2-install-hook",
            Rule::DecodeExec => "SR-M3-decode-exec",
            Rule::DownloadExecute => "SR-M4-download-execute",
            Rule::ExecutablePth => "SR-M5-executable-pth",
            Rule::ShadyEndpoint => "SR-M6-shady-endpoint",
            Rule::CredentialTheft => "SR-M7-credential-theft",
            Rule::SilentProcess => "SR-M8-silent-process",
            Rule::Steganography => "SR-M9-steganography",
            Rule::Obfuscation => "SR-M10-obfuscation",
            Rule::EncryptedCode => "SR-M11-encrypted-code",
            Rule::TyposquatProfile => "SR-M12-typosquat-profile",
            Rule::BundledBinary => "SR-M14-bundled-binary",
            Rule::KnownMalicious => "SR-known-malicious",
            Rule::NativeBinary => "SR-native-binary",
            Rule::OpaqueBlob => "SR-opaque-blob",
            Rule::UnscannedSource => "SR-unscanned-source",
            Rule::InTreeBuildBackend => "SR-in-tree-build-backend",
        }
    }
}

impl std::fmt::Display for Rule {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.id())
    }
}

/// How much a finding weighs. `Reject` findings refuse the upload outright (precise rules:
/// encrypted code, a known-malicious hash); the others add to the score.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Severity {
    /// Shown, scores nothing (a compiled extension, an opaque blob).
    Info,
    /// A weak signal.
    Low,
    /// Worth a look.
    Medium,
    /// Malware-shaped on its own.
    High,
    /// Refused at upload.
    Reject,
}

/// One finding: a rule that matched, where, and the source it matched (bounded, one line).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: Rule,
    pub severity: Severity,
    /// The member path, relative to the package root (an sdist's top directory stripped, so
    /// paths compare across versions).
    pub path: String,
    /// 1-based line, when the finding has one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// The matched source line, at most [`ScanLimits::snippet_chars`] characters, raw (escape it
    /// where it is shown).
    pub snippet: String,
    /// A sentence saying what was seen.
    pub message: String,
}

/// The capabilities of each member (path relative to the package root).
pub type FileCapabilities = BTreeMap<String, BTreeSet<Capability>>;

/// The scan of one archive (one uploaded file).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArchiveScan {
    /// Per member with at least one capability.
    pub capabilities: FileCapabilities,
    pub findings: Vec<Finding>,
    /// Members read and analysed (code, `.pth`, build configuration).
    pub members_scanned: u32,
    /// Bytes of source analysed.
    pub bytes_scanned: u64,
}

impl ArchiveScan {
    /// The union of every member's capabilities.
    pub fn all_capabilities(&self) -> BTreeSet<Capability> {
        self.capabilities.values().flatten().copied().collect()
    }

    /// The first finding that refuses the upload, if any.
    pub fn rejection(&self) -> Option<&Finding> {
        self.findings
            .iter()
            .find(|f| f.severity == Severity::Reject)
    }
}

/// Which container to read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveKind {
    Wheel,
    SdistTarGz,
    SdistZip,
}

/// The scanner's bounds: no upload may cost memory or CPU in proportion to its size beyond these.
#[derive(Clone, Debug)]
pub struct ScanLimits {
    /// A Python source larger than this is not parsed (an `SR-unscanned-source` finding).
    pub max_source_bytes: u64,
    /// At most this many bytes of source are parsed per archive; the rest is noted, not parsed.
    pub max_total_source_bytes: u64,
    /// A non-code member at least this large, that is not a known data format, is noted as opaque.
    pub opaque_blob_bytes: u64,
    /// Snippets are cut to this many characters.
    pub snippet_chars: usize,
    /// At most this many findings are kept per archive (the rest are counted in the last one).
    pub max_findings: usize,
}

impl Default for ScanLimits {
    fn default() -> Self {
        Self {
            max_source_bytes: 2 << 20,
            max_total_source_bytes: 64 << 20,
            opaque_blob_bytes: 1 << 20,
            snippet_chars: 160,
            max_findings: 200,
        }
    }
}

/// Why an archive could not be scanned (it already passed the archive checks, so this is I/O or
/// a bound).
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("reading the archive: {0}")]
    Io(#[from] std::io::Error),
    #[error("the archive could not be read: {0}")]
    Archive(String),
}
