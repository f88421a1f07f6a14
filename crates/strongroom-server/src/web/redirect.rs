//! `next=` targets: only paths on this site, as Warehouse's `is_safe_url` (no `//host`, no
//! backslashes, no schemes, no control or whitespace characters, also after percent-decoding).

/// `s` percent-encoded for a query value (`next=`).
pub(crate) fn encoded(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

/// The path to go to after a form, or `/` when `next` is missing or unsafe.
pub(crate) fn safe_next(next: Option<&str>) -> String {
    match next {
        Some(n) if is_safe_path(n) => n.to_owned(),
        _ => "/".to_owned(),
    }
}

fn is_safe_path(n: &str) -> bool {
    if n.is_empty() || n.len() > 2048 || !n.starts_with('/') {
        return false;
    }
    if n.chars()
        .any(|c| c.is_control() || c.is_whitespace() || c == '\\')
    {
        return false;
    }
    if n.starts_with("//") {
        return false;
    }
    // The same checks after one round of percent-decoding (`/%2F%2Fevil`, `/%5Cevil`, `%09`).
    let decoded: Vec<u8> = percent_decode(n.as_bytes());
    if decoded.starts_with(b"//")
        || decoded
            .iter()
            .any(|&b| b == b'\\' || b.is_ascii_control() || b == b' ')
    {
        return false;
    }
    true
}

fn percent_decode(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%'
            && let (Some(h), Some(l)) = (
                s.get(i + 1).copied().and_then(hex),
                s.get(i + 2).copied().and_then(hex),
            )
        {
            out.push(h * 16 + l);
            i += 3;
            continue;
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

fn hex(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'a'..=b'f' => Some(b - b'a' + 10),
        b'A'..=b'F' => Some(b - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn open_redirect_table() {
        for bad in [
            "//evil.com",
            "/\\evil.com",
            "/\t/evil.com",
            "///evil.com",
            "http:///evil.com",
            "https://evil.com",
            "%2F%2Fevil.com",
            "/%2F%2Fevil.com",
            "/%2f/evil.com",
            "/%5Cevil.com",
            "/%09/evil.com",
            "\u{1}/evil.com",
            "/\r\n/evil.com",
            "/a\nb",
            "javascript:alert(1)",
            "evil.com",
            "",
            " /x",
        ] {
            assert_eq!(safe_next(Some(bad)), "/", "{bad:?}");
        }
        for good in [
            "/",
            "/account/",
            "/projects/?q=a%2Fb",
            "/manage/account/tokens/",
        ] {
            assert_eq!(safe_next(Some(good)), good, "{good:?}");
        }
        assert_eq!(safe_next(None), "/");
    }
}
