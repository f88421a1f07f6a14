//! Value checks behind the metadata rules: e-mail addresses (like `email.utils.parseaddr`
//! plus `email_validator` without DNS), http(s) URLs (like Warehouse's
//! `http.is_valid_uri`), SPDX license-expression syntax, Python identifiers,
//! `Description-Content-Type` and `License-File` paths.

/// Pull the first address out of an RFC 822 address field, as `parseaddr` would:
/// `Name <a@b.c>` → `a@b.c`; `a@b.c (comment)` → `a@b.c`. `None` when there is none.
pub(crate) fn extract_address(field: &str) -> Option<String> {
    let mut without_comments = String::with_capacity(field.len());
    let mut depth = 0usize;
    for c in field.chars() {
        match c {
            '(' => depth += 1,
            ')' if depth > 0 => depth -= 1,
            _ if depth == 0 => without_comments.push(c),
            _ => {}
        }
    }
    let text = without_comments.trim();
    let address = if let Some(start) = text.find('<') {
        let rest = text.get(start + 1..)?;
        rest.split('>').next().unwrap_or(rest).trim().to_owned()
    } else {
        let first = text.split(',').next().unwrap_or(text).trim();
        first
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_owned()
    };
    let at_signs = address.matches('@').count();
    if address.is_empty() || at_signs > 1 || address.ends_with('@') {
        return None;
    }
    Some(address)
}

const SPECIAL_USE_TLDS: &[&str] = &["arpa", "invalid", "local", "localhost", "onion", "test"];

/// `email_validator.validate_email(address, check_deliverability=False)`: `Err` carries
/// its message.
pub(crate) fn check_email(address: &str) -> Result<(), String> {
    let Some((local, domain)) = address.rsplit_once('@') else {
        return Err("An email address must have an @-sign.".to_owned());
    };
    if local.is_empty() {
        return Err("There must be something before the @-sign.".to_owned());
    }
    if local.starts_with('"') {
        return Err("Quoting the part before the @-sign is not allowed here.".to_owned());
    }
    if local.starts_with('.') {
        return Err("An email address cannot start with a period.".to_owned());
    }
    if local.ends_with('.') {
        return Err(
            "An email address cannot have a period immediately before the @-sign.".to_owned(),
        );
    }
    if local.contains("..") || domain.contains("..") {
        return Err("An email address cannot have two periods in a row.".to_owned());
    }
    let bad_local: Vec<String> = local
        .chars()
        .filter(|c| {
            c.is_ascii() && !(c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~.".contains(*c))
        })
        .map(describe_char)
        .collect();
    if !bad_local.is_empty() {
        return Err(format!(
            "The email address contains invalid characters before the @-sign: {}.",
            bad_local.join(", ")
        ));
    }
    if domain.starts_with('[') {
        return Err("A bracketed IP address after the @-sign is not allowed here.".to_owned());
    }
    if domain.starts_with('.') {
        return Err(
            "An email address cannot have a period immediately after the @-sign.".to_owned(),
        );
    }
    if domain.ends_with('.') {
        return Err("An email address cannot end with a period.".to_owned());
    }
    if domain.starts_with('-') {
        return Err(
            "An email address cannot have a hyphen immediately after the @-sign.".to_owned(),
        );
    }
    if domain.ends_with('-') {
        return Err("An email address cannot end with a hyphen.".to_owned());
    }
    if domain.contains(".-") || domain.contains("-.") {
        return Err(
            "An email address cannot have a period and a hyphen next to each other.".to_owned(),
        );
    }
    if let Some(bad) = domain
        .chars()
        .find(|c| c.is_ascii() && !(c.is_ascii_alphanumeric() || *c == '-' || *c == '.'))
    {
        return Err(format!(
            "The part after the @-sign contains invalid characters: {}.",
            describe_char(bad)
        ));
    }
    if !domain.contains('.') {
        return Err("The part after the @-sign is not valid. It should have a period.".to_owned());
    }
    if let Some(label) = domain.split('.').find(|l| l.len() > 63) {
        let extra = label.len() - 63;
        let plural = if extra == 1 { "" } else { "s" };
        return Err(format!(
            "After the @-sign, periods cannot be separated by so many characters ({extra} character{plural} too many)."
        ));
    }
    let tld = domain.rsplit('.').next().unwrap_or(domain);
    if !tld.chars().last().is_some_and(char::is_alphabetic) {
        return Err(
            "The part after the @-sign is not valid. It is not within a valid top-level domain."
                .to_owned(),
        );
    }
    if SPECIAL_USE_TLDS.contains(&tld.to_ascii_lowercase().as_str()) {
        return Err(
            "The part after the @-sign is a special-use or reserved name that cannot be used with email."
                .to_owned(),
        );
    }
    Ok(())
}

fn describe_char(c: char) -> String {
    match c {
        ' ' => "SPACE".to_owned(),
        c if c.is_control() => format!("U+{:04X}", u32::from(c)),
        c => format!("'{c}'"),
    }
}

/// Warehouse's `is_valid_uri(url, require_authority=False)`: scheme `http`/`https`
/// (any case), and the scheme, authority, path and query made of valid RFC 3986 characters.
/// Like Warehouse, the fragment is not checked beyond control characters: real projects link
/// `https://matrix.to/#/#room:server` (aiohttp, yarl, multidict), which the index must accept.
pub(crate) fn is_valid_http_url(url: &str) -> bool {
    let Some((scheme, rest)) = url.split_once(':') else {
        return false;
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return false;
    }
    let (before_fragment, fragment) = rest.split_once('#').unwrap_or((rest, ""));
    if fragment.chars().any(char::is_control) || !valid_percent_escapes(before_fragment) {
        return false;
    }
    let (hier, query) = before_fragment
        .split_once('?')
        .unwrap_or((before_fragment, ""));
    if !query.chars().all(|c| is_pchar(c) || c == '/' || c == '?') {
        return false;
    }
    let path = if let Some(after) = hier.strip_prefix("//") {
        let end = after.find('/').unwrap_or(after.len());
        let (authority, path) = after.split_at(end);
        if !is_valid_authority(authority) {
            return false;
        }
        path
    } else {
        hier
    };
    path.chars().all(|c| is_pchar(c) || c == '/')
}

fn is_unreserved(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-._~".contains(c)
}

fn is_sub_delim(c: char) -> bool {
    "!$&'()*+,;=".contains(c)
}

fn is_pchar(c: char) -> bool {
    is_unreserved(c) || is_sub_delim(c) || c == '%' || c == ':' || c == '@'
}

fn valid_percent_escapes(s: &str) -> bool {
    let bytes = s.as_bytes();
    bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || (bytes.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && bytes.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
    })
}

