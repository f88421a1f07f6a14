//! Rounds against a fake probe on a SQLite database with a hand-moved clock.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use super::super::*;
use crate::domains::rdap::RdapInfo;
use crate::settings::HOUR_MICROS;
use crate::test_harness::{T0, services};

const MIN: i64 = 60_000_000;

/// DNS and RDAP answers by domain (default: resolves, no registry object); counts the
/// DNS questions per domain; `hang` never answers.
#[derive(Default)]
struct Fake {
    dns: Mutex<HashMap<String, DnsOutcome>>,
    rdap: Mutex<HashMap<String, RdapOutcome>>,
    asked: Mutex<HashMap<String, usize>>,
    hang: Vec<String>,
    calls: AtomicUsize,
}

impl Fake {
    fn set_dns(&self, d: &str, o: DnsOutcome) {
        self.dns.lock().expect("lock").insert(d.into(), o);
    }
    fn set_rdap(&self, d: &str, o: RdapOutcome) {
        self.rdap.lock().expect("lock").insert(d.into(), o);
    }
    fn asked(&self, d: &str) -> usize {
        self.asked
            .lock()
            .expect("lock")
            .get(d)
            .copied()
            .unwrap_or(0)
    }
}

impl DomainProbe for Fake {
    async fn dns(&self, domain: &str) -> DnsOutcome {
        self.calls.fetch_add(1, Ordering::SeqCst);
        *self
            .asked
            .lock()
            .expect("lock")
            .entry(domain.into())
            .or_default() += 1;
        if self.hang.iter().any(|h| h == domain) {
            std::future::pending::<()>().await;
        }
        let got = self.dns.lock().expect("lock").get(domain).cloned();
        got.unwrap_or(DnsOutcome::Resolves)
    }
    async fn rdap(&self, domain: &str) -> RdapOutcome {
        let got = self.rdap.lock().expect("lock").get(domain).cloned();
        got.unwrap_or(RdapOutcome::NotFound)
    }
}

fn actor() -> Actor {
    Actor {
        id: None,
        name: "job:test".into(),
    }
}

async fn add_user(s: &Services, name: &str, address: &str) -> i64 {
    s.create_user(
        name,
        address,
        "a long test passphrase 42",
        false,
        &RequestMeta::default(),
    )
    .await
    .expect("user")
    .id
}

async fn verified(s: &Services, user_id: i64) -> bool {
    s.db.emails_of(user_id).await.expect("e")[0]
        .verified_at
        .is_some()
}

