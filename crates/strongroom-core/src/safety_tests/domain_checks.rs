//! The email-domain check through `Services`, with a table instead of DNS and RDAP.

use super::*;

/// DNS and RDAP answers by domain.
#[derive(Default)]
struct Table {
    dns: HashMap<String, DnsOutcome>,
    rdap: HashMap<String, RdapOutcome>,
}

impl DomainProbe for Table {
    async fn dns(&self, domain: &str) -> DnsOutcome {
        self.dns
            .get(domain)
            .cloned()
            .unwrap_or(DnsOutcome::Resolves)
    }

    async fn rdap(&self, domain: &str) -> RdapOutcome {
        self.rdap
            .get(domain)
            .cloned()
            .unwrap_or(RdapOutcome::NotFound)
    }
}

#[tokio::test]
async fn the_domain_check_unverifies_and_tells_only_the_other_addresses() {
    let h = harness().await;
    let kim = h.user("kim").await;
    let s = h.login("kim").await;
    h.s.add_email(&s, "kim@lapsed.example", &meta())
        .await
        .expect("add");
    let t = h.token_in_mail("kim@lapsed.example", "Verify").await;
    h.s.verify_email(&t, &meta()).await.expect("verify");
    let lone =
        h.s.create_user("lone", "lone@gone.example", PW, false, &meta())
            .await
            .expect("lone");
    let mut probe = Table::default();
    probe.rdap.insert(
        "lapsed.example".into(),
        RdapOutcome::Found(RdapInfo {
            domain: "lapsed.example".into(),
            statuses: vec!["redemption period".into()],
            ..RdapInfo::default()
        }),
    );
    probe
        .dns
        .insert("gone.example".into(), DnsOutcome::NxDomain);
    let actor = Actor {
        id: None,
        name: "cli:test".into(),
    };
    let report =
        h.s.check_domains_with(&probe, &actor, &meta(), i64::MAX, 1000)
            .await
            .expect("check");
    let mut gone: Vec<(String, &str)> = report
        .unverified
        .iter()
        .map(|u| (u.address.clone(), u.kind.as_str()))
        .collect();
    gone.sort();
    assert_eq!(
        gone,
        vec![
            ("kim@lapsed.example".to_owned(), "lapsed"),
            ("lone@gone.example".to_owned(), "unresolvable"),
        ]
    );
    let kim_addrs = h.s.db.emails_of(kim.id).await.expect("e");
    assert!(
        kim_addrs[0].verified_at.is_some(),
        "the healthy address stays verified"
    );
    assert!(kim_addrs[1].verified_at.is_none());
    let notice = h.mails("kim@example.org", "no longer verified").await;
    assert_eq!(notice.len(), 1);
    assert!(notice[0].contains("kim@lapsed.example") && notice[0].contains("redemption period"));
    assert!(
        h.s.db
            .emails_of(lone.id)
            .await
            .expect("e")
            .iter()
            .all(|e| e.verified_at.is_none())
    );
    let ev = h.event_details("account:email:unverified").await;
    assert_eq!(ev.len(), 2);
    assert!(
        ev.iter()
            .any(|d| d["address"] == "kim@lapsed.example" && d["reason"] == "lapsed")
    );
    // Never told at the suspicious address itself.
    assert!(
        h.mails("lone@gone.example", "")
            .await
            .iter()
            .all(|b| !b.contains("no longer verified"))
    );
    assert!(
        h.mails("kim@lapsed.example", "no longer verified")
            .await
            .is_empty()
    );
    // A password reset now goes nowhere for lone (its only address is unverified), asked for
    // by name or by the address itself; kim's goes to the healthy address only.
    let before = h.mails("lone@gone.example", "").await.len();
    h.s.request_password_reset("lone", &meta())
        .await
        .expect("request");
    h.s.request_password_reset("lone@gone.example", &meta())
        .await
        .expect("request");
    assert_eq!(h.mails("lone@gone.example", "").await.len(), before);
    h.s.request_password_reset("kim@lapsed.example", &meta())
        .await
        .expect("request");
    assert!(h.mails("kim@lapsed.example", "Reset").await.is_empty());
    assert_eq!(h.mails("kim@example.org", "Reset").await.len(), 1);
    let req = h.event_details("account:password:reset_request").await;
    assert_eq!(
        req.iter().filter(|d| d["mailed"] == true).count(),
        1,
        "{req:?}"
    );
}

#[tokio::test]
async fn failures_to_find_out_change_nothing_and_healthy_domains_wait_for_the_interval() {
    let h = harness().await;
    let max = h.user("max").await;
    let mut probe = Table::default();
    probe
        .dns
        .insert("example.org".into(), DnsOutcome::Error("timeout".into()));
    let actor = Actor {
        id: None,
        name: "job".into(),
    };
    let r =
        h.s.check_domains_with(&probe, &actor, &meta(), i64::MAX, 1000)
            .await
            .expect("check");
    assert!(r.unverified.is_empty());
    assert_eq!(r.retry, vec!["max@example.org".to_owned()]);
    assert!(
        h.s.db.emails_of(max.id).await.expect("e")[0]
            .verified_at
            .is_some()
    );
    let state = h.s.db.email_domain_states(max.id).await.expect("s");
    assert_eq!(
        state[0].domain_checked_at,
        Some(h.s.now()),
        "every attempt is recorded"
    );
    assert_eq!(state[0].domain_failures, 1, "retried later, with backoff");

    // Healthy: checked now, not due again until the interval passed.
    let healthy = Table::default();
    let r =
        h.s.check_domains_with(&healthy, &actor, &meta(), i64::MAX, 1000)
            .await
            .expect("check");
    assert_eq!(
        r.domains,
        vec![("example.org".to_owned(), "healthy".to_owned())]
    );
    let due = |at: i64| {
        let db = h.s.db.clone();
        async move {
            db.addresses_due_for_domain_check(at, at, 100)
                .await
                .expect("due")
                .len()
        }
    };
    assert_eq!(due(h.s.now() - HOUR_MICROS).await, 0);
    assert_eq!(due(h.s.now()).await, 1);
}
