//! Reading one setting or one section from the merged key/value map: booleans, numbers, lists,
//! addresses and ranges, host names, and the account, safety, HTTP and database sections
//! (`Config::load_from` in `config` calls them in order).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use strongroom_core::trusted_proxies::IpRange;

use super::{AccountSettings, KeySource, Source};

pub(super) fn flatten(prefix: &str, v: &toml::Value, out: &mut BTreeMap<String, String>) {
    match v {
        toml::Value::Table(t) => {
            for (k, v) in t {
                let key = if prefix.is_empty() {
                    k.clone()
                } else {
                    format!("{prefix}.{k}")
                };
                flatten(&key, v, out);
            }
        }
        toml::Value::String(s) => {
            out.insert(prefix.to_owned(), s.clone());
        }
        other => {
            out.insert(prefix.to_owned(), other.to_string());
        }
    }
}

pub(super) fn parse_bool(key: &str, v: &str) -> anyhow::Result<bool> {
    match v.trim().to_ascii_lowercase().as_str() {
        "1" | "true" | "yes" | "on" => Ok(true),
        "0" | "false" | "no" | "off" => Ok(false),
        _ => bail!("{key}: expected true or false, got '{v}'"),
    }
}

/// `proxy.trusted_ips`: addresses and CIDR ranges, as a TOML list or comma-separated.
pub(super) fn parse_ips(key: &str, v: &str) -> anyhow::Result<Vec<IpRange>> {
    parse_list(key, v)?
        .iter()
        .map(|s| {
            s.parse::<IpRange>()
                .map_err(|e| anyhow::anyhow!("{key}: {e}"))
        })
        .collect()
}

