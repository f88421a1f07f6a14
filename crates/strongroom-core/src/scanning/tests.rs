//! The scan policy: the pure decision (weights, first release, diff in words, threshold), the
//! typosquat helpers, and whole uploads through `Services::publish` with real wheels whose
//! scans are handed in (`injected`): held releases and files, refusals that store nothing,
//! mails to Owners and admins.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest;
use strongroom_scan::{ArchiveScan, Capability, Finding, Rule, Severity};
use strongroom_store::model::User;

use super::*;
use crate::publish::{Published, ReceivedFile, UploadForm};
use crate::test_harness::{Harness, PW, T0, is_invalid};
use crate::tokens::Principal;

fn caps(files: &[(&str, &[Capability])]) -> ArchiveScan {
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

// ---- whole uploads ----

fn meta() -> RequestMeta {
    RequestMeta {
        ip: Some("192.0.2.7".into()),
        user_agent: Some("twine/6".into()),
        request_id: None,
    }
}

/// An upload token of `u`, authenticated as an upload would be.
async fn principal(h: &Harness, u: &User) -> Principal {
    let secret =
        h.s.create_token(&u.username, "ci", None, None, &meta())
            .await
            .expect("token");
    h.s.authenticate_upload(&crate::tokens::Credentials::Token(secret), &meta())
        .await
        .expect("principal")
}

/// A valid pure wheel of `project` `version` (tag `tag`) with a module `<project>.py`
/// carrying `salt` (so each wheel has its own sha256).
fn wheel_bytes(project: &str, version: &str, tag: &str, salt: &str) -> Vec<u8> {
    let dist = format!("{project}-{version}.dist-info");
    let files: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{project}.py"),
            format!("X = {salt:?}\n").into_bytes(),
        ),
        (
            format!("{dist}/METADATA"),
            format!("Metadata-Version: 2.1\nName: {project}\nVersion: {version}\nSummary: s\n")
                .into_bytes(),
        ),
        (
            format!("{dist}/WHEEL"),
            format!("Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: {tag}\n")
                .into_bytes(),
        ),
    ];
    let mut record = String::new();
    for (name, data) in &files {
        record.push_str(&format!(
            "{name},sha256={},{}\n",
            URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data)),
            data.len()
        ));
    }
    record.push_str(&format!("{dist}/RECORD,,\n"));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts =
        zip::write::SimpleFileOptions::default().compression_method(zip::CompressionMethod::Stored);
    for (name, data) in files.iter().chain(std::iter::once(&(
        format!("{dist}/RECORD"),
        record.into_bytes(),
    ))) {
        w.start_file(name.as_str(), opts).expect("start");
        w.write_all(data).expect("write");
    }
    w.finish().expect("finish").into_inner()
}

struct Upload {
    form: UploadForm,
    file: ReceivedFile,
    _tmp: tempfile::NamedTempFile,
}

