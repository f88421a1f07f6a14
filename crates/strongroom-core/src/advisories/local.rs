//! What advisories mean for local projects. A live malicious record about a local project (its
//! normalised name) that names the sha256 of one of its files quarantines that file's release (the review machinery's hold: invisible to
//! installers and mirrors until an administrator approves it), and the project's owners and the
//! administrators are told; when no live record names any of its files any more (withdrawn, or
//! gone from its source's snapshot), the advisory's quarantine ends (an administrator's own
//! quarantine since is left alone). A malicious record matching a local project by name alone
//! is an admin signal, never an automatic action: a malicious package upstream under one of the
//! organisation's private names is the dependency-confusion case, not proof against the local
//! project. So is a record naming a local file's sha256 under another project's name: every
//! local file's sha256 is public, so anyone who gets a record into a feed could otherwise take
//! any local release off the index.

use std::collections::BTreeMap;

use strongroom_store::NewMail;
use strongroom_store::ProjectRole;
use strongroom_store::admin::{AdminTx, ProjectState};
use strongroom_store::advisories::NamedLocalFile;

use super::import::{HashMatch, ImportSummary, NameMatch};
use crate::mail::{Recipients, notice, notice_recipients};
use crate::visibility::State;
use crate::{Actor, CoreError, RequestMeta, Services, Subject};
use strongroom_protocol::osv::Advisory;

/// The event of a malicious record naming a local project by name alone.
pub const NAME_MATCH: &str = "advisory:name-match";

/// The event of a malicious record naming a local file's sha256 under another project's name.
pub const HASH_MATCH: &str = "advisory:hash-match";

fn project_subject(p: &ProjectState) -> Subject<'_> {
    Subject {
        kind: "project",
        id: Some(p.id),
        name: Some(&p.name),
    }
}

impl Services {
    /// Owners of the project and every administrator, once each.
    async fn owners_and_admins(
        &self,
        tx: &mut AdminTx,
        p: &ProjectState,
        subject: &str,
        body: &str,
    ) -> Result<Vec<NewMail>, CoreError> {
        let mut to = Recipients::default();
        for r in self.db.roles_of_project(p.id).await? {
            if r.role == ProjectRole::Owner {
                to.add(notice_recipients(&tx.emails(r.user_id).await?));
            }
        }
        to.add(self.admin_addresses().await?);
        Ok(notice(&to.into_vec(), subject, body))
    }

    /// Hold every release a live malicious record names a file of, and end the holds no
    /// record backs any more.
    pub(crate) async fn apply_local_advisories(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        summary: &mut ImportSummary,
    ) -> Result<(), CoreError> {
        let mut by_release: BTreeMap<i64, NamedLocalFile> = BTreeMap::new();
        for f in self.db.local_files_named_by_advisories().await? {
            by_release.entry(f.release_id).or_insert(f);
        }
        for f in by_release.into_values() {
            if self.hold_named_release(actor, meta, &f).await? {
                summary.held.push(format!("{} {}", f.project, f.version));
            }
        }
        for h in self.db.advisory_holds().await? {
            if h.still_named {
                continue;
            }
            if self
                .end_hold(actor, meta, h.release_id, &h.project, &h.record)
                .await?
            {
                summary
                    .released
                    .push(format!("{} {}", h.project, h.version));
            }
        }
        Ok(())
    }

