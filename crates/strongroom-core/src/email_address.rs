//! The one form an email address is stored, compared, checked against the allowed domains and
//! mailed in: NFKC, default-ignorable code points removed, the domain in its ASCII (IDNA) form
//! in lower case. Every door that takes an address (registration, adding an address, `user
//! create`, invitations, the password-reset lookup) goes through [`canonical_address`], so
//! `a@ｅxample.org`, `a@exa\u{ad}mple.org`, `a@example\u{3002}org` and `a@example.org\u{200b}` are
//! the same address as `a@example.org`, and a taken one cannot be registered again in disguise.
//! The local part keeps its case (the mailbox owner's business); uniqueness compares it in
//! lower case, as before.

use unicode_normalization::UnicodeNormalization;

use crate::CoreError;

/// Longest address accepted (the SMTP path limit).
const MAX_LEN: usize = 254;

/// Whether `c` is a Unicode default-ignorable code point (DerivedCoreProperties.txt,
/// `Default_Ignorable_Code_Point`): invisible, and dropped when an address is canonicalised.
pub fn is_default_ignorable(c: char) -> bool {
    matches!(c as u32,
        0x00AD | 0x034F | 0x061C | 0x115F..=0x1160 | 0x17B4..=0x17B5 | 0x180B..=0x180F
        | 0x200B..=0x200F | 0x202A..=0x202E | 0x2060..=0x206F | 0x3164 | 0xFE00..=0xFE0F
        | 0xFEFF | 0xFFA0 | 0xFFF0..=0xFFF8 | 0x1BCA0..=0x1BCA3 | 0x1D173..=0x1D17A
        | 0xE0000..=0xE0FFF)
}

/// The canonical form of a typed address, or the page's refusal. Refused: no `@` or more than
/// one, an empty local part, spaces or control characters, a domain that is not a dotted DNS name
/// (IP literals, ports, percent escapes, empty labels), and anything IDNA refuses.
pub fn canonical_address(typed: &str) -> Result<String, CoreError> {
    let bad = || {
        CoreError::Invalid(format!(
            "The email address '{}' isn't valid. Try again.",
            typed.trim()
        ))
    };
    let cleaned: String = typed
        .trim()
        .chars()
        .filter(|c| !is_default_ignorable(*c))
        .nfkc()
        .filter(|c| !is_default_ignorable(*c))
        .collect();
    if cleaned.len() > MAX_LEN || cleaned.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad());
    }
    let (local, domain) = cleaned.split_once('@').ok_or_else(bad)?;
    if local.is_empty() || domain.contains('@') {
        return Err(bad());
    }
    let domain = ascii_domain(domain).ok_or_else(bad)?;
    let out = format!("{local}@{domain}");
    if out.len() > MAX_LEN {
        return Err(bad());
    }
    Ok(out)
}

/// A domain in its ASCII (IDNA) form, lower case, without a trailing dot; `None` unless it is a
/// dotted DNS name. ASCII other than letters, digits, `.` and `-` is refused before IDNA sees it
/// (which would percent-decode, or take an IP address).
pub fn ascii_domain(domain: &str) -> Option<String> {
    let plain = !domain.is_empty()
        && domain
            .chars()
            .all(|c| !c.is_ascii() || c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if !plain {
        return None;
    }
    let d = match url::Host::parse(domain).ok()? {
        url::Host::Domain(d) => d.to_ascii_lowercase(),
        _ => return None,
    };
    let d = d.strip_suffix('.').unwrap_or(&d).to_owned();
    let labels_ok = d.split('.').count() >= 2
        && d.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        });
    (labels_ok && d.len() <= 253).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn disguised_forms_of_one_address_are_the_same_address() {
        for typed in [
            "a@example.org",
            "a@EXAMPLE.ORG",
            " a@example.org ",
            "a@example.org.",
            "a@\u{ff45}xample.org",  // full-width e
            "a@exa\u{ad}mple.org",   // soft hyphen
            "a@example.org\u{200b}", // zero-width space
            "a@ex\u{200d}ample.org", // zero-width joiner
            "a@example\u{3002}org",  // ideographic full stop
            "a@example\u{ff0e}org",  // full-width full stop
            "\u{ff41}@example.org",  // full-width a in the local part
            "a\u{2060}@example.org", // word joiner
            "a@\u{202e}example.org", // bidi override
        ] {
            assert_eq!(
                canonical_address(typed).ok().as_deref(),
                Some("a@example.org"),
                "{typed:?}"
            );
        }
        assert_eq!(
            canonical_address("Ann.Lee@Bücher.Example").ok().as_deref(),
            Some("Ann.Lee@xn--bcher-kva.example"),
            "the local part keeps its case, the domain is IDNA in lower case"
        );
    }

    #[test]
    fn what_is_not_an_address_at_a_dns_name_is_refused() {
        for bad in [
            "",
            "no-at-sign",
            "@example.org",
            "a@",
            "a@org",
            "a@b@example.org",
            "a@evil.test\u{ff20}example.org", // full-width @: two after NFKC
            "\"a@evil.test\"@example.org",
            "a@[127.0.0.1]",
            "a@127.0.0.1",
            "a@example%2eorg",
            "a@example.org:25",
            "a@example..org",
            "a@.example.org",
            "a@-example.org",
            "a b@example.org",
            "a@exa mple.org",
            "a\n@example.org",
            "a@xn--example-.org",
        ] {
            assert!(canonical_address(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.org", "a".repeat(250));
        assert!(canonical_address(&long).is_err());
    }
}