#[tokio::test]
async fn a_dns_only_bad_answer_needs_a_second_round_minutes_later() {
    let (s, clock, _dir) = services(|_, _| {}).await;
    let ann = add_user(&s, "ann", "ann@glitch.example").await;
    let bo = add_user(&s, "bo", "bo@gone.example").await;
    let fake = Fake::default();
    // glitch.example: the registry knows it, DNS says NXDOMAIN (a resolver glitch?).
    fake.set_dns("glitch.example", DnsOutcome::NxDomain);
    fake.set_rdap(
        "glitch.example",
        RdapOutcome::Found(RdapInfo {
            domain: "glitch.example".into(),
            statuses: vec!["active".into()],
            ..RdapInfo::default()
        }),
    );
    // gone.example: NXDOMAIN and no registry object: confirmed at once.
    fake.set_dns("gone.example", DnsOutcome::NxDomain);
    let r = s
        .check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
        .await
        .expect("round");
    assert_eq!(
        r.unverified
            .iter()
            .map(|u| u.address.as_str())
            .collect::<Vec<_>>(),
        vec!["bo@gone.example"]
    );
    assert!(verified(&s, ann).await, "one sighting changes nothing");
    assert!(!verified(&s, bo).await);
    let glitch = r
        .domains
        .iter()
        .find(|(d, _)| d == "glitch.example")
        .expect("d");
    assert!(glitch.1.starts_with("suspect: unresolvable"), "{glitch:?}");
    let st = &s.db.email_domain_states(ann).await.expect("s")[0];
    assert_eq!(st.domain_suspect_at, Some(T0));
    assert_eq!(
        st.domain_retry_at,
        Some(T0 + CONFIRM_AFTER),
        "rechecked soon"
    );

    // A second look too soon (an operator running the check twice) confirms nothing.
    clock.advance(MIN);
    let r = s
        .check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
        .await
        .expect("round");
    assert!(r.unverified.is_empty());
    assert_eq!(
        s.db.email_domain_states(ann).await.expect("s")[0].domain_suspect_at,
        Some(T0),
        "the first sighting is kept"
    );

    // The glitch passes: healthy, the suspicion is forgotten.
    fake.set_dns("glitch.example", DnsOutcome::Resolves);
    clock.advance(20 * MIN);
    s.check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
        .await
        .expect("round");
    let st = &s.db.email_domain_states(ann).await.expect("s")[0];
    assert_eq!((st.domain_suspect_at, st.domain_retry_at), (None, None));

    // Bad again: a new first sighting; the periodic round picks the confirmation up when
    // it is due, and the second sighting takes the verification away.
    fake.set_dns("glitch.example", DnsOutcome::NoRecords);
    s.check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
        .await
        .expect("round");
    assert!(verified(&s, ann).await);
    let first = s.now();
    clock.advance(CONFIRM_AFTER - 1);
    let job = |s: &Services| {
        let due_before = s.now() - 24 * HOUR_MICROS;
        let round = Round {
            due_before,
            limit: 100,
            budget: None,
        };
        (due_before, round)
    };
    let (_, rnd) = job(&s);
    let r = s
        .check_domains_round(&fake, &actor(), &RequestMeta::default(), rnd)
        .await
        .expect("round");
    assert_eq!(r.addresses, 0, "the confirmation is not due yet");
    clock.advance(1);
    let (_, rnd) = job(&s);
    let r = s
        .check_domains_round(&fake, &actor(), &RequestMeta::default(), rnd)
        .await
        .expect("round");
    assert_eq!(r.addresses, 1);
    assert_eq!(r.unverified.len(), 1);
    assert!(!verified(&s, ann).await);
    assert!(
        r.unverified[0].reason.contains(&iso8601_seconds(first)),
        "{:?}",
        r.unverified[0]
    );
}

#[tokio::test]
async fn unknowns_are_recorded_backed_off_and_starve_no_one() {
    let (s, clock, _dir) = services(|_, _| {}).await;
    // Three addresses at a domain whose nameservers fail, verified first (so oldest),
    // and one at a healthy domain; rounds of two addresses.
    let mut stuck = Vec::new();
    for n in ["a", "b", "c"] {
        stuck.push(add_user(&s, n, &format!("{n}@servfail.example")).await);
        clock.advance(1);
    }
    let ok = add_user(&s, "okay", "okay@fine.example").await;
    clock.advance(48 * HOUR_MICROS);
    let fake = Fake::default();
    fake.set_dns("servfail.example", DnsOutcome::Error("SERVFAIL".into()));
    let job = |s: &Services| Round {
        due_before: s.now() - 24 * HOUR_MICROS,
        limit: 2,
        budget: None,
    };
    let r = s
        .check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
        .await
        .expect("round");
    assert_eq!(r.retry.len(), 2);
    assert_eq!(fake.asked("servfail.example"), 1, "one question per domain");
    let st = &s.db.email_domain_states(stuck[0]).await.expect("s")[0];
    assert_eq!(
        st.domain_checked_at,
        Some(s.now()),
        "the attempt is recorded"
    );
    assert_eq!(st.domain_failures, 1);
    assert_eq!(st.domain_retry_at, Some(s.now() + HOUR_MICROS));
    // The next round takes the ones not yet attempted: the healthy domain gets its turn.
    let r = s
        .check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
        .await
        .expect("round");
    assert_eq!(r.addresses, 2);
    assert_eq!(fake.asked("fine.example"), 1);
    assert!(
        s.db.email_domain_states(ok).await.expect("s")[0]
            .domain_checked_at
            .is_some()
    );
    // Nothing is due until the retry time: the resolver is not hammered.
    let r = s
        .check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
        .await
        .expect("round");
    assert_eq!(r.addresses, 0);
    assert_eq!(fake.asked("servfail.example"), 2);
    // An hour on, the first two are retried; the second failure waits two hours.
    clock.advance(HOUR_MICROS);
    let r = s
        .check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
        .await
        .expect("round");
    assert_eq!(r.retry.len(), 2);
    let st = &s.db.email_domain_states(stuck[0]).await.expect("s")[0];
    assert_eq!(st.domain_failures, 2);
    assert_eq!(st.domain_retry_at, Some(s.now() + 2 * HOUR_MICROS));
    for id in stuck.iter().chain([&ok]) {
        assert!(verified(&s, *id).await, "no answer is never a verdict");
    }
    // An answer resets the count.
    fake.set_dns("servfail.example", DnsOutcome::Resolves);
    clock.advance(2 * HOUR_MICROS);
    s.check_domains_round(&fake, &actor(), &RequestMeta::default(), job(&s))
        .await
        .expect("round");
    let st = &s.db.email_domain_states(stuck[0]).await.expect("s")[0];
    assert_eq!((st.domain_failures, st.domain_retry_at), (0, None));
}

