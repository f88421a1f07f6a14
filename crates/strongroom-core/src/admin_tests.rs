//! The admin use cases through `Services` on SQLite with a hand-moved clock: who may remove what,
//! reasons, exact restores, approved releases reaching the journal, name rules, and restoring a
//! deleted account with the roles the event log says it held.

use strongroom_protocol::name::ProjectName;
use strongroom_store::{NewEvent, NewFile, NewUser, PublishOutcome, UploadPolicy};

use crate::admin::{Authority, SiteSwitch, replay_roles};
use crate::{Actor, CoreError, RequestMeta};

use crate::test_harness::{Harness, T0};
use strongroom_store::{ProjectRole, ProjectStatus};

/// The shared harness with this suite's fixtures.
struct H(Harness);

impl std::ops::Deref for H {
    type Target = Harness;
    fn deref(&self) -> &Harness {
        &self.0
    }
}

fn ops() -> Actor {
    Actor {
        id: None,
        name: "cli:ops".into(),
    }
}

fn meta() -> RequestMeta {
    RequestMeta::default()
}

async fn harness() -> H {
    H(Harness::new().await)
}

impl H {
    async fn user(&self, name: &str) -> strongroom_store::model::User {
        self.s
            .db
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

    /// Publish `project` `version` as `user` (one wheel).
    async fn publish(&self, user: &strongroom_store::model::User, project: &str, version: &str) {
        self.publish_with(user, project, version, &UploadPolicy::default())
            .await;
    }

    async fn publish_with(
        &self,
        user: &strongroom_store::model::User,
        project: &str,
        version: &str,
        policy: &UploadPolicy,
    ) {
        let name = ProjectName::new(project).expect("name");
        let filename = format!(
            "{}-{version}-py3-none-any.whl",
            name.normalized().underscored()
        );
        let digest = |salt: &str| {
            use sha2::Digest;
            hex::encode(sha2::Sha256::digest(format!("{salt}{filename}")))
        };
        let out = self
            .s
            .db
            .publish(
                &NewFile {
                    project_name: project.into(),
                    normalized_name: name.normalized().as_str().into(),
                    ultranormalized_name: name.skeleton(),
                    user_id: user.id,
                    username: user.username.clone(),
                    token_project_id: None,
                    token_id: None,
                    version: version.into(),
                    canonical_version: strongroom_protocol::version::Version::parse(version)
                        .expect("version")
                        .canonical(),
                    requires_python: None,
                    core_metadata: format!(
                        "Metadata-Version: 2.1\nName: {project}\nVersion: {version}\n"
                    ),
                    description: None,
                    filename: filename.clone(),
                    packagetype: "bdist_wheel".into(),
                    python_version: "py3".into(),
                    size: 10,
                    md5: digest("md5")[..32].to_owned(),
                    sha256: digest("sha"),
                    blake2_256: digest("b2"),
                    blob_key: format!("{}/{filename}", digest("b2")),
                    metadata_sha256: None,
                    metadata_blake2_256: None,
                    comment_text: None,
                    at: self.s.now(),
                    ip: None,
                    user_agent: None,
                    request_id: None,
                    release_window_micros: i64::MAX / 2,
                    max_project_size: 1 << 30,
                    scan: None,
                },
                policy,
                None,
            )
            .await
            .expect("publish");
        assert!(
            matches!(
                out,
                PublishOutcome::Published { .. } | PublishOutcome::Quarantined { .. }
            ),
            "{out:?}"
        );
    }

    async fn project(&self, project: &str) -> strongroom_store::admin::ProjectState {
        self.s
            .db
            .project_state(project)
            .await
            .expect("read")
            .expect("project")
    }

    async fn project_id(&self, project: &str) -> i64 {
        self.project(project).await.id
    }

    async fn status(&self, project: &str) -> ProjectStatus {
        self.project(project).await.status
    }

    async fn role_event(&self, action: &str, project_id: i64, details: serde_json::Value) {
        self.clock.advance(1_000_000);
        self.s
            .db
            .append_event(&NewEvent {
                at: self.s.now(),
                action: action.into(),
                subject_kind: "project".into(),
                subject_id: Some(project_id),
                details,
                ..NewEvent::default()
            })
            .await
            .expect("event");
    }
}

/// Warehouse answers "The name ... isn't allowed" with 400.
fn bad_request(r: Result<(), CoreError>) -> String {
    match r {
        Err(CoreError::Invalid(m)) => m,
        other => panic!("expected Invalid (400), got {other:?}"),
    }
}

fn forbidden(r: Result<(), CoreError>) -> String {
    match r {
        Err(CoreError::Forbidden(m)) => m,
        other => panic!("expected Forbidden, got {other:?}"),
    }
}

#[tokio::test]
async fn owners_remove_only_on_active_projects_they_own_and_admins_need_a_reason() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.publish(&alice, "Demo", "1.0").await;
    h.publish(&alice, "Demo", "2.0").await;
    let p = h.s.db.project_state("demo").await.expect("r").expect("p");
    sqlx_free_grant(&h, p.id, bob.id, ProjectRole::Maintainer).await;

