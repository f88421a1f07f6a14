//! The kind of client behind a request, read from its user agent (issue 13's impact report):
//! the installers (pip, uv, poetry, pdm), the mirrors (bandersnatch; devpi, Nexus,
//! Artifactory and other caching proxies), browsers, and everything else. The ctx report
//! reasoned from exactly this split: a mirror reads every page and fetches every file once,
//! an installer reads one page and fetches what it resolved.
//!
//! Classification is a few prefix and substring checks on the user agent, without allocation
//! (it runs on the page and download paths). A user agent is the client's claim, never proof:
//! the report shows what clients said they were.

/// What kind of client sent a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ClientKind {
    /// pip (`pip/24.0 {"ci":null,...}`), and the tools that run it.
    Pip,
    /// uv (`uv/0.5.11 {...}`), including `uv pip`.
    Uv,
    /// Poetry (`poetry/1.8.3 ...`).
    Poetry,
    /// PDM (`pdm/2.20.1 ...`).
    Pdm,
    /// bandersnatch, the full mirror (`bandersnatch 6.5.0 (cpython ...)`).
    Bandersnatch,
    /// Another mirror or caching proxy: devpi, Nexus, Artifactory, proxpi, Pulp, pypicloud.
    Mirror,
    /// A web browser (`Mozilla/5.0 ... Chrome/...`, Firefox, Safari), crawlers excluded.
    Browser,
    /// Anything else: curl, scripts, crawlers, no user agent at all.
    Other,
}

/// Every kind, in the order reports show them.
pub const ALL: [ClientKind; 8] = [
    ClientKind::Pip,
    ClientKind::Uv,
    ClientKind::Poetry,
    ClientKind::Pdm,
    ClientKind::Bandersnatch,
    ClientKind::Mirror,
    ClientKind::Browser,
    ClientKind::Other,
];

/// Mirrors and caching proxies other than bandersnatch, by the product token that starts
/// their user agent (compared without case; the token ends at `/`, a space or the end).
const MIRRORS: &[&str] = &[
    "devpi-server",
    "devpi",
    "nexus",
    "artifactory",
    "proxpi",
    "pulp",
    "pulpcore",
    "pypicloud",
    "pypi-mirror",
    "python-pypi-mirror",
    "minirepo",
];

/// Words that mark a crawler dressed as a browser (`Mozilla/5.0 (compatible; Googlebot/2.1)`).
const CRAWLER_WORDS: &[&str] = &["bot", "crawler", "spider", "slurp"];

/// True when `haystack` contains `needle` (ASCII, case-insensitive).
fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    n.is_empty() || h.windows(n.len()).any(|w| w.eq_ignore_ascii_case(n))
}

/// The product token at the start of a user agent: up to `/`, a space or the end.
fn product(ua: &str) -> &str {
    let end = ua.find(['/', ' ']).unwrap_or(ua.len());
    &ua[..end]
}

impl ClientKind {
    /// The kind of the client that sent `user_agent` (none: [`ClientKind::Other`]).
    pub fn of(user_agent: Option<&str>) -> ClientKind {
        let Some(ua) = user_agent.map(str::trim_start) else {
            return ClientKind::Other;
        };
        let p = product(ua);
        // Installers name themselves first, followed by `/` and their version.
        if ua.as_bytes().get(p.len()) == Some(&b'/') {
            for (name, kind) in [
                ("pip", ClientKind::Pip),
                ("uv", ClientKind::Uv),
                ("poetry", ClientKind::Poetry),
                ("pdm", ClientKind::Pdm),
            ] {
                if p.eq_ignore_ascii_case(name) {
                    return kind;
                }
            }
        }
        if p.eq_ignore_ascii_case("bandersnatch") {
            return ClientKind::Bandersnatch;
        }
        if MIRRORS.iter().any(|m| p.eq_ignore_ascii_case(m)) {
            return ClientKind::Mirror;
        }
        if p.eq_ignore_ascii_case("mozilla")
            && ["firefox/", "chrome/", "safari/", "edg/", "gecko/", "opera"]
                .iter()
                .any(|w| contains_ignore_case(ua, w))
            && !CRAWLER_WORDS.iter().any(|w| contains_ignore_case(ua, w))
        {
            return ClientKind::Browser;
        }
        ClientKind::Other
    }