#[tokio::test]
async fn a_hanging_probe_is_cut_off_and_the_round_has_a_budget() {
    let (s, _clock, _dir) = services(|_, _| {}).await;
    let a = add_user(&s, "hang", "hang@slow.example").await;
    add_user(&s, "zed", "zed@zz.example").await;
    let fake = Fake {
        hang: vec!["slow.example".into()],
        ..Fake::default()
    };
    let round = Round {
        due_before: i64::MAX,
        limit: 100,
        budget: Some(Duration::from_millis(300)),
    };
    let r = s
        .check_domains_round(&fake, &actor(), &RequestMeta::default(), round)
        .await
        .expect("round");
    assert_eq!(r.retry, vec!["hang@slow.example".to_owned()]);
    assert!(
        r.domains[0].1.contains("no answer within"),
        "{:?}",
        r.domains
    );
    // The budget was spent on the hanging domain: the other waits for the next round.
    assert_eq!(r.deferred, 1);
    assert_eq!(fake.asked("zz.example"), 0);
    assert!(verified(&s, a).await);
}

#[tokio::test]
async fn addresses_without_a_public_domain_do_not_come_back_every_round() {
    let (s, _clock, _dir) = services(|_, _| {}).await;
    // An address an older version accepted (no DNS name: refused at every door today).
    let hash =
        crate::accounts::hash_password(&s.settings, "a long test passphrase 42").expect("hash");
    let mut tx = s.db.begin_account().await.expect("begin");
    let (u, e) = tx
        .insert_user("local", "root@192.0.2.1", &hash, s.now())
        .await
        .expect("insert");
    tx.verify_email(e, s.now()).await.expect("verify");
    tx.commit(&[], &[]).await.expect("commit");
    let fake = Fake::default();
    let r = s
        .check_domains_with(&fake, &actor(), &RequestMeta::default(), s.now(), 100)
        .await
        .expect("round");
    assert_eq!(r.addresses, 1);
    assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
    assert!(verified(&s, u).await);
    let r = s
        .check_domains_with(&fake, &actor(), &RequestMeta::default(), s.now() - 1, 100)
        .await
        .expect("round");
    assert_eq!(r.addresses, 0);
}

async fn forced(s: &Services, fake: &Fake) -> DomainReport {
    s.check_domains_with(fake, &actor(), &RequestMeta::default(), i64::MAX, 1000)
        .await
        .expect("round")
}

fn events(actions: &[strongroom_store::model::Event]) -> Vec<serde_json::Value> {
    actions
        .iter()
        .map(|e| serde_json::from_str(&e.details).expect("json"))
        .collect()
}

