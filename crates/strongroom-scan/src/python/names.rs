//! What a resolved name does: the tables that map a qualified call target (`os.system`,
//! `base64.b64decode`, …) to the kind of behaviour it has, and the string tests (credential
//! paths, shady endpoints) applied to literals in code.

/// The behaviour of a call target, once its name is resolved through the file's imports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Kind {
    /// A request or connection; the result is data from the network.
    Network,
    /// Builds a client or socket whose methods reach the network.
    NetClient,
    /// Starts a process.
    Process,
    /// Reads one environment variable (`os.getenv`, `os.environ.get`).
    EnvGet,
    /// Base64/hex/zlib/marshal decoding.
    Decode,
    /// Base64/hex/zlib encoding.
    Encode,
    /// `exec`/`eval`/`compile`.
    Exec,
    /// `marshal.loads`: code objects from bytes.
    Marshal,
    /// `pickle.loads` and its kin: objects (and so calls) from bytes; decode-to-code (M3) when
    /// the bytes were decoded first.
    Unpickle,
    /// Runs a file or module as code (`runpy.run_path`, `SourceFileLoader`,
    /// `spec_from_file_location`, `zipimport.zipimporter`): dynamic code, and the file it names
    /// is read as Python source.
    Loader,
    /// `__import__` / `importlib.import_module`.
    Import,
    /// `getattr`.
    Getattr,
    /// `os.chmod`.
    Chmod,
    /// Downloads a URL to a file (`urlretrieve`).
    Download,
    /// `open` (a write when its mode says so).
    Open,
    /// Opens or reads an image (PIL and friends).
    Image,
}

/// Strip the builtins prefixes so `builtins.exec` and `__builtins__.exec` read as `exec`.
pub(super) fn normalise(q: &str) -> &str {
    q.strip_prefix("builtins.")
        .or_else(|| q.strip_prefix("__builtin__."))
        .or_else(|| q.strip_prefix("__builtins__."))
        .unwrap_or(q)
}

/// The kind of a qualified call target.
pub(super) fn classify(q: &str) -> Option<Kind> {
    let q = normalise(q);
    let (module, name) = match q.rsplit_once('.') {
        Some((m, n)) => (m, n),
        None => ("", q),
    };
    let kind = match (module, name) {
        ("", "exec" | "eval" | "compile" | "execfile") => Kind::Exec,
        ("", "__import__") | ("importlib", "import_module" | "__import__") => Kind::Import,
        ("", "getattr") => Kind::Getattr,
        ("" | "io" | "codecs", "open") => Kind::Open,
        ("marshal", "loads") => Kind::Marshal,
        ("pickle" | "cPickle" | "_pickle" | "dill" | "cloudpickle", "loads") => {
            Kind::Unpickle
        }
        ("runpy", "run_path" | "run_module" | "_run_module_as_main" | "_run_code")
        | (
            "importlib.machinery" | "importlib._bootstrap_external",
            "SourceFileLoader" | "SourcelessFileLoader",
        )
        | ("importlib.util", "spec_from_file_location" | "spec_from_loader")
        | ("zipimport", "zipimporter")
        | ("imp", "load_source" | "load_compiled" | "load_module" | "load_package") => Kind::Loader,
        ("os", "getenv" | "getenvb")
        | ("os.environ" | "os.environb", "get" | "setdefault" | "pop") => Kind::EnvGet,
        (
            "base64",
            "b64decode" | "b32decode" | "b32hexdecode" | "b16decode" | "b85decode" | "a85decode"
            | "urlsafe_b64decode" | "standard_b64decode" | "decodebytes" | "decodestring",
        )
        | ("binascii", "a2b_base64" | "unhexlify" | "a2b_hex" | "a2b_uu")
        | ("codecs", "decode")
        | ("zlib" | "gzip" | "bz2" | "lzma", "decompress")
        | ("bytes", "fromhex") => Kind::Decode,
        (
            "base64",
            "b64encode" | "b32encode" | "b32hexencode" | "b16encode" | "b85encode" | "a85encode"
            | "urlsafe_b64encode" | "standard_b64encode" | "encodebytes" | "encodestring",
        )
        | ("binascii", "b2a_base64" | "hexlify" | "b2a_hex")
        | ("codecs", "encode")
        | ("zlib" | "gzip" | "bz2" | "lzma", "compress") => Kind::Encode,
        (
            "subprocess",
            "Popen" | "run" | "call" | "check_call" | "check_output" | "getoutput"
            | "getstatusoutput",
        )
        | (
            "os",
            "system" | "popen" | "popen2" | "popen3" | "execl" | "execle" | "execlp" | "execlpe"
            | "execv" | "execve" | "execvp" | "execvpe" | "spawnl" | "spawnle" | "spawnlp"
            | "spawnlpe" | "spawnv" | "spawnve" | "spawnvp" | "spawnvpe" | "posix_spawn"
            | "posix_spawnp" | "startfile",
        )
        | ("pty", "spawn")
        | ("commands", "getoutput" | "getstatusoutput")
        | ("asyncio", "create_subprocess_exec" | "create_subprocess_shell") => Kind::Process,
        ("os", "chmod" | "fchmod" | "lchmod") => Kind::Chmod,
        ("urllib.request" | "urllib", "urlretrieve") | ("wget", "download") => Kind::Download,
        ("socket", "socket" | "create_connection")
        | ("requests" | "requests.sessions", "Session" | "session")
        | ("httpx", "Client" | "AsyncClient")
        | ("aiohttp", "ClientSession")
        | ("http.client" | "httplib", "HTTPConnection" | "HTTPSConnection")
        | (
            "urllib3",
            "PoolManager" | "ProxyManager" | "HTTPConnectionPool" | "HTTPSConnectionPool",
        )
        | ("urllib.request" | "urllib2", "build_opener")
        | ("ftplib", "FTP" | "FTP_TLS")
        | ("smtplib", "SMTP" | "SMTP_SSL")
        | ("telnetlib", "Telnet")
        | ("pycurl", "Curl") => Kind::NetClient,
        ("urllib.request" | "urllib2" | "urllib", "urlopen" | "Request")
        // A name resolved is a DNS query: data in the host name leaves (DNS exfiltration).
        | (
            "socket",
            "gethostbyname" | "gethostbyname_ex" | "getaddrinfo" | "gethostbyaddr",
        )
        | ("dns.resolver", "resolve" | "query")
        | (
            "requests" | "requests.api" | "httpx",
            "get" | "post" | "put" | "patch" | "delete" | "head" | "options" | "request" | "stream",
        )
        | ("aiohttp", "request")
        | ("urllib3", "request")
        | ("websocket", "create_connection")
        | ("websockets", "connect") => Kind::Network,
        ("PIL.Image" | "Image", "open" | "frombytes")
        | ("imageio" | "imageio.v2" | "imageio.v3", "imread")
        | ("cv2", "imread")
        | ("stegano.lsb" | "lsb", "reveal") => Kind::Image,
        _ => return None,
    };
    Some(kind)
}

