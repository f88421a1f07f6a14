//! The one function that decides whether an upstream file is served: it has a sha256, its
//! filename names the project and a version, it is not blocked, no malicious-package record
//! hides it, and it is old enough (or allowed early: uploaded before an allow of its project or
//! version was granted). Pure: the caller brings the rules, the
//! advisories and the time.

use strongroom_protocol::NormalizedName;
use strongroom_protocol::filename::{DistFilename, name_matches_project};
use strongroom_protocol::simple::read::UpstreamFile;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::advisories::AdvisoryFilter;
use crate::upstream_rules::UpstreamRules;

/// What the filter is given besides the file.
#[derive(Debug, Clone, Copy)]
pub struct FilterContext<'a> {
    /// The admins' rules for the project.
    pub rules: &'a UpstreamRules,
    /// The malicious-package records naming the project.
    pub advisories: &'a AdvisoryFilter,
    /// Now (µs since the epoch, from `Services::clock`).
    pub now_micros: i64,
    /// `upstream.min_age_days` (0 = no cooldown).
    pub min_age_days: u64,
}

/// Why a file is left off a page and answers 404.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hidden {
    /// The upstream gave no sha256: strongroom could not check what it would keep.
    NoSha256,
    /// The filename does not parse, or names another project.
    Filename,
    /// Uploaded less than `upstream.min_age_days` ago (or no `upload-time`) and not covered by
    /// an allow (granted after its upload).
    TooNew,
}

/// The decision on one upstream file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileDecision {
    /// Served; the release's version (normalised, from the filename).
    Serve(String),
    /// Refused with a reason the client is told (blocked, malicious): left off pages, 403.
    Refused(String),
    /// Left off pages, 404.
    Hidden(Hidden),
}

/// The version `filename` names, when it is a distribution of `project`.
pub fn version_of(project: &NormalizedName, filename: &str) -> Option<String> {
    let parsed = DistFilename::parse(filename).ok()?;
    name_matches_project(parsed.name(), project).then(|| parsed.version().normalized())
}

/// Microseconds since the epoch of a PEP 700 `upload-time` (RFC 3339).
pub fn upload_micros(upload_time: &str) -> Option<i64> {
    let t = OffsetDateTime::parse(upload_time, &Rfc3339).ok()?;
    i64::try_from(t.unix_timestamp_nanos() / 1_000).ok()
}

