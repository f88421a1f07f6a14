//! Who may create an account and how: the registration mode (`accounts.registration`), the
//! email-domain rule of `domains`, what the registration page offers, and self-registration
//! itself, which answers the same whether or not the address already has an account (the
//! address is mailed instead, and the same expensive work is done either way).
//!
//! Accounts are also made by operators with `strongroom user create` (any mode: the CLI is the
//! operator's), restored by admins (`admin restore-user`), and by nothing else: no API creates
//! accounts.

use strongroom_store::model::{Email, User};
use strongroom_store::{AccountTx, NewEvent, NewMail};

use crate::accounts::{BREACHED_NEW, validate_username, verification_mail};
use crate::email_address::{ascii_domain, canonical_address};
use crate::ratelimit;
use crate::{CoreError, RequestMeta, Services};

/// Who may register (`accounts.registration`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub enum Registration {
    /// Anyone who can reach the index.
    Open,
    /// Addresses at these domains or their subdomains (ASCII/IDNA form, lower case, non-empty).
    Domains(Vec<String>),
    /// Only holders of an administrator's invitation link, for the address it was made for.
    Invite,
    /// Nobody: operators make accounts with `strongroom user create` (the default).
    #[default]
    Closed,
}

/// The page's answer when registration is closed.
pub const CLOSED: &str =
    "Registration is closed on this index: accounts are created by its administrators.";
/// The page's answer in `invite` mode without an invitation link.
pub const INVITE_ONLY: &str = "Registration on this index is by invitation only: follow the invitation link you were sent, or ask an administrator for one.";
/// The username is taken (usernames are public: project pages name their maintainers).
pub const USERNAME_TAKEN: &str =
    "This username is already being used by another account. Choose a different username.";

impl Registration {
    /// The mode from its configuration: `mode` is `open`, `domains`, `invite` or `closed`;
    /// `domains` needs a non-empty list, whose entries are normalised here (IDNA, lower case).
    pub fn from_config(mode: &str, domains: &[String]) -> Result<Registration, String> {
        match mode.trim().to_ascii_lowercase().as_str() {
            "open" => Ok(Registration::Open),
            "invite" => Ok(Registration::Invite),
            "closed" => Ok(Registration::Closed),
            "domains" => {
                if domains.is_empty() {
                    return Err("accounts.registration = domains needs accounts.allowed_email_domains (for example [\"example.org\"])".into());
                }
                let list = domains
                    .iter()
                    .map(|d| allowed_domain(d))
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(Registration::Domains(list))
            }
            other => Err(format!(
                "accounts.registration: expected open, domains, invite or closed, got '{other}'"
            )),
        }
    }

    /// The mode's name, as configured.
    pub fn name(&self) -> &'static str {
        match self {
            Registration::Open => "open",
            Registration::Domains(_) => "domains",
            Registration::Invite => "invite",
            Registration::Closed => "closed",
        }
    }

    /// Whether self-registration admits people by their address (`domains`, `invite`). Then
    /// the address proves membership only once it is verified, so web tokens and uploads need a
    /// verified primary address even when `require_2fa` is off (else anyone could type an
    /// address at an allowed domain and act).
    pub fn needs_proven_address(&self) -> bool {
        matches!(self, Registration::Domains(_) | Registration::Invite)
    }
}

/// An entry of `accounts.allowed_email_domains` in the form addresses are compared in.
pub fn allowed_domain(entry: &str) -> Result<String, String> {
    let e = entry.trim();
    strict_domain(e).ok_or_else(|| {
        format!("accounts.allowed_email_domains: '{entry}' is not a domain name (write example.org: its subdomains are included)")
    })
}

/// A domain in its ASCII (IDNA) form, lower case, without a trailing dot; None unless it is a
/// plain dotted domain name (no percent escapes, ports, paths or IP addresses).
fn strict_domain(d: &str) -> Option<String> {
    ascii_domain(d)
}

/// Whether `address`'s domain is one of `allowed` or a subdomain of one, compared label by
/// label in the IDNA form, case-insensitively: `example.org` admits `a@example.org` and
/// `a@mail.example.org`, never `a@example.org.evil.test` or `a@notexample.org`.
pub fn domain_allowed(allowed: &[String], address: &str) -> bool {
    let Some((_, raw)) = address.rsplit_once('@') else {
        return false;
    };
    let Some(d) = strict_domain(raw) else {
        return false;
    };
    allowed
        .iter()
        .any(|a| d == *a || d.strip_suffix(a.as_str()).is_some_and(|r| r.ends_with('.')))
}

