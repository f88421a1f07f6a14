//! Mail: composing notices, and delivering the outbox (SMTP through lettre when configured,
//! else `.eml` files in `<data>/outbox/`). A mail is retried with backoff until it is delivered;
//! none is dropped.

use std::path::{Path, PathBuf};
use std::time::Duration;

use lettre::message::header::ContentType;
use lettre::transport::smtp::authentication::Credentials;
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use strongroom_store::model::{Email, OutboxMail, Role};
use strongroom_store::{NewMail, ProjectRole, private_fs};

use crate::settings::SmtpTls;
use crate::{CoreError, Services};

/// The addresses that get security notices: every verified one, else the primary (a notice about
/// the account must reach its owner even before verification) — but only addresses that
/// [`Email::receives_mail`]: never one a domain check unverified (its domain may belong to
/// someone else now: the `ctx` door; notices carry links (veto, "this wasn't me") that act on the
/// account), nor one an incident window left suspect until the owner keeps it (it may be the
/// attacker's).
pub fn notice_recipients(emails: &[Email]) -> Vec<String> {
    let verified: Vec<String> = emails
        .iter()
        .filter(|e| e.verified_recipient())
        .map(|e| e.address.clone())
        .collect();
    if !verified.is_empty() {
        return verified;
    }
    emails
        .iter()
        .filter(|e| e.is_primary && e.receives_mail())
        .map(|e| e.address.clone())
        .collect()
}

impl Services {
    /// The notice addresses of every live administrator (for what needs a human decision).
    pub(crate) async fn admin_addresses(&self) -> Result<Vec<String>, CoreError> {
        let mut to: Vec<String> = Vec::new();
        for admin in self
            .db
            .list_users()
            .await?
            .into_iter()
            .filter(|u| u.is_admin && u.deleted_at.is_none() && u.frozen_at.is_none())
        {
            for a in notice_recipients(&self.db.emails_of(admin.id).await?) {
                if !to.contains(&a) {
                    to.push(a);
                }
            }
        }
        Ok(to)
    }
}

/// The addresses a notice goes to, each once (compared without case: the same mailbox spelt
/// twice gets one mail).
#[derive(Debug, Default)]
pub(crate) struct Recipients(Vec<String>);

impl Recipients {
    /// Add `addrs`, leaving out any already there.
    pub(crate) fn add(&mut self, addrs: Vec<String>) {
        for a in addrs {
            if !self.0.iter().any(|t| t.eq_ignore_ascii_case(&a)) {
                self.0.push(a);
            }
        }
    }

    pub(crate) fn into_vec(self) -> Vec<String> {
        self.0
    }
}

impl Services {
    /// The notice addresses of a project's Owners (`roles`: the project's roles) and of every
    /// administrator, each once: who decides about a held or quarantined upload.
    pub(crate) async fn owner_and_admin_addresses(
        &self,
        roles: &[Role],
    ) -> Result<Vec<String>, CoreError> {
        let mut to = Recipients::default();
        for r in roles {
            if r.role == ProjectRole::Owner {
                to.add(notice_recipients(&self.db.emails_of(r.user_id).await?));
            }
        }
        to.add(self.admin_addresses().await?);
        Ok(to.into_vec())
    }
}

/// One notice to each address.
pub fn notice(to: &[String], subject: &str, body: &str) -> Vec<NewMail> {
    to.iter()
        .map(|t| NewMail {
            to: t.clone(),
            subject: subject.to_owned(),
            body: format!(
                "{body}\n\nIf you did not expect this message, secure your account: change your password and review your two-factor methods.\n\n-- strongroom\n"
            ),
        })
        .collect()
}

/// A delivered-to-file mail, as `strongroom outbox` lists it.
#[derive(Debug, Clone)]
pub struct OutboxFile {
    pub file: PathBuf,
    pub to: String,
    pub subject: String,
    pub date: String,
}

/// The `.eml` files in `dir`, oldest first, with their To, Subject and Date headers.
pub fn list_outbox_files(dir: &Path) -> std::io::Result<Vec<OutboxFile>> {
    let mut out = Vec::new();
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(out),
        Err(e) => return Err(e),
    };
    for e in entries {
        let path = e?.path();
        if path.extension().is_none_or(|x| x != "eml") {
            continue;
        }
        let text = std::fs::read_to_string(&path)?;
        let header = |name: &str| {
            text.lines()
                .take_while(|l| !l.is_empty())
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case(name).then(|| v.trim().to_owned())
                })
                .unwrap_or_default()
        };
        out.push(OutboxFile {
            to: header("To"),
            subject: header("Subject"),
            date: header("Date"),
            file: path,
        });
    }
    out.sort_by(|a, b| a.file.cmp(&b.file));
    Ok(out)
}

fn build_message(from: &str, m: &OutboxMail) -> Result<Message, String> {
    let secs = u64::try_from(m.created_at / 1_000_000).unwrap_or(0);
    Message::builder()
        .from(from.parse().map_err(|e| format!("bad From address: {e}"))?)
        .to(m
            .to_addr
            .parse()
            .map_err(|e| format!("bad To address: {e}"))?)
        .subject(m.subject.clone())
        .date(std::time::UNIX_EPOCH + Duration::from_secs(secs))
        .header(ContentType::TEXT_PLAIN)
        .body(m.body.clone())
        .map_err(|e| format!("cannot build the message: {e}"))
}

/// Seconds to wait before the next attempt after `attempts` failures (30 s doubling, ≤ 1 h).
pub fn backoff_secs(attempts: i64) -> i64 {
    let exp = u32::try_from(attempts.clamp(0, 7)).unwrap_or(7);
    (30 * 2i64.pow(exp)).min(3600)
}

