//! Synthetic data for scale benchmarks (`strongroom admin generate-synthetic`, hidden from the
//! help): the store writes the rows in bulk (`store::synthetic`); here the sampled files get real
//! bytes, a small pure-Python wheel each that pip installs, written to the blob store and
//! recorded with their digests. Every other synthetic file has no bytes: `admin fsck` reports
//! each as a missing blob (by design, see docs/benchmarks.md, "Scale").

use std::io::Write;

use base64::Engine;
use bytes::Bytes;
use strongroom_store::BlobKey;
use strongroom_store::synthetic::{SyntheticBlob, SyntheticPlan, SyntheticReport, SyntheticSample};

use crate::{CoreError, Services};

/// What `generate-synthetic` was asked.
#[derive(Debug, Clone)]
pub struct SyntheticRequest {
    pub projects: u64,
    pub files_per_project: u32,
    pub sample: u64,
    pub seed: u64,
    /// Add to a database that already has projects (refused otherwise).
    pub append: bool,
}

impl Services {
    /// Generate the synthetic projects and the sampled files' bytes; `progress` is told the
    /// projects written so far after each transaction.
    pub async fn generate_synthetic(
        &self,
        req: &SyntheticRequest,
        progress: impl FnMut(u64),
    ) -> Result<SyntheticReport, CoreError> {
        if req.projects == 0 || req.files_per_project == 0 {
            return Err(CoreError::Invalid(
                "--projects and --files-per-project must be at least 1".into(),
            ));
        }
        if !req.append {
            let n = self.db.project_count().await?;
            if n > 0 {
                return Err(CoreError::Invalid(format!(
                    "the database already holds {n} projects: synthetic data goes only into an empty index (or pass --append)"
                )));
            }
        }
        let plan = SyntheticPlan {
            projects: req.projects,
            files_per_project: req.files_per_project,
            sample: req.sample,
            seed: req.seed,
            description_renderer: crate::descriptions::RENDERER_VERSION,
            now: self.clock.now_micros(),
        };
        // The sampled wheels are made (and hashed) as their rows are, and written after: a
        // run cut short leaves rows whose blobs fsck reports missing, like every other
        // synthetic file's. Each is about a kilobyte.
        let mut wheels: Vec<(String, Vec<u8>)> = Vec::new();
        let mut failed: Option<String> = None;
        let mut sampler = |s: &SyntheticSample| -> SyntheticBlob {
            match sample_blob(s) {
                Ok((blob, bytes)) => {
                    wheels.push((blob.blob_key.clone(), bytes));
                    blob
                }
                Err(e) => {
                    failed.get_or_insert(e);
                    SyntheticBlob {
                        size: 0,
                        md5: String::new(),
                        sha256: String::new(),
                        blake2_256: String::new(),
                        blob_key: String::new(),
                    }
                }
            }
        };
        let report = self
            .db
            .generate_synthetic(&plan, &mut sampler, progress)
            .await?;
        if let Some(e) = failed {
            return Err(CoreError::Internal(format!("a sample wheel: {e}")));
        }
        for (key, bytes) in wheels {
            self.blobs.put_bytes(&key, Bytes::from(bytes)).await?;
        }
        Ok(report)
    }
}

/// The wheel of sample `s` and its digests and blob key.
fn sample_blob(s: &SyntheticSample) -> Result<(SyntheticBlob, Vec<u8>), String> {
    let wheel = build_wheel(s).map_err(|e| e.to_string())?;
    let d = strongroom_dist::Hasher::hash_reader(&wheel[..]).map_err(|e| e.to_string())?;
    let blake2 = d.blake2b_256_hex();
    let key = BlobKey::for_file(&blake2, &s.filename)
        .ok_or_else(|| format!("no blob key for {}", s.filename))?;
    let blob = SyntheticBlob {
        size: i64::try_from(wheel.len()).unwrap_or(i64::MAX),
        md5: d.md5_hex(),
        sha256: d.sha256_hex(),
        blake2_256: blake2,
        blob_key: key.as_str().to_owned(),
    };
    Ok((blob, wheel))
}