/// A resolver blind to the company's own domain (NXDOMAIN, no registry answer): the
/// first round only suspects, the second would confirm a dozen at once: the breaker holds
/// that domain back (a signal) while still acting on a lone lapsed domain within the share;
/// it holds it again while DNS stays broken, and once DNS is fixed the next round finds
/// everything healthy, and acts again on another lone lapsed domain.
#[tokio::test]
async fn a_domain_that_would_unverify_too_many_is_held_and_signalled_the_rest_acted_on() {
    let (s, clock, _dir) = services(|_, _| {}).await;
    let mut staff = Vec::new();
    for n in 0..12 {
        staff.push(add_user(&s, &format!("staff{n}"), &format!("s{n}@intranet.example")).await);
    }
    let ann = add_user(&s, "ann", "ann@fine.example").await;
    let lone = add_user(&s, "lone", "lone@lapsed.example").await;
    let fake = Fake::default();
    fake.set_dns("intranet.example", DnsOutcome::NxDomain);
    fake.set_dns("lapsed.example", DnsOutcome::NxDomain);
    fake.set_rdap("lapsed.example", RdapOutcome::Error("no route".into()));
    fake.set_rdap("intranet.example", RdapOutcome::Error("no route".into()));
    let r = forced(&s, &fake).await;
    assert!(r.halted.is_none(), "a first sighting acts on nothing");
    clock.advance(15 * MIN);
    let r = forced(&s, &fake).await;
    assert_eq!(
        r.unverified
            .iter()
            .map(|u| u.address.as_str())
            .collect::<Vec<_>>(),
        ["lone@lapsed.example"],
        "the lone lapsed domain is acted on beside the held one"
    );
    assert!(!verified(&s, lone).await);
    let h = r.halted.clone().expect("halted");
    assert_eq!(
        (h.would_unverify, h.verified, h.allowed),
        (13, 14, breaker::ALWAYS_ALLOWED)
    );
    assert_eq!(h.domains, vec![("intranet.example".to_owned(), 12)]);
    assert_eq!(h.acted, vec![("lapsed.example".to_owned(), 1)]);
    assert_eq!(h.held_addresses(), 12);
    assert!(
        r.lines().iter().any(|l| l.starts_with("halted:")),
        "{:?}",
        r.lines()
    );
    for id in staff.iter().chain([&ann]) {
        assert!(verified(&s, *id).await);
    }
    let halted =
        s.db.events_of_since(SignalKind::DomainCheckHalted.action(), 0, 10)
            .await
            .expect("events");
    assert_eq!(halted.len(), 1);
    assert_eq!(events(&halted)[0]["would_unverify"], 13);
    assert_eq!(
        events(&halted)[0]["domains"][0]["domain"],
        "intranet.example"
    );
    let groups = s.signal_groups(5).await.expect("signals");
    assert!(
        groups.iter().any(|g| g.action == "domains:check:halted"),
        "a signal: {:?}",
        groups.iter().map(|g| &g.action).collect::<Vec<_>>()
    );
    // The held-back addresses keep their first sighting and wait for a retry.
    let st = &s.db.email_domain_states(staff[0]).await.expect("s")[0];
    assert_eq!(st.domain_suspect_at, Some(T0));
    assert_eq!(st.domain_failures, 1);
    assert!(st.domain_retry_at.is_some_and(|t| t > s.now()));
    // Still broken: stopped again (the periodic job's backoff keeps this rare).
    clock.advance(HOUR_MICROS);
    let r = forced(&s, &fake).await;
    assert!(r.halted.is_some() && r.unverified.is_empty());
    // The operator fixes DNS: the next round proceeds normally.
    fake.set_dns("intranet.example", DnsOutcome::Resolves);
    fake.set_rdap("intranet.example", RdapOutcome::NotFound);
    let bo = add_user(&s, "bo", "bo@gone.example").await;
    fake.set_dns("gone.example", DnsOutcome::NxDomain);
    clock.advance(MIN);
    let r = forced(&s, &fake).await;
    assert!(r.halted.is_none());
    assert_eq!(
        r.unverified
            .iter()
            .map(|u| u.address.as_str())
            .collect::<Vec<_>>(),
        ["bo@gone.example"],
        "one lapsed domain of fifteen addresses is under the floor (with the day's one)"
    );
    assert!(!verified(&s, bo).await);
    for id in &staff {
        assert!(verified(&s, *id).await);
        let st = &s.db.email_domain_states(*id).await.expect("s")[0];
        assert_eq!((st.domain_suspect_at, st.domain_failures), (None, 0));
    }
}