impl Services {
    async fn send_one(&self, m: &OutboxMail) -> Result<(), String> {
        let message = build_message(&self.settings.mail_from, m)?;
        match &self.settings.smtp {
            None => {
                // Owner-only: the mail may carry a live reset link.
                let dir = &self.settings.outbox_dir;
                private_fs::create_dir_all_async(dir)
                    .await
                    .map_err(|e| format!("creating {}: {e}", dir.display()))?;
                let name = format!("{:020}-{:08}.eml", m.created_at, m.id);
                let tmp = dir.join(format!(".{name}.tmp"));
                private_fs::write_async(&tmp, &message.formatted())
                    .await
                    .map_err(|e| format!("writing {}: {e}", tmp.display()))?;
                tokio::fs::rename(&tmp, dir.join(&name))
                    .await
                    .map_err(|e| format!("renaming {}: {e}", tmp.display()))?;
                Ok(())
            }
            Some(smtp) => {
                let builder = match smtp.tls {
                    SmtpTls::None => {
                        AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(&smtp.host)
                    }
                    SmtpTls::StartTls => {
                        AsyncSmtpTransport::<Tokio1Executor>::starttls_relay(&smtp.host)
                            .map_err(|e| format!("SMTP STARTTLS setup: {e}"))?
                    }
                    SmtpTls::Tls => AsyncSmtpTransport::<Tokio1Executor>::relay(&smtp.host)
                        .map_err(|e| format!("SMTP TLS setup: {e}"))?,
                };
                let mut builder = builder
                    .port(smtp.port)
                    .timeout(Some(Duration::from_secs(30)));
                if let (Some(u), Some(p)) = (&smtp.username, &smtp.password) {
                    builder = builder.credentials(Credentials::new(u.clone(), p.clone()));
                }
                builder
                    .build()
                    .send(message)
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("SMTP: {e}"))
            }
        }
    }

    /// Deliver every due mail once; returns how many were delivered.
    pub async fn deliver_outbox(&self) -> Result<usize, CoreError> {
        let now = self.now();
        let mut sent = 0;
        for m in self.db.outbox_due(now, 50).await? {
            let retry_at = now + backoff_secs(m.attempts) * 1_000_000;
            if !self.db.outbox_claim(m.id, now, retry_at).await? {
                continue; // another server has it
            }
            match self.send_one(&m).await {
                Ok(()) => {
                    self.db.outbox_sent(m.id, self.now()).await?;
                    sent += 1;
                }
                Err(e) => {
                    tracing::warn!(mail = m.id, to = %m.to_addr, attempts = m.attempts + 1, error = %e, "mail delivery failed; will retry");
                    self.db.outbox_failed(m.id, &e, retry_at).await?;
                }
            }
        }
        Ok(sent)
    }

    /// The delivery loop `serve` runs: deliver, then now and then prune spent secrets and
    /// old rate-limit hits.
    pub async fn deliver_outbox_forever(self) {
        let mut rounds: u64 = 0;
        loop {
            if let Err(e) = self.deliver_outbox().await {
                if self.db.is_closed() {
                    // the server is stopping; what was not sent stays queued
                    return;
                }
                tracing::error!(error = %e, "outbox delivery round failed");
            }
            if rounds.is_multiple_of(300) {
                let now = self.now();
                if let Err(e) = self.db.prune_secrets(now, now - 7 * 86_400_000_000).await {
                    tracing::warn!(error = %e, "pruning spent secrets failed");
                }
                if let Err(e) = self.rate_prune().await {
                    tracing::warn!(error = %e, "pruning rate-limit hits failed");
                }
            }
            rounds = rounds.wrapping_add(1);
            tokio::time::sleep(Duration::from_secs(2)).await;
        }
    }
}

#[cfg(test)]
mod recipient_tests {
    use super::*;

    fn addr(a: &str, primary: bool, verified: bool, domain_unverified: bool) -> Email {
        Email {
            id: 0,
            user_id: 1,
            address: a.into(),
            is_primary: primary,
            verified_at: verified.then_some(1),
            unverified_at: domain_unverified.then_some(2),
            suspect_at: None,
        }
    }

    #[test]
    fn notices_go_to_verified_addresses_never_to_a_domain_unverified_one() {
        let both = [
            addr("a@x.test", true, true, false),
            addr("b@y.test", false, true, false),
        ];
        assert_eq!(notice_recipients(&both), vec!["a@x.test", "b@y.test"]);
        // a new account: its unverified primary still hears about itself
        assert_eq!(
            notice_recipients(&[addr("new@x.test", true, false, false)]),
            vec!["new@x.test"]
        );
        // the ctx door: the only address lost its verification to a domain check
        assert!(notice_recipients(&[addr("owner@lapsed.test", true, false, true)]).is_empty());
        assert_eq!(
            notice_recipients(&[
                addr("owner@lapsed.test", true, false, true),
                addr("other@ok.test", false, true, false)
            ]),
            vec!["other@ok.test"]
        );
    }

    #[test]
    fn notices_never_go_to_a_suspect_address() {
        let mut mallory = addr("mallory@evil.test", false, true, false);
        mallory.suspect_at = Some(5);
        assert_eq!(
            notice_recipients(&[addr("a@x.test", true, true, false), mallory.clone()]),
            vec!["a@x.test"]
        );
        // not even as the fallback primary
        mallory.is_primary = true;
        mallory.verified_at = None;
        assert!(notice_recipients(&[mallory]).is_empty());
    }
}
