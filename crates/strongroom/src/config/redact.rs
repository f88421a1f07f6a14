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
    ]
    .iter()
    .any(|w| n.contains(w))
}

/// `url` with the password of its userinfo and the values of secret query parameters replaced
/// by [`HIDDEN`]. Anything that is not a `scheme://` URL is returned unchanged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
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
                    Some((name, _)) if secret_param(name) => format!("{name}={HIDDEN}"),
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
