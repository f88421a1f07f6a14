//! The organisation's own mail domains (`domains.trusted`): addresses at them, or at their
//! subdomains, are never looked up nor unverified by the domain check. The operator vouches for
//! them; a split-horizon or air-gapped resolver cannot take them away.

use crate::email_address::ascii_domain;

/// An entry of `domains.trusted` in the form addresses are compared in (IDNA, lower case).
pub fn trusted_domain(entry: &str) -> Result<String, String> {
    ascii_domain(entry.trim()).ok_or_else(|| {
        format!("domains.trusted: '{entry}' is not a domain name (write example.org: its subdomains are included)")
    })
}

/// The trusted entry that covers `domain` (an address's domain in IDNA form, lower case), if
/// any: the domain itself or a parent, compared label by label (`example.org` covers
/// `mail.example.org`, never `example.org.evil.test` or `notexample.org`).
pub fn covering<'a>(trusted: &'a [String], domain: &str) -> Option<&'a str> {
    trusted
        .iter()
        .find(|t| {
            domain == t.as_str()
                || domain
                    .strip_suffix(t.as_str())
                    .is_some_and(|r| r.ends_with('.'))
        })
        .map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subdomains_are_covered_lookalikes_are_not() {
        let t = vec![trusted_domain("Corp.Example").expect("ok")];
        assert_eq!(t, ["corp.example"]);
        assert_eq!(covering(&t, "corp.example"), Some("corp.example"));
        assert_eq!(covering(&t, "mail.corp.example"), Some("corp.example"));
        assert_eq!(covering(&t, "notcorp.example"), None);
        assert_eq!(covering(&t, "corp.example.evil.test"), None);
        assert_eq!(covering(&t, "example"), None);
        assert_eq!(
            trusted_domain("bücher.example").expect("idna"),
            "xn--bcher-kva.example"
        );
        for bad in ["", "localhost", "192.0.2.1", "a b.example", "%41.example"] {
            assert!(trusted_domain(bad).is_err(), "{bad}");
        }
    }
}