    let m = forbidden(
        h.s.remove_release(&Authority::Owner(&bob), "demo", "1.0", "", &meta())
            .await,
    );
    assert!(m.contains("Only an Owner"), "{m}");
    let admin_no_reason =
        h.s.remove_release(
            &Authority::Admin(&crate::admin::AdminCap::test(ops())),
            "demo",
            "1.0",
            "  ",
            &meta(),
        )
        .await;
    assert!(matches!(admin_no_reason, Err(CoreError::Invalid(_))));

    h.s.remove_release(&Authority::Owner(&alice), "demo", "1.0", "", &meta())
        .await
        .expect("owner removes");
    let versions: Vec<String> =
        h.s.db
            .releases_of(p.id)
            .await
            .expect("r")
            .into_iter()
            .map(|r| r.version)
            .collect();
    assert_eq!(versions, vec!["2.0".to_string()]);
    let events = h.s.db.events(0, 100).await.expect("events");
    let ev = events.last().expect("event");
    assert_eq!(
        (ev.action.as_str(), ev.actor_name.as_deref()),
        ("release:remove", Some("alice"))
    );
    assert!(
        ev.details.contains("removed by owner alice"),
        "{}",
        ev.details
    );
    let journal = h.s.db.journal_since(0, 100).await.expect("journal");
    assert_eq!(journal.last().expect("entry").action, "remove release");

    // Quarantined: the owner can change nothing; read-only: nobody but reads.
    h.s.admin_quarantine_project(
        &crate::admin::AdminCap::test(ops()),
        "demo",
        "review",
        &meta(),
    )
    .await
    .expect("quarantine");
    let m = forbidden(
        h.s.remove_project(&Authority::Owner(&alice), "demo", "", &meta())
            .await,
    );
    assert!(m.contains("quarantined"), "{m}");
    h.s.admin_release_project(&crate::admin::AdminCap::test(ops()), "demo", "ok", &meta())
        .await
        .expect("release");
    h.s.admin_set_switch(&ops(), SiteSwitch::ReadOnly, true, "incident", &meta())
        .await
        .expect("switch");
    let m = forbidden(
        h.s.remove_file(
            &Authority::Owner(&alice),
            "demo",
            "2.0",
            "demo-2.0-py3-none-any.whl",
            "",
            &meta(),
        )
        .await,
    );
    assert!(m.starts_with("Read-only mode"), "{m}");
    let yank =
        h.s.set_yanked("demo", "2.0", Some("x"), "alice", &meta())
            .await;
    assert!(matches!(yank, Err(CoreError::Forbidden(_))), "{yank:?}");
}

async fn sqlx_free_grant(h: &H, project_id: i64, user_id: i64, role: ProjectRole) {
    let mut tx = h.s.db.begin_admin().await.expect("tx");
    assert!(
        tx.grant_role(project_id, user_id, role, None, h.s.now())
            .await
            .expect("grant")
    );
    tx.commit(&[], &[]).await.expect("commit");
}

