//! The impact report's tests: file windows, requirement names and patterns, event kinds, the
//! query's checks, and a report over SQLite (addresses listed, then counted per day).

use super::*;

fn file(uploaded_at: i64) -> ImpactFile {
    ImpactFile {
        version: "0.2.2".into(),
        filename: "ctx-0.2.2.tar.gz".into(),
        sha256: "a".repeat(64),
        uploaded_at,
        yanked_at: None,
        quarantined_at: None,
        release_removed_at: None,
        held_at: None,
        file_removed_at: None,
    }
}

fn ev(at: i64, kind: EventKind) -> ImpactEvent {
    ImpactEvent {
        at,
        kind,
        action: kind.as_str().into(),
        actor: "admin".into(),
        version: Some("0.2.2".into()),
        filename: None,
    }
}

#[test]
fn windows_open_at_upload_or_approval_and_close_at_the_first_end() {
    assert_eq!(window(&file(10), &[]), (Some(10), None, None));
    let removed = ImpactFile {
        yanked_at: Some(50),
        release_removed_at: Some(40),
        ..file(10)
    };
    assert_eq!(
        window(&removed, &[]),
        (Some(10), Some(40), Some(WindowEnd::Removed))
    );
    // Held at upload, approved at 30, yanked at 60.
    let approved = ImpactFile {
        yanked_at: Some(60),
        ..file(10)
    };
    let events = [ev(10, EventKind::Quarantine), ev(30, EventKind::Approve)];
    assert_eq!(
        window(&approved, &events),
        (Some(30), Some(60), Some(WindowEnd::Yanked))
    );
    // Still held: never installable.
    let held = ImpactFile {
        quarantined_at: Some(10),
        ..file(10)
    };
    assert_eq!(window(&held, &events[..1]), (None, None, None));
    // Quarantined later by an admin: the window closes then.
    let later = ImpactFile {
        quarantined_at: Some(70),
        ..file(10)
    };
    assert_eq!(
        window(&later, &[]),
        (Some(10), Some(70), Some(WindowEnd::Quarantined))
    );
    // Another version's events do not count.
    let other = ImpactEvent {
        version: Some("0.1.2".into()),
        ..ev(5, EventKind::Hold)
    };
    assert_eq!(window(&file(10), &[other]), (Some(10), None, None));
}

#[test]
fn requirement_names_and_patterns() {
    assert_eq!(
        requirement_name("CTX>=0.1; python_version>'3'").as_deref(),
        Some("ctx")
    );
    assert_eq!(
        requirement_name("Foo_Bar[extra] (>=1)").as_deref(),
        Some("foo-bar")
    );
    assert_eq!(requirement_name("ctxx").as_deref(), Some("ctxx"));
    assert_eq!(requirement_name(">=1"), None);
    assert_eq!(like_pattern("foo-bar"), "%foo_bar%");
}

#[test]
fn event_kinds_of_actions() {
    assert_eq!(EventKind::of("file:upload"), Some(EventKind::Upload));
    assert_eq!(
        EventKind::of("admin:release:remove"),
        Some(EventKind::Removal)
    );
    assert_eq!(
        EventKind::of("admin:release:approve"),
        Some(EventKind::Approve)
    );
    assert_eq!(
        EventKind::of("release:quarantine"),
        Some(EventKind::Quarantine)
    );
    assert_eq!(EventKind::of("role:add"), None);
}

/// An upstream project (no local row): its files come from the download log; addresses
/// are listed while on record and only counted once the retention job folded their day,
/// and the counts per client kind outlive the user agents.
#[tokio::test]
async fn addresses_are_listed_then_counted_and_kinds_outlive_the_retention() {
    use crate::download_log::Origin;
    let (s, clock, _dir) = crate::test_harness::services(|_, _| {}).await;
    let sha = "b".repeat(64);
    for (ip, ua) in [
        ("10.0.0.1", "pip/24.0 {}"),
        ("10.0.0.2", "uv/0.5.11 {}"),
        ("10.0.0.3", "bandersnatch 6.5.0 (cpython)"),
        ("10.0.0.1", "uv/0.5.11 {}"),
    ] {
        let m = crate::RequestMeta {
            ip: Some(ip.into()),
            user_agent: Some(ua.into()),
            request_id: None,
        };
        s.record_download(
            Origin::Upstream,
            "ctx",
            "0.2.2",
            "ctx-0.2.2.tar.gz",
            &sha,
            &m,
        );
    }
    s.record_page_hit("ctx", Some("pip/24.0 {}"));
    s.record_page_hit("ctx", Some("bandersnatch 6.5.0 (cpython)"));
    s.downloads.flush(&s.db).await.expect("flush");
    let q = ImpactQuery::parse("ctx", None, None).expect("query");
    let r = s.impact_report(&q).await.expect("report");
    assert!(!r.local);
    assert_eq!(r.files.len(), 1);
    assert_eq!(
        (r.files[0].downloads, r.files[0].installable_from),
        (4, None)
    );
    let kind = |r: &ImpactReport, k: ClientKind| {
        let c = &r.kinds[k.index()];
        (c.page_hits, c.downloads)
    };
    assert_eq!(kind(&r, ClientKind::Pip), (1, 1));
    assert_eq!(kind(&r, ClientKind::Uv), (0, 2));
    assert_eq!(kind(&r, ClientKind::Bandersnatch), (1, 1));
    // One row per address and release, most downloads first.
    assert_eq!(r.clients.len(), 3, "{:?}", r.clients);
    assert_eq!(
        (r.clients[0].ip.as_str(), r.clients[0].downloads),
        ("10.0.0.1", 2)
    );
    assert_eq!(r.addresses.len(), 1);
    assert_eq!(
        (r.addresses[0].on_record, r.addresses[0].folded_day_sum),
        (3, 0)
    );
    assert_eq!(r.downloads_per_day().iter().map(|d| d.1).sum::<i64>(), 4);

    // Past the retention the addresses are gone, their number is kept, and so are the
    // counts per kind and per day.
    clock.advance(91 * strongroom_store::download_log::DAY_US);
    s.download_retention_job().await.expect("fold");
    let r = s.impact_report(&q).await.expect("report");
    assert!(r.clients.is_empty());
    assert_eq!(
        (r.addresses[0].on_record, r.addresses[0].folded_day_sum),
        (0, 3)
    );
    assert_eq!(kind(&r, ClientKind::Uv), (0, 2));
    assert_eq!(r.downloads_per_day().iter().map(|d| d.1).sum::<i64>(), 4);
    assert_eq!(r.files[0].downloads, 4);
    // --version narrows to nothing for another version.
    let other = ImpactQuery::parse("ctx", Some("0.1.2"), None).expect("query");
    let r = s.impact_report(&other).await.expect("report");
    assert!(r.files.is_empty() && r.addresses.is_empty());
    assert_eq!(kind(&r, ClientKind::Uv), (0, 0));
}

#[test]
fn queries_are_checked() {
    let q = ImpactQuery::parse("CTX", Some("0.2.2"), Some("2022-05-01")).expect("query");
    assert_eq!(q.project, "ctx");
    assert!(q.wants("0.2.2.0") && !q.wants("0.1.2"));
    assert!(ImpactQuery::parse("ctx", Some("not a version!"), None).is_err());
    assert!(ImpactQuery::parse("ctx", None, Some("yesterday")).is_err());
}
