//! The visibility rule against a real database: one project per stored status, each with a live,
//! a yanked, a removed and a held release and a removed file; every public read the store offers
//! (root index, the release list, one release, one release's metadata and description, files,
//! downloads by blob key, the changelog) and the models core builds from them (the simple page,
//! the JSON documents) must return exactly what `core::visibility` calls public, the members'
//! manage view exactly what it calls listed, and hiding a project must journal its name (and
//! nothing more) for mirrors. A source check keeps the list complete: every store read built on
//! the SQL form of the rule must be called here.

use std::collections::BTreeSet;

use strongroom_store::model::User;
use strongroom_store::visibility::ProjectStatus;
use strongroom_store::{NewEvent, NewFile, NewUser, PublishOutcome, UploadPolicy};

use crate::admin::Authority;
use crate::test_harness::{Harness, T0, sdist};
use crate::visibility::{REDACTED_ACTION, Sight, State, Viewer};
use crate::{Actor, CoreError, RequestMeta};

fn ops() -> Actor {
    Actor {
        id: None,
        name: "cli:ops".into(),
    }
}

fn meta() -> RequestMeta {
    RequestMeta::default()
}

async fn user(h: &Harness, name: &str) -> User {
    h.s.db
        .create_user(
            &NewUser {
                username: name.into(),
                email: format!("{name}@example.org"),
                email_verified: true,
                password_hash: None,
                is_admin: false,
                at: T0,
            },
            NewEvent {
                at: T0,
                action: "account:create".into(),
                subject_kind: "user".into(),
                ..NewEvent::default()
            },
        )
        .await
        .expect("user")
}

fn file(h: &Harness, u: &User, project: &str, version: &str, wheel: bool) -> NewFile {
    let stem = format!("{}-{version}", project.replace('-', "_"));
    let (filename, seed) = if wheel {
        (format!("{stem}-py3-none-any.whl"), format!("{stem}-whl"))
    } else {
        (format!("{stem}.tar.gz"), format!("{stem}-sdist"))
    };
    let mut f = sdist(project, version, u, h.s.now(), filename, &seed);
    f.description = Some(strongroom_store::RenderedDescription {
        html: format!("<p>{project} {version}</p>"),
        renderer: crate::descriptions::RENDERER_VERSION,
    });
    if wheel {
        f.packagetype = "bdist_wheel".into();
        f.python_version = "py3".into();
    }
    f
}

async fn publish(h: &Harness, f: &NewFile, policy: &UploadPolicy) {
    h.clock.advance(1_000_000);
    let f = NewFile {
        at: h.s.now(),
        ..f.clone()
    };
    let out = h.s.db.publish(&f, policy, None).await.expect("publish");
    assert!(
        matches!(
            out,
            PublishOutcome::Published { .. } | PublishOutcome::Quarantined { .. }
        ),
        "{out:?}"
    );
}

/// `p-<status>`: 1.0 (wheel live, sdist removed), 2.0 yanked, 3.0 removed, 4.0 held; then the
/// project is put in `status`.
async fn project_in(h: &Harness, u: &User, status: ProjectStatus) -> String {
    let name = format!("p-{}", status.as_str());
    let live = UploadPolicy::default();
    publish(h, &file(h, u, &name, "1.0", true), &live).await;
    publish(h, &file(h, u, &name, "1.0", false), &live).await;
    publish(h, &file(h, u, &name, "2.0", false), &live).await;
    publish(h, &file(h, u, &name, "3.0", false), &live).await;
    h.clock.advance(1_000_000);
    let held = UploadPolicy {
        dormant_before: Some(h.s.now()),
        quarantine_reason: "dormant project, newcomer".into(),
        ..UploadPolicy::default()
    };
    publish(h, &file(h, u, &name, "4.0", false), &held).await;
    let admin = Authority::Admin(&crate::admin::AdminCap::test(ops()));
    h.s.remove_file(
        &admin,
        &name,
        "1.0",
        &format!("{}-1.0.tar.gz", name.replace('-', "_")),
        "bad build",
        &meta(),
    )
    .await
    .expect("remove file");
    h.s.set_yanked(&name, "2.0", Some("broken"), "alice", &meta())
        .await
        .expect("yank");
    h.s.remove_release(&admin, &name, "3.0", "bad release", &meta())
        .await
        .expect("remove release");
    match status {
        ProjectStatus::Active => {}
        ProjectStatus::Archived | ProjectStatus::Deprecated => {
            let p = h.s.db.project_state(&name).await.expect("r").expect("p");
            let mut tx = h.s.db.begin_admin().await.expect("tx");
            assert!(
                tx.set_project_status(p.id, ProjectStatus::Active, status, None, None, h.s.now())
                    .await
                    .expect("status")
            );
            tx.commit(&[], &[]).await.expect("commit");
        }
        ProjectStatus::Quarantined => {
            h.s.admin_quarantine_project(
                &crate::admin::AdminCap::test(ops()),
                &name,
                "malware report",
                &meta(),
            )
            .await
            .expect("quarantine")
        }
        ProjectStatus::Removed => {
            h.s.remove_project(&admin, &name, "malware", &meta())
                .await
                .expect("remove")
        }
    }
    name
}

