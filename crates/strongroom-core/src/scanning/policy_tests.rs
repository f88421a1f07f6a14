//! The scan policy, pure: the decision (weights, first release, new behaviour, diff in words,
//! threshold), the typosquat and placeholder helpers, the previous release's capabilities.

use std::collections::{BTreeMap, BTreeSet};

use strongroom_scan::{ArchiveScan, Capability, Finding, Rule, Severity};
use strongroom_store::file_scans::PreviousRelease;

use super::policy::*;

pub(super) fn caps(files: &[(&str, &[Capability])]) -> ArchiveScan {
    ArchiveScan {
        capabilities: files
            .iter()
            .map(|(p, c)| ((*p).to_owned(), c.iter().copied().collect()))
            .collect(),
        ..ArchiveScan::default()
    }
}

fn previous(version: &str, files: &[(&str, &[Capability])]) -> Option<Previous> {
    Some(Previous {
        version: version.into(),
        capabilities: caps(files).capabilities,
        rules: BTreeMap::new(),
    })
}

fn finding(rule: Rule, severity: Severity) -> Finding {
    Finding {
        rule,
        severity,
        path: "stagedpkg/__init__.py".into(),
        line: Some(15),
        snippet: "report(os.environ.get(\"CI_JOB_TOKEN\"))".into(),
        message: String::new(),
    }
}

#[test]
fn a_behaviour_new_to_the_project_holds_a_release_with_the_same_capabilities() {
    // RT13-02, staged: 0.1 reads a proxy variable beside `requests`; 0.2 has the same
    // capabilities and passes a token to a function that posts it (a medium M1 finding).
    let mut scan = caps(&[("stagedpkg/__init__.py", &[Env, Net])]);
    scan.findings
        .push(finding(Rule::EnvExfiltration, Severity::Medium));
    let prev = previous("0.1", &[("stagedpkg/__init__.py", &[Env, Net])]);
    let d = decide(&scan, &ctx("0.2", prev.clone()));
    assert!(d.new_kinds.is_empty());
    assert_eq!(
        d.new_behaviours,
        BTreeMap::from([(Rule::EnvExfiltration, Severity::Medium)])
    );
    assert_eq!(d.score, 4 + NEW_BEHAVIOUR_WEIGHT);
    let reason = d.hold.expect("held at the default threshold");
    assert!(
        reason.contains("new behaviour since 0.1: SR-M1-env-exfiltration (medium) (+6 each)"),
        "{reason}"
    );
    // The same finding in the previous release: its baseline, nothing new.
    let mut same = prev.clone().expect("previous");
    same.rules.insert(Rule::EnvExfiltration, Severity::Medium);
    let d = decide(&scan, &ctx("0.2", Some(same.clone())));
    assert!(d.new_behaviours.is_empty() && d.hold.is_none(), "{d:?}");
    assert_eq!(d.score, 4);
    // Worse than before (low → medium) is new behaviour again.
    same.rules.insert(Rule::EnvExfiltration, Severity::Low);
    let d = decide(&scan, &ctx("0.2", Some(same)));
    assert_eq!(d.new_behaviours.len(), 1);
    // A first release is scored on its findings alone.
    let d = decide(&scan, &ctx("0.1", None));
    assert!(d.new_behaviours.is_empty() && d.hold.is_none());
}

#[test]
fn only_behaviour_rules_at_medium_or_worse_count_as_new_behaviour() {
    let prev = previous("1.0", &[]);
    for (rule, sev, counts) in [
        (Rule::EnvExfiltration, Severity::Low, false),
        (Rule::ShadyEndpoint, Severity::Medium, false),
        (Rule::Obfuscation, Severity::Medium, false),
        (Rule::NativeBinary, Severity::Info, false),
        (Rule::DecodeExec, Severity::Medium, true),
        (Rule::CredentialTheft, Severity::High, true),
        (Rule::BundledBinary, Severity::Medium, true),
    ] {
        let mut scan = ArchiveScan::default();
        scan.findings.push(finding(rule, sev));
        let d = decide(&scan, &ctx("1.1", prev.clone()));
        assert_eq!(!d.new_behaviours.is_empty(), counts, "{rule} {sev:?}");
    }
}

