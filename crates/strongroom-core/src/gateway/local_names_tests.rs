//! Names moving between local and upstream (`gateway::local_names`) over a real store: a new
//! local project may not take a name the gateway serves from an upstream unless it is reserved;
//! prohibited names' confusables stay local; freeing a name known upstream says so.

use strongroom_protocol::simple::read::{UpstreamPage, UpstreamStatus};
use strongroom_protocol::{NamePattern, NormalizedName};
use strongroom_store::model::{ApiToken, User};
use strongroom_store::upstream_pages::NewUpstreamPage;
use strongroom_upstream::UpstreamIndex;

use super::Resolution;
use crate::admin::Authority;
use crate::test_harness::{Harness, T0, sdist};
use crate::tokens::Principal;
use crate::upload_checks::UploadForm;
use crate::{Actor, CoreError, RequestMeta};

const UP: &str = "http://127.0.0.1:9/simple/";

async fn gateway() -> Harness {
    Harness::with(|_, s| {
        s.upstream.client.indexes = vec![UpstreamIndex {
            url: UP.into(),
            username: None,
            password: None,
        }];
        s.upstream.private_patterns = ["acme_*", "corp-lib"]
            .iter()
            .map(|p| NamePattern::new(p).expect("pattern"))
            .collect();
    })
    .await
}

fn ops() -> Actor {
    Actor {
        id: None,
        name: "cli:ops".into(),
    }
}

fn principal(u: &User) -> Principal {
    Principal {
        user: u.clone(),
        token: ApiToken {
            id: 1,
            user_id: u.id,
            name: "t".into(),
            token_hash: String::new(),
            project_id: None,
            project_name: None,
            created_at: T0,
            expires_at: None,
            last_used_at: None,
            revoked_at: None,
        },
    }
}

fn form(project: &str) -> UploadForm {
    UploadForm {
        fields: [
            (":action", "file_upload"),
            ("protocol_version", "1"),
            ("metadata_version", "2.1"),
            ("name", project),
            ("version", "1.0"),
            ("filetype", "sdist"),
            ("pyversion", "source"),
            ("sha256_digest", &"ab".repeat(32)),
        ]
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect(),
    }
}

/// The gateway stored `project`'s page from the upstream (`found`: it knew the name).
async fn served(h: &Harness, project: &str, found: bool) {
    let page = UpstreamPage {
        name: project.into(),
        status: UpstreamStatus::Active,
        status_reason: None,
        versions: Vec::new(),
        files: Vec::new(),
    };
    let json = serde_json::to_string(&page).expect("json");
    h.s.db
        .save_upstream_page(&NewUpstreamPage {
            project,
            upstream_url: UP,
            page: found.then_some(json.as_str()),
            etag: None,
            now: T0,
        })
        .await
        .expect("save");
}

async fn precheck(h: &Harness, u: &User, project: &str) -> Result<String, CoreError> {
    h.s.precheck_upload(&principal(u), &form(project), &RequestMeta::default())
        .await
}

#[tokio::test]
async fn a_new_project_may_not_take_a_name_the_gateway_serves_unless_it_is_reserved() {
    let h = gateway().await;
    let alice = h.user("alice").await;
    for n in ["pub-lib", "acme-tools", "corp-lib"] {
        served(&h, n, true).await;
    }
    served(&h, "unknown-lib", false).await;

    // Served from the upstream: refused, in any spelling, with strongroom's own message.
    for spelling in ["pub-lib", "Pub_Lib", "PUB.lib"] {
        let r = precheck(&h, &alice, spelling).await;
        let Err(CoreError::Invalid(m)) = &r else {
            panic!("{spelling}: {r:?}")
        };
        assert!(
            m.contains("this index serves a project of that name from its upstream index")
                && m.contains("upstream.private_patterns")
                && m.ends_with("See /help/#project-names for more information."),
            "{m}"
        );
        assert!(!m.to_lowercase().contains("pypi"), "{m}");
    }
    // Administrators too: their way to declare the name private is reserving it.
    let mut root = h.user("root").await;
    root.is_admin = true;
    assert!(matches!(
        precheck(&h, &root, "pub-lib").await,
        Err(CoreError::Invalid(_))
    ));
    assert!(
        h.s.db
            .project_by_normalized("pub-lib")
            .await
            .expect("db")
            .is_none()
    );

    // Reserved (a pattern, or a literal name): the admins declared it private.
    assert_eq!(
        precheck(&h, &alice, "acme_tools").await.expect("reserved"),
        "acme_tools"
    );
    assert_eq!(
        precheck(&h, &alice, "corp-lib").await.expect("literal"),
        "corp-lib"
    );
    // Never served: an upstream "not found", or a name nobody asked for.
    precheck(&h, &alice, "unknown-lib")
        .await
        .expect("not found upstream");
    precheck(&h, &alice, "fresh-lib")
        .await
        .expect("never asked");

    // Kept files, or a name the watch found upstream, count as served too.
    let mut tx = h.s.db.begin_admin().await.expect("tx");
    tx.mark_name_found("watched-lib", UP, T0)
        .await
        .expect("found");
    tx.commit(&[], &[]).await.expect("commit");
    assert!(matches!(
        precheck(&h, &alice, "watched-lib").await,
        Err(CoreError::Invalid(_))
    ));

    // Without an upstream, nothing is served from one: local only, as before.
    let off = Harness::new().await;
    let carol = off.user("carol").await;
    served(&off, "pub-lib", true).await;
    precheck(&off, &carol, "pub-lib").await.expect("no gateway");
}