/// The periodic job meets addresses as they come due, a few per round: a round that finds
/// the company's domain bad for one address counts every verified address at it, and the
/// check's recent unverifications count against later rounds, so a resolver failing for
/// everyone cannot take people a few at a time.
#[tokio::test]
async fn the_breaker_counts_the_whole_domain_and_the_days_earlier_unverifications() {
    let (s, clock, _dir) = services(|_, _| {}).await;
    let mut staff = Vec::new();
    for n in 0..12 {
        staff.push(add_user(&s, &format!("staff{n}"), &format!("s{n}@intranet.example")).await);
        clock.advance(1);
    }
    let fake = Fake::default();
    fake.set_dns("intranet.example", DnsOutcome::NxDomain);
    let one = Round {
        due_before: i64::MAX,
        limit: 1,
        budget: None,
    };
    let r = s
        .check_domains_round(&fake, &actor(), &RequestMeta::default(), one)
        .await
        .expect("round");
    assert_eq!(r.addresses, 1);
    assert!(r.unverified.is_empty());
    let h = r.halted.expect("halted");
    assert_eq!((h.would_unverify, h.recently_unverified), (12, 0));
    assert_eq!(h.domains, vec![("intranet.example".to_owned(), 12)]);
    for id in &staff {
        assert!(verified(&s, *id).await);
    }

    // Six people at six domains a resolver knows nothing about, met one per round.
    let (s, clock, _dir) = services(|_, _| {}).await;
    let fake = Fake::default();
    let mut people = Vec::new();
    for n in 0..6 {
        people.push(add_user(&s, &format!("p{n}"), &format!("p{n}@home{n}.example")).await);
        fake.set_dns(&format!("home{n}.example"), DnsOutcome::NxDomain);
        clock.advance(1);
    }
    let mut taken = 0;
    for _ in 0..6 {
        clock.advance(MIN);
        let r = s
            .check_domains_round(&fake, &actor(), &RequestMeta::default(), one)
            .await
            .expect("round");
        taken += r.unverified.len();
        if let Some(h) = r.halted {
            assert_eq!((h.would_unverify, h.recently_unverified), (3, 2));
            assert!(
                h.describe().contains("2 of them already unverified"),
                "{}",
                h.describe()
            );
            break;
        }
    }
    assert_eq!(taken, 2, "two go (the floor), the third round stops");
    // A day on, the earlier ones no longer count: one more may go.
    clock.advance(24 * HOUR_MICROS);
    let r = s
        .check_domains_round(&fake, &actor(), &RequestMeta::default(), one)
        .await
        .expect("round");
    assert!(r.halted.is_none());
    assert_eq!(r.unverified.len(), 1);
}