fn upload(project: &str, version: &str, tag: &str, salt: &str) -> Upload {
    let bytes = wheel_bytes(project, version, tag, salt);
    let mut tmp = tempfile::NamedTempFile::new().expect("tmp");
    tmp.write_all(&bytes).expect("write");
    let mut h = strongroom_dist::Hasher::new();
    h.update(&bytes);
    let filename = format!("{project}-{version}-{tag}.whl");
    let digests = h.finish();
    let sha = digests.sha256_hex();
    let form = UploadForm {
        fields: [
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("metadata_version", "2.1"),
            ("name", project),
            ("version", version),
            ("filetype", "bdist_wheel"),
            ("pyversion", "py3"),
            ("sha256_digest", sha.as_str()),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
    };
    Upload {
        form,
        file: ReceivedFile {
            path: tmp.path().to_path_buf(),
            filename,
            content_type: None,
            size: bytes.len() as u64,
            digests,
        },
        _tmp: tmp,
    }
}

impl Upload {
    fn sha256(&self) -> String {
        self.file.digests.sha256_hex()
    }

    /// Hand the scanner's answer in, then upload as `u`.
    async fn send(&self, h: &Harness, u: &User, scan: ArchiveScan) -> Result<Published, CoreError> {
        injected::set(&self.sha256(), scan);
        h.s.publish(
            &principal(h, u).await,
            &self.form,
            Some(&self.file),
            &meta(),
        )
        .await
    }
}

async fn harness() -> (Harness, User) {
    let h = Harness::new().await;
    let root =
        h.s.create_user("root", "root@example.org", PW, true, &meta())
            .await
            .expect("admin");
    assert!(root.is_admin);
    let alice = h.user("alice").await;
    (h, alice)
}

async fn visible(h: &Harness, project: &str) -> Vec<String> {
    let p =
        h.s.db
            .project_by_normalized(project)
            .await
            .expect("p")
            .expect("p");
    h.s.db
        .releases_of(p.id)
        .await
        .expect("r")
        .into_iter()
        .map(|r| r.version)
        .collect()
}

fn blob_count(h: &Harness) -> usize {
    fn walk(dir: &std::path::Path) -> usize {
        std::fs::read_dir(dir).map_or(0, |rd| {
            rd.flatten()
                .map(|e| {
                    let p = e.path();
                    if p.is_dir() { walk(&p) } else { 1 }
                })
                .sum()
        })
    }
    walk(&crate::testing::blob_root(h.dir()))
}

#[tokio::test]
async fn the_ctx_release_is_held_and_the_earlier_release_stays_installable() {
    let (h, alice) = harness().await;
    let first = upload("ctx", "0.1.2", "py3-none-any", "a");
    let o = first
        .send(&h, &alice, caps(&[("ctx.py", &[Write_])]))
        .await
        .expect("first");
    assert!(matches!(o, Published::New { .. }), "{o:?}");
    h.clock.advance(days(30));
    let second = upload("ctx", "0.2.2", "py3-none-any", "b");
    let o = second
        .send(&h, &alice, caps(&[("ctx.py", &[Write_, Env, Enc, Net])]))
        .await
        .expect("second");
    let Published::Quarantined { message } = o else {
        panic!("{o:?}");
    };
    assert!(message.contains("content scan"), "{message}");
    assert_eq!(visible(&h, "ctx").await, vec!["0.1.2"]);

    // Every file has its scan row; the held one says why, with the diff.
    let p =
        h.s.db
            .project_by_normalized("ctx")
            .await
            .expect("p")
            .expect("p");
    let s1 = h.s.db.scans_of_release(p.id, "0.1.2").await.expect("s");
    assert_eq!((s1.len(), s1[0].score), (1, 0));
    assert!(s1[0].diff.is_none() && s1[0].held_reason.is_none());
    let s2 = h.s.db.scans_of_release(p.id, "0.2.2").await.expect("s");
    assert_eq!(s2[0].score, 10);
    let stored: ArchiveScan = serde_json::from_str(&s2[0].scan).expect("scan json");
    assert!(stored.capabilities["ctx.py"].contains(&Net));
    let diff: CapabilityDiff =
        serde_json::from_str(s2[0].diff.as_deref().expect("diff")).expect("diff json");
    assert_eq!(diff.added["ctx.py"], BTreeSet::from([Env, Enc, Net]));
    assert!(
        s2[0]
            .held_reason
            .as_deref()
            .expect("reason")
            .contains("0.2.2 adds network, environment-read, encoding to ctx.py")
    );

    // The Owner and the admin are mailed, with the diff in words.
    for to in ["alice@example.org", "root@example.org"] {
        let mails = h.mails(to, "held for review after its content scan").await;
        assert_eq!(mails.len(), 1, "{to}");
        assert!(
            mails[0].contains(
                "0.2.2 adds network, environment-read, encoding to ctx.py, which 0.1.2 did not have"
            ),
            "{}",
            mails[0]
        );
    }
    let q = h.event_details("release:quarantine").await;
    assert_eq!(q.len(), 1);
    assert_eq!(
        (q[0]["version"].as_str(), q[0]["scan"].as_bool()),
        (Some("0.2.2"), Some(true))
    );
}

#[tokio::test]
async fn a_file_joining_a_published_release_is_held_on_its_own() {
    let (h, alice) = harness().await;
    let base = [("joiny.py", &[Write_][..])];
    upload("joiny", "0.1", "py3-none-any", "a")
        .send(&h, &alice, caps(&base))
        .await
        .expect("0.1");
    upload("joiny", "0.2", "py3-none-any", "b")
        .send(&h, &alice, caps(&base))
        .await
        .expect("0.2");
    let joining = upload("joiny", "0.2", "py2.py3-none-any", "c");
    let o = joining
        .send(&h, &alice, caps(&[("joiny.py", &[Write_, Net, Proc])]))
        .await
        .expect("joining");
    assert!(matches!(o, Published::Quarantined { .. }), "{o:?}");
    assert_eq!(visible(&h, "joiny").await, vec!["0.1", "0.2"]);
    let p =
        h.s.db
            .project_by_normalized("joiny")
            .await
            .expect("p")
            .expect("p");
    let files: Vec<String> =
        h.s.db
            .files_of(p.id)
            .await
            .expect("f")
            .into_iter()
            .map(|f| f.filename)
            .collect();
    assert!(!files.contains(&joining.file.filename), "{files:?}");
    let held = h.event_details("file:held").await;
    assert_eq!(held.len(), 1);
    assert_eq!(held[0]["scan"], true);
    assert!(
        held[0]["reason"]
            .as_str()
            .expect("reason")
            .contains("new capabilities"),
    );
    assert_eq!(
        h.mails("root@example.org", "held for review after its content scan")
            .await
            .len(),
        1
    );
}

#[tokio::test]
async fn a_score_below_the_threshold_publishes() {
    let (h, alice) = harness().await;
    upload("calm", "1.0", "py3-none-any", "a")
        .send(&h, &alice, caps(&[("calm.py", &[])]))
        .await
        .expect("1.0");
    let o = upload("calm", "1.1", "py3-none-any", "b")
        .send(&h, &alice, caps(&[("calm.py", &[Net, Enc])]))
        .await
        .expect("1.1");
    assert!(matches!(o, Published::New { .. }), "{o:?}");
    assert_eq!(visible(&h, "calm").await, vec!["1.0", "1.1"]);
    let p =
        h.s.db
            .project_by_normalized("calm")
            .await
            .expect("p")
            .expect("p");
    let s = h.s.db.scans_of_release(p.id, "1.1").await.expect("s");
    assert_eq!(s[0].score, i64::from(NEW_CAPABILITY_WEIGHT));
    assert!(s[0].held_reason.is_none());
    assert!(h.event_details("release:quarantine").await.is_empty());
}

#[tokio::test]
async fn a_reject_finding_refuses_the_upload_and_stores_nothing() {
    let (h, alice) = harness().await;
    let up = upload("armored", "1.0", "py3-none-any", "a");
    let mut scan = caps(&[("armored.py", &[Capability::DynamicCode])]);
    scan.findings.push(Finding {
        rule: Rule::EncryptedCode,
        severity: Severity::Reject,
        path: "armored.py".into(),
        line: Some(3),
        snippet: "__pyarmor__(__name__, __file__, b'...')".into(),
        message: "PyArmor runtime marker.".into(),
    });
    let r = up.send(&h, &alice, scan).await;
    assert!(is_invalid(&r, "SR-M11-encrypted-code"), "{r:?}");
    assert!(is_invalid(&r, "armored.py, line 3"), "{r:?}");
    assert!(
        h.s.db
            .project_by_normalized("armored")
            .await
            .expect("p")
            .is_none(),
        "no row"
    );
    assert_eq!(blob_count(&h), 0, "no blob");
    let ev = h.event_details(REFUSED_ACTION).await;
    assert_eq!(ev.len(), 1);
    assert_eq!(ev[0]["rule"], "SR-M11-encrypted-code");
}

#[tokio::test]
async fn a_file_a_malicious_advisory_names_is_refused() {
    let (h, alice) = harness().await;
    upload("victim", "1.0", "py3-none-any", "a")
        .send(&h, &alice, ArchiveScan::default())
        .await
        .expect("1.0");
    let blobs = blob_count(&h);
    let bad = upload("victim", "1.1", "py3-none-any", "b");
    h.s.db
        .import_advisories(
            "ossf",
            &[strongroom_store::advisories::AdvisoryRow {
                id: "MAL-2026-77".into(),
                project: "someone-else".into(),
                malicious: true,
                withdrawn: false,
                doc: "{}".into(),
                path: "someone-else/MAL-2026-77.json".into(),
                sha256: vec![bad.sha256()],
            }],
            &NewEvent {
                at: T0,
                action: "advisories:import".into(),
                subject_kind: "site".into(),
                ..NewEvent::default()
            },
        )
        .await
        .expect("import");
    let r = bad.send(&h, &alice, ArchiveScan::default()).await;
    assert!(is_invalid(&r, "MAL-2026-77"), "{r:?}");
    assert!(is_invalid(&r, "SR-known-malicious"), "{r:?}");
    assert_eq!(visible(&h, "victim").await, vec!["1.0"]);
    assert_eq!(blob_count(&h), blobs, "no new blob");
    let p =
        h.s.db
            .project_by_normalized("victim")
            .await
            .expect("p")
            .expect("p");
    assert!(
        h.s.db
            .scans_of_release(p.id, "1.1")
            .await
            .expect("s")
            .is_empty()
    );
    let ev = h.event_details(REFUSED_ACTION).await;
    assert_eq!(ev[0]["advisory"], "MAL-2026-77");
}

#[tokio::test]
async fn a_typosquat_of_a_depended_on_name_is_held_and_its_neighbour_is_not() {
    let (h, alice) = harness().await;
    // "requests" is depended on by a local project; "reqeusts" squats it.
    upload("requests", "2.0", "py3-none-any", "a")
        .send(&h, &alice, ArchiveScan::default())
        .await
        .expect("requests");
    let mut f = crate::test_harness::sdist(
        "webapp",
        "1.0",
        &alice,
        h.s.now(),
        "webapp-1.0.tar.gz".into(),
        "w",
    );
    f.core_metadata =
        "Metadata-Version: 2.1\nName: webapp\nVersion: 1.0\nRequires-Dist: requests>=2\n".into();
    h.s.db.publish_file(&f).await.expect("webapp");

    let squat = upload("reqeusts", "0.0.1", "py3-none-any", "c");
    let o = squat
        .send(&h, &alice, caps(&[("reqeusts.py", &[Env, Net])]))
        .await
        .expect("squat");
    assert!(matches!(o, Published::Quarantined { .. }), "{o:?}");
    let p =
        h.s.db
            .project_by_normalized("reqeusts")
            .await
            .expect("p")
            .expect("p");
    let s = h.s.db.scans_of_release(p.id, "0.0.1").await.expect("s");
    let stored: ArchiveScan = serde_json::from_str(&s[0].scan).expect("json");
    assert!(
        stored
            .findings
            .iter()
            .any(|f| f.rule == Rule::TyposquatProfile && f.severity == Severity::High)
    );
    assert!(
        s[0].held_reason
            .as_deref()
            .expect("held")
            .contains("popular project requests")
    );
    // A name depended on later counts at once (the cached list follows the releases).
    let mut g = crate::test_harness::sdist(
        "webapp",
        "1.1",
        &alice,
        h.s.now(),
        "webapp-1.1.tar.gz".into(),
        "w2",
    );
    g.core_metadata = "Metadata-Version: 2.1\nName: webapp\nVersion: 1.1\nRequires-Dist: requests\nRequires-Dist: numpy\n".into();
    upload("numpy", "2.0", "py3-none-any", "n")
        .send(&h, &alice, ArchiveScan::default())
        .await
        .expect("numpy");
    h.s.db.publish_file(&g).await.expect("webapp 1.1");
    let o = upload("nunpy", "0.1", "py3-none-any", "e")
        .send(&h, &alice, ArchiveScan::default())
        .await
        .expect("nunpy");
    assert!(matches!(o, Published::Quarantined { .. }), "{o:?}");
    // A mature release of a near name is not a placeholder: published.
    let o = upload("requestz", "3.4.0", "py3-none-any", "d")
        .send(&h, &alice, ArchiveScan::default())
        .await
        .expect("near");
    assert!(matches!(o, Published::New { .. }), "{o:?}");
    // B7: once an administrator approved the held release, the name was looked at: its next
    // placeholder release is not held for the name again.
    let cap = crate::admin::AdminCap::test(crate::Actor {
        id: None,
        name: "cli:ops".into(),
    });
    h.s.admin_approve_release(
        &cap,
        "nunpy",
        "0.1",
        "our own numpy shim",
        &crate::RequestMeta::default(),
    )
    .await
    .expect("approve");
    let o = upload("nunpy", "0.0.9", "py3-none-any", "f")
        .send(&h, &alice, ArchiveScan::default())
        .await
        .expect("nunpy 0.0.9");
    assert!(matches!(o, Published::New { .. }), "{o:?}");
    // A name still held (never approved) is held again.
    let o = upload("reqeusts", "0.0.2", "py3-none-any", "g")
        .send(&h, &alice, caps(&[("reqeusts.py", &[Env, Net])]))
        .await
        .expect("squat again");
    assert!(matches!(o, Published::Quarantined { .. }), "{o:?}");
}

#[tokio::test]
async fn a_re_upload_of_an_existing_file_is_answered_before_the_scan() {
    let (h, alice) = harness().await;
    let up = upload("again", "1.0", "py3-none-any", "a");
    up.send(&h, &alice, caps(&[("again.py", &[])]))
        .await
        .expect("first");
    // Were the scan run again, this answer would refuse the re-upload.
    let mut reject = caps(&[("again.py", &[])]);
    reject.findings.push(Finding {
        rule: Rule::EncryptedCode,
        severity: Severity::Reject,
        path: "again.py".into(),
        line: Some(1),
        snippet: String::new(),
        message: "PyArmor runtime marker.".into(),
    });
    let o = up.send(&h, &alice, reject.clone()).await.expect("again");
    assert!(matches!(o, Published::AlreadyThere), "{o:?}");
    // Other bytes under the same name: the reuse refusal, also before the scan.
    let other = upload("again", "1.0", "py3-none-any", "b");
    let r = other.send(&h, &alice, reject).await;
    assert!(is_invalid(&r, "File already exists"), "{r:?}");
    assert!(h.event_details(REFUSED_ACTION).await.is_empty());
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
