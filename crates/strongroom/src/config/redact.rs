//! Hiding secrets in values shown to people (`config show`, `serve`'s start lines, errors): the
//! password of a URL's userinfo and every query parameter that names a secret.

/// What a hidden secret is shown as.
pub(crate) const HIDDEN: &str = "********";

/// Whether a query parameter's name says its value is a secret (`password`, `sslpassword`,
/// `secret`, `token`, `key`, `access_token`, `sslkey_password`, ...; any case).
fn secret_param(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    let n = n.trim();
    [
        "password",
        "passwd",
        "pwd",
        "secret",
        "token",
        "key",
        "credential",
        "auth",
        // presigned URLs: X-Amz-Signature, sig, signature
        "sig",
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// A query value percent-decoded (`+` as space), for looking inside it.
fn decode(v: &str) -> String {
    let b = v.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (b[i], hex) {
            (b'%', Some(byte)) => {
                out.push(byte);
                i += 3;
                continue;
            }
            (b'+', _) => out.push(b' '),
            (c, _) => out.push(c),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Whether `text` holds a `name=value` assignment whose name says it is a secret
/// (`-c password=x` in libpq's `options`, `host=h password=x` in a key/value DSN).
fn holds_secret_assignment(text: &str) -> bool {
    text.split(|c: char| c.is_whitespace() || matches!(c, '&' | ';' | ','))
        .filter_map(|piece| piece.split_once('='))
        .any(|(name, _)| secret_param(name))
}

/// `text` that is not a URL with the value of every secret `name=value` pair hidden (a
/// key/value DSN: `host=h password=x` → `host=h password=********`).
fn redact_pairs(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut hiding = false;
    for (i, piece) in text.split(' ').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        match piece.split_once('=') {
            Some((name, _)) if secret_param(name) => {
                out.push_str(&format!("{name}={HIDDEN}"));
                // a quoted value may go on past a space: hide up to the closing quote
                hiding = piece.split_once('=').is_some_and(|(_, v)| {
                    v.starts_with('\'') && (v.len() == 1 || !v.ends_with('\''))
                });
            }
            _ if hiding => {
                out.push_str(HIDDEN);
                hiding = !piece.ends_with('\'');
            }
            _ => out.push_str(piece),
        }
    }
    out
}

/// `url` with the password of its userinfo and the values of secret query parameters (by
/// name, or holding a secret assignment once decoded) replaced by [`HIDDEN`]. Text that is not a
/// `scheme://` URL has the values of its secret `name=value` pairs hidden.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return redact_pairs(url);
    };
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(end);
    let authority = match authority.rsplit_once('@') {
        Some((cred, host)) => match cred.split_once(':') {
            Some((user, _password)) => format!("{user}:{HIDDEN}@{host}"),
            None => authority.to_owned(),
        },
        None => authority.to_owned(),
    };
    let (before_fragment, fragment) = match tail.split_once('#') {
        Some((b, f)) => (b, Some(f)),
        None => (tail, None),
    };
    let tail = match before_fragment.split_once('?') {
        Some((path, query)) => {
            let params: Vec<String> = query
                .split('&')
                .map(|pair| match pair.split_once('=') {
                    Some((name, value))
                        if secret_param(name) || holds_secret_assignment(&decode(value)) =>
                    {
                        format!("{name}={HIDDEN}")
                    }
                    _ => pair.to_owned(),
                })
                .collect();
            format!("{path}?{}", params.join("&"))
        }
        None => before_fragment.to_owned(),
    };
    match fragment {
        Some(f) => format!("{scheme}://{authority}{tail}#{f}"),
        None => format!("{scheme}://{authority}{tail}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_passwords_are_hidden() {
        assert_eq!(
            redact_url("postgres://u:pw@h/db"),
            "postgres://u:********@h/db"
        );
        // a password holding '@' (unencoded) does not leak its tail
        assert_eq!(
            redact_url("postgres://u:p@ss@h:5432/db"),
            "postgres://u:********@h:5432/db"
        );
        assert_eq!(redact_url("postgres://u@h/db"), "postgres://u@h/db");
        // an '@' in the path is not userinfo
        assert_eq!(redact_url("sqlite:///data/a@b.db"), "sqlite:///data/a@b.db");
    }

    #[test]
    fn secret_query_parameters_are_hidden_whatever_their_case() {
        assert_eq!(
            redact_url("postgres://u@h/db?password=hunter2"),
            "postgres://u@h/db?password=********"
        );
        assert_eq!(
            redact_url("postgres://u@h/db?sslmode=require&SSLPassword=x&application_name=a"),
            "postgres://u@h/db?sslmode=require&SSLPassword=********&application_name=a"
        );
        assert_eq!(
            redact_url("sqlite:///srv/sr.db?key=abc&mode=rwc"),
            "sqlite:///srv/sr.db?key=********&mode=rwc"
        );
        for name in ["secret", "Token", "access_token", "api_key", "KEY"] {
            let shown = redact_url(&format!("https://h/x?{name}=s3cr3t#frag"));
            assert!(!shown.contains("s3cr3t"), "{shown}");
            assert!(shown.ends_with("#frag"), "{shown}");
        }
        assert_eq!(
            redact_url("postgres://a:b@h/db?password=c"),
            "postgres://a:********@h/db?password=********"
        );
    }

    /// Gaps the red team found: a presigned endpoint's signature, a password inside libpq's
    /// percent-encoded `options`, and a key/value DSN (not a URL) echoed whole in an error.
    #[test]
    fn signatures_encoded_assignments_and_key_value_dsns_are_hidden() {
        let shown = redact_url("https://s3.example/b?X-Amz-Signature=SIG1&X-Amz-Date=20260101");
        assert!(
            !shown.contains("SIG1") && shown.contains("X-Amz-Date=20260101"),
            "{shown}"
        );
        assert!(!redact_url("https://h/x?sig=SIG2").contains("SIG2"));
        let shown = redact_url("postgres://u@h/db?options=-c%20password%3DOPTPW&sslmode=require");
        assert!(
            !shown.contains("OPTPW") && shown.contains("sslmode=require"),
            "{shown}"
        );
        assert!(!redact_url("postgres://u@h/db?options=-c+password%3dOPTPW").contains("OPTPW"));
        assert_eq!(
            redact_url("host=db.example password=KVPW dbname=sr"),
            "host=db.example password=******** dbname=sr"
        );
        let shown = redact_url("host=h password='two words' user=u");
        assert!(
            !shown.contains("two") && !shown.contains("words") && shown.contains("user=u"),
            "{shown}"
        );
        assert_eq!(redact_url("%zz%4"), "%zz%4");
        assert_eq!(decode("a%3Db%2"), "a=b%2");
    }

    #[test]
    fn plain_values_are_unchanged() {
        for v in [
            "info",
            "s3://bucket",
            "http://minio:9000",
            "postgres://h/db?sslmode=require",
        ] {
            assert_eq!(redact_url(v), v);
        }
    }
}
