//! Readiness: whether this server can do its work now (`GET /readyz`). Every check runs at once,
//! each bounded in time; a failed one names itself and says why. Liveness (`/healthz`) is not
//! here: it only says that the process answers.
//!
//! To add a check: a variant of [`Check`], and one more arm in [`Services::readiness`].

use std::time::Duration;

use strongroom_store::{ProbeFailure, SchemaState};

use crate::Services;

/// The longest one check may take before it counts as failed.
pub const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// One thing readiness looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Check {
    /// The database answers and takes writes.
    Database,
    /// The blob store takes a write, serves it back and deletes it.
    BlobStore,
    /// The schema is the one this binary knows.
    Migrations,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Check::Database => "database",
            Check::BlobStore => "blob store",
            Check::Migrations => "migrations",
        })
    }
}

/// A check that failed, and why (for the operator: it may name hosts and errors, never secrets).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub check: Check,
    pub reason: String,
}

/// The outcome of every check: ready when none failed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Readiness {
    pub failed: Vec<Failed>,
    /// What a ready server does not do yet (one line each, after `ready`): the database file
    /// being read whole after an unclean stop, while changes to the index wait.
    pub notes: Vec<String>,
}

impl Readiness {
    /// Whether every check passed.
    pub fn is_ready(&self) -> bool {
        self.failed.is_empty()
    }

    /// Plain text: `ready` and a line per note, or `not ready` and one `check: reason` line per
    /// failed check.
    pub fn to_text(&self) -> String {
        if self.is_ready() {
            let mut s = String::from("ready\n");
            for n in &self.notes {
                s.push_str(&format!("note: {}\n", one_line(n)));
            }
            return s;
        }
        let mut s = String::from("not ready\n");
        for f in &self.failed {
            s.push_str(&format!("{}: {}\n", f.check, one_line(&f.reason)));
        }
        s
    }
}

fn one_line(s: &str) -> String {
    s.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .take(500)
        .collect()
}

/// `op`'s verdict within [`CHECK_TIMEOUT`].
async fn bounded(
    check: Check,
    op: impl std::future::Future<Output = Result<(), String>>,
) -> Option<Failed> {
    let verdict = match tokio::time::timeout(CHECK_TIMEOUT, op).await {
        Ok(v) => v,
        Err(_) => Err(format!("no answer within {} s", CHECK_TIMEOUT.as_secs())),
    };
    verdict.err().map(|reason| Failed { check, reason })
}

impl Services {
    /// Run every readiness check (concurrently) and report which failed.
    pub async fn readiness(&self) -> Readiness {
        let database = bounded(Check::Database, async {
            self.db
                .check_writable()
                .await
                .map_err(|e| format!("not writable: {e}"))
        });
        let blobs = bounded(Check::BlobStore, async {
            self.blobs.probe().await.map_err(|e| {
                tracing::warn!(error = %e, detail = e.detail(), "the blob store failed its probe");
                match e {
                    ProbeFailure::Misconfigured { message, .. } => {
                        format!("misconfigured: {message}")
                    }
                    ProbeFailure::Unreachable { message, .. } => format!("unreachable: {message}"),
                    ProbeFailure::Mismatch => e.to_string(),
                }
            })
        });
        let migrations = bounded(Check::Migrations, async {
            match self.db.schema_state(self.settings.known_migrations).await {
                Ok(SchemaState::Current { .. } | SchemaState::AheadCompatible { .. }) => Ok(()),
                Ok(SchemaState::Behind { pending, .. }) => Err(format!(
                    "migrations {} are not applied (run `strongroom migrate`)",
                    pending.join(", ")
                )),
                Ok(SchemaState::AheadIncompatible {
                    database, needs, ..
                }) => Err(format!(
                    "the database (schema {database}) needs a binary of schema {needs} or later"
                )),
                Err(e) => Err(format!("cannot read the schema state: {e}")),
            }
        });
        let (d, b, m) = tokio::join!(database, blobs, migrations);
        let mut failed: Vec<Failed> = [d, b, m].into_iter().flatten().collect();
        let mut notes = Vec::new();
        match self.database_check.state() {
            crate::database_check::CheckState::Passed => {}
            crate::database_check::CheckState::Running => notes.push(
                "the database file is being read whole after an unclean stop: pages and downloads are served, changes to the index wait until it passes".to_owned(),
            ),
            crate::database_check::CheckState::Damaged => failed.push(Failed {
                check: Check::Database,
                reason: "the database file is damaged: changes are refused and the server is stopping".into(),
            }),
        }
        Readiness { failed, notes }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh database with a local folder is ready; the same database with an S3 server that
    /// does not answer is not, and the one line says which part and why, without the endpoint.
    #[tokio::test]
    async fn readiness_names_each_failed_check_and_nothing_else() {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (s, _clock, _dir) = crate::test_harness::services(|_, _| {}).await;
        let r = s.readiness().await;
        assert!(r.is_ready(), "{r:?}");
        assert_eq!(r.to_text(), "ready\n");
        s.database_check.begin();
        let r = s.readiness().await;
        assert!(r.is_ready(), "reads are served: {r:?}");
        assert!(
            r.to_text()
                .starts_with("ready\nnote: the database file is being read whole"),
            "{}",
            r.to_text()
        );
        s.database_check.damaged();
        let r = s.readiness().await;
        assert!(
            r.to_text()
                .starts_with("not ready\ndatabase: the database file is damaged"),
            "{}",
            r.to_text()
        );
        s.database_check.passed();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let down = strongroom_store::Blobs::s3(&strongroom_store::S3Settings {
            bucket: "b".into(),
            endpoint: Some(format!("http://127.0.0.1:{port}")),
            allow_http: true,
            access_key_id: Some("k".into()),
            secret_access_key: Some("s".into()),
            ..strongroom_store::S3Settings::default()
        })
        .expect("configured");
        let s = Services::new(s.db.clone(), down, (*s.settings).clone());
        let r = s.readiness().await;
        assert_eq!(
            r.failed.iter().map(|f| f.check).collect::<Vec<_>>(),
            vec![Check::BlobStore]
        );
        let text = r.to_text();
        assert!(
            text.starts_with("not ready\nblob store: unreachable: "),
            "{text}"
        );
        assert!(!text.contains(&port.to_string()), "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