#[tokio::test]
async fn release_restores_the_exact_status_and_approval_reaches_the_journal() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.publish(&alice, "Demo", "1.0").await;
    h.s.admin_quarantine_project(
        &crate::admin::AdminCap::test(ops()),
        "demo",
        "malware?",
        &meta(),
    )
    .await
    .expect("quarantine");
    assert_eq!(h.status("demo").await, ProjectStatus::Quarantined);
    let again =
        h.s.admin_quarantine_project(
            &crate::admin::AdminCap::test(ops()),
            "demo",
            "again",
            &meta(),
        )
        .await;
    assert!(matches!(again, Err(CoreError::Conflict(_))));
    // Removing a quarantined project and restoring it brings the quarantine back, not more.
    h.s.remove_project(
        &Authority::Admin(&crate::admin::AdminCap::test(ops())),
        "demo",
        "gone",
        &meta(),
    )
    .await
    .expect("remove");
    h.s.admin_restore_project(
        &crate::admin::AdminCap::test(ops()),
        "demo",
        "back",
        &meta(),
    )
    .await
    .expect("restore");
    assert_eq!(h.status("demo").await, ProjectStatus::Quarantined);
    h.s.admin_release_project(
        &crate::admin::AdminCap::test(ops()),
        "demo",
        "clean",
        &meta(),
    )
    .await
    .expect("release");
    assert_eq!(h.status("demo").await, ProjectStatus::Active);

    // A release held at upload is invisible and unjournaled until approved.
    h.clock.advance(1_000_000);
    let policy = UploadPolicy {
        dormant_before: Some(h.s.now()),
        quarantine_reason: "dormant project, recovered account".into(),
        quarantine_mails: Vec::new(),
        ..UploadPolicy::default()
    };
    let serial_before_upload = h.s.db.global_serial().await.expect("serial");
    h.publish_with(&alice, "Demo", "2.0", &policy).await;
    let p = h.s.db.project_state("demo").await.expect("r").expect("p");
    assert_eq!(h.s.db.releases_of(p.id).await.expect("r").len(), 1, "held");
    assert_eq!(
        h.s.db.global_serial().await.expect("s"),
        serial_before_upload
    );
    let held = h.s.db.quarantined_releases().await.expect("held");
    assert_eq!(held.len(), 1);
    let serial = h.s.db.global_serial().await.expect("serial");
    h.s.admin_approve_release(
        &crate::admin::AdminCap::test(ops()),
        "demo",
        "2.0",
        "reviewed",
        &meta(),
    )
    .await
    .expect("approve");
    let entries = h.s.db.journal_since(serial, 10).await.expect("journal");
    let actions: Vec<&str> = entries.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        vec!["new release", "add py3 file demo-2.0-py3-none-any.whl"]
    );
    assert_eq!(h.s.db.releases_of(p.id).await.expect("r").len(), 2);
    let twice =
        h.s.admin_approve_release(
            &crate::admin::AdminCap::test(ops()),
            "demo",
            "2.0",
            "again",
            &meta(),
        )
        .await;
    assert!(matches!(twice, Err(CoreError::Conflict(_))));
}

