//! Long object keys for s3s-fs.
//!
//! s3s-fs keeps a sidecar file per object named `.bucket-<b64(bucket)>.object-<b64(key)>...`,
//! one path segment, so a key longer than about 170 bytes overflows the filesystem's 255-byte
//! name limit and every PUT fails with InternalError. PyPI's blob layout
//! (`aa/bb/<60 hex>/<filename>.metadata`) reaches that with ordinary manylinux wheels; real S3
//! allows 1024-byte keys. This wrapper stores long keys under `__long__/<sha256(key)>` and
//! records the original key beside the data (`<root>/.longkeys/<sha256>`), so listings show the
//! keys clients wrote. Short keys pass through untouched.

use std::path::PathBuf;

use s3s::dto::{
    AbortMultipartUploadInput, AbortMultipartUploadOutput, CompleteMultipartUploadInput,
    CompleteMultipartUploadOutput, CreateBucketInput, CreateBucketOutput,
    CreateMultipartUploadInput, CreateMultipartUploadOutput, DeleteObjectInput, DeleteObjectOutput,
    DeleteObjectsInput, DeleteObjectsOutput, GetObjectInput, GetObjectOutput, HeadBucketInput,
    HeadBucketOutput, HeadObjectInput, HeadObjectOutput, ListObjectsV2Input, ListObjectsV2Output,
    PutObjectInput, PutObjectOutput, UploadPartInput, UploadPartOutput,
};
use s3s::{S3, S3Request, S3Response, S3Result};
use sha2::{Digest, Sha256};

/// Keys at most this long are stored as they are.
const MAX_PLAIN_KEY: usize = 100;
const LONG_PREFIX: &str = "__long__/";

/// s3s-fs with long keys mapped to short ones.
pub struct LongKeys<T> {
    inner: T,
    map_dir: PathBuf,
}

impl<T> LongKeys<T> {
    pub fn new(inner: T, root: &std::path::Path) -> std::io::Result<Self> {
        let map_dir = root.join(".longkeys");
        std::fs::create_dir_all(&map_dir)?;
        Ok(LongKeys { inner, map_dir })
    }

    /// The key stored in s3s-fs for a client's key (recording long ones).
    fn store_key(&self, key: &str) -> String {
        if key.len() <= MAX_PLAIN_KEY {
            return key.to_owned();
        }
        let h = hex::encode(Sha256::digest(key.as_bytes()));
        let record = self.map_dir.join(&h);
        if !record.exists() {
            // Best effort: a failed record only affects how listings show this key.
            let _ = std::fs::write(&record, key);
        }
        format!("{LONG_PREFIX}{h}")
    }

    /// The client's key for a stored key.
    fn client_key(&self, stored: &str) -> String {
        match stored.strip_prefix(LONG_PREFIX) {
            Some(h) => {
                std::fs::read_to_string(self.map_dir.join(h)).unwrap_or_else(|_| stored.to_owned())
            }
            None => stored.to_owned(),
        }
    }
}

#[async_trait::async_trait]
impl<T: S3> S3 for LongKeys<T> {
    async fn create_bucket(
        &self,
        req: S3Request<CreateBucketInput>,
    ) -> S3Result<S3Response<CreateBucketOutput>> {
        self.inner.create_bucket(req).await
    }

    async fn head_bucket(
        &self,
        req: S3Request<HeadBucketInput>,
    ) -> S3Result<S3Response<HeadBucketOutput>> {
        self.inner.head_bucket(req).await
    }

    async fn put_object(
        &self,
        mut req: S3Request<PutObjectInput>,
    ) -> S3Result<S3Response<PutObjectOutput>> {
        req.input.key = self.store_key(&req.input.key);
        self.inner.put_object(req).await
    }

    async fn get_object(
        &self,
        mut req: S3Request<GetObjectInput>,
    ) -> S3Result<S3Response<GetObjectOutput>> {
        req.input.key = self.store_key(&req.input.key);
        self.inner.get_object(req).await
    }