/// Decide on `file` of `project`, in the contract's order: sha256, block, advisory, cooldown.
pub fn decide(
    project: &NormalizedName,
    file: &UpstreamFile,
    ctx: &FilterContext<'_>,
) -> FileDecision {
    let Some(sha256) = file.sha256.as_deref() else {
        return FileDecision::Hidden(Hidden::NoSha256);
    };
    let Some(version) = version_of(project, &file.filename) else {
        return FileDecision::Hidden(Hidden::Filename);
    };
    if let Some(reason) = ctx.rules.blocked(&version) {
        return FileDecision::Refused(reason.to_owned());
    }
    if let Some(reason) = ctx.advisories.hides(&version, Some(sha256)) {
        return FileDecision::Refused(reason);
    }
    if ctx.min_age_days > 0 {
        let min_age = i64::try_from(ctx.min_age_days)
            .unwrap_or(i64::MAX)
            .saturating_mul(86_400_000_000);
        let uploaded = file.upload_time.as_deref().and_then(upload_micros);
        let old_enough = uploaded.is_some_and(|at| at.saturating_add(min_age) <= ctx.now_micros);
        // An allow covers the files uploaded before it was granted, never a later one.
        if !old_enough && !ctx.rules.allowed_early(&version, uploaded) {
            return FileDecision::Hidden(Hidden::TooNew);
        }
    }
    FileDecision::Serve(version)
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = 86_400_000_000;

    fn file(filename: &str, sha: Option<&str>, upload: Option<&str>) -> UpstreamFile {
        UpstreamFile {
            filename: filename.into(),
            url: format!("https://files.example/{filename}"),
            sha256: sha.map(str::to_owned),
            requires_python: None,
            yanked: None,
            size: Some(10),
            upload_time: upload.map(str::to_owned),
            core_metadata: None,
            provenance: None,
        }
    }

    fn name() -> NormalizedName {
        NormalizedName::new("demo").expect("name")
    }

    fn at(s: &str) -> i64 {
        upload_micros(s).expect("time")
    }

    #[test]
    fn each_rule_hides_or_refuses_in_order() {
        let rules = UpstreamRules::default();
        let adv = AdvisoryFilter::default();
        let now = at("2026-01-31T00:00:00Z");
        let ctx = FilterContext {
            rules: &rules,
            advisories: &adv,
            now_micros: now,
            min_age_days: 0,
        };
        let sha = Some("ab".repeat(32));
        let good = file(
            "demo-1.0-py3-none-any.whl",
            sha.as_deref(),
            Some("2026-01-30T00:00:00Z"),
        );
        assert_eq!(
            decide(&name(), &good, &ctx),
            FileDecision::Serve("1.0".into())
        );
        // no sha256: never served, whatever else holds
        let unhashed = file(
            "demo-1.0-py3-none-any.whl",
            None,
            Some("2020-01-01T00:00:00Z"),
        );
        assert_eq!(
            decide(&name(), &unhashed, &ctx),
            FileDecision::Hidden(Hidden::NoSha256)
        );
        // a file of another project on the page, or a name that is no distribution
        for bad in [
            "other-1.0-py3-none-any.whl",
            "demo.exe",
            "../demo-1.0.tar.gz",
        ] {
            let f = file(bad, sha.as_deref(), None);
            assert_eq!(
                decide(&name(), &f, &ctx),
                FileDecision::Hidden(Hidden::Filename),
                "{bad}"
            );
        }
        // blocked versions (any spelling) and a blocked project are refused with the reason
        let blocked = UpstreamRules {
            blocked_versions: vec![("1".into(), "incident 7".into())],
            ..UpstreamRules::default()
        };
        let ctx_b = FilterContext {
            rules: &blocked,
            ..ctx
        };
        assert_eq!(
            decide(&name(), &good, &ctx_b),
            FileDecision::Refused("incident 7".into())
        );
        let project_blocked = UpstreamRules {
            project_blocked: Some("whole".into()),
            project_allowed: Some(now),
            ..UpstreamRules::default()
        };
        let ctx_p = FilterContext {
            rules: &project_blocked,
            min_age_days: 7,
            ..ctx
        };
        assert_eq!(
            decide(&name(), &good, &ctx_p),
            FileDecision::Refused("whole".into())
        );
    }

    #[test]
    fn the_cooldown_counts_from_the_upload_time_and_yields_to_an_allow() {
        let rules = UpstreamRules::default();
        let adv = AdvisoryFilter::default();
        let now = at("2026-01-31T00:00:00Z");
        let ctx = FilterContext {
            rules: &rules,
            advisories: &adv,
            now_micros: now,
            min_age_days: 7,
        };
        let sha = Some("cd".repeat(32));
        let old = file(
            "demo-1.0.tar.gz",
            sha.as_deref(),
            Some("2026-01-24T00:00:00.000000Z"),
        );
        let new = file(
            "demo-2.0.tar.gz",
            sha.as_deref(),
            Some("2026-01-24T00:00:01Z"),
        );
        let undated = file("demo-0.1.tar.gz", sha.as_deref(), None);
        let garbled = file("demo-0.2.tar.gz", sha.as_deref(), Some("yesterday"));
        assert_eq!(
            decide(&name(), &old, &ctx),
            FileDecision::Serve("1.0".into())
        );
        assert_eq!(
            decide(&name(), &new, &ctx),
            FileDecision::Hidden(Hidden::TooNew)
        );
        assert_eq!(
            decide(&name(), &undated, &ctx),
            FileDecision::Hidden(Hidden::TooNew)
        );
        assert_eq!(
            decide(&name(), &garbled, &ctx),
            FileDecision::Hidden(Hidden::TooNew)
        );
        // a day later the new one is old enough
        let later = FilterContext {
            now_micros: now + DAY,
            ..ctx
        };
        assert_eq!(
            decide(&name(), &new, &later),
            FileDecision::Serve("2.0".into())
        );
        // allowed early: that version only, or the whole project
        let allow_v = UpstreamRules {
            allowed_versions: vec![("2".into(), now)],
            ..UpstreamRules::default()
        };
        let ctx_v = FilterContext {
            rules: &allow_v,
            ..ctx
        };
        assert_eq!(
            decide(&name(), &new, &ctx_v),
            FileDecision::Serve("2.0".into())
        );
        assert_eq!(
            decide(&name(), &undated, &ctx_v),
            FileDecision::Hidden(Hidden::TooNew)
        );
        let allow_p = UpstreamRules {
            project_allowed: Some(now),
            ..UpstreamRules::default()
        };
        let ctx_p = FilterContext {
            rules: &allow_p,
            ..ctx
        };
        assert_eq!(
            decide(&name(), &new, &ctx_p),
            FileDecision::Serve("2.0".into())
        );
        // a file without an upload time is never covered, even by a whole-project allow
        assert_eq!(
            decide(&name(), &undated, &ctx_p),
            FileDecision::Hidden(Hidden::TooNew)
        );
        // no cooldown: undated files are served
        let off = FilterContext {
            min_age_days: 0,
            ..ctx
        };
        assert_eq!(
            decide(&name(), &undated, &off),
            FileDecision::Serve("0.1".into())
        );
    }

    /// F8 (red team, issue 12): an allow granted at T covers the files uploaded before T. A
    /// wheel the upstream adds to the allowed release afterwards, or a later release of an
    /// allowed project, waits out the cooldown; allowing again moves T.
    #[test]
    fn an_allow_covers_only_files_uploaded_before_it_was_granted() {
        let adv = AdvisoryFilter::default();
        let granted = at("2026-01-30T12:00:00Z");
        let sha = Some("ef".repeat(32));
        let listed = file(
            "demo-2.0-py3-none-any.whl",
            sha.as_deref(),
            Some("2026-01-30T00:00:00Z"),
        );
        let added = file(
            "demo-2.0-py3-none-manylinux_2_17_x86_64.whl",
            sha.as_deref(),
            Some("2026-01-30T18:00:00Z"),
        );
        let later_release = file(
            "demo-3.0-py3-none-any.whl",
            sha.as_deref(),
            Some("2026-01-30T18:00:00Z"),
        );
        let at_grant = file(
            "demo-2.0.tar.gz",
            sha.as_deref(),
            Some("2026-01-30T12:00:00Z"),
        );
        for rules in [
            UpstreamRules {
                allowed_versions: vec![("2".into(), granted)],
                ..UpstreamRules::default()
            },
            UpstreamRules {
                project_allowed: Some(granted),
                ..UpstreamRules::default()
            },
        ] {
            let ctx = FilterContext {
                rules: &rules,
                advisories: &adv,
                now_micros: at("2026-01-31T00:00:00Z"),
                min_age_days: 7,
            };
            assert_eq!(
                decide(&name(), &listed, &ctx),
                FileDecision::Serve("2.0".into()),
                "{rules:?}"
            );
            for f in [&added, &later_release, &at_grant] {
                assert_eq!(
                    decide(&name(), f, &ctx),
                    FileDecision::Hidden(Hidden::TooNew),
                    "{} under {rules:?}",
                    f.filename
                );
            }
            // once old enough, the added file is served like any other
            let week_on = FilterContext {
                now_micros: at("2026-02-06T18:00:00Z"),
                ..ctx
            };
            assert_eq!(
                decide(&name(), &added, &week_on),
                FileDecision::Serve("2.0".into())
            );
        }
        // allowing again (a new grant time) covers what was uploaded by then
        let regranted = UpstreamRules {
            allowed_versions: vec![("2".into(), at("2026-01-30T19:00:00Z"))],
            ..UpstreamRules::default()
        };
        let ctx = FilterContext {
            rules: &regranted,
            advisories: &adv,
            now_micros: at("2026-01-31T00:00:00Z"),
            min_age_days: 7,
        };
        assert_eq!(
            decide(&name(), &added, &ctx),
            FileDecision::Serve("2.0".into())
        );
    }
}