/// The refusal of an address outside the allowed domains.
fn outside_domains(allowed: &[String]) -> String {
    format!(
        "Registration on this index is open to addresses at {} (and their subdomains) only.",
        allowed.join(", ")
    )
}

/// What the registration page offers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegisterPage {
    /// The form, for anyone.
    Open,
    /// The form, for addresses at these domains (and their subdomains).
    Domains(Vec<String>),
    /// The form for the address an invitation was made for.
    Invited { email: String },
    /// No form, and why.
    Refused(String),
}

impl Services {
    /// What the registration page shows, for a visitor with this invitation link (if any).
    pub async fn register_page(&self, invite: Option<&str>) -> Result<RegisterPage, CoreError> {
        let invite = invite.map(str::trim).filter(|t| !t.is_empty());
        match (&self.settings.registration, invite) {
            (Registration::Closed, _) => Ok(RegisterPage::Refused(CLOSED.into())),
            (_, Some(token)) => match self.live_invite(token, None).await {
                Ok(inv) => Ok(RegisterPage::Invited { email: inv.email }),
                Err(CoreError::Forbidden(why)) => Ok(RegisterPage::Refused(why)),
                Err(e) => Err(e),
            },
            (Registration::Invite, None) => Ok(RegisterPage::Refused(INVITE_ONLY.into())),
            (Registration::Domains(list), None) => Ok(RegisterPage::Domains(list.clone())),
            (Registration::Open, None) => Ok(RegisterPage::Open),
        }
    }

    /// Self-registration: a new account with an unverified address and a verification mail,
    /// if the registration mode admits the address. When the address already belongs to an
    /// account, nothing is created and the answer is the same: the address is told instead.
    pub async fn register(
        &self,
        username: &str,
        email: &str,
        password: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.register_with(username, email, password, None, meta)
            .await
    }

    /// Self-registration through an invitation link (`invite` is the link's secret): the
    /// address must be the one the invitation was made for, and the link is used up.
    pub async fn register_invited(
        &self,
        username: &str,
        email: &str,
        password: &str,
        invite: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.register_with(username, email, password, Some(invite), meta)
            .await
    }

    /// Whether the mode lets `email` register (with this invitation, if any): the invitation's
    /// hash when one admits it. Refusals are `Forbidden`.
    async fn admission(
        &self,
        email: &str,
        invite: Option<&str>,
    ) -> Result<Option<String>, CoreError> {
        let invite = invite.map(str::trim).filter(|t| !t.is_empty());
        match (&self.settings.registration, invite) {
            (Registration::Closed, _) => Err(CoreError::Forbidden(CLOSED.into())),
            (_, Some(token)) => {
                self.live_invite(token, Some(email)).await?;
                Ok(Some(crate::tokens::hash_token(token)))
            }
            (Registration::Invite, None) => Err(CoreError::Forbidden(INVITE_ONLY.into())),
            (Registration::Domains(list), None) if !domain_allowed(list, email) => {
                Err(CoreError::Forbidden(outside_domains(list)))
            }
            (Registration::Domains(_) | Registration::Open, None) => Ok(None),
        }
    }