fn ctx(version: &str, previous: Option<Previous>) -> Context {
    Context {
        version: version.into(),
        previous,
        hold_score: 10,
        ..Context::default()
    }
}

use Capability::{
    Encoding as Enc, ExecutablePth as Pth, FileWrite as Write_, ProcessSpawn as Proc,
};
use Capability::{EnvironmentRead as Env, Network as Net};

#[test]
fn a_first_release_is_scored_on_its_findings_alone() {
    let scan = caps(&[("ctx.py", &[Env, Enc, Net, Proc])]);
    let d = decide(&scan, &ctx("0.1", None));
    assert_eq!(d.score, 0);
    assert!(d.new_kinds.is_empty() && d.diff.is_none() && d.hold.is_none());
}

#[test]
fn new_dangerous_capabilities_in_a_file_hold_the_release_with_the_diff_in_words() {
    let scan = caps(&[("ctx.py", &[Write_, Env, Enc, Net])]);
    let d = decide(
        &scan,
        &ctx("0.2.2", previous("0.1.2", &[("ctx.py", &[Write_])])),
    );
    // Encoding is not a dangerous kind: environment reads and network are.
    assert_eq!(d.new_kinds, BTreeSet::from([Env, Net]));
    assert_eq!(d.score, 2 * NEW_CAPABILITY_WEIGHT);
    assert_eq!(
        d.diff_words.as_deref(),
        Some("0.2.2 adds network, environment-read, encoding to ctx.py, which 0.1.2 did not have")
    );
    let reason = d.hold.expect("held");
    assert!(
        reason.contains("score 10 reached the hold score 10"),
        "{reason}"
    );
    assert!(
        reason.contains("to ctx.py, which 0.1.2 did not have"),
        "{reason}"
    );
    assert!(
        reason.contains("new capabilities: network, environment-read"),
        "{reason}"
    );
    // The same capabilities in the previous release (another file): nothing new.
    let d = decide(
        &scan,
        &ctx(
            "0.2.2",
            previous("0.1.2", &[("other.py", &[Env, Net, Write_])]),
        ),
    );
    assert!(d.new_kinds.is_empty());
    assert!(d.hold.is_none());
    assert!(d.diff_words.is_some(), "ctx.py still gained them");
}

#[test]
fn the_threshold_the_extras_and_zero_turning_holding_off() {
    let scan = caps(&[("a.py", &[Net])]);
    let one_new = decide(&scan, &ctx("2", previous("1", &[])));
    assert_eq!(one_new.score, NEW_CAPABILITY_WEIGHT);
    assert!(one_new.hold.is_none(), "below the threshold");
    // Dormant and watched alone never hold; with a change they do.
    let quiet = Context {
        dormant_days: Some(365),
        watched: Some("recovered 2 days ago".into()),
        ..ctx("2", previous("1", &[("a.py", &[Net])]))
    };
    let d = decide(&scan, &quiet);
    assert_eq!(d.score, DORMANT_WEIGHT + WATCHED_WEIGHT);
    assert!(d.hold.is_none());
    let d = decide(
        &scan,
        &Context {
            previous: previous("1", &[]),
            ..quiet.clone()
        },
    );
    assert_eq!(
        d.score,
        NEW_CAPABILITY_WEIGHT + DORMANT_WEIGHT + WATCHED_WEIGHT
    );
    let reason = d.hold.expect("held");
    assert!(
        reason.contains("no release for more than 365 days"),
        "{reason}"
    );
    assert!(reason.contains("recovered 2 days ago"), "{reason}");
    // A new executable .pth counts twice: new kind and the .pth itself.
    let pth = caps(&[("zzz.pth", &[Pth])]);
    let d = decide(&pth, &ctx("2", previous("1", &[])));
    assert_eq!(d.score, NEW_CAPABILITY_WEIGHT + EXECUTABLE_PTH_WEIGHT);
    assert!(d.hold.expect("held").contains("executable .pth: zzz.pth"));
    // A first release with a .pth (setuptools' distutils-precedence.pth) is not held.
    assert!(decide(&pth, &ctx("1", None)).hold.is_none());
    // 0: never hold.
    let off = Context {
        hold_score: 0,
        ..ctx("2", previous("1", &[]))
    };
    let d = decide(&caps(&[("a.py", &[Net, Env, Proc])]), &off);
    assert_eq!(d.score, 3 * NEW_CAPABILITY_WEIGHT);
    assert!(d.hold.is_none());
    // The typosquat profile alone reaches the default threshold.
    let d = decide(
        &ArchiveScan::default(),
        &Context {
            typosquat_of: Some("requests".into()),
            ..ctx("0.0.1", None)
        },
    );
    assert_eq!(d.score, TYPOSQUAT_WEIGHT);
    assert!(d.hold.expect("held").contains("SR-M12-typosquat-profile"));
}