/// The red team's case: an attacker who owns a domain, verifies three accounts at it and
/// lets it lapse trips the breaker on purpose; the victim's lapsed domain (one address) is
/// still acted on, and only the attacker's is held back and signalled.
#[tokio::test]
async fn a_tripping_attacker_domain_does_not_shield_a_victims_lapsed_domain() {
    let (s, clock, _dir) = services(|_, _| {}).await;
    for n in 0..40 {
        add_user(&s, &format!("staff{n}"), &format!("s{n}@corp.example")).await;
    }
    let victim = add_user(&s, "victim", "victim@lapsed.example").await;
    let mut attackers = Vec::new();
    for n in 0..3 {
        clock.advance(1);
        attackers.push(add_user(&s, &format!("att{n}"), &format!("a{n}@attacker.example")).await);
    }
    let fake = Fake::default();
    fake.set_dns("lapsed.example", DnsOutcome::NxDomain);
    fake.set_rdap("lapsed.example", RdapOutcome::Error("no route".into()));
    fake.set_dns("attacker.example", DnsOutcome::NxDomain);
    fake.set_rdap("attacker.example", RdapOutcome::Error("no route".into()));
    assert!(forced(&s, &fake).await.unverified.is_empty());
    clock.advance(15 * MIN);
    let r = forced(&s, &fake).await;
    assert_eq!(
        r.unverified
            .iter()
            .map(|u| u.address.as_str())
            .collect::<Vec<_>>(),
        ["victim@lapsed.example"]
    );
    assert!(!verified(&s, victim).await);
    let h = r.halted.expect("the attacker's domain is held");
    assert_eq!(h.domains, vec![("attacker.example".to_owned(), 3)]);
    assert!(h.signalled);
    for id in &attackers {
        assert!(verified(&s, *id).await);
    }
}

/// While the resolver stays broken, one signal an hour, however many rounds stop.
#[tokio::test]
async fn a_halted_check_signals_once_an_hour() {
    let (s, clock, _dir) = services(|_, _| {}).await;
    for n in 0..5 {
        add_user(&s, &format!("s{n}"), &format!("s{n}@intranet.example")).await;
    }
    let fake = Fake::default();
    fake.set_dns("intranet.example", DnsOutcome::NxDomain);
    let count = |s: &Services| {
        let s = s.clone();
        async move {
            s.db.events_of_since("domains:check:halted", 0, 100)
                .await
                .expect("events")
                .len()
        }
    };
    for n in 0..3 {
        let h = forced(&s, &fake).await.halted.expect("halted");
        assert_eq!(h.signalled, n == 0, "round {n}");
        clock.advance(10 * MIN);
    }
    assert_eq!(count(&s).await, 1);
    clock.advance(HOUR_MICROS);
    assert!(forced(&s, &fake).await.halted.expect("halted").signalled);
    assert_eq!(count(&s).await, 2);
}

/// The breaker's share is configurable: with every address allowed to go, the confirming
/// round acts (the old behaviour, for operators who want it).
#[tokio::test]
async fn a_share_of_one_never_stops_a_round() {
    let (s, _clock, _dir) = services(|_, st| st.safety.max_unverify_share = 1.0).await;
    for n in 0..4 {
        add_user(&s, &format!("u{n}"), &format!("u{n}@gone.example")).await;
    }
    let fake = Fake::default();
    fake.set_dns("gone.example", DnsOutcome::NxDomain);
    let r = s
        .check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
        .await
        .expect("round");
    assert!(r.halted.is_none());
    assert_eq!(r.unverified.len(), 4);
}

#[tokio::test]
async fn trusted_domains_are_never_asked_about_nor_unverified() {
    let (s, _clock, _dir) = services(|_, st| {
        st.safety.trusted_domains = vec!["corp.example".into()];
    })
    .await;
    let a = add_user(&s, "a", "a@corp.example").await;
    let b = add_user(&s, "b", "b@Mail.Corp.example").await;
    let c = add_user(&s, "c", "c@notcorp.example").await;
    let fake = Fake::default();
    for d in ["corp.example", "mail.corp.example", "notcorp.example"] {
        fake.set_dns(d, DnsOutcome::NxDomain);
    }
    let r = s
        .check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
        .await
        .expect("round");
    assert_eq!(
        fake.asked("corp.example") + fake.asked("mail.corp.example"),
        0
    );
    assert_eq!(fake.asked("notcorp.example"), 1);
    assert_eq!(r.trusted, 2);
    assert!(verified(&s, a).await && verified(&s, b).await);
    assert!(!verified(&s, c).await, "a look-alike is no trusted domain");
    assert!(
        r.lines().contains(
            &"domain mail.corp.example: trusted (domains.trusted: corp.example): not looked up"
                .to_owned()
        ),
        "{:?}",
        r.lines()
    );
    // Recorded as checked: the periodic round does not take them again for an interval.
    let due =
        s.db.addresses_due_for_domain_check(s.now() - 1, s.now() - 1, 100)
            .await
            .expect("due");
    assert!(due.is_empty(), "{due:?}");
}