#[tokio::test]
async fn new_project_names_refuse_prohibited_confusable_and_removed_names() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.s.admin_prohibit_name(&ops(), "evil-pkg", "typosquat", &meta())
        .await
        .expect("prohibit");
    let check = |n: &str| ProjectName::new(n).expect("name");
    let m = bad_request(h.s.check_new_project_name(&check("Evil_Pkg"), None).await);
    assert_eq!(
        m,
        "The name 'Evil_Pkg' isn't allowed. The index's administrators decide which names are allowed. See /help/#project-names for more information."
    );
    let m = bad_request(h.s.check_new_project_name(&check("evi1pkg"), None).await);
    assert!(
        m.contains("too similar to the prohibited name 'evil-pkg'"),
        "{m}"
    );
    h.s.check_new_project_name(&check("good-pkg"), None)
        .await
        .expect("free");

    h.publish(&alice, "Gone", "1.0").await;
    h.s.remove_project(&Authority::Owner(&alice), "gone", "", &meta())
        .await
        .expect("owner deletes");
    let m = bad_request(h.s.check_new_project_name(&check("g0ne"), None).await);
    assert!(m.contains("belonged to a project that was removed"), "{m}");
    // Its member is told why; anyone else gets what any existing project's confusable name
    // gets, not the removed project's state.
    let m = bad_request(
        h.s.check_new_project_name(&check("g0ne"), Some(alice.id))
            .await,
    );
    assert!(m.contains("belonged to a project that was removed"), "{m}");
    let bob = h.user("bob").await;
    let m = bad_request(
        h.s.check_new_project_name(&check("g0ne"), Some(bob.id))
            .await,
    );
    assert_eq!(
        m,
        "The name 'g0ne' is too similar to an existing project. Project names are first come, first served: choose another name, or ask an Owner of the project or the index's administrators. See /help/#project-names for more information."
    );
    let allowed =
        h.s.admin_allow_name(&ops(), "gone", "released", &meta())
            .await
            .expect("allow");
    assert_eq!(allowed.removed_projects, vec!["Gone".to_string()]);
    assert!(!allowed.prohibition);
    h.s.check_new_project_name(&check("Gone"), Some(bob.id))
        .await
        .expect("free again");
    let nothing = h.s.admin_allow_name(&ops(), "other", "x", &meta()).await;
    assert!(matches!(nothing, Err(CoreError::NotFound(_))));
}

#[test]
fn role_replay_follows_the_log() {
    let e = |action: &str, project: i64, actor: Option<i64>, d: serde_json::Value| {
        strongroom_store::model::Event {
            seq: 0,
            at: 0,
            actor_id: actor,
            actor_name: None,
            action: action.into(),
            subject_kind: "project".into(),
            subject_id: Some(project),
            subject_name: None,
            ip: None,
            user_agent: None,
            request_id: None,
            details: d.to_string(),
            prev_hash: String::new(),
            hash: String::new(),
        }
    };
    let mut log = vec![
        e(
            "project:create",
            1,
            Some(7),
            serde_json::json!({"role": "Owner"}),
        ),
        e(
            "project:create",
            2,
            Some(8),
            serde_json::json!({"role": "Owner"}),
        ),
        e(
            "role:add",
            2,
            Some(8),
            serde_json::json!({"user_id": 7, "role": "Maintainer"}),
        ),
        e(
            "role:change",
            2,
            Some(8),
            serde_json::json!({"user_id": 7, "from": "Maintainer", "to": "Owner"}),
        ),
        e(
            "role:add",
            3,
            Some(8),
            serde_json::json!({"user_id": 7, "role": "Maintainer"}),
        ),
        e("role:remove", 3, Some(8), serde_json::json!({"user_id": 7})),
        e(
            "role:add",
            4,
            Some(8),
            serde_json::json!({"user_id": 77, "role": "Owner"}),
        ),
    ];
    for (i, ev) in log.iter_mut().enumerate() {
        ev.at = (i64::try_from(i).unwrap_or(0) + 1) * 1000;
    }
    let held = replay_roles(&log, 7);
    assert_eq!(
        held.iter().map(|(p, h)| (*p, h.role)).collect::<Vec<_>>(),
        vec![(1, ProjectRole::Owner), (2, ProjectRole::Owner)]
    );
    // Tenure: since the role was first held (project 2: since the change to Owner).
    assert_eq!(held[&1].since, log[0].at);
    assert_eq!(held[&2].since, log[3].at);
    assert_eq!(
        replay_roles(&log[..3], 7).get(&2).map(|h| h.role.as_str()),
        Some("Maintainer")
    );
}

