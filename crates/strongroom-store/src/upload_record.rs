//! File rows against what their uploads recorded in the hash-chained event log: each
//! `file:upload` event names the file's id, sha256, blake2b-256 and size, and its blob key is
//! derived from that blake2b-256 and the file name. A row changed outside strongroom (bytes
//! swapped together with their digests, in a database or a backup) no longer agrees with the
//! part of the data `admin log verify --expect-head` authenticates. Read in pages of events.

use std::collections::HashMap;

use sqlx::Row;

use crate::{BlobKey, Db, StoreError};

/// Events (and so file rows) read at once.
const PAGE: i64 = 500;

/// Altered rows reported at most (the count of the rest is still given).
const REPORTED: usize = 100;

/// How a file row disagrees with its upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowAlteration {
    /// A digest or the size is not what the upload event recorded.
    Differs {
        field: &'static str,
        row: String,
        recorded: String,
    },
    /// The blob key is not the one derived from the row's blake2b-256 and file name.
    KeyNotDerived { expected: Option<String> },
}

/// One file row that disagrees with its upload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlteredFileRow {
    pub file_id: i64,
    pub filename: String,
    pub blob_key: String,
    pub alteration: RowAlteration,
}

/// What comparing every file row with its upload event found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RowsVsUploads {
    /// Upload events compared with their rows.
    pub compared: u64,
    /// Rows that disagree (the first [`REPORTED`]).
    pub altered: Vec<AlteredFileRow>,
    /// Rows that disagree, all of them.
    pub altered_count: u64,
    /// More disagreements were found than `altered` holds.
    pub truncated: bool,
    /// File rows no `file:upload` event names (inserted outside strongroom).
    pub without_upload: i64,
}

/// What one `file:upload` event recorded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedUpload {
    pub file_id: i64,
    pub sha256: String,
    pub blake2_256: String,
    pub size: i64,
}

impl RecordedUpload {
    /// From an event's details (`None` for details without the fields: not an upload's).
    pub fn from_details(details: &serde_json::Value) -> Option<RecordedUpload> {
        Some(RecordedUpload {
            file_id: details.get("file_id")?.as_i64()?,
            sha256: details.get("sha256")?.as_str()?.to_owned(),
            blake2_256: details.get("blake2_256")?.as_str()?.to_owned(),
            size: details.get("size")?.as_i64()?,
        })
    }
}

/// What a file row says about its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RowDigests {
    pub file_id: i64,
    pub filename: String,
    pub blob_key: String,
    pub sha256: String,
    pub blake2_256: String,
    pub size: i64,
}

/// Every way `row` disagrees with `recorded` (empty: it agrees).
pub fn compare(row: &RowDigests, recorded: &RecordedUpload) -> Vec<RowAlteration> {
    let mut out = Vec::new();
    for (field, r, e) in [
        ("sha256", &row.sha256, &recorded.sha256),
        ("blake2_256", &row.blake2_256, &recorded.blake2_256),
    ] {
        if !r.eq_ignore_ascii_case(e) {
            out.push(RowAlteration::Differs {
                field,
                row: r.clone(),
                recorded: e.clone(),
            });
        }
    }
    if row.size != recorded.size {
        out.push(RowAlteration::Differs {
            field: "size",
            row: row.size.to_string(),
            recorded: recorded.size.to_string(),
        });
    }
    let expected = BlobKey::for_file(&row.blake2_256.to_ascii_lowercase(), &row.filename)
        .map(|k| k.as_str().to_owned());
    if expected.as_deref() != Some(row.blob_key.as_str()) {
        out.push(RowAlteration::KeyNotDerived { expected });
    }
    out
}