/// The `db.*` settings.
pub(super) fn db_settings(
    get: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<strongroom_store::DbSettings> {
    let num = |k: &str| parse_u64(k, &get(k).unwrap_or_default());
    let pool_size = num("db.pool_size")?;
    if pool_size == 0 {
        bail!("db.pool_size: expected at least 1");
    }
    Ok(strongroom_store::DbSettings {
        pool_size: u32::try_from(pool_size).unwrap_or(u32::MAX),
        connect_timeout: std::time::Duration::from_secs(num("db.connect_timeout_seconds")?.max(1)),
        acquire_timeout: std::time::Duration::from_secs(num("db.acquire_timeout_seconds")?.max(1)),
        application_name: get("db.application_name").filter(|n| !n.trim().is_empty()),
    })
}

pub(super) fn parse_u64(key: &str, v: &str) -> anyhow::Result<u64> {
    v.trim()
        .replace('_', "")
        .parse::<u64>()
        .with_context(|| format!("{key}: expected a whole number, got '{v}'"))
}

/// Where the secrets key comes from: `secrets.key`, else `secrets.key_file`, else (SQLite only)
/// `<data>/secret.key`.
pub(super) fn key_source(
    values: &BTreeMap<&'static str, (String, Source)>,
    database: &str,
    data: &Path,
) -> anyhow::Result<KeySource> {
    let set = |k: &str| values.get(k).filter(|(v, _)| !v.trim().is_empty()).cloned();
    match (set("secrets.key"), set("secrets.key_file")) {
        (Some((_, a)), Some((_, b))) => {
            bail!("secrets.key ({a}) and secrets.key_file ({b}) are both set: give the key one way")
        }
        (Some((text, from)), None) => Ok(KeySource::Inline { text, from }),
        (None, Some((path, from))) => Ok(KeySource::File {
            path: PathBuf::from(path.trim()),
            from,
        }),
        (None, None) if database.starts_with("sqlite:") => Ok(KeySource::DefaultFile {
            path: data.join("secret.key"),
        }),
        (None, None) => Ok(KeySource::Missing),
    }
}

/// `public_host` is `public_url`'s host as `url_host` gives it.
pub(super) fn account_settings(
    get: &dyn Fn(&str) -> Option<String>,
    public_url: Option<&str>,
    public_host: Option<&str>,
    bind: &str,
) -> anyhow::Result<AccountSettings> {
    let num = |k: &str| parse_u64(k, &get(k).unwrap_or_default());
    let flag = |k: &str| parse_bool(k, &get(k).unwrap_or_default());
    let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    let smtp = match nonempty("smtp.host") {
        None => None,
        Some(host) => {
            let tls = match nonempty("smtp.tls").as_deref().unwrap_or("starttls") {
                "none" => strongroom_core::SmtpTls::None,
                "starttls" => strongroom_core::SmtpTls::StartTls,
                "tls" => strongroom_core::SmtpTls::Tls,
                other => bail!("smtp.tls: expected none, starttls or tls, got '{other}'"),
            };
            let default_port = match tls {
                strongroom_core::SmtpTls::Tls => 465,
                strongroom_core::SmtpTls::StartTls => 587,
                strongroom_core::SmtpTls::None => 25,
            };
            let port = match nonempty("smtp.port") {
                Some(p) => u16::try_from(parse_u64("smtp.port", &p)?)
                    .with_context(|| format!("smtp.port: out of range: {p}"))?,
                None => default_port,
            };
            Some(strongroom_core::SmtpSettings {
                host,
                port,
                tls,
                username: nonempty("smtp.username"),
                password: nonempty("smtp.password"),
            })
        }
    };
    let port = bind.rsplit_once(':').map_or("8080", |(_, p)| p);
    let webauthn_rp_id = nonempty("webauthn.rp_id")
        .or_else(|| public_host.map(str::to_owned))
        .unwrap_or_else(|| "localhost".into());
    let webauthn_origin = nonempty("webauthn.origin")
        .or_else(|| public_url.map(|u| u.trim_end_matches('/').to_owned()))
        .unwrap_or_else(|| format!("http://localhost:{port}"));
    let u32_of = |k: &str| -> anyhow::Result<u32> {
        u32::try_from(num(k)?).with_context(|| format!("{k}: out of range"))
    };
    Ok(AccountSettings {
        require_2fa: flag("require_2fa")?,
        rate_limits: flag("rate_limits")?,
        session_idle_minutes: num("session_idle_minutes")?,
        session_absolute_hours: num("session_absolute_hours")?,
        reauth_minutes: num("reauth_minutes")?,
        hibp_url: nonempty("hibp.url"),
        hibp_offline_dir: nonempty("hibp.offline_dir").map(PathBuf::from),
        smtp,
        mail_from: nonempty("smtp.from").unwrap_or_else(|| default_mail_from(public_host)),
        webauthn_rp_id,
        webauthn_origin,
        argon2_memory_kib: u32_of("password.argon2_memory_kib")?,
        argon2_iterations: u32_of("password.argon2_iterations")?,
        registration: strongroom_core::registration::Registration::from_config(
            &get("accounts.registration").unwrap_or_default(),
            &parse_list(
                "accounts.allowed_email_domains",
                &get("accounts.allowed_email_domains").unwrap_or_default(),
            )?,
        )
        .map_err(anyhow::Error::msg)?,
        unverified_address_hours: match num("accounts.unverified_address_hours")? {
            0 => bail!("accounts.unverified_address_hours must be at least 1"),
            n => n,
        },
    })
}

/// The default `From:`: `strongroom <strongroom@HOST>`, HOST being public_url's host, else this
/// machine's host name (as the kernel reports it), else `localhost`. A relay refuses mail
/// from a domain it does not know, and `localhost` reads as spam everywhere, so public_url
/// (or smtp.from) should be set wherever mail leaves the machine.
pub(super) fn default_mail_from(public_host: Option<&str>) -> String {
    let host = public_host.map(str::to_owned).or_else(|| {
        std::fs::read_to_string("/proc/sys/kernel/hostname")
            .ok()
            .map(|h| h.trim().to_ascii_lowercase())
            .filter(|h| {
                !h.is_empty()
                    && h.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
            })
    });
    format!(
        "strongroom <strongroom@{}>",
        host.as_deref().unwrap_or("localhost")
    )
}

/// A list: a TOML array (`["a", "b"]`, as in `strongroom.toml`) or comma-separated (`a,b`).
pub(crate) fn parse_list(key: &str, v: &str) -> anyhow::Result<Vec<String>> {
    let v = v.trim();
    if v.starts_with('[') {
        let t: toml::Table = toml::from_str(&format!("v = {v}"))
            .with_context(|| format!("{key}: expected a list of strings, got '{v}'"))?;
        return match t.get("v") {
            Some(toml::Value::Array(items)) => items
                .iter()
                .map(|i| match i {
                    toml::Value::String(s) => Ok(s.trim().to_owned()),
                    other => bail!("{key}: expected strings, got {other}"),
                })
                .collect(),
            _ => bail!("{key}: expected a list of strings, got '{v}'"),
        };
    }
    Ok(v.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect())
}

pub(super) fn safety_settings(
    get: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<strongroom_core::SafetySettings> {
    let num = |k: &str| parse_u64(k, &get(k).unwrap_or_default());
    let nonempty = |k: &str| get(k).filter(|v| !v.trim().is_empty());
    Ok(strongroom_core::SafetySettings {
        invitation_hours: num("ownership.invitation_hours")?,
        newcomer_days: num("ownership.newcomer_days")?,
        pending_hours: num("ownership.pending_hours")?,
        recovery_hold_hours: num("recovery.hold_hours")?,
        dormant_project_days: num("recovery.dormant_project_days")?,
        recovery_watch_days: num("recovery.watch_days")?,
        incident_lookback_days: num("recovery.incident_lookback_days")?,
        deleted_account_retention_days: num("retention.deleted_account_days")?,
        domain_check_interval_hours: num("domains.check_interval_hours")?,
        dns_resolver: nonempty("domains.resolver"),
        rdap_url: nonempty("domains.rdap_url"),
        domain_check: parse_bool("domains.check", &get("domains.check").unwrap_or_default())?,
        trusted_domains: parse_list(
            "domains.trusted",
            &get("domains.trusted").unwrap_or_default(),
        )?
        .iter()
        .map(|d| strongroom_core::domains::trusted::trusted_domain(d))
        .collect::<Result<_, _>>()
        .map_err(anyhow::Error::msg)?,
        max_unverify_share: strongroom_core::domains::breaker::parse_share(
            &get("domains.max_unverify_share").unwrap_or_default(),
        )
        .map_err(anyhow::Error::msg)?,
    })
}

/// `public_host` is `public_url`'s host as `url_host` gives it; `bind` names the address mail
/// links fall back to without `public_url`.
pub(super) fn http_settings(
    get: &dyn Fn(&str) -> Option<String>,
    public_host: Option<&str>,
    bind: &str,
) -> anyhow::Result<strongroom_core::settings::HttpSettings> {
    let num = |k: &str| parse_u64(k, &get(k).unwrap_or_default());
    let positive = |k: &str| -> anyhow::Result<u64> {
        match num(k)? {
            0 => bail!("{k}: must be at least 1"),
            n => Ok(n),
        }
    };
    let mut listed = Vec::new();
    for entry in get("http.allowed_hosts").unwrap_or_default().split(',') {
        let entry = entry.trim();
        if !entry.is_empty() {
            listed.push(host_name("http.allowed_hosts", entry)?);
        }
    }
    // Mail links (password resets, invitations, vetoes) come from public_url, else
    // http://<bind>, which a list without public_url's host would refuse with 421.
    if public_host.is_none() && !listed.is_empty() {
        bail!(
            "http.allowed_hosts is set but public_url is not: links in mail would name \
             http://{bind}, which the Host check would then refuse. Set public_url to the address \
             users reach (its host is always allowed), or unset http.allowed_hosts"
        );
    }
    let mut allowed_hosts: Vec<String> = public_host.map(str::to_owned).into_iter().collect();
    for h in listed {
        if !allowed_hosts.contains(&h) {
            allowed_hosts.push(h);
        }
    }
    Ok(strongroom_core::settings::HttpSettings {
        cache_max_bytes: num("cache.max_bytes")?,
        allowed_hosts,
        idle_timeout_secs: positive("http.idle_timeout_seconds")?,
        body_min_bytes: num("http.body_min_bytes")?,
        body_window_secs: positive("http.body_window_seconds")?,
        write_timeout_secs: positive("http.write_timeout_seconds")?,
        max_connections: positive("http.max_connections")?,
        max_connections_per_ip: positive("http.max_connections_per_ip")?,
        body_timeout_secs: positive("http.body_timeout_seconds")?,
        max_uploads_per_user: positive("http.max_uploads_per_user")?,
    })
}

/// A host name as the Host check compares it: lowercase, no trailing dot, IPv6 in brackets.
/// Ports are not part of it (the listener fixes the port).
pub(super) fn host_name(key: &str, raw: &str) -> anyhow::Result<String> {
    let bare = raw.trim().trim_end_matches('.');
    let inner = bare
        .strip_prefix('[')
        .and_then(|b| b.strip_suffix(']'))
        .unwrap_or(bare);
    if let Ok(v6) = inner.parse::<std::net::Ipv6Addr>() {
        return Ok(format!("[{v6}]"));
    }
    if bare.is_empty()
        || !bare
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    {
        bail!("{key}: '{raw}' is not a host name (give names or addresses without scheme or port)");
    }
    Ok(bare.to_ascii_lowercase())
}

/// The host of an `http(s)://[user@]host[:port][/...]` URL, as `host_name` gives it (lowercase,
/// no trailing dot, IPv6 in brackets): the one reading of `public_url`'s host, for the Host
/// allow-list, the default WebAuthn RP id and the default `From:` domain.
pub(super) fn url_host(key: &str, url: &str) -> anyhow::Result<String> {
    let bad = || anyhow::anyhow!("{key}: '{url}' has no valid host[:port] after the scheme");
    let rest = url.split_once("://").ok_or_else(bad)?.1;
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    let authority = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = match authority.strip_prefix('[') {
        Some(v6) => {
            let (inner, after) = v6.split_once(']').ok_or_else(bad)?;
            // only an IPv6 address goes in brackets
            inner.parse::<std::net::Ipv6Addr>().map_err(|_| bad())?;
            let port = match after {
                "" => None,
                p => Some(p.strip_prefix(':').ok_or_else(bad)?),
            };
            (format!("[{inner}]"), port)
        }
        None => match authority.split_once(':') {
            Some((h, p)) => (h.to_owned(), Some(p)),
            None => (authority.to_owned(), None),
        },
    };
    if port.is_some_and(|p| p.parse::<u16>().is_err()) {
        return Err(bad());
    }
    host_name(key, &host)
}

/// `images.*` and the test knob `testing.image_proxy_allow_loopback`.
pub(super) fn image_settings(
    get: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<strongroom_core::ImageSettings> {
    let value = |k: &str| get(k).unwrap_or_default();
    let positive = |k: &str| -> anyhow::Result<u64> {
        let n = parse_u64(k, &value(k))?;
        if n == 0 {
            anyhow::bail!("{k}: expected a number above 0");
        }
        Ok(n)
    };
    Ok(strongroom_core::ImageSettings {
        proxy: parse_bool("images.proxy", &value("images.proxy"))?,
        proxy_max_bytes: positive("images.proxy_max_bytes")?,
        proxy_timeout_secs: positive("images.proxy_timeout_seconds")?,
        allow_loopback: parse_bool(
            "testing.image_proxy_allow_loopback",
            &value("testing.image_proxy_allow_loopback"),
        )?,
    })
}

/// `upstream.*`: the gateway (issue 12). Each URL must be http(s); its userinfo becomes the
/// credentials (percent-decoded) and is removed from the URL; the URL gets a trailing slash.
pub(super) fn upstream_settings(
    get: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<strongroom_core::UpstreamSettings> {
    let value = |k: &str| get(k).unwrap_or_default();
    let positive = |k: &str| -> anyhow::Result<u64> {
        let n = parse_u64(k, &value(k))?;
        if n == 0 {
            anyhow::bail!("{k}: expected a number above 0");
        }
        Ok(n)
    };
    // each list item through its own parser; an item that does not parse names the key
    fn each<T, E: std::fmt::Display>(
        key: &str,
        v: &str,
        parse: impl Fn(&str) -> Result<T, E>,
    ) -> anyhow::Result<Vec<T>> {
        parse_list(key, v)?
            .iter()
            .map(|item| parse(item).map_err(|e| anyhow::anyhow!("{key}: {e}")))
            .collect()
    }
    let indexes = parse_list("upstream.url", &value("upstream.url"))?
        .iter()
        .map(|raw| upstream_index(raw))
        .collect::<anyhow::Result<Vec<_>>>()?;
    let private_patterns = each(
        "upstream.private_patterns",
        &value("upstream.private_patterns"),
        strongroom_protocol::NamePattern::new,
    )?;
    let name_watch_exclude = each(
        "upstream.name_watch_exclude",
        &value("upstream.name_watch_exclude"),
        strongroom_protocol::NamePattern::new,
    )?;
    let file_hosts = each(
        "upstream.file_hosts",
        &value("upstream.file_hosts"),
        strongroom_upstream::FileHost::parse,
    )?;
    let ca_bundle = get("upstream.ca_bundle")
        .filter(|v| !v.trim().is_empty())
        .map(|v| std::path::PathBuf::from(v.trim()));
    if let Some(p) = &ca_bundle {
        std::fs::metadata(p)
            .with_context(|| format!("upstream.ca_bundle: cannot read {}", p.display()))?;
    }
    Ok(strongroom_core::UpstreamSettings {
        client: strongroom_upstream::ClientSettings {
            indexes,
            timeout_secs: positive("upstream.timeout_seconds")?,
            ca_bundle,
            max_page_bytes: positive("upstream.max_page_bytes")?,
            file_hosts,
        },
        private_patterns,
        min_age_days: parse_u64("upstream.min_age_days", &value("upstream.min_age_days"))?,
        page_ttl_secs: parse_u64(
            "upstream.page_ttl_seconds",
            &value("upstream.page_ttl_seconds"),
        )?,
        cache_max_bytes: positive("upstream.cache_max_bytes")?,
        max_file_bytes: positive("upstream.max_file_bytes")?,
        new_fetches_per_minute: u32::try_from(positive("upstream.new_fetches_per_minute")?)
            .unwrap_or(u32::MAX),
        name_check_interval_hours: positive("upstream.name_check_interval_hours")?,
        name_checks_per_run: parse_u64(
            "upstream.name_checks_per_run",
            &value("upstream.name_checks_per_run"),
        )?,
        page_fetches_per_minute: u32::try_from(parse_u64(
            "upstream.page_fetches_per_minute",
            &value("upstream.page_fetches_per_minute"),
        )?)
        .unwrap_or(u32::MAX),
        pages_max_bytes: positive("upstream.pages_max_bytes")?,
        name_watch_exclude,
    })
}

/// One `upstream.url` entry: credentials out of the URL, a trailing slash in.
fn upstream_index(raw: &str) -> anyhow::Result<strongroom_upstream::UpstreamIndex> {
    let mut url = url::Url::parse(raw).with_context(|| {
        format!(
            "upstream.url: '{}' is not a URL",
            super::redact::redact_url(raw)
        )
    })?;
    if !matches!(url.scheme(), "http" | "https") || url.host_str().is_none() {
        bail!(
            "upstream.url: '{}' must be an http:// or https:// URL with a host",
            super::redact::redact_url(raw)
        );
    }
    if url.query().is_some() || url.fragment().is_some() {
        bail!(
            "upstream.url: '{}' must not have a query or fragment",
            super::redact::redact_url(raw)
        );
    }
    let decode = |s: &str| -> String {
        url::form_urlencoded::parse(format!("x={}", s.replace('+', "%2B")).as_bytes())
            .next()
            .map(|(_, v)| v.into_owned())
            .unwrap_or_default()
    };
    let username = (!url.username().is_empty()).then(|| decode(url.username()));
    let password = url.password().map(decode);
    let _ = url.set_username("");
    let _ = url.set_password(None);
    if !url.path().ends_with('/') {
        let path = format!("{}/", url.path());
        url.set_path(&path);
    }
    Ok(strongroom_upstream::UpstreamIndex {
        url: url.to_string(),
        username,
        password,
    })
}

/// `scan.*` and `osv.*`: the content scanner's hold threshold and this index's OSV id prefix
/// (issue 13). The prefix is letters, digits and `-`, and never `MAL` itself (ossf's own ids).
pub(super) fn scan_settings(
    get: &dyn Fn(&str) -> Option<String>,
) -> anyhow::Result<strongroom_core::ScanSettings> {
    let hold = get("scan.hold_score").unwrap_or_default();
    let hold_score = u32::try_from(parse_u64("scan.hold_score", &hold)?)
        .map_err(|_| anyhow::anyhow!("scan.hold_score: expected a number below 2^32"))?;
    let prefix = get("osv.id_prefix").unwrap_or_default();
    let prefix = prefix.trim();
    if prefix.is_empty()
        || prefix.len() > 40
        || !prefix
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-')
        || prefix.starts_with('-')
        || prefix.ends_with('-')
    {
        anyhow::bail!(
            "osv.id_prefix: expected letters, digits and '-' (at most 40), like STRONGROOM-MAL; got {prefix:?}"
        );
    }
    if prefix.eq_ignore_ascii_case("MAL") {
        anyhow::bail!(
            "osv.id_prefix: MAL is the shared malicious-packages database's own prefix; name this index, like ACME-MAL"
        );
    }
    if !prefix.to_ascii_uppercase().ends_with("-MAL") {
        anyhow::bail!(
            "osv.id_prefix: must end in -MAL (like ACME-MAL), so that tools reading the records, this index's own import among them, know them as malicious-package verdicts; got {prefix:?}"
        );
    }
    Ok(strongroom_core::ScanSettings {
        hold_score,
        osv_id_prefix: prefix.to_owned(),
    })
}