#[tokio::test]
async fn every_public_read_returns_exactly_what_the_rule_calls_public() {
    let h = Harness::new().await;
    let alice = user(&h, "alice").await;
    let mut names = Vec::new();
    for status in ProjectStatus::ALL {
        names.push((status, project_in(&h, &alice, status).await));
    }
    let db = &h.s.db;
    let listed: BTreeSet<String> = db
        .index_projects()
        .await
        .expect("index")
        .into_iter()
        .map(|(_, n, _)| n)
        .collect();
    let entries: BTreeSet<String> =
        h.s.simple_index_entries()
            .await
            .expect("entries")
            .into_iter()
            .map(|e| e.normalized.as_str().to_owned())
            .collect();
    assert_eq!(listed, entries);
    // the same set, read in runs of two names by key (the streamed root page)
    let mut in_runs: Vec<String> = Vec::new();
    loop {
        let after = in_runs.last().cloned().unwrap_or_default();
        let run = db.index_projects_after(&after, 2).await.expect("index run");
        assert!(run.len() <= 2, "{run:?}");
        let done = run.len() < 2;
        in_runs.extend(run.into_iter().map(|(_, n, _)| n));
        if done {
            break;
        }
    }
    assert_eq!(in_runs, listed.iter().cloned().collect::<Vec<_>>());
    let mut public_files_seen = 0;
    let mut want_dependents = BTreeSet::new();
    for (status, name) in &names {
        let p = db.project_state(name).await.expect("r").expect("p");
        let p_row = project_row(&h, name).await;
        let project = State::of_project(p.status);
        assert_eq!(p.status, *status);
        assert_eq!(listed.contains(name), project.is_public(), "{name}");
        assert_eq!(
            h.s.visible_project(name).await.expect("v").is_some(),
            project.is_public(),
            "{name}"
        );
        let releases = db.releases_any_state(p.id).await.expect("releases");
        let state_of = |release_id: i64| {
            let r = releases
                .iter()
                .find(|r| r.id == release_id)
                .expect("release");
            State::of_release(
                r.quarantined_at.is_some(),
                r.removed_at.is_some(),
                r.yanked_at.is_some(),
            )
            .within(project)
        };
        // Releases.
        let want: BTreeSet<String> = releases
            .iter()
            .filter(|r| state_of(r.id).is_public())
            .map(|r| r.version.clone())
            .collect();
        let got: BTreeSet<String> = db
            .releases_of(p.id)
            .await
            .expect("public releases")
            .into_iter()
            .map(|r| r.version)
            .collect();
        assert_eq!(got, want, "{name}: releases");
        // The impact report's dependents: each public project's latest public release.
        if let Some(latest) = releases
            .iter()
            .filter(|r| state_of(r.id).is_public())
            .max_by_key(|r| (r.created_at, r.id))
        {
            want_dependents.insert((p_row.name.clone(), latest.version.clone()));
        }
        // The list's cards read the same releases; search finds the project only while public.
        let cards: BTreeSet<String> = db
            .card_releases(&[p.id])
            .await
            .expect("cards")
            .into_iter()
            .map(|c| c.version)
            .collect();
        assert_eq!(cards, want, "{name}: cards");
        let query = strongroom_store::search::SearchQuery::parse(name);
        let found = db
            .search_projects(&query, 0, 100)
            .await
            .expect("search")
            .hits
            .iter()
            .any(|hit| &hit.normalized_name == name);
        assert_eq!(found, project.is_public(), "{name}: search");
        // One release, its metadata and its description: only while the public sees it.
        for r in &releases {
            let public = state_of(r.id).is_public();
            let what = format!("{name} {}", r.version);
            assert_eq!(
                db.public_release(p.id, r.id)
                    .await
                    .expect("one release")
                    .map(|x| x.version),
                public.then(|| r.version.clone()),
                "{what}: one release"
            );
            assert_eq!(
                db.release_core_metadata(r.id)
                    .await
                    .expect("metadata")
                    .is_some(),
                public,
                "{what}: its metadata"
            );
            assert_eq!(
                db.release_description(r.id)
                    .await
                    .expect("description")
                    .is_some(),
                public,
                "{what}: its description"
            );
            // The JSON document of that version.
            let doc =
                h.s.json_document(&p_row, Some(&r.version), "http://x")
                    .await
                    .expect("json");
            assert_eq!(doc.is_some(), public, "{what}: /pypi/<p>/<v>/json");
        }
        // Files, and downloads by blob key.
        let all_files = db.files_any_state(p.id).await.expect("files");
        assert_eq!(all_files.len(), 5, "{name}");
        let file_state = |f: &strongroom_store::admin::FileState| {
            State::of_file(f.removed_at.is_some(), f.held_at.is_some())
                .within(state_of(f.release_id))
        };
        let want: BTreeSet<String> = all_files
            .iter()
            .filter(|f| file_state(f).is_public())
            .map(|f| f.filename.clone())
            .collect();
        let got: BTreeSet<String> = db
            .files_of(p.id)
            .await
            .expect("public files")
            .into_iter()
            .map(|f| f.filename)
            .collect();
        assert_eq!(got, want, "{name}: files");
        for f in &all_files {
            assert_eq!(
                h.s.public_file(&f.blob_key).await.expect("dl").is_some(),
                file_state(f).is_public(),
                "{name}: download of {}",
                f.filename
            );
            assert_eq!(
                db.file_by_blob_key(&f.blob_key)
                    .await
                    .expect("by key")
                    .map(|x| x.filename),
                file_state(f).is_public().then(|| f.filename.clone()),
                "{name}: the file behind {}",
                f.blob_key
            );
            // What the download log records of it comes from the same public read.
            let dl = db.public_download(&f.blob_key).await.expect("download");
            assert_eq!(
                dl.map(|d| (d.file.filename, d.project)),
                file_state(f)
                    .is_public()
                    .then(|| (f.filename.clone(), p_row.normalized_name.clone())),
                "{name}: the download of {}",
                f.blob_key
            );
        }
        // The models built from those reads: the simple page and the project's JSON document
        // (none for a project the public does not see).
        match h.s.simple_project_page(&p_row, "http://x").await {
            Ok(page) => {
                assert!(project.is_public(), "{name}: a page for a hidden project");
                let files: BTreeSet<String> =
                    page.files.iter().map(|f| f.filename.clone()).collect();
                assert_eq!(files, want, "{name}: simple page files");
                let versions: BTreeSet<String> = page.versions.into_iter().collect();
                let public_versions: BTreeSet<String> = releases
                    .iter()
                    .filter(|r| state_of(r.id).is_public())
                    .filter(|r| {
                        all_files
                            .iter()
                            .any(|f| f.release_id == r.id && want.contains(&f.filename))
                    })
                    .map(|r| r.version.clone())
                    .collect();
                assert_eq!(versions, public_versions, "{name}: simple page versions");
            }
            Err(CoreError::NotFound(_)) => {
                assert!(!project.is_public(), "{name}: no page for a public project")
            }
            Err(e) => panic!("{name}: {e}"),
        }
        let doc =
            h.s.json_document(&p_row, None, "http://x")
                .await
                .expect("json");
        match doc {
            Some(doc) => {
                let doc: serde_json::Value = serde_json::from_str(&doc).expect("a document");
                let files: BTreeSet<String> = doc["releases"]
                    .as_object()
                    .expect("releases")
                    .values()
                    .flat_map(|fs| fs.as_array().expect("files").clone())
                    .map(|f| f["filename"].as_str().expect("filename").to_owned())
                    .collect();
                assert_eq!(files, want, "{name}: JSON document files");
            }
            None => assert!(
                !project.is_public(),
                "{name}: no document for a public project"
            ),
        }
        public_files_seen += want.len();
        // The members' manage view: exactly the releases the rule lists for them.
        let want: Vec<String> = {
            let mut rs: Vec<_> = releases
                .iter()
                .filter(|r| state_of(r.id).sight(Viewer::Member) == Sight::Listed)
                .collect();
            rs.sort_by_key(|r| std::cmp::Reverse(r.created_at));
            rs.into_iter().map(|r| r.version.clone()).collect()
        };
        let got =
            h.s.member_listed_releases(&project_row(&h, name).await)
                .await
                .expect("listed");
        assert_eq!(
            got.iter().map(|r| r.version.clone()).collect::<Vec<_>>(),
            want,
            "{name}: member view"
        );
        for r in &got {
            assert!(
                r.filenames.iter().all(|f| !f.ends_with("1.0.tar.gz")),
                "{name}: a removed file is not listed: {r:?}"
            );
        }
    }
    // live 1.0 wheel and yanked 2.0 sdist, in each of active, archived, deprecated
    assert_eq!(public_files_seen, 6);
    let got_dependents: BTreeSet<(String, String)> = db
        .dependent_candidates(-1, "%", 100)
        .await
        .expect("dependents")
        .into_iter()
        .map(|c| (c.project, c.version))
        .collect();
    assert_eq!(got_dependents, want_dependents, "impact dependents");
    assert_eq!(want_dependents.len(), 3, "{want_dependents:?}");
}

