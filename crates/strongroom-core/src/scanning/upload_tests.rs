//! Whole uploads through `Services::publish` with real wheels whose scans are handed in
//! (`injected`): held releases and files, refusals that store nothing, mails to Owners and
//! admins.

use std::collections::BTreeSet;
use std::io::Write;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use sha2::Digest;
use strongroom_scan::diff::CapabilityDiff;
use strongroom_scan::{ArchiveScan, Capability, Finding, Rule, Severity};
use strongroom_store::NewEvent;
use strongroom_store::model::User;

use super::policy::*;
use super::policy_tests::caps;
use super::run::injected;
use crate::publish::{Published, ReceivedFile, UploadForm};
use crate::settings::days;
use crate::test_harness::{Harness, PW, T0, is_invalid};
use crate::tokens::Principal;
use crate::{CoreError, RequestMeta};
use Capability::{Encoding as Enc, FileWrite as Write_, ProcessSpawn as Proc};
use Capability::{EnvironmentRead as Env, Network as Net};

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