/// Names that denote the builtins module (`exec` looked up on one is `exec`).
pub(super) fn is_builtins(q: &str) -> bool {
    matches!(q, "builtins" | "__builtins__" | "__builtin__")
}

/// Calls whose result is a namespace mapping: `globals()`, `locals()` (the file's names) and
/// `vars(x)` (`x.__dict__`).
pub(super) fn is_namespace_call(q: &str) -> bool {
    matches!(q, "globals" | "locals" | "vars")
}

/// The module table: `sys.modules["os"]` is the module `os`.
pub(super) fn is_module_table(q: &str) -> bool {
    q == "sys.modules"
}

/// An object's attribute mapping: `os.__dict__["environ"]` is `os.environ`.
pub(super) const DICT_ATTR: &str = "__dict__";

/// Whether a qualified name is the environment mapping itself (`os.environ`).
pub(super) fn is_environ(q: &str) -> bool {
    matches!(q, "os.environ" | "os.environb" | "posix.environ")
}

/// Whether a string literal names a credential file (or a browser's cookie/login store) as a
/// path: the name must start the literal or follow `/` or `~`, and end it or precede `/`, so a
/// log message mentioning ".pypirc" in prose does not count.
pub(super) fn is_credential_path(s: &str) -> bool {
    if s.len() > 4096 || !may_name_credentials(s) {
        return false;
    }
    let l = s.to_ascii_lowercase().replace('\\', "/");
    // (needle, whether anything may follow it)
    const NEEDLES: [(&str, bool); 12] = [
        (".aws/credentials", false),
        (".pypirc", false),
        (".ssh/id_", true),
        (".docker/config.json", false),
        (".git-credentials", false),
        ("login data", false),
        ("cookies.sqlite", false),
        ("logins.json", false),
        ("key4.db", false),
        ("cookies", false),
        ("network/cookies", false),
        ("default/cookies", false),
    ];
    let path_match = NEEDLES.iter().any(|(needle, open_end)| {
        l.match_indices(needle).any(|(i, _)| {
            let before = l[..i].chars().next_back();
            let after = l[i + needle.len()..].chars().next();
            let starts = matches!(before, None | Some('/' | '~'));
            let ends = *open_end || matches!(after, None | Some('/'));
            // A bare "cookies" only as the last component of a longer path.
            starts && ends && (*needle != "cookies" || (before == Some('/') && after.is_none()))
        })
    });
    path_match
        || (l.contains("select") && (l.contains("from cookies") || l.contains("from logins")))
}

/// Whether `s` holds a part of every needle of [`is_credential_path`] (ASCII case-insensitive):
/// the common literal holds none and is decided without the lowercased copy and the searches.
fn may_name_credentials(s: &str) -> bool {
    static PARTS: std::sync::OnceLock<aho_corasick::AhoCorasick> = std::sync::OnceLock::new();
    PARTS
        .get_or_init(|| {
            aho_corasick::AhoCorasick::builder()
                .ascii_case_insensitive(true)
                .build([
                    "credentials",
                    "pypirc",
                    "id_",
                    "config.json",
                    "login",
                    "cookies",
                    "key4",
                ])
                .unwrap_or_else(|e| panic!("credential parts: {e}"))
        })
        .is_match(s)
}