async fn project_row(h: &Harness, name: &str) -> strongroom_store::model::Project {
    h.s.db
        .project_by_normalized(name)
        .await
        .expect("read")
        .expect("project")
}

#[tokio::test]
async fn the_changelog_keeps_every_serial_but_only_names_what_is_hidden() {
    let h = Harness::new().await;
    let alice = user(&h, "alice").await;
    let mut names = Vec::new();
    for status in ProjectStatus::ALL {
        names.push(project_in(&h, &alice, status).await);
    }
    let raw = h.s.db.journal_since(0, 10_000).await.expect("journal");
    let public = h.s.public_changelog(0, 10_000).await.expect("changelog");
    assert_eq!(
        public.iter().map(|e| e.serial).collect::<Vec<_>>(),
        raw.iter().map(|e| e.serial).collect::<Vec<_>>(),
        "no serial is dropped: mirrors see a gap-free feed"
    );
    let mut redacted = 0;
    for (e, r) in public.iter().zip(&raw) {
        let p =
            h.s.db
                .project_state(&strongroom_protocol::name::normalize(&r.project_name))
                .await
                .expect("r")
                .expect("p");
        let project = State::of_project(p.status);
        // The state of what the raw entry names, from the rows in any state.
        let state = if let Some(fname) = &r.filename {
            let f =
                h.s.db
                    .files_any_state(p.id)
                    .await
                    .expect("files")
                    .into_iter()
                    .find(|f| &f.filename == fname)
                    .expect("file");
            let rel =
                h.s.db
                    .releases_any_state(p.id)
                    .await
                    .expect("r")
                    .into_iter()
                    .find(|x| x.id == f.release_id)
                    .expect("release");
            State::of_file(f.removed_at.is_some(), f.held_at.is_some()).within(
                State::of_release(
                    rel.quarantined_at.is_some(),
                    rel.removed_at.is_some(),
                    rel.yanked_at.is_some(),
                )
                .within(project),
            )
        } else if let Some(v) = &r.version {
            let rel =
                h.s.db
                    .releases_any_state(p.id)
                    .await
                    .expect("r")
                    .into_iter()
                    .find(|x| &x.version == v)
                    .expect("release");
            State::of_release(
                rel.quarantined_at.is_some(),
                rel.removed_at.is_some(),
                rel.yanked_at.is_some(),
            )
            .within(project)
        } else {
            project
        };
        assert_eq!(e.project_name, r.project_name);
        assert_eq!(e.at, r.at);
        if state.is_public() {
            assert_eq!(
                (&e.version, &e.filename, &e.action),
                (&r.version, &r.filename, &r.action),
                "{r:?}"
            );
        } else {
            redacted += 1;
            assert_eq!(
                (
                    e.version.as_deref(),
                    e.filename.as_deref(),
                    e.action.as_str()
                ),
                (None, None, REDACTED_ACTION),
                "{r:?} is {state:?}"
            );
        }
    }
    assert!(redacted > 0);
    // No public entry names a file of a hidden project, or a hidden file of a public one.
    for name in &names {
        let stem = name.replace('-', "_");
        let shown_files: BTreeSet<String> = public
            .iter()
            .filter(|e| e.project_name == *name)
            .filter_map(|e| e.filename.clone())
            .collect();
        let expected: BTreeSet<String> = match name.as_str() {
            "p-active" | "p-archived" | "p-deprecated" => [
                format!("{stem}-1.0-py3-none-any.whl"),
                format!("{stem}-2.0.tar.gz"),
            ]
            .into(),
            _ => BTreeSet::new(),
        };
        assert_eq!(shown_files, expected, "{name}");
        // Nor does an action text: the removed sdist's "add"/"remove" entries, the held and
        // removed releases' files, a hidden project's files.
        for e in public.iter().filter(|e| e.project_name == *name) {
            let named: Vec<&String> = [
                format!("{stem}-1.0.tar.gz"),
                format!("{stem}-3.0.tar.gz"),
                format!("{stem}-4.0.tar.gz"),
                format!("{stem}-1.0-py3-none-any.whl"),
                format!("{stem}-2.0.tar.gz"),
            ]
            .iter()
            .filter(|f| e.action.contains(f.as_str()))
            .map(|_| &e.action)
            .collect();
            assert!(
                named.is_empty() || e.filename.as_ref().is_some_and(|f| expected.contains(f)),
                "{e:?}"
            );
        }
    }
    // Hiding a project journals its name, and nothing more, so mirrors re-read it.
    for (name, action) in [
        ("p-quarantined", "quarantine project"),
        ("p-removed", "remove project"),
    ] {
        let last = raw
            .iter()
            .rev()
            .find(|e| e.project_name == name)
            .expect("an entry");
        assert_eq!(
            (
                last.action.as_str(),
                last.version.as_deref(),
                last.filename.as_deref()
            ),
            (action, None, None)
        );
        let shown = public
            .iter()
            .find(|e| e.serial == last.serial)
            .expect("kept");
        assert_eq!(shown.project_name, name);
    }

    // Released, the quarantined project's history reads whole again (it was filtered at read
    // time, not rewritten).
    h.s.admin_release_project(
        &crate::admin::AdminCap::test(ops()),
        "p-quarantined",
        "false alarm",
        &meta(),
    )
    .await
    .expect("release");
    let again = h.s.public_changelog(0, 10_000).await.expect("changelog");
    assert!(
        again
            .iter()
            .any(|e| e.filename.as_deref() == Some("p_quarantined-1.0-py3-none-any.whl"))
    );
    assert!(
        !again
            .iter()
            .any(|e| e.filename.as_deref() == Some("p_quarantined-1.0.tar.gz"))
    );
}