#[test]
fn one_edit_is_an_insertion_a_deletion_a_substitution_or_a_swap() {
    for (a, b) in [
        ("requests", "reqeusts"),
        ("requests", "request"),
        ("requests", "0requests"),
        ("requests", "requestz"),
        ("flask", "flasq"),
        ("six", "sixx"),
    ] {
        assert!(one_edit_apart(a, b), "{a} {b}");
        assert!(one_edit_apart(b, a), "{b} {a}");
    }
    for (a, b) in [
        ("requests", "requests"),
        ("requests", "requests-toolbelt"),
        ("requests", "types-requests"),
        ("pytest", "pytest-cov"),
        ("requests", "rqeuests2"),
        ("abc", "cba"),
    ] {
        assert!(!one_edit_apart(a, b), "{a} {b}");
    }
}

#[test]
fn the_placeholder_profile_and_the_most_depended_on_names() {
    let one = vec!["pkg/__init__.py".to_owned(), "setup.py".to_owned()];
    let two = vec!["pkg/__init__.py".to_owned(), "pkg/core.py".to_owned()];
    assert!(placeholder_profile("0.0.1", None, &one));
    assert!(placeholder_profile("0.1", Some(" "), &two));
    assert!(placeholder_profile("0.1.0", Some("docs"), &one));
    assert!(!placeholder_profile("0.1.0", Some("docs"), &two));
    assert!(!placeholder_profile("0.1.3", None, &one));
    assert!(!placeholder_profile("1.0.0", None, &one));

    let md = |name: &str, deps: &[&str]| {
        let mut m = format!("Metadata-Version: 2.1\nName: {name}\nVersion: 1.0\n");
        for d in deps {
            m.push_str(&format!("Requires-Dist: {d}\n"));
        }
        (name.to_owned(), m)
    };
    let all = vec![
        md(
            "web",
            &["Requests[socks] (>=2) ; python_version > '3'", "six"],
        ),
        md("cli", &["requests", "requests>=3", "outside"]),
        md("requests", &["requests"]),
        md("six", &[]),
    ];
    assert_eq!(
        most_depended_on(&all, 10),
        vec!["requests".to_owned(), "six".to_owned()],
        "local names only, counted once per project, never a self-dependency"
    );
    assert_eq!(most_depended_on(&all, 1), vec!["requests".to_owned()]);
}

#[test]
fn the_previous_release_carries_each_rule_at_its_worst_over_its_files() {
    let row = |file_id: i64, findings: Vec<Finding>| {
        let scan = ArchiveScan {
            findings,
            ..caps(&[("m.py", &[Env])])
        };
        strongroom_store::file_scans::FileScanRow {
            file_id,
            filename: format!("m-{file_id}.whl"),
            sha256: String::new(),
            version: "0.1".into(),
            scanner_version: 1,
            scan: serde_json::to_string(&scan).expect("json"),
            score: 0,
            diff: None,
            held_reason: None,
            scanned_at: 0,
        }
    };
    let prev = PreviousRelease {
        release_id: 1,
        version: "0.1".into(),
        created_at: 0,
        scans: vec![
            row(1, vec![finding(Rule::EnvExfiltration, Severity::Low)]),
            row(
                2,
                vec![
                    finding(Rule::EnvExfiltration, Severity::Medium),
                    finding(Rule::ShadyEndpoint, Severity::Low),
                ],
            ),
        ],
    };
    let p = previous_capabilities(&prev).expect("scanned");
    assert_eq!(
        p.rules,
        BTreeMap::from([
            (Rule::EnvExfiltration, Severity::Medium),
            (Rule::ShadyEndpoint, Severity::Low)
        ])
    );
}