    async fn hold_named_release(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        f: &NamedLocalFile,
    ) -> Result<bool, CoreError> {
        let mut tx = self.db.begin_admin().await?;
        let Some(p) = tx.project(&f.project).await? else {
            return Ok(false);
        };
        let reason = format!(
            "the file {} is listed as malicious ({}, advisory source {})",
            f.filename, f.record, f.source
        );
        let now = self.now();
        if !tx
            .hold_release_for_advisory(f.release_id, &f.source, &f.record, &f.sha256, &reason, now)
            .await?
        {
            return Ok(false);
        }
        if State::of_project(p.status).is_public() {
            // Mirrors drop it like a removed release; approving it journals it again.
            tx.journal(
                &p,
                Some(&f.version),
                None,
                "remove release",
                &actor.name,
                now,
            )
            .await?;
        }
        let mails = self
            .owners_and_admins(
                &mut tx,
                &p,
                &format!("Release {} {} was quarantined: a file is listed as malicious", p.name, f.version),
                &format!(
                    "The advisory {} (source {}) lists the sha256 of {}, a file of the release {} of {}, as a malicious package. The release is quarantined: it cannot be installed until an administrator approves it, or the advisory is withdrawn. Check where this file came from; if it was not expected, freeze the account that uploaded it and remove the release.",
                    f.record, f.source, f.filename, f.version, p.name
                ),
            )
            .await?;
        let ev = self.event(
            actor,
            "release:quarantine",
            project_subject(&p),
            meta,
            serde_json::json!({"version": f.version, "release_id": f.release_id,
                "reason": reason, "advisory": f.record, "source": f.source,
                "filename": f.filename, "sha256": f.sha256}),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(true)
    }

    async fn end_hold(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        release_id: i64,
        project: &str,
        record: &str,
    ) -> Result<bool, CoreError> {
        let mut tx = self.db.begin_admin().await?;
        let Some(p) = tx.project(project).await? else {
            return Ok(false);
        };
        let released = tx.end_advisory_hold(release_id).await?;
        let now = self.now();
        let mut version = String::new();
        let mut mails = Vec::new();
        if released {
            let files = tx.files_of_release(release_id).await?;
            let published: Vec<_> = files
                .iter()
                .filter(|f| f.removed_at.is_none() && f.held_at.is_none())
                .collect();
            version = files.first().map(|f| f.version.clone()).unwrap_or_default();
            if State::of_project(p.status).is_public() {
                tx.journal(&p, Some(&version), None, "new release", &actor.name, now)
                    .await?;
                for f in &published {
                    tx.journal_file_added(&p, f, &actor.name, now).await?;
                }
            }
            mails = self
                .owners_and_admins(
                    &mut tx,
                    &p,
                    &format!("Release {} {} is published again", p.name, version),
                    &format!(
                        "The advisory {record} that quarantined the release {version} of {} was withdrawn or retracted by its source. The release is installable again.",
                        p.name
                    ),
                )
                .await?;
        }
        let ev = self.event(
            actor,
            "advisory:release:unhold",
            project_subject(&p),
            meta,
            serde_json::json!({"release_id": release_id, "version": version,
                "advisory": record, "published": released}),
        );
        tx.commit(&[ev], &mails).await?;
        Ok(released)
    }

    /// Signal (event `advisory:name-match`, on the admin start page) every local project a live
    /// malicious record of this import names, when no local file of it is named by hash; once
    /// per record and project (new to the source in this import).
    pub(crate) async fn signal_name_matches(
        &self,
        malicious: &[&Advisory],
        actor: &Actor,
        meta: &RequestMeta,
        summary: &mut ImportSummary,
    ) -> Result<(), CoreError> {
        let held: Vec<String> = summary.held.clone();
        for a in malicious {
            let Some(p) = self.db.project_state(&a.project).await? else {
                continue;
            };
            let hash_named = held.iter().any(|h| h.split(' ').next() == Some(&a.project));
            if hash_named {
                continue;
            }
            let m = NameMatch {
                project: p.name.clone(),
                record: a.id.clone(),
            };
            if summary
                .counts
                .added_keys
                .contains(&(a.id.clone(), a.project.clone()))
            {
                let ev = self.event(
                    actor,
                    NAME_MATCH,
                    project_subject(&p),
                    meta,
                    serde_json::json!({"advisory": a.id, "source": summary.source,
                        "summary": a.summary,
                        "note": "a malicious package upstream under this local name; the local project was not changed"}),
                );
                self.db.append_event(&ev).await?;
            }
            summary.name_matches.push(m);
        }
        Ok(())
    }

    /// Signal (event `advisory:hash-match`, on the admin start page) every local file whose
    /// sha256 a live malicious record of this source names under another project's name; the
    /// event once per record and project new to the source in this import. Nothing is changed.
    pub(crate) async fn signal_hash_matches(
        &self,
        actor: &Actor,
        meta: &RequestMeta,
        summary: &mut ImportSummary,
    ) -> Result<(), CoreError> {
        for m in self
            .db
            .local_files_hashed_under_other_names(&summary.source)
            .await?
        {
            let new = summary
                .counts
                .added_keys
                .contains(&(m.record.clone(), m.named_project.clone()));
            if new && let Some(p) = self.db.project_state(&m.project).await? {
                let ev = self.event(
                    actor,
                    HASH_MATCH,
                    project_subject(&p),
                    meta,
                    serde_json::json!({"advisory": m.record, "source": m.source,
                        "named_project": m.named_project, "version": m.version,
                        "filename": m.filename, "sha256": m.sha256,
                        "note": "a malicious-package record lists this local file's sha256 under another name; the local project was not changed"}),
                );
                self.db.append_event(&ev).await?;
            }
            summary.hash_matches.push(HashMatch {
                project: m.project,
                version: m.version,
                filename: m.filename,
                record: m.record,
                named_project: m.named_project,
            });
        }
        Ok(())
    }
}