/// A pure-Python wheel for `s`: one module whose `__version__` is the release's, its
/// METADATA, WHEEL and RECORD (with each member's sha256, as installers expect).
pub fn build_wheel(s: &SyntheticSample) -> Result<Vec<u8>, zip::result::ZipError> {
    let module = s.normalized_name.replace('-', "_");
    let dist_info = format!("{module}-{}.dist-info", s.version);
    let members: Vec<(String, Vec<u8>)> = vec![
        (
            format!("{module}/__init__.py"),
            format!(
                "\"\"\"{}\"\"\"\n__version__ = \"{}\"\n",
                s.summary, s.version
            )
            .into_bytes(),
        ),
        (
            format!("{dist_info}/METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: {}\nVersion: {}\nSummary: {}\nRequires-Python: {}\n",
                s.project_name, s.version, s.summary, s.requires_python
            )
            .into_bytes(),
        ),
        (
            format!("{dist_info}/WHEEL"),
            b"Wheel-Version: 1.0\nGenerator: strongroom-synthetic\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
                .to_vec(),
        ),
    ];
    let mut record = String::new();
    for (name, data) in &members {
        use sha2::Digest;
        let h = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(data));
        record.push_str(&format!("{name},sha256={h},{}\n", data.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, data) in &members {
        w.start_file(name.as_str(), opts)?;
        w.write_all(data)?;
    }
    w.start_file(format!("{dist_info}/RECORD"), opts)?;
    w.write_all(record.as_bytes())?;
    Ok(w.finish()?.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fsck::FindingKind;

    fn req(projects: u64, files: u32, sample: u64, append: bool) -> SyntheticRequest {
        SyntheticRequest {
            projects,
            files_per_project: files,
            sample,
            seed: 11,
            append,
        }
    }

    /// Pages render from the rows, the samples' wheels are in the blob store with the bytes
    /// their rows name, and fsck reports exactly the other files' blobs as missing (the
    /// documented treatment), nothing else; a second run without `--append` is refused.
    #[tokio::test]
    async fn synthetic_index_serves_pages_and_fsck_reports_only_the_missing_blobs() {
        let (s, _clock, dir) = crate::test_harness::services(|_, _| {}).await;
        let report = s
            .generate_synthetic(&req(6, 4, 2, false), |_| {})
            .await
            .expect("generate");
        assert_eq!((report.files, report.samples.len()), (24, 2));
        let entries = s.simple_index_entries().await.expect("index");
        assert_eq!(entries.len(), 6);
        for e in &entries {
            let p = s
                .visible_project(e.normalized.as_str())
                .await
                .expect("p")
                .expect("visible");
            let page = s.simple_project_page(&p, "/files/").await.expect("page");
            let html = strongroom_protocol::simple::project_html(&page);
            assert_eq!(html.matches("#sha256=").count(), 4, "{html}");
        }
        for x in &report.samples {
            let p = s
                .visible_project(&x.normalized_name)
                .await
                .expect("p")
                .expect("p");
            let files = s.db.files_of(p.id).await.expect("files");
            let f = files
                .iter()
                .find(|f| f.filename == x.filename)
                .expect("file");
            let body = std::fs::read(crate::testing::blob_root(dir.path()).join(&f.blob_key))
                .expect("sample blob written");
            let d = strongroom_dist::Hasher::hash_reader(&body[..]).expect("hash");
            assert_eq!(
                (d.sha256_hex(), body.len()),
                (f.sha256.clone(), usize::try_from(f.size).expect("size"))
            );
            // a wheel the upload path itself accepts
            let path = dir.path().join(&x.filename);
            std::fs::write(&path, &body).expect("write");
            let info = strongroom_dist::inspect_wheel(&path, &strongroom_dist::Limits::default())
                .expect("valid wheel");
            assert_eq!(info.tags, ["py3-none-any"]);
            let metadata = String::from_utf8_lossy(&info.metadata).into_owned();
            assert!(
                metadata.contains(&format!("Version: {}", x.version)),
                "{metadata}"
            );
        }
        let fsck = s.fsck(&[], false).await.expect("fsck");
        let kinds: Vec<FindingKind> = fsck.findings.iter().map(|f| f.kind).collect();
        assert_eq!(
            kinds,
            vec![FindingKind::BlobMissing; 22],
            "{:?}",
            fsck.findings
        );
        for x in &report.samples {
            assert!(
                fsck.findings
                    .iter()
                    .all(|f| !f.subject.contains(&x.filename)),
                "{x:?}"
            );
        }
        let again = s.generate_synthetic(&req(1, 1, 0, false), |_| {}).await;
        assert!(matches!(again, Err(CoreError::Invalid(_))), "{again:?}");
        assert_eq!(s.db.project_count().await.expect("n"), 6);
        s.generate_synthetic(&req(1, 1, 0, true), |_| {})
            .await
            .expect("append");
        assert_eq!(s.db.project_count().await.expect("n"), 7);
    }
}