fn is_valid_authority(authority: &str) -> bool {
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((user, host)) => (user, host),
        None => ("", authority),
    };
    if !userinfo
        .chars()
        .all(|c| is_unreserved(c) || is_sub_delim(c) || c == '%' || c == ':')
    {
        return false;
    }
    let (host, port) = if let Some(inner) = hostport.strip_prefix('[') {
        let Some((ip, after)) = inner.split_once(']') else {
            return false;
        };
        if ip.is_empty()
            || !ip
                .chars()
                .all(|c| c.is_ascii_hexdigit() || c == ':' || c == '.')
        {
            return false;
        }
        (None, after.strip_prefix(':').map_or(Some(after), Some))
    } else {
        match hostport.rsplit_once(':') {
            Some((h, p)) => (Some(h), Some(p)),
            None => (Some(hostport), None),
        }
    };
    if let Some(host) = host
        && !host
            .chars()
            .all(|c| is_unreserved(c) || is_sub_delim(c) || c == '%')
    {
        return false;
    }
    match port {
        None | Some("") => true,
        Some(p) => {
            p.bytes().all(|b| b.is_ascii_digit()) && p.parse::<u32>().is_ok_and(|n| n <= 65_535)
        }
    }
}

const PYTHON_KEYWORDS: &[&str] = &[
    "False", "None", "True", "and", "as", "assert", "async", "await", "break", "class", "continue",
    "def", "del", "elif", "else", "except", "finally", "for", "from", "global", "if", "import",
    "in", "is", "lambda", "nonlocal", "not", "or", "pass", "raise", "return", "try", "while",
    "with", "yield",
];

/// `str.isidentifier()` (Unicode letters and digits approximate XID_Start/XID_Continue).
pub(crate) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    chars.next().is_some_and(|c| c == '_' || c.is_alphabetic())
        && chars.all(|c| c == '_' || c.is_alphanumeric())
}

pub(crate) fn is_keyword(s: &str) -> bool {
    PYTHON_KEYWORDS.contains(&s)
}

/// packaging's `_process_import_names` message for one value, if invalid.
pub(crate) fn import_name_error(value: &str, field: &str) -> Option<String> {
    let (name, private) = match value.split_once(';') {
        Some((name, private)) => (name, Some(private)),
        None => (value, None),
    };
    let name = name.trim_end();
    for identifier in name.split('.') {
        if !is_identifier(identifier) {
            return Some(format!(
                "{} is invalid for '{field}'; {} is not a valid identifier",
                super::py_repr(name),
                super::py_repr(identifier)
            ));
        }
        if is_keyword(identifier) {
            return Some(format!(
                "{} is invalid for '{field}'; {} is a keyword",
                super::py_repr(name),
                super::py_repr(identifier)
            ));
        }
    }
    if private.is_some_and(|p| p.trim_start() != "private") {
        return Some(format!(
            "{} is invalid for '{field}'; the only valid option is 'private'",
            super::py_repr(value)
        ));
    }
    None
}

/// packaging's `_process_license_files` reason for one path, if invalid.
pub(crate) fn license_file_problem(path: &str) -> Option<&'static str> {
    let windows_absolute = {
        let b = path.as_bytes();
        (b.len() >= 3
            && b[0].is_ascii_alphabetic()
            && b[1] == b':'
            && (b[2] == b'/' || b[2] == b'\\'))
            || path.starts_with("\\\\")
            || path.starts_with("//")
    };
    if path.contains("..") {
        Some("parent directory indicators are not allowed")
    } else if path.contains('*') {
        Some("paths must be resolved")
    } else if path.starts_with('/') || windows_absolute {
        Some("paths must be relative")
    } else if path.contains('\\')
        || path.contains("//")
        || path.starts_with("./")
        || path.contains("/./")
        || path.ends_with('/')
        || path.ends_with("/.")
        || path == "."
    {
        Some("paths must use '/' delimiter")
    } else {
        None
    }
}