impl Db {
    /// Compare every file row with the `file:upload` event that recorded it (events read in
    /// pages by sequence number, their rows looked up by id).
    pub async fn file_rows_vs_uploads(&self) -> Result<RowsVsUploads, StoreError> {
        let mut out = RowsVsUploads::default();
        let mut after = 0i64;
        let mut matched = 0i64;
        loop {
            let events = sqlx::query(
                "SELECT seq, details FROM events WHERE action = 'file:upload' AND seq > $1 \
                 ORDER BY seq LIMIT $2",
            )
            .bind(after)
            .bind(PAGE)
            .fetch_all(&self.read)
            .await?;
            let Some(last) = events.last() else { break };
            after = last.try_get(0)?;
            let mut recorded: HashMap<i64, RecordedUpload> = HashMap::new();
            for e in &events {
                let details: String = e.try_get(1)?;
                if let Some(u) = serde_json::from_str(&details)
                    .ok()
                    .as_ref()
                    .and_then(RecordedUpload::from_details)
                {
                    recorded.insert(u.file_id, u);
                }
            }
            if recorded.is_empty() {
                continue;
            }
            let ids: Vec<i64> = recorded.keys().copied().collect();
            let placeholders: Vec<String> = (1..=ids.len()).map(|i| format!("${i}")).collect();
            let mut q = crate::rows::query(format!(
                "SELECT id, filename, blob_key, sha256, blake2_256, size FROM files WHERE id IN ({})",
                placeholders.join(", ")
            ));
            for id in &ids {
                q = q.bind(*id);
            }
            for r in q.fetch_all(&self.read).await? {
                let row = RowDigests {
                    file_id: r.try_get(0)?,
                    filename: r.try_get(1)?,
                    blob_key: r.try_get(2)?,
                    sha256: r.try_get(3)?,
                    blake2_256: r.try_get(4)?,
                    size: r.try_get(5)?,
                };
                let Some(u) = recorded.get(&row.file_id) else {
                    continue;
                };
                matched += 1;
                out.compared += 1;
                let found = compare(&row, u);
                if !found.is_empty() {
                    out.altered_count += 1;
                }
                for alteration in found {
                    if out.altered.len() < REPORTED {
                        out.altered.push(AlteredFileRow {
                            file_id: row.file_id,
                            filename: row.filename.clone(),
                            blob_key: row.blob_key.clone(),
                            alteration,
                        });
                    } else {
                        out.truncated = true;
                    }
                }
            }
        }
        let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM files")
            .fetch_one(&self.read)
            .await?;
        out.without_upload = rows.saturating_sub(matched);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> (RowDigests, RecordedUpload) {
        let blake = "cb5d".to_owned() + &"0".repeat(60);
        let filename = "demo-1.0-py3-none-any.whl".to_owned();
        let key = BlobKey::for_file(&blake, &filename).expect("key");
        (
            RowDigests {
                file_id: 7,
                filename,
                blob_key: key.as_str().to_owned(),
                sha256: "a".repeat(64),
                blake2_256: blake.clone(),
                size: 1234,
            },
            RecordedUpload {
                file_id: 7,
                sha256: "a".repeat(64),
                blake2_256: blake,
                size: 1234,
            },
        )
    }

    #[test]
    fn a_row_as_uploaded_agrees() {
        let (r, u) = row();
        assert_eq!(compare(&r, &u), vec![]);
    }

    /// Bytes swapped with the row's sha256, md5 and size made to agree, the key left alone.
    #[test]
    fn a_swapped_row_with_its_key_kept_disagrees_on_sha256_and_size() {
        let (mut r, u) = row();
        r.sha256 = "b".repeat(64);
        r.size = 1900;
        assert_eq!(
            compare(&r, &u),
            vec![
                RowAlteration::Differs {
                    field: "sha256",
                    row: "b".repeat(64),
                    recorded: "a".repeat(64)
                },
                RowAlteration::Differs {
                    field: "size",
                    row: "1900".into(),
                    recorded: "1234".into()
                },
            ]
        );
    }

    /// The blake2b-256 and the key rewritten too: still not what the upload recorded.
    #[test]
    fn a_swapped_row_with_a_new_blake2_and_key_disagrees_on_blake2() {
        let (mut r, u) = row();
        let blake = "ee".repeat(32);
        r.sha256 = "b".repeat(64);
        r.blake2_256 = blake.clone();
        r.blob_key = BlobKey::for_file(&blake, &r.filename)
            .expect("key")
            .as_str()
            .to_owned();
        let found = compare(&r, &u);
        assert!(
            found.contains(&RowAlteration::Differs {
                field: "blake2_256",
                row: blake,
                recorded: u.blake2_256.clone()
            }),
            "{found:?}"
        );
    }

    /// A key that is not derived from the row's blake2b-256 (only the key changed).
    #[test]
    fn a_key_not_derived_from_the_row_is_reported() {
        let (mut r, u) = row();
        r.blob_key = format!("ee/ee/{}/{}", "e".repeat(60), r.filename);
        assert!(matches!(
            compare(&r, &u).as_slice(),
            [RowAlteration::KeyNotDerived { expected: Some(_) }]
        ));
    }

    #[test]
    fn the_details_an_upload_writes_are_read_back() {
        let d = serde_json::json!({"file_id": 3, "filename": "x", "sha256": "s", "blake2_256": "b", "size": 9});
        assert_eq!(
            RecordedUpload::from_details(&d),
            Some(RecordedUpload {
                file_id: 3,
                sha256: "s".into(),
                blake2_256: "b".into(),
                size: 9
            })
        );
        assert_eq!(
            RecordedUpload::from_details(&serde_json::json!({"file_id": 3})),
            None
        );
    }
}
