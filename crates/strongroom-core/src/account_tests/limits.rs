//! The login limits as settings (issue 10, failure 5): a full global or per-address limit holds
//! back password-only logins but not one that goes on to a valid second factor; the per-account
//! limit still refuses first; a reload of the limits takes effect on the next request.

use super::*;
use crate::limits::{Limit, Limits};

fn with(rates: &[(Limit, &str)]) -> Limits {
    let mut l = Limits::default();
    for (limit, text) in rates {
        l.set(*limit, text.parse().expect("rate"));
    }
    l
}

fn too_many_naming(r: &Result<impl std::fmt::Debug, CoreError>, key: &str) -> bool {
    matches!(r, Err(CoreError::TooMany { message, .. }) if message.contains(key))
}

#[tokio::test]
async fn a_full_global_limit_stops_password_only_logins_but_not_a_valid_second_factor() {
    let h = harness(false).await;
    h.user("alice").await;
    let bob = h.user("bob").await;
    let (seed, _) = h.with_totp(&bob).await;
    h.s.reload_limits(with(&[(Limit::LoginGlobal, "20 per 5 minutes")]));
    // A flood of wrong guesses for names that do not exist, from many addresses.
    for i in 0..20 {
        let r =
            h.s.login_password(
                &format!("ghost{i}"),
                "wrong password!",
                &meta(&format!("198.51.100.{i}")),
            )
            .await;
        assert!(is_forbidden(&r, BAD_CREDENTIALS), "{r:?}");
    }
    // Password only: held back, and the answer names the setting to raise.
    let r = h.s.login_password("alice", PW, &meta("192.0.2.50")).await;
    assert!(too_many_naming(&r, "ratelimit.login_global"), "{r:?}");
    // Bob's wrong password gets the same answer as alice's right one: no oracle.
    let r =
        h.s.login_password("bob", "not bob's password", &meta("192.0.2.51"))
            .await;
    assert!(too_many_naming(&r, "ratelimit.login_global"), "{r:?}");
    // Bob's right password goes on to the second step, and a valid code completes the login.
    let ticket = h.ticket("bob", "192.0.2.51").await;
    let code = code_at(&seed, h.secs()).expect("code");
    h.s.login_totp(&ticket, &code, &meta("192.0.2.51"))
        .await
        .expect("a valid second factor is never held back by the global limit");
    // A wrong code is still refused, and counted against bob's second-factor limit.
    let ticket = h.ticket("bob", "192.0.2.51").await;
    let r = h.s.login_totp(&ticket, "000000", &meta("192.0.2.51")).await;
    assert!(is_forbidden(&r, "Invalid authentication code"), "{r:?}");
}

#[tokio::test]
async fn a_full_address_limit_behaves_like_the_global_one_and_the_account_limit_refuses_first() {
    let h = harness(false).await;
    let bob = h.user("bob").await;
    let (seed, _) = h.with_totp(&bob).await;
    // The proxy in front was not trusted: every client shares one address, which fills.
    for i in 0..10 {
        let r =
            h.s.login_password(&format!("ghost{i}"), "wrong password!", &meta("10.0.0.1"))
                .await;
        assert!(is_forbidden(&r, BAD_CREDENTIALS), "{r:?}");
    }
    let ticket = h.ticket("bob", "10.0.0.1").await;
    let code = code_at(&seed, h.secs()).expect("code");
    h.s.login_totp(&ticket, &code, &meta("10.0.0.1"))
        .await
        .expect("through the full per-address limit with a valid code");
    // Ten wrong guesses at bob himself: his own limit refuses even the right password.
    for _ in 0..10 {
        let _ =
            h.s.login_password("bob", "wrong password!", &meta("192.0.2.9"))
                .await;
    }
    let r = h.s.login_password("bob", PW, &meta("192.0.2.10")).await;
    assert!(too_many_naming(&r, "ratelimit.login_user"), "{r:?}");
}

#[tokio::test]
async fn reloaded_limits_take_effect_on_the_next_attempt() {
    let h = harness(false).await;
    h.user("alice").await;
    assert_eq!(
        h.s.limits().rate(Limit::LoginUser).to_string(),
        "10 per 5 minutes"
    );
    for _ in 0..3 {
        let r =
            h.s.login_password("alice", "wrong password!", &meta("192.0.2.7"))
                .await;
        assert!(is_forbidden(&r, BAD_CREDENTIALS), "{r:?}");
    }
    // Three failures are far below the default; a reload to 3 per hour refuses the fourth...
    let clone = h.s.clone();
    clone.reload_limits(with(&[(Limit::LoginUser, "3 per hour")]));
    let r = h.s.login_password("alice", PW, &meta("192.0.2.7")).await;
    assert!(
        too_many_naming(&r, "ratelimit.login_user: 3 per hour"),
        "{r:?}"
    );
    // ...and a reload back to the default lets it through again: every clone sees the swap.
    clone.reload_limits(Limits::default());
    assert!(
        h.s.login_password("alice", PW, &meta("192.0.2.7"))
            .await
            .is_ok()
    );
}