    async fn register_with(
        &self,
        username: &str,
        email: &str,
        password: &str,
        invite: Option<&str>,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        // The mode first: a refused visitor costs nothing and learns nothing.
        let canonical = canonical_address(email);
        let invite_hash = self
            .admission(canonical.as_deref().unwrap_or(email), invite)
            .await?;
        validate_username(username)?;
        let email = &canonical?;
        crate::passwords::check_new_password(password, username, email)?;
        let ip = meta.ip.clone().unwrap_or_default();
        self.rate_take(
            &format!("register:ip:{ip}"),
            ratelimit::Limit::RegisterIp,
            "Too many accounts were created from your address.",
        )
        .await?;
        if crate::breached::is_breached(&self.settings, password).await {
            return Err(CoreError::Invalid(BREACHED_NEW.into()));
        }
        // The expensive work, done whether or not the address turns out to be taken.
        let hash = self.hash_secret_pooled(password).await?;
        let now = self.now();
        let mut tx = self.db.begin_account().await?;
        // Usernames are public (project pages name their maintainers), so a taken one is said
        // plainly, before anything else is looked at or used up. A pending registration
        // reserves its name whatever its address, so this answer never depends on the address.
        if tx.username_reserved(username, now).await? {
            return Err(CoreError::Conflict(USERNAME_TAKEN.into()));
        }
        let invite_id = match &invite_hash {
            Some(h) => Some(
                tx.use_registration_invite(h, email, now)
                    .await?
                    .ok_or_else(|| {
                        CoreError::Forbidden(crate::registration_invites::USED.into())
                    })?,
            ),
            None => None,
        };
        let Some(link) = self
            .reserve_pending(&mut tx, username, email, &hash, invite_id)
            .await?
        else {
            return Err(CoreError::Conflict(USERNAME_TAKEN.into()));
        };
        // An address held by a proven owner is told; one held only by a claim (never verified)
        // gets the link like a free one, and following it overrides the claim.
        if let Some(existing) = tx.email_by_address(email).await?
            && tx.address_held_by_claim(email).await?.is_none()
        {
            return self
                .address_taken(tx, &existing, email, invite_id, meta)
                .await;
        }
        let mut events = vec![NewEvent {
            at: now,
            action: "account:register:pending".into(),
            subject_kind: "user".into(),
            subject_name: Some(username.to_owned()),
            ip: meta.ip.clone(),
            user_agent: meta.user_agent.clone(),
            request_id: meta.request_id.clone(),
            details: serde_json::json!({"email": email, "expires_in_hours": self.settings.unverified_address_hours}),
            ..NewEvent::default()
        }];
        if let Some(id) = invite_id {
            events.push(self.invite_used_event(id, None, email, "pending", meta));
        }
        tx.commit(&events, &[verification_mail(email, &link)])
            .await?;
        Ok(())
    }

    /// Someone registered with an address an account already has: nothing is created, the
    /// address is told, and the caller answers exactly as for a new account.
    async fn address_taken(
        &self,
        tx: AccountTx,
        existing: &Email,
        typed: &str,
        invite_id: Option<i64>,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        self.taken_address_tried(
            tx,
            existing,
            typed,
            TakenAt::Registration { invite_id },
            meta,
        )
        .await
    }

    /// Someone signed in tried to add an address another account has: nothing is added, the
    /// address is told, and the caller answers exactly as for a free address.
    pub(crate) async fn email_add_taken(
        &self,
        adder: &User,
        typed: &str,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let Some(existing) = self.db.email_by_address(typed).await? else {
            return Err(CoreError::Internal(
                "email add: the address conflicted but no account has it".into(),
            ));
        };
        if existing.user_id == adder.id {
            // Their own address: nothing to hide from them.
            return Err(CoreError::Invalid(
                "This address is already on your account.".into(),
            ));
        }
        let tx = self.db.begin_account().await?;
        self.taken_address_tried(tx, &existing, typed, TakenAt::EmailAdd { adder }, meta)
            .await
    }

    /// The one flow behind both doors: the address's holder is mailed "someone tried to use
    /// your email address" only when the address [`Email::receives_mail`] (never one a domain
    /// check unverified, whose domain may be someone else's now, nor one an incident left
    /// suspect, which may be the attacker's) and within the per-address budget; the account is
    /// named only to a verified, live one ([`Email::verified_recipient`]). The attempt is
    /// logged either way, in `tx`.
    async fn taken_address_tried(
        &self,
        mut tx: AccountTx,
        existing: &Email,
        typed: &str,
        at: TakenAt<'_>,
        meta: &RequestMeta,
    ) -> Result<(), CoreError> {
        let owner = tx.user(existing.user_id).await?;
        let bucket = format!("register:taken:{}", existing.address.to_lowercase());
        let mailable = existing.receives_mail()
            && self
                .rate_check(&bucket, ratelimit::Limit::TakenAddressNotice, "")
                .await
                .is_ok();
        let named = owner
            .as_ref()
            .filter(|u| u.deleted_at.is_none() && existing.verified_recipient());
        let mails = if mailable {
            vec![taken_mail(
                &existing.address,
                named.map(|u| u.username.as_str()),
                &self.settings.link_base(),
                at.tried(),
            )]
        } else {
            Vec::new()
        };
        let mailed = !mails.is_empty();
        let events = match at {
            TakenAt::Registration { invite_id } => {
                let mut events = vec![NewEvent {
                    at: self.now(),
                    action: "account:register:address_taken".into(),
                    subject_kind: "user".into(),
                    subject_id: Some(existing.user_id),
                    subject_name: owner.as_ref().map(|u| u.username.clone()),
                    ip: meta.ip.clone(),
                    user_agent: meta.user_agent.clone(),
                    request_id: meta.request_id.clone(),
                    details: serde_json::json!({"email": typed, "mailed": mailed}),
                    ..NewEvent::default()
                }];
                if let Some(id) = invite_id {
                    events.push(self.invite_used_event(id, None, typed, "address_taken", meta));
                }
                events
            }
            TakenAt::EmailAdd { adder } => vec![self.user_event(
                "account:email:add_taken",
                adder,
                meta,
                serde_json::json!({"email": typed, "owner_id": existing.user_id, "mailed": mailed}),
            )],
        };
        tx.commit(&events, &mails).await?;
        if mailed {
            self.rate_hit(&bucket).await?;
        }
        Ok(())
    }
}