/// Why a literal's URL or host is shady, if it is, and whether the literal is a bare address or
/// host name without a scheme (shady only beside network code).
pub(super) fn shady_endpoint(s: &str) -> Option<(String, bool)> {
    if s.len() > 4096 {
        return None;
    }
    let l = s.to_ascii_lowercase();
    const SERVICES: [&str; 8] = [
        "webhook.site",
        ".ngrok-free.app",
        ".ngrok.io",
        ".ngrok.app",
        "api.telegram.org/bot",
        "discord.com/api/webhooks",
        "discordapp.com/api/webhooks",
        "pastebin.com",
    ];
    if let Some(n) = SERVICES.iter().find(|n| l.contains(**n)) {
        return Some((format!("names {}", n.trim_start_matches('.')), false));
    }
    for scheme in ["http://", "https://", "ftp://", "ws://", "wss://"] {
        let mut rest = l.as_str();
        while let Some(i) = rest.find(scheme) {
            let after = &rest[i + scheme.len()..];
            let host_end = after
                .find(|c: char| {
                    matches!(c, '/' | '?' | '#' | ':' | '{' | '}' | '"' | '\'') || c.is_whitespace()
                })
                .unwrap_or(after.len());
            let host = after[..host_end].rsplit('@').next().unwrap_or("");
            if let Some(why) = shady_host(host) {
                return Some((why, false));
            }
            rest = &after[host_end..];
        }
    }
    let bare = l.trim();
    if !bare.is_empty()
        && bare.len() <= 253
        && bare.contains('.')
        && bare
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-')
    {
        if let Some(ip) = parse_ipv4(bare) {
            return (!ip_is_benign(ip)).then(|| (format!("names the raw address {bare}"), true));
        }
        if bare.ends_with(".xyz") || bare.ends_with(".top") {
            // Bare, "frame.top" could be anything: a host only beside network code.
            return Some((format!("names the host {bare}"), true));
        }
    }
    None
}

fn shady_host(host: &str) -> Option<String> {
    if let Some(ip) = parse_ipv4(host) {
        return (!ip_is_benign(ip)).then(|| format!("is a URL to the raw address {host}"));
    }
    (host.ends_with(".xyz") || host.ends_with(".top")).then(|| format!("is a URL to {host}"))
}

fn parse_ipv4(s: &str) -> Option<[u8; 4]> {
    let mut out = [0u8; 4];
    let mut parts = s.split('.');
    for o in &mut out {
        let p = parts.next()?;
        if p.is_empty() || p.len() > 3 || !p.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        *o = p.parse().ok()?;
    }
    parts.next().is_none().then_some(out)
}

/// Loopback, private, link-local, unspecified and the well-known public resolvers (B5).
fn ip_is_benign(ip: [u8; 4]) -> bool {
    matches!(
        ip,
        [127, ..]
            | [10, ..]
            | [192, 168, ..]
            | [169, 254, ..]
            | [0, 0, 0, 0]
            | [1, 1, 1, 1]
            | [8, 8, 8, 8]
            | [8, 8, 4, 4]
            | [255, 255, 255, 255]
    ) || (ip[0] == 172 && (16..32).contains(&ip[1]))
}

/// Whether `path` is test or documentation code, where shady-looking URLs are fixtures (B5).
pub(super) fn is_test_or_doc_path(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let mut parts = lower.split('/').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        if !last
            && matches!(
                part,
                "test" | "tests" | "testing" | "docs" | "doc" | "examples"
            )
        {
            return true;
        }
        if last
            && (part.starts_with("test_") || part.ends_with("_test.py") || part == "conftest.py")
        {
            return true;
        }
    }
    false
}

/// The legacy bootstrap scripts old sdists carried at their root (`ez_setup.py`,
/// `distribute_setup.py`, zc.buildout's `bootstrap.py`): they download setuptools from the
/// package index and exec it, by design. Their download-and-exec is Medium, not High
/// (zope.interface 4.1.3 ships one); any other file doing it stays High.
pub(super) fn is_legacy_bootstrap(path: &str) -> bool {
    matches!(
        path.to_ascii_lowercase().as_str(),
        "ez_setup.py" | "distribute_setup.py" | "bootstrap.py" | "bootstrap-buildout.py"
    )
}

/// Messaging and paste platforms whose APIs legitimate libraries call (tqdm's telegram and
/// discord progress bars, chat bots): naming one beside network code is a signal (Medium), not
/// malware-shaped on its own; request-capture services, tunnels, raw addresses and throwaway
/// TLDs stay High.
pub(super) fn is_platform_api(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    [
        "api.telegram.org/bot",
        "discord.com/api/webhooks",
        "discordapp.com/api/webhooks",
        "pastebin.com",
    ]
    .iter()
    .any(|n| l.contains(n))
}