#[tokio::test]
async fn restore_user_regrants_roles_held_at_the_time_on_projects_still_there() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.publish(&alice, "Kept", "1.0").await;
    h.publish(&alice, "Other", "1.0").await;
    h.publish(&bob, "Bobs", "1.0").await;
    let (kept, other, bobs) = (
        h.project_id("kept").await,
        h.project_id("other").await,
        h.project_id("bobs").await,
    );
    // Bob co-owns Alice's projects (so she may delete her account); Alice joins Bobs as a
    // Maintainer and is later made an Owner.
    for p in [kept, other] {
        sqlx_free_grant(&h, p, bob.id, ProjectRole::Owner).await;
    }
    h.role_event(
        "role:add",
        bobs,
        serde_json::json!({"user_id": alice.id, "role": "Maintainer"}),
    )
    .await;
    let as_maintainer = h.s.now();
    h.role_event(
        "role:change",
        bobs,
        serde_json::json!({"user_id": alice.id, "from": "Maintainer", "to": "Owner"}),
    )
    .await;
    sqlx_free_grant(&h, bobs, alice.id, ProjectRole::Owner).await;

    h.clock.advance(1_000_000);
    h.s.delete_account(&ops(), &alice, "asked by the owner", &meta())
        .await
        .expect("delete");
    assert!(h.s.db.role_of(bobs, alice.id).await.expect("r").is_none());
    h.s.remove_project(
        &Authority::Admin(&crate::admin::AdminCap::test(ops())),
        "other",
        "spam",
        &meta(),
    )
    .await
    .expect("remove other");

    let not_deleted =
        h.s.admin_restore_user(&ops(), "bob", None, None, "x", &meta())
            .await;
    assert!(matches!(not_deleted, Err(CoreError::Conflict(_))));
    h.clock.advance(1_000_000);
    let r =
        h.s.admin_restore_user(&ops(), "alice", None, None, "mistaken deletion", &meta())
            .await
            .expect("restore");
    assert_eq!(
        r.roles,
        vec![
            ("Kept".to_string(), ProjectRole::Owner),
            ("Bobs".to_string(), ProjectRole::Owner)
        ]
    );
    assert_eq!(r.skipped, vec![("Other".to_string(), ProjectRole::Owner)]);
    let back = h.s.db.user_by_id(alice.id).await.expect("r").expect("u");
    assert_eq!(
        (back.deleted_at, back.password_disabled.as_deref()),
        (None, Some("restored"))
    );
    assert_eq!(
        h.s.db.role_of(bobs, alice.id).await.expect("r"),
        Some(ProjectRole::Owner)
    );
    let events = h.s.db.events(0, 1000).await.expect("events");
    let via_restore = events
        .iter()
        .filter(|e| e.action == "role:add" && e.details.contains("\"via\":\"restore\""))
        .count();
    assert_eq!(via_restore, 2);
    assert!(events.iter().any(|e| e.action == "admin:user:restore"));

    // Deleted again, restored with the roles of an earlier moment: only what was held then.
    h.clock.advance(1_000_000);
    let alice = h.s.db.user_by_id(alice.id).await.expect("r").expect("u");
    h.s.delete_account(&ops(), &alice, "again", &meta())
        .await
        .expect("delete");
    h.clock.advance(1_000_000);
    let r =
        h.s.admin_restore_user(
            &ops(),
            "alice",
            Some(as_maintainer),
            None,
            "earlier",
            &meta(),
        )
        .await
        .expect("restore");
    assert_eq!(
        r.roles,
        vec![
            ("Kept".to_string(), ProjectRole::Owner),
            ("Bobs".to_string(), ProjectRole::Maintainer)
        ]
    );
}

