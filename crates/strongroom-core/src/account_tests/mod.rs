//! The account rules, end to end through `Services` on a SQLite database with a hand-moved clock
//! and an offline breached-password folder. Every test names the rule it pins.

use std::sync::Arc;

use crate::breached::range_key;
use crate::login::{BAD_CREDENTIALS, LoginStep, PASSWORD_COMPROMISED};
use crate::second_factor::{LAST_METHOD, code_at, matching_step};
use crate::sessions::SessionInfo;
use crate::tokens::{Credentials, hash_token};
use crate::{CoreError, ManualClock, RequestMeta, Services};

const MIN: i64 = 60_000_000;
const PW: &str = "correct horse battery staple";
const BREACHED: &str = "monkey trousers 1987 lizard";

struct H {
    s: Services,
    clock: Arc<ManualClock>,
    _dir: tempfile::TempDir,
}

fn meta(ip: &str) -> RequestMeta {
    RequestMeta {
        ip: Some(ip.into()),
        user_agent: Some("test-browser".into()),
        request_id: None,
    }
}

async fn harness(require_2fa: bool) -> H {
    let (s, clock, _dir) = crate::test_harness::services(|dir, settings| {
        let hibp = dir.join("hibp");
        std::fs::create_dir_all(&hibp).expect("hibp dir");
        let (prefix, suffix) = range_key(BREACHED);
        std::fs::write(hibp.join(format!("{prefix}.txt")), format!("{suffix}:42\n"))
            .expect("range");
        settings.require_2fa = require_2fa;
        settings.hibp_offline_dir = Some(hibp);
        // the account suite tests the limits themselves
        settings.rate_limits = true;
    })
    .await;
    H { s, clock, _dir }
}

impl H {
    /// The token in the newest mail to `to` whose subject contains `subject`.
    async fn mailed_token(&self, to: &str, subject: &str) -> String {
        let mails = self.s.db.outbox_recent(200).await.expect("outbox");
        let m = mails
            .iter()
            .find(|m| m.to_addr == to && m.subject.contains(subject))
            .unwrap_or_else(|| panic!("no mail '{subject}' to {to}: {mails:?}"));
        let at = m.body.find("token=").expect("a link") + 6;
        m.body[at..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
            .collect()
    }

    async fn mail_count(&self, to: &str, subject: &str) -> usize {
        self.s
            .db
            .outbox_recent(500)
            .await
            .expect("outbox")
            .iter()
            .filter(|m| m.to_addr == to && m.subject.contains(subject))
            .count()
    }

    async fn session(&self, secret: &str) -> SessionInfo {
        self.s
            .session(secret)
            .await
            .expect("session")
            .expect("live session")
    }

    /// A registered, verified account; returns the session of its first login.
    async fn user(&self, name: &str) -> String {
        let email = format!("{name}@example.org");
        self.s
            .register(name, &email, PW, &meta("192.0.2.1"))
            .await
            .expect("register");
        let t = self.mailed_token(&email, "Verify").await;
        self.s
            .verify_email(&t, &meta("192.0.2.1"))
            .await
            .expect("verify");
        match self
            .s
            .login_password(name, PW, &meta("192.0.2.1"))
            .await
            .expect("login")
        {
            LoginStep::Done(g) | LoginStep::EnrolTwoFactor(g) => g.secret,
            LoginStep::NeedTwoFactor { .. } => panic!("no 2FA yet"),
        }
    }

    /// Enrol TOTP and confirm it by mail; returns (seed, recovery codes).
    async fn with_totp(&self, session: &str) -> (String, Vec<String>) {
        let info = self.session(session).await;
        let enrol = self.s.totp_begin(&info).expect("begin");
        let code = code_at(&enrol.secret_base32, self.secs()).expect("code");
        let done = self
            .s
            .totp_confirm(&info, &enrol.secret_base32, &code, &meta("192.0.2.1"))
            .await
            .expect("confirm");
        assert!(
            done.pending_email_confirmation,
            "the first method waits for the mail"
        );
        assert_eq!(done.recovery_codes.len(), 8);
        let to = format!("{}@example.org", info.user.username);
        let t = self.mailed_token(&to, "Confirm two-factor").await;
        self.s
            .confirm_2fa_email(&t, &meta("192.0.2.1"))
            .await
            .expect("confirm mail");
        // The enrolment code's step is spent by nobody: move on a step so tests start clean.
        self.clock.advance(30_000_000);
        (enrol.secret_base32, done.recovery_codes)
    }

    fn secs(&self) -> u64 {
        u64::try_from(self.s.now() / 1_000_000).expect("time")
    }

    async fn ticket(&self, name: &str, ip: &str) -> String {
        match self
            .s
            .login_password(name, PW, &meta(ip))
            .await
            .expect("password step")
        {
            LoginStep::NeedTwoFactor { ticket, methods } => {
                assert!(methods.totp);
                ticket
            }
            other => panic!("expected a second step, got {other:?}"),
        }
    }
}

fn is_forbidden(r: &Result<impl std::fmt::Debug, CoreError>, needle: &str) -> bool {
    matches!(r, Err(CoreError::Forbidden(m)) if m.contains(needle))
}

impl H {
    async fn ticket_with(&self, name: &str, pw: &str) -> String {
        match self
            .s
            .login_password(name, pw, &meta("192.0.2.1"))
            .await
            .expect("password step")
        {
            LoginStep::NeedTwoFactor { ticket, .. } => ticket,
            other => panic!("{other:?}"),
        }
    }
}

async fn smtp_sink() -> (u16, tokio::task::JoinHandle<Vec<String>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let port = listener.local_addr().expect("addr").port();
    let task = tokio::spawn(async move {
        let mut messages = Vec::new();
        while let Ok(Ok((sock, _))) =
            tokio::time::timeout(std::time::Duration::from_millis(1500), listener.accept()).await
        {
            let (r, mut w) = sock.into_split();
            let mut lines = BufReader::new(r).lines();
            let _ = w.write_all(b"220 sink ESMTP\r\n").await;
            let mut data: Option<String> = None;
            while let Ok(Some(line)) = lines.next_line().await {
                if let Some(d) = data.as_mut() {
                    if line == "." {
                        messages.push(data.take().unwrap_or_default());
                        let _ = w.write_all(b"250 queued\r\n").await;
                    } else {
                        d.push_str(&line);
                        d.push('\n');
                    }
                    continue;
                }
                let verb = line.to_ascii_uppercase();
                let reply: &[u8] = if verb.starts_with("EHLO") || verb.starts_with("HELO") {
                    b"250 sink\r\n"
                } else if verb.starts_with("DATA") {
                    data = Some(String::new());
                    b"354 go ahead\r\n"
                } else if verb.starts_with("QUIT") {
                    let _ = w.write_all(b"221 bye\r\n").await;
                    break;
                } else {
                    b"250 ok\r\n"
                };
                let _ = w.write_all(reply).await;
            }
        }
        messages
    });
    (port, task)
}

mod limits;
mod mail;
mod recovery;
mod second_factor;
mod sessions;
