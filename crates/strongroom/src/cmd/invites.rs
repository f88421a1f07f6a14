//! `strongroom admin invite-user | invites | revoke-invite`: invitation links to register, made,
//! listed and revoked by the operator (the same core calls as the admin area).

use strongroom_core::clock::iso8601_seconds;
use strongroom_core::registration_invites::InviteState;
use strongroom_core::{Actor, RequestMeta, Services};

/// Make an invitation; prints its number, expiry and link (the only time the link is shown).
pub(super) async fn invite(
    s: &Services,
    a: &Actor,
    m: &RequestMeta,
    email: &str,
    expires_hours: u64,
    reason: &str,
) -> anyhow::Result<()> {
    let made = s
        .invite_user(a, email, Some(expires_hours), reason, m)
        .await?;
    println!(
        "invitation #{} for {} until {}Z (mailed to the address; the link is not shown again):",
        made.id,
        made.email,
        iso8601_seconds(made.expires_at)
    );
    println!("{}", made.link);
    if s.settings.public_url.is_none() {
        eprintln!(
            "note: public_url is not set, so this link names {} (this configuration's bind address, which may not be where people reach the index): set public_url (STRONGROOM_PUBLIC_URL) to the index's address; every link in mail needs it",
            s.settings.link_base()
        );
    }
    Ok(())
}

/// One line per invitation: number, state, address, maker, expiry, outcome.
pub(super) async fn list(s: &Services) -> anyhow::Result<()> {
    let invites = s.registration_invites(1000).await?;
    if invites.is_empty() {
        println!("no invitations");
    }
    for v in invites {
        let i = &v.invite;
        let outcome = match v.state {
            InviteState::Used => format!(
                " registered {}",
                i.used_by
                    .clone()
                    .unwrap_or_else(|| "(address taken)".into())
            ),
            InviteState::Revoked => format!(" by {}", i.revoked_by.clone().unwrap_or_default()),
            InviteState::Pending | InviteState::Expired => String::new(),
        };
        println!(
            "#{}\t{}\t{}\tby {}\texpires {}Z{outcome}",
            i.id,
            v.state.name(),
            i.email,
            i.created_by,
            iso8601_seconds(i.expires_at)
        );
    }
    Ok(())
}

/// Revoke an invitation.
pub(super) async fn revoke(
    s: &Services,
    a: &Actor,
    m: &RequestMeta,
    id: i64,
    reason: &str,
) -> anyhow::Result<()> {
    let i = s.revoke_invite(a, id, reason, m).await?;
    println!("revoked invitation #{} for {}", i.id, i.email);
    Ok(())
}