    /// The stored (and printed) word.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientKind::Pip => "pip",
            ClientKind::Uv => "uv",
            ClientKind::Poetry => "poetry",
            ClientKind::Pdm => "pdm",
            ClientKind::Bandersnatch => "bandersnatch",
            ClientKind::Mirror => "mirror",
            ClientKind::Browser => "browser",
            ClientKind::Other => "other",
        }
    }

    /// The stored word back (an unknown word: none).
    pub fn parse(s: &str) -> Option<ClientKind> {
        ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The index of this kind in [`ALL`].
    pub fn index(self) -> usize {
        self as usize
    }

    /// An installer (pip, uv, poetry, pdm): a download by one is likely an install.
    pub fn is_installer(self) -> bool {
        matches!(
            self,
            ClientKind::Pip | ClientKind::Uv | ClientKind::Poetry | ClientKind::Pdm
        )
    }

    /// A mirror or caching proxy: its downloads fan out to machines the log never sees.
    pub fn is_mirror(self) -> bool {
        matches!(self, ClientKind::Bandersnatch | ClientKind::Mirror)
    }
}

/// Serialised as its word (`"pip"`, `"bandersnatch"`...).
impl serde::Serialize for ClientKind {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl std::fmt::Display for ClientKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::ClientKind::{self, *};
    use super::*;

    fn kind(ua: &str) -> ClientKind {
        ClientKind::of(Some(ua))
    }

    #[test]
    fn installers_are_known_by_their_real_user_agents() {
        assert_eq!(
            kind(
                r#"pip/24.0 {"ci":null,"cpu":"x86_64","distro":{"name":"Ubuntu","version":"22.04"},"implementation":{"name":"CPython","version":"3.12.1"},"installer":{"name":"pip","version":"24.0"},"openssl_version":"OpenSSL 3.0.2 15 Mar 2022","python":"3.12.1","setuptools_version":"68.2.2","system":{"name":"Linux","release":"6.5.0"}}"#
            ),
            Pip
        );
        assert_eq!(
            kind(
                r#"uv/0.5.11 {"installer":{"name":"uv","version":"0.5.11"},"python":"3.12.1","implementation":{"name":"CPython","version":"3.12.1"},"distro":{"name":"Ubuntu","version":"22.04","id":"jammy","libc":{"lib":"glibc","version":"2.35"}},"system":{"name":"Linux","release":"6.5.0"},"cpu":"x86_64","openssl_version":null,"setuptools_version":null,"rustc_version":null,"ci":null}"#
            ),
            Uv
        );
        assert_eq!(
            kind("poetry/1.8.3 python/3.11.4 Linux/6.5.0-14-generic"),
            Poetry
        );
        assert_eq!(kind("pdm/2.20.1 CPython/3.12.1 Linux/6.5.0 x86_64"), Pdm);
        // pip's JSON names the installer, but the product token decides: a UA that only
        // mentions pip later is not pip.
        assert_eq!(kind(r#"python-requests/2.31.0 {"installer":"pip"}"#), Other);
        assert_eq!(kind("pipx/1.0"), Other);
        assert_eq!(kind("uvicorn/0.30"), Other);
    }

    #[test]
    fn mirrors_are_told_apart_from_installers() {
        assert_eq!(
            kind("bandersnatch 6.5.0 (cpython 3.11.4-final0, Linux x86_64) (aiohttp 3.9.5)"),
            Bandersnatch
        );
        assert_eq!(kind("bandersnatch/6.1.0"), Bandersnatch);
        assert_eq!(kind("devpi-server/6.10.0 (py3.11.4; linux)"), Mirror);
        assert_eq!(
            kind("Nexus/3.61.0-02 (OSS; Linux; 5.15.0; amd64; 17.0.8)"),
            Mirror
        );
        assert_eq!(kind("Artifactory/7.71.5 77105900"), Mirror);
        assert!(Bandersnatch.is_mirror() && Mirror.is_mirror() && !Pip.is_mirror());
        assert!(Uv.is_installer() && !Bandersnatch.is_installer() && !Browser.is_installer());
    }

    #[test]
    fn browsers_crawlers_and_tools() {
        assert_eq!(
            kind(
                "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36"
            ),
            Browser
        );
        assert_eq!(
            kind("Mozilla/5.0 (X11; Ubuntu; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0"),
            Browser
        );
        assert_eq!(
            kind(
                "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_4_1) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4.1 Safari/605.1.15"
            ),
            Browser
        );
        assert_eq!(
            kind(
                "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html) Chrome/124.0 Safari/537.36"
            ),
            Other
        );
        assert_eq!(kind("curl/8.5.0"), Other);
        assert_eq!(kind("Wget/1.21.4"), Other);
        assert_eq!(kind(""), Other);
        assert_eq!(ClientKind::of(None), Other);
    }

    #[test]
    fn words_round_trip_and_index_matches_all() {
        for (i, k) in ALL.into_iter().enumerate() {
            assert_eq!(ClientKind::parse(k.as_str()), Some(k));
            assert_eq!(k.index(), i);
        }
        assert_eq!(ClientKind::parse("PIP"), None);
    }
}