    async fn head_object(
        &self,
        mut req: S3Request<HeadObjectInput>,
    ) -> S3Result<S3Response<HeadObjectOutput>> {
        req.input.key = self.store_key(&req.input.key);
        self.inner.head_object(req).await
    }

    async fn delete_object(
        &self,
        mut req: S3Request<DeleteObjectInput>,
    ) -> S3Result<S3Response<DeleteObjectOutput>> {
        req.input.key = self.store_key(&req.input.key);
        self.inner.delete_object(req).await
    }

    async fn delete_objects(
        &self,
        mut req: S3Request<DeleteObjectsInput>,
    ) -> S3Result<S3Response<DeleteObjectsOutput>> {
        // object_store deletes through this bulk call.
        for obj in &mut req.input.delete.objects {
            obj.key = self.store_key(&obj.key);
        }
        let mut resp = self.inner.delete_objects(req).await?;
        if let Some(deleted) = resp.output.deleted.as_mut() {
            for d in deleted.iter_mut() {
                if let Some(k) = d.key.as_ref() {
                    d.key = Some(self.client_key(k));
                }
            }
        }
        Ok(resp)
    }

    async fn create_multipart_upload(
        &self,
        mut req: S3Request<CreateMultipartUploadInput>,
    ) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
        let client = req.input.key.clone();
        req.input.key = self.store_key(&client);
        let mut resp = self.inner.create_multipart_upload(req).await?;
        resp.output.key = Some(client);
        Ok(resp)
    }

    async fn upload_part(
        &self,
        mut req: S3Request<UploadPartInput>,
    ) -> S3Result<S3Response<UploadPartOutput>> {
        req.input.key = self.store_key(&req.input.key);
        self.inner.upload_part(req).await
    }

    async fn complete_multipart_upload(
        &self,
        mut req: S3Request<CompleteMultipartUploadInput>,
    ) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
        let client = req.input.key.clone();
        req.input.key = self.store_key(&client);
        let mut resp = self.inner.complete_multipart_upload(req).await?;
        resp.output.key = Some(client);
        Ok(resp)
    }

    async fn abort_multipart_upload(
        &self,
        mut req: S3Request<AbortMultipartUploadInput>,
    ) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
        req.input.key = self.store_key(&req.input.key);
        self.inner.abort_multipart_upload(req).await
    }

    async fn list_objects_v2(
        &self,
        mut req: S3Request<ListObjectsV2Input>,
    ) -> S3Result<S3Response<ListObjectsV2Output>> {
        // Stored names of long keys don't share the client's prefixes: list everything, map
        // back, then filter (test buckets are small).
        let prefix = req.input.prefix.take();
        let mut resp = self.inner.list_objects_v2(req).await?;
        if let Some(contents) = resp.output.contents.as_mut() {
            for obj in contents.iter_mut() {
                if let Some(k) = obj.key.as_ref() {
                    obj.key = Some(self.client_key(k));
                }
            }
            if let Some(p) = prefix.as_deref() {
                contents.retain(|o| o.key.as_deref().is_some_and(|k| k.starts_with(p)));
            }
            resp.output.key_count = Some(i32::try_from(contents.len()).unwrap_or(i32::MAX));
        }
        resp.output.prefix = prefix;
        Ok(resp)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_keys_map_to_short_ones_and_back() {
        let dir = std::env::temp_dir().join(format!("longkeys-test-{}", std::process::id()));
        let lk = LongKeys::new((), &dir).expect("map dir");
        assert_eq!(lk.store_key("probe/object.bin"), "probe/object.bin");
        let long = format!(
            "aa/bb/{}/black-24.8.0-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl.metadata",
            "c".repeat(60)
        );
        let stored = lk.store_key(&long);
        assert!(
            stored.starts_with(LONG_PREFIX) && stored.len() < 80,
            "{stored}"
        );
        assert_eq!(lk.client_key(&stored), long);
        assert_eq!(lk.client_key("probe/object.bin"), "probe/object.bin");
        let _ = std::fs::remove_dir_all(&dir);
    }
}