#[tokio::test]
async fn a_prohibited_name_and_its_confusables_resolve_locally() {
    let h = gateway().await;
    let mut tx = h.s.db.begin_admin().await.expect("tx");
    tx.prohibit_name(
        "banned-lib",
        "banned-lib",
        &strongroom_protocol::name::skeleton("banned-lib"),
        "malware",
        "admin",
        T0,
    )
    .await
    .expect("prohibit");
    tx.commit(&[], &[]).await.expect("commit");
    for n in [
        "banned-lib",
        "banned-1ib",
        "Banned_LIB",
        "bannedlib",
        "banned-l1b",
    ] {
        let name = NormalizedName::new(n).expect("name");
        assert_eq!(
            h.s.resolve_name(&name).await.expect("resolve"),
            Resolution::Local,
            "{n}"
        );
    }
    let other = NormalizedName::new("bandit-lib").expect("name");
    assert_eq!(
        h.s.resolve_name(&other).await.expect("resolve"),
        Resolution::Upstream
    );
}

#[tokio::test]
async fn freeing_a_name_the_gateway_knows_upstream_warns() {
    let h = gateway().await;
    let alice = h.user("alice").await;
    // A removed project whose name the gateway had served before it became local.
    served(&h, "gone-lib", true).await;
    h.s.db
        .publish_file(&sdist(
            "gone-lib",
            "1.0",
            &alice,
            T0,
            "gone-lib-1.0.tar.gz".into(),
            "g",
        ))
        .await
        .expect("publish");
    h.s.remove_project(
        &Authority::Owner(&alice),
        "gone-lib",
        "",
        &RequestMeta::default(),
    )
    .await
    .expect("remove");
    let allowed =
        h.s.admin_allow_name(&ops(), "gone-lib", "free the name", &RequestMeta::default())
            .await
            .expect("allow");
    assert_eq!(allowed.upstream.len(), 1, "{allowed:?}");
    assert_eq!(allowed.upstream[0].name, "gone-lib");
    assert!(allowed.upstream[0].served);
    let ev = h.event_details("admin:name:allow").await;
    assert_eq!(ev[0]["known_upstream"], serde_json::json!(["gone-lib"]));

    // A prohibited name the name watch found upstream.
    let mut tx = h.s.db.begin_admin().await.expect("tx");
    tx.prohibit_name("bad-lib", "bad-lib", "badlib", "x", "admin", T0)
        .await
        .expect("prohibit");
    tx.mark_name_found("bad-lib", UP, T0).await.expect("found");
    tx.commit(&[], &[]).await.expect("commit");
    let allowed =
        h.s.admin_allow_name(&ops(), "bad-lib", "ok now", &RequestMeta::default())
            .await
            .expect("allow");
    assert_eq!(allowed.upstream.len(), 1);
    assert!(!allowed.upstream[0].served);
    assert_eq!(allowed.upstream[0].found_at, [UP]);

    // Nothing known upstream, or reserved (it stays local): no warning.
    for (n, sk) in [("quiet-lib", "quietlib"), ("acme-x", "acmex")] {
        let mut tx = h.s.db.begin_admin().await.expect("tx");
        tx.prohibit_name(n, n, sk, "x", "admin", T0)
            .await
            .expect("prohibit");
        tx.mark_name_found("acme-x", UP, T0).await.expect("found");
        tx.commit(&[], &[]).await.expect("commit");
        let allowed =
            h.s.admin_allow_name(&ops(), n, "ok", &RequestMeta::default())
                .await
                .expect("allow");
        assert!(allowed.upstream.is_empty(), "{n}: {allowed:?}");
    }
}
