//! Blobs found missing or damaged while the index runs, not by `admin fsck`: the periodic
//! sampled check (`blobs.verify_sample` random files read whole every jobs run) and the
//! downloads that meet one, each raising an admin signal (`blob:missing`, `blob:damaged`) at
//! most once an hour per file and kind.

use strongroom_store::NewEvent;
use strongroom_store::blob_check::BlobState;
use strongroom_store::fsck::FileBlob;

use super::{FindingKind, describe};
use crate::{CoreError, RequestMeta, Services};

/// An hour: one signal per file and kind in that time, however many downloads hit it.
const SIGNAL_EVERY_MICROS: i64 = 3_600_000_000;

impl Services {
    /// The sampled blob check (a periodic job): `blobs.verify_sample` random files' blobs read
    /// whole; each missing or damaged one raises its signal.
    pub(crate) async fn blob_sample_job(&self) -> Result<Vec<String>, CoreError> {
        let n = self.settings.blobs.verify_sample;
        if n == 0 {
            return Ok(Vec::new());
        }
        // twice as many random points as files wanted: a point that meets a file already
        // picked is spent (each point one indexed lookup)
        let seeds: Vec<u64> = (0..n.saturating_mul(2).min(200_000))
            .map(|_| rand::random())
            .collect();
        let sample = self
            .db
            .sample_file_blobs(i64::try_from(n).unwrap_or(i64::MAX), &seeds)
            .await?;
        let mut bad = 0;
        for f in &sample {
            for (kind, state) in self.check_file_blobs(f).await? {
                bad += 1;
                self.raise_blob_signal(f, kind, &state, None).await?;
            }
        }
        Ok(if bad > 0 {
            vec![format!(
                "blob check: {bad} missing or damaged blob(s) among {} sampled file(s); run `strongroom admin fsck`",
                sample.len()
            )]
        } else {
            Vec::new()
        })
    }

    /// Raise the admin signal for a file whose blob (or `.metadata`) is missing or damaged, at
    /// most once an hour per file and kind. `meta`: the download that found it, if one did.
    pub async fn raise_blob_signal(
        &self,
        f: &FileBlob,
        kind: FindingKind,
        state: &BlobState,
        meta: Option<&RequestMeta>,
    ) -> Result<(), CoreError> {
        let signal = match kind {
            FindingKind::BlobMissing | FindingKind::MetadataMissing => {
                crate::signals::SignalKind::BlobMissing
            }
            FindingKind::BlobDamaged | FindingKind::MetadataDamaged => {
                crate::signals::SignalKind::BlobDamaged
            }
            _ => return Ok(()),
        };
        let now = self.now();
        // once an hour per file, however many downloads or servers meet it at once
        self.db
            .append_event_unless_since(
                &NewEvent {
                    at: now,
                    actor_id: None,
                    actor_name: Some(if meta.is_some() { "download" } else { "system" }.into()),
                    action: signal.action().into(),
                    subject_kind: "file".into(),
                    subject_id: Some(f.id),
                    subject_name: Some(f.filename.clone()),
                    ip: meta.and_then(|m| m.ip.clone()),
                    user_agent: meta.and_then(|m| m.user_agent.clone()),
                    request_id: meta.and_then(|m| m.request_id.clone()),
                    details: serde_json::json!({
                        "project": f.project_name,
                        "blob_key": f.blob_key,
                        "kind": kind.as_str(),
                        "found": describe(f, kind, state),
                    }),
                },
                now.saturating_sub(SIGNAL_EVERY_MICROS),
            )
            .await?;
        Ok(())
    }

    /// The blob facts of the file row for `blob_key`, for a signal raised by a download.
    pub async fn file_blob(&self, blob_key: &str) -> Result<Option<FileBlob>, CoreError> {
        Ok(self.db.file_blob_by_key(blob_key).await?)
    }
}