/// packaging's `_process_description_content_type` message, if invalid.
pub(crate) fn content_type_error(value: &str) -> Option<String> {
    const FIELD: &str = "'description-content-type'";
    let mut parts = value.split(';');
    let mime = parts.next().unwrap_or_default().trim().to_ascii_lowercase();
    if !["text/plain", "text/x-rst", "text/markdown"].contains(&mime.as_str()) {
        return Some(format!(
            "{FIELD} must be one of ['text/plain', 'text/x-rst', 'text/markdown'], not {}",
            super::py_repr(value)
        ));
    }
    let mut charset = "UTF-8".to_owned();
    let mut variant = "GFM".to_owned();
    for param in parts {
        let Some((key, val)) = param.split_once('=') else {
            continue;
        };
        let val = val.trim().trim_matches('"').to_owned();
        match key.trim().to_ascii_lowercase().as_str() {
            "charset" => charset = val,
            "variant" => variant = val,
            _ => {}
        }
    }
    if !charset.eq_ignore_ascii_case("utf-8") {
        return Some(format!(
            "{FIELD} can only specify the UTF-8 charset, not {}",
            super::py_repr(&charset)
        ));
    }
    if mime == "text/markdown" && variant != "GFM" && variant != "CommonMark" {
        return Some(format!(
            "valid Markdown variants for {FIELD} are ['GFM', 'CommonMark'], not {}",
            super::py_repr(&variant)
        ));
    }
    None
}

/// Syntax of an SPDX license expression (identifiers are not checked against the SPDX
/// list): `id[+] | LicenseRef-x | DocumentRef-x:LicenseRef-y`, `WITH`, `AND`, `OR`, parens.
pub(crate) fn is_valid_license_expression(expr: &str) -> bool {
    let spaced = expr.replace('(', " ( ").replace(')', " ) ");
    let tokens: Vec<&str> = spaced.split_whitespace().collect();
    let mut pos = 0;
    parse_or(&tokens, &mut pos, 0) && pos == tokens.len()
}

fn is_op(token: &str, op: &str) -> bool {
    token.eq_ignore_ascii_case(op)
}

fn parse_or(tokens: &[&str], pos: &mut usize, depth: usize) -> bool {
    if depth > 32 || !parse_and(tokens, pos, depth) {
        return false;
    }
    while tokens.get(*pos).is_some_and(|t| is_op(t, "OR")) {
        *pos += 1;
        if !parse_and(tokens, pos, depth) {
            return false;
        }
    }
    true
}

fn parse_and(tokens: &[&str], pos: &mut usize, depth: usize) -> bool {
    if !parse_term(tokens, pos, depth) {
        return false;
    }
    while tokens.get(*pos).is_some_and(|t| is_op(t, "AND")) {
        *pos += 1;
        if !parse_term(tokens, pos, depth) {
            return false;
        }
    }
    true
}

fn parse_term(tokens: &[&str], pos: &mut usize, depth: usize) -> bool {
    match tokens.get(*pos) {
        Some(&"(") => {
            *pos += 1;
            if !parse_or(tokens, pos, depth + 1) || tokens.get(*pos) != Some(&")") {
                return false;
            }
            *pos += 1;
            true
        }
        Some(token) if is_license_id(token) => {
            *pos += 1;
            if tokens.get(*pos).is_some_and(|t| is_op(t, "WITH")) {
                *pos += 1;
                let ok = tokens.get(*pos).is_some_and(|t| is_idstring(t));
                *pos += 1;
                return ok;
            }
            true
        }
        _ => false,
    }
}

fn is_idstring(s: &str) -> bool {
    !s.is_empty()
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !["AND", "OR", "WITH"].iter().any(|op| is_op(s, op))
}

fn is_license_id(token: &str) -> bool {
    if let Some((doc, lic)) = token.split_once(':') {
        let doc_ok = doc
            .get(..12)
            .is_some_and(|p| p.eq_ignore_ascii_case("DocumentRef-"))
            && doc.get(12..).is_some_and(is_idstring);
        return doc_ok && is_license_ref(lic);
    }
    is_license_ref(token) || is_idstring(token.strip_suffix('+').unwrap_or(token))
}

fn is_license_ref(token: &str) -> bool {
    token
        .get(..11)
        .is_some_and(|p| p.eq_ignore_ascii_case("LicenseRef-"))
        && token.get(11..).is_some_and(is_idstring)
}

/// Characters packaging treats as line boundaries in `Summary`.
pub(crate) fn has_line_boundary(s: &str) -> bool {
    s.contains([
        '\n', '\r', '\u{0b}', '\u{0c}', '\u{1c}', '\u{1d}', '\u{1e}', '\u{85}', '\u{2028}',
        '\u{2029}',
    ])
}