#[tokio::test]
async fn the_check_turned_off_asks_nothing() {
    let (s, _clock, _dir) = services(|_, st| {
        st.safety.domain_check = false;
        st.safety.domain_check_interval_hours = 24;
    })
    .await;
    let u = add_user(&s, "u", "u@gone.example").await;
    let fake = Fake::default();
    fake.set_dns("gone.example", DnsOutcome::NxDomain);
    for _ in 0..2 {
        let r = s
            .check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
            .await
            .expect("round");
        assert!(r.off);
        assert_eq!(r.lines(), [OFF_LINE]);
    }
    assert_eq!(fake.calls.load(Ordering::SeqCst), 0);
    assert!(verified(&s, u).await);
    // The periodic job says nothing either (once at start is the server's).
    assert!(s.domain_check_job().await.expect("job").is_empty());
    let report = s
        .check_domains(&actor(), &RequestMeta::default())
        .await
        .expect("check");
    assert!(report.off);
}

#[tokio::test]
async fn an_operator_verifies_an_address_again() {
    use crate::domains::reverify::Before;
    let (s, clock, _dir) = services(|_, _| {}).await;
    let u = add_user(&s, "root", "root@corp.example").await;
    let fake = Fake::default();
    fake.set_dns("corp.example", DnsOutcome::NxDomain);
    s.check_domains_with(&fake, &actor(), &RequestMeta::default(), i64::MAX, 100)
        .await
        .expect("round");
    assert!(!verified(&s, u).await);
    clock.advance(HOUR_MICROS);
    let op = Actor {
        id: None,
        name: "cli:ops".into(),
    };
    let meta = RequestMeta::default();
    let err = s
        .admin_verify_email(&op, "root", Some("other@corp.example"), "x", false, &meta)
        .await
        .expect_err("not its address");
    assert!(matches!(err, CoreError::NotFound(_)), "{err:?}");
    assert!(matches!(
        s.admin_verify_email(&op, "nobody", None, "x", false, &meta)
            .await,
        Err(CoreError::NotFound(_))
    ));
    let done = s
        .admin_verify_email(
            &op,
            "root",
            Some("ROOT@corp.example"),
            "resolver fixed",
            false,
            &meta,
        )
        .await
        .expect("verify");
    let Before::Unverified { at, reason } = &done.before else {
        panic!("{done:?}")
    };
    assert_eq!(*at, T0);
    assert!(reason.contains("NXDOMAIN"), "{reason}");
    assert!(
        done.describe()
            .starts_with("marked root@corp.example of root verified again")
    );
    assert!(verified(&s, u).await);
    let evs =
        s.db.events_of_since("admin:user:verify-email", 0, 10)
            .await
            .expect("e");
    assert_eq!(evs.len(), 1);
    assert_eq!(evs[0].actor_name.as_deref(), Some("cli:ops"));
    assert_eq!(events(&evs)[0]["reason"], "resolver fixed");
    // Twice: nothing changes, nothing more is logged.
    let again = s
        .admin_verify_email(&op, "root", None, "x", false, &meta)
        .await
        .expect("again");
    assert_eq!(again.before, Before::Verified);
    assert_eq!(
        s.db.events_of_since("admin:user:verify-email", 0, 10)
            .await
            .expect("e")
            .len(),
        1
    );
    // The verification counts as a check: not due again before an interval from now.
    let due =
        s.db.addresses_due_for_domain_check(s.now() - 1, s.now() - 1, 100)
            .await
            .expect("due");
    assert!(due.is_empty(), "{due:?}");
}