/// Where someone tried an address another account has.
enum TakenAt<'a> {
    /// Self-registration (with the invitation it used up, if any).
    Registration { invite_id: Option<i64> },
    /// A signed-in account adding an address.
    EmailAdd { adder: &'a User },
}

impl TakenAt<'_> {
    /// What the mail says was tried.
    fn tried(&self) -> &'static str {
        match self {
            TakenAt::Registration { .. } => "create a new account",
            TakenAt::EmailAdd { .. } => "add it to another account",
        }
    }
}

/// The mail to an address someone tried to register with (or add to another account).
fn taken_mail(address: &str, owner: Option<&str>, base: &str, tried: &str) -> NewMail {
    let whose = match owner {
        Some(name) => format!(
            "This address already belongs to your account {name} here, so nothing was changed.\n\nIf it was you, log in at {base}/account/login/ or, if you forgot your password, reset it at {base}/account/forgot-password/."
        ),
        None => format!(
            "This address is already in use on this index, so nothing was changed.\n\nIf it was you and you have an account here, log in at {base}/account/login/. If you never added this address to an account, someone else did without proving it is theirs: ask the index's administrators to release it."
        ),
    };
    NewMail {
        to: address.to_owned(),
        subject: "Someone tried to use your email address".into(),
        body: format!(
            "Someone tried to {tried} on {base} with the address {address}.\n\n{whose}\n\nIf it was not you, you need not do anything: your account is unchanged.\n\n-- strongroom\n"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| (*s).to_owned()).collect()
    }

    #[test]
    fn modes_parse_and_domains_need_a_list() {
        assert_eq!(
            Registration::from_config("open", &[]),
            Ok(Registration::Open)
        );
        assert_eq!(
            Registration::from_config(" Invite ", &[]),
            Ok(Registration::Invite)
        );
        assert_eq!(
            Registration::from_config("closed", &[]),
            Ok(Registration::Closed)
        );
        assert_eq!(Registration::default(), Registration::Closed);
        assert!(Registration::from_config("domains", &[]).is_err());
        assert!(Registration::from_config("public", &[]).is_err());
        assert_eq!(
            Registration::from_config("domains", &list(&["Example.ORG.", "bücher.example"])),
            Ok(Registration::Domains(list(&[
                "example.org",
                "xn--bcher-kva.example"
            ])))
        );
        for bad in [
            "*.example.org",
            "example",
            "@example.org",
            "exa mple.org",
            "192.0.2.1",
            "example.org:25",
            "ex%61mple.org",
            "",
        ] {
            assert!(
                Registration::from_config("domains", &list(&[bad])).is_err(),
                "{bad}"
            );
        }
        assert!(!Registration::Open.needs_proven_address());
        assert!(!Registration::Closed.needs_proven_address());
        assert!(Registration::Invite.needs_proven_address());
        assert!(Registration::Domains(list(&["example.org"])).needs_proven_address());
    }

    #[test]
    fn an_allowed_domain_admits_itself_and_its_subdomains_only() {
        let allowed = list(&["example.org", "xn--bcher-kva.example"]);
        for ok in [
            "a@example.org",
            "A@EXAMPLE.ORG",
            "a@mail.example.org",
            "a@deep.mail.Example.org",
            "a@example.org.",
            "a@bücher.example",
            "a@BÜCHER.example",
            "a@xn--bcher-kva.example",
        ] {
            assert!(domain_allowed(&allowed, ok), "{ok}");
        }
        for bad in [
            "a@example.org.evil.test",
            "a@notexample.org",
            "a@example.orgx",
            "a@evil-example.org",
            "a@example.com",
            "a@org",
            "a@evil.test%2eexample.org",
            "a@[192.0.2.1]",
            "no-at-sign",
            "a@",
            "a@bucher.example",
        ] {
            assert!(!domain_allowed(&allowed, bad), "{bad}");
        }
    }
}
