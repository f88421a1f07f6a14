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
        let report = self.db.generate_synthetic(&plan, progress).await?;
        for s in &report.samples {
            let wheel = build_wheel(s)
                .map_err(|e| CoreError::Internal(format!("building a sample wheel: {e}")))?;
            let d = strongroom_dist::Hasher::hash_reader(&wheel[..])
                .map_err(|e| CoreError::Internal(format!("hashing a sample wheel: {e}")))?;
            let blake2 = d.blake2b_256_hex();
            let key = BlobKey::for_file(&blake2, &s.filename)
                .ok_or_else(|| CoreError::Internal(format!("no blob key for {}", s.filename)))?;
            let size = i64::try_from(wheel.len()).unwrap_or(i64::MAX);
            self.blobs
                .put_bytes(key.as_str(), Bytes::from(wheel))
                .await?;
            let blob = SyntheticBlob {
                size,
                md5: d.md5_hex(),
                sha256: d.sha256_hex(),
                blake2_256: blake2,
                blob_key: key.as_str().to_owned(),
            };
            self.db.attach_synthetic_blob(s.file_id, &blob).await?;
        }
        Ok(report)
    }
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