#[tokio::test]
async fn a_newcomer_owner_cannot_remove_what_an_older_owner_published() {
    let h = harness().await;
    let alice = h.user("alice").await;
    let bob = h.user("bob").await;
    h.publish(&alice, "Demo", "1.0").await;
    h.clock.advance(30 * 86_400_000_000);
    let p = h.s.db.project_state("demo").await.expect("r").expect("p");
    sqlx_free_grant(&h, p.id, bob.id, ProjectRole::Owner).await;
    let m = forbidden(
        h.s.remove_release(&Authority::Owner(&bob), "demo", "1.0", "cleanup", &meta())
            .await,
    );
    assert!(m.contains("less than 7 days") && m.contains("alice"), "{m}");
    let m = forbidden(
        h.s.remove_project(&Authority::Owner(&bob), "demo", "cleanup", &meta())
            .await,
    );
    assert!(m.contains("alice"), "{m}");
    let from = RequestMeta {
        ip: Some("203.0.113.5".into()),
        user_agent: Some("test-browser".into()),
        request_id: None,
    };
    let m = forbidden(
        h.s.remove_file(
            &Authority::Owner(&bob),
            "demo",
            "1.0",
            "demo-1.0-py3-none-any.whl",
            "cleanup",
            &from,
        )
        .await,
    );
    assert!(m.contains("alice"), "{m}");
    // Each refusal is an event, with who, from where, and what it reached for.
    let refused: Vec<_> =
        h.s.db
            .events(0, 10_000)
            .await
            .expect("events")
            .into_iter()
            .filter(|e| e.action == "removal:refused:newcomer")
            .collect();
    let what: Vec<String> = refused
        .iter()
        .map(|e| {
            assert_eq!(e.actor_name.as_deref(), Some("bob"));
            assert_eq!(e.subject_name.as_deref(), Some("Demo"));
            let d: serde_json::Value = serde_json::from_str(&e.details).expect("json");
            assert_eq!(d["elder_owner"], "alice", "{d}");
            d["refused"].as_str().expect("refused").to_owned()
        })
        .collect();
    assert_eq!(what, ["remove-release", "remove-project", "remove-file"]);
    let last = refused.last().expect("file");
    assert_eq!(last.ip.as_deref(), Some("203.0.113.5"));
    assert_eq!(last.user_agent.as_deref(), Some("test-browser"));
    assert!(
        last.details.contains("demo-1.0-py3-none-any.whl"),
        "{}",
        last.details
    );
    // A loop is refused every time; only the first of each kind in a window is logged.
    for _ in 0..40 {
        forbidden(
            h.s.remove_project(&Authority::Owner(&bob), "demo", "cleanup", &meta())
                .await,
        );
    }
    assert_eq!(
        h.s.db
            .events(0, 10_000)
            .await
            .expect("events")
            .iter()
            .filter(|e| e.action == "removal:refused:newcomer")
            .count(),
        3,
        "one per refused kind (release, project, file) in the window"
    );
    // The older Owner may; so may the newcomer once it is one no longer.
    h.clock.advance(7 * 86_400_000_000);
    h.s.remove_release(&Authority::Owner(&bob), "demo", "1.0", "cleanup", &meta())
        .await
        .expect("no longer a newcomer");
}

/// The admin guide's promise: `prohibit acme-utils` covers `acrne-utils` and the other
/// spellings, and a removed project's name is burned under the same skeleton.
#[tokio::test]
async fn prohibition_and_removed_names_use_the_confusable_skeleton() {
    let h = harness().await;
    let alice = h.user("alice").await;
    h.s.admin_prohibit_name(&ops(), "acme-utils", "malware", &meta())
        .await
        .expect("prohibit");
    let check = |n: &str| ProjectName::new(n).expect("name");
    let m = bad_request(h.s.check_new_project_name(&check("ACME.utils"), None).await);
    assert!(m.starts_with("The name 'ACME.utils' isn't allowed."), "{m}");
    for spelling in ["acrne-utils", "acme_uti1s", "acrne_uti1s"] {
        let m = bad_request(h.s.check_new_project_name(&check(spelling), None).await);
        assert!(
            m.contains("too similar to the prohibited name 'acme-utils'"),
            "{spelling}: {m}"
        );
    }
    h.s.check_new_project_name(&check("acme-tools"), None)
        .await
        .expect("a different name is free");

    h.publish(&alice, "modern-wheel", "1.0").await;
    h.s.remove_project(&Authority::Owner(&alice), "modern-wheel", "", &meta())
        .await
        .expect("owner deletes");
    for spelling in ["modem-wheel", "rnodern-vvheel", "modern_whee1"] {
        let m = bad_request(
            h.s.check_new_project_name(&check(spelling), Some(alice.id))
                .await,
        );
        assert!(
            m.contains("belonged to a project that was removed"),
            "{spelling}: {m}"
        );
    }
}
