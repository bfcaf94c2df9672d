//! S3 blobs: whole objects, package trees under a prefix, deletion by
//! prefix, and presigned URLs that let a runner without credentials read
//! its manifest and write its result.

use std::path::{Path, PathBuf};
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_s3::presigning::PresigningConfig;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{Delete, ObjectIdentifier};
use aws_sdk_s3::Client;
use coderun_core::error::PortError;
use coderun_core::ports::{Blobs, PortResult};
use tracing::instrument;

use crate::error::sort;

/// Files of one package uploaded at once.
const UPLOAD_CONCURRENCY: usize = 16;

#[derive(Debug, Clone)]
pub struct S3Blobs {
    client: Client,
    bucket: String,
}

impl S3Blobs {
    pub fn new(client: Client, bucket: impl Into<String>) -> S3Blobs {
        S3Blobs {
            client,
            bucket: bucket.into(),
        }
    }

    /// A URL that GETs `key` until `ttl` passes.
    pub async fn presign_get(&self, key: &str, ttl: Duration) -> PortResult<String> {
        let cfg = PresigningConfig::expires_in(ttl).map_err(PortError::internal)?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .presigned(cfg)
            .await
            .map_err(sort)?;
        Ok(req.uri().to_string())
    }

    /// A URL that PUTs `key` until `ttl` passes.
    pub async fn presign_put(&self, key: &str, ttl: Duration) -> PortResult<String> {
        self.presigned_put(key, ttl, None).await
    }

    /// A URL that PUTs `key` only while it does not exist: S3 accepts it
    /// only with `If-None-Match: *` (the header is signed).
    pub async fn presign_put_if_absent(&self, key: &str, ttl: Duration) -> PortResult<String> {
        self.presigned_put(key, ttl, Some("*")).await
    }

    async fn presigned_put(
        &self,
        key: &str,
        ttl: Duration,
        if_none_match: Option<&str>,
    ) -> PortResult<String> {
        let cfg = PresigningConfig::expires_in(ttl).map_err(PortError::internal)?;
        let req = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .set_if_none_match(if_none_match.map(str::to_string))
            .presigned(cfg)
            .await
            .map_err(sort)?;
        Ok(req.uri().to_string())
    }

    /// Writes `key` only if it does not exist yet; `false` when it did.
    #[instrument(skip_all, fields(key = %key))]
    pub async fn put_if_absent(&self, key: &str, bytes: Vec<u8>) -> PortResult<bool> {
        let sent = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .if_none_match("*")
            .body(ByteStream::from(bytes))
            .send()
            .await;
        match sent {
            Ok(_) => Ok(true),
            Err(e) => {
                let status = e.raw_response().map(|r| r.status().as_u16());
                // 412: it exists. 409: a concurrent conditional write won.
                if matches!(status, Some(412 | 409)) {
                    return Ok(false);
                }
                Err(sort(e))
            }
        }
    }

    /// Whether `key` exists.
    pub async fn exists(&self, key: &str) -> PortResult<bool> {
        match self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 404) => Ok(false),
            Err(e) => match sort(e) {
                PortError::NotFound => Ok(false),
                other => Err(other),
            },
        }
    }
}

fn files_under(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d)? {
            let e = e?;
            // Links were checked when the package was unpacked; follow them.
            let meta = std::fs::metadata(e.path())?;
            if meta.is_dir() {
                stack.push(e.path());
            } else if meta.is_file() {
                out.push(e.path());
            }
        }
    }
    Ok(out)
}

#[async_trait]
impl Blobs for S3Blobs {
    #[instrument(skip_all, fields(key = %key))]
    async fn put(&self, key: &str, bytes: Vec<u8>) -> PortResult<()> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .send()
            .await
            .map_err(sort)?;
        Ok(())
    }

    #[instrument(skip_all, fields(key = %key))]
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        let out = match self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
        {
            Ok(o) => o,
            Err(e) => {
                if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
                    return Ok(None);
                }
                return match sort(e) {
                    PortError::NotFound => Ok(None),
                    other => Err(other),
                };
            }
        };
        let bytes = out.body.collect().await.map_err(PortError::unavailable)?;
        Ok(Some(bytes.into_bytes().to_vec()))
    }

    #[instrument(skip_all, fields(prefix = %prefix))]
    async fn put_dir(&self, prefix: &str, dir: &Path) -> PortResult<()> {
        let files = files_under(dir).map_err(PortError::internal)?;
        for chunk in files.chunks(UPLOAD_CONCURRENCY) {
            let mut uploads = tokio::task::JoinSet::new();
            for path in chunk {
                let rel = path
                    .strip_prefix(dir)
                    .map_err(PortError::internal)?
                    .to_string_lossy()
                    .into_owned();
                let key = format!("{}/{rel}", prefix.trim_end_matches('/'));
                let (client, bucket, path) =
                    (self.client.clone(), self.bucket.clone(), path.clone());
                uploads.spawn(async move {
                    let body = ByteStream::from_path(&path)
                        .await
                        .map_err(PortError::internal)?;
                    client
                        .put_object()
                        .bucket(bucket)
                        .key(key)
                        .body(body)
                        .send()
                        .await
                        .map_err(sort)?;
                    Ok::<_, PortError>(())
                });
            }
            while let Some(done) = uploads.join_next().await {
                done.map_err(PortError::internal)??;
            }
        }
        Ok(())
    }

    #[instrument(skip_all, fields(prefix = %prefix))]
    async fn delete_prefix(&self, prefix: &str) -> PortResult<()> {
        let mut token = None;
        loop {
            let page = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token)
                .send()
                .await
                .map_err(sort)?;
            let ids: Vec<ObjectIdentifier> = page
                .contents()
                .iter()
                .filter_map(|o| o.key())
                .filter_map(|k| ObjectIdentifier::builder().key(k).build().ok())
                .collect();
            if !ids.is_empty() {
                let delete = Delete::builder()
                    .set_objects(Some(ids))
                    .quiet(true)
                    .build()
                    .map_err(PortError::internal)?;
                self.client
                    .delete_objects()
                    .bucket(&self.bucket)
                    .delete(delete)
                    .send()
                    .await
                    .map_err(sort)?;
            }
            token = page.next_continuation_token;
            if token.is_none() {
                return Ok(());
            }
        }
    }
}
