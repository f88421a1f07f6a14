//! Upstream rules and the name watch (migration 0025), on both engines: a rule is kept once per
//! project, kind and version (a second `put` replaces its reason), deleting returns what was
//! there, every change bumps the upstream generation in its transaction and a rolled-back one
//! does not; a name is marked found once per upstream.

use super::backends;
use crate::upstream_rules::{UpstreamRule, UpstreamRuleKind};

fn rule(
    project: &str,
    version: Option<&str>,
    kind: UpstreamRuleKind,
    reason: &str,
) -> UpstreamRule {
    UpstreamRule {
        project: project.into(),
        version: version.map(str::to_owned),
        kind,
        reason: reason.into(),
        created_at: 10,
        created_by: "cli:ops".into(),
    }
}

#[tokio::test]
async fn rules_are_kept_replaced_and_deleted_with_the_generation_bumped() {
    use UpstreamRuleKind::{Allow, Block};
    for (name, db, _d) in backends().await {
        let g0 = db.upstream_generation().await.expect("gen");
        let mut tx = db.begin_admin().await.expect("tx");
        let old = tx
            .put_upstream_rule(&rule("ctx", None, Block, "malware"))
            .await
            .expect("put");
        assert_eq!(old, None, "{name}");
        tx.put_upstream_rule(&rule("ctx", Some("0.2.2"), Allow, "fix"))
            .await
            .expect("put");
        // The same version blocked too is another rule.
        tx.put_upstream_rule(&rule("ctx", Some("0.2.2"), Block, "bad"))
            .await
            .expect("put");
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(
            db.upstream_generation().await.expect("gen"),
            g0 + 3,
            "{name}"
        );

        let mut tx = db.begin_admin().await.expect("tx");
        let old = tx
            .put_upstream_rule(&rule("ctx", None, Block, "still malware"))
            .await
            .expect("put again");
        assert_eq!(old.map(|r| r.reason).as_deref(), Some("malware"), "{name}");
        tx.commit(&[], &[]).await.expect("commit");
        let rules = db.upstream_rules_of("ctx").await.expect("rules");
        let seen: Vec<(UpstreamRuleKind, Option<&str>, &str)> = rules
            .iter()
            .map(|r| (r.kind, r.version.as_deref(), r.reason.as_str()))
            .collect();
        assert_eq!(
            seen,
            [
                (Allow, Some("0.2.2"), "fix"),
                (Block, None, "still malware"),
                (Block, Some("0.2.2"), "bad"),
            ],
            "{name}"
        );
        assert_eq!(
            db.upstream_rules_all(10).await.expect("all").len(),
            3,
            "{name}"
        );
        assert!(
            db.upstream_rules_of("other")
                .await
                .expect("rules")
                .is_empty()
        );

        let g1 = db.upstream_generation().await.expect("gen");
        // A rolled-back change leaves rules and generation as they were.
        {
            let mut tx = db.begin_admin().await.expect("tx");
            tx.delete_upstream_rule("ctx", Block, None)
                .await
                .expect("delete");
        }
        assert_eq!(
            db.upstream_rules_of("ctx").await.expect("rules").len(),
            3,
            "{name}"
        );
        assert_eq!(db.upstream_generation().await.expect("gen"), g1, "{name}");

        let mut tx = db.begin_admin().await.expect("tx");
        let gone = tx
            .delete_upstream_rule("ctx", Block, None)
            .await
            .expect("delete");
        assert_eq!(
            gone.map(|r| r.reason).as_deref(),
            Some("still malware"),
            "{name}"
        );
        // Nothing to delete: no bump.
        let none = tx
            .delete_upstream_rule("ctx", Allow, None)
            .await
            .expect("delete");
        assert_eq!(none, None, "{name}");
        tx.commit(&[], &[]).await.expect("commit");
        assert_eq!(
            db.upstream_generation().await.expect("gen"),
            g1 + 1,
            "{name}"
        );
        assert_eq!(
            db.upstream_rules_of("ctx").await.expect("rules").len(),
            2,
            "{name}"
        );
    }
}

#[tokio::test]
async fn a_name_is_found_once_per_upstream() {
    for (name, db, _d) in backends().await {
        let (a, b) = ("http://a.test/simple/", "http://b.test/simple/");
        db.record_name_check("acme-lib", a, 5).await.expect("check");
        db.record_name_check("acme-lib", a, 6).await.expect("check");
        let checks = db.name_checks(a).await.expect("checks");
        assert_eq!(checks.len(), 1, "{name}");
        assert_eq!(
            (checks[0].checked_at, checks[0].found_at),
            (6, None),
            "{name}"
        );

        let mut tx = db.begin_admin().await.expect("tx");
        assert!(
            tx.mark_name_found("acme-lib", a, 7).await.expect("mark"),
            "{name}"
        );
        assert!(
            !tx.mark_name_found("acme-lib", a, 8).await.expect("mark"),
            "{name}"
        );
        assert!(
            tx.mark_name_found("acme-lib", b, 8).await.expect("mark"),
            "{name}"
        );
        tx.commit(&[], &[]).await.expect("commit");
        // A later plain check keeps the first finding.
        db.record_name_check("acme-lib", a, 9).await.expect("check");
        let checks = db.name_checks(a).await.expect("checks");
        assert_eq!(
            (checks[0].checked_at, checks[0].found_at),
            (9, Some(7)),
            "{name}"
        );
        let found = db.name_conflicts(10).await.expect("conflicts");
        assert_eq!(
            found,
            [
                ("acme-lib".to_owned(), b.to_owned(), 8),
                ("acme-lib".to_owned(), a.to_owned(), 7)
            ],
            "{name}"
        );
    }
}