/// Every store method whose SQL filters rows through the public rule (`store::visibility`'s
/// fragments, or the release reads built on them) is a public read, and is called by the test
/// above: a new one cannot be added without being held to the rule state by state.
#[test]
fn every_public_read_of_the_store_is_tested_here() {
    let store = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../strongroom-store/src");
    let tests = include_str!("visibility_tests.rs");
    let markers = [
        "PUBLIC_PROJECT",
        "PUBLIC_RELEASE",
        "PUBLIC_FILE",
        "public_releases_sql(",
    ];
    let mut reads = Vec::new();
    for entry in std::fs::read_dir(&store).expect("store sources") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "rs") || path.ends_with("visibility.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("read");
        let text = text.split("#[cfg(test)]").next().unwrap_or_default();
        for piece in text.split("pub async fn ").skip(1) {
            let name: String = piece
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // the method's body ends at its closing brace (rustfmt: four spaces in)
            let body = piece.split("\n    }\n").next().unwrap_or_default();
            if markers.iter().any(|m| body.contains(m)) {
                reads.push(name);
            }
        }
    }
    reads.sort();
    for expected in [
        "index_projects",
        "releases_of",
        "files_of",
        "public_download",
    ] {
        assert!(reads.iter().any(|r| r == expected), "{expected}: {reads:?}");
    }
    for read in &reads {
        assert!(
            tests.contains(&format!(".{read}(")),
            "Db::{read} filters by the public rule but visibility_tests.rs does not check it"
        );
    }
}
