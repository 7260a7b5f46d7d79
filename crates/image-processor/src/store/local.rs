//! The flow's filesystem side, for `media-edge process` and the demo: an original is a file
//! ([`FileSource`]) and outputs go under a directory, in the variants bucket's layout ([`DirSink`]).
//! A content hash stands in for S3's ETag, so an unchanged file is a duplicate, as in S3.

use std::io::ErrorKind;
use std::path::{Path, PathBuf};

use media_edge_shared::status::SourceObject;
use media_edge_shared::Failure;
use sha2::{Digest, Sha256};
use tracing::warn;

use crate::make::outputs::OutputBody;
use crate::store::manifest::Manifest;
use crate::store::sides::{Sink, Source, SourceVersion, StoredOutput};

/// A local original. `key` names its outputs (its path relative to what was given, e.g. `a.jpg`
/// or `2026/promo/a.jpg` when a directory was walked).
pub struct FileSource {
    pub path: PathBuf,
    pub key: String,
}

impl Source for FileSource {
    fn bucket(&self) -> Option<&str> {
        None
    }

    fn key(&self) -> &str {
        &self.key
    }

    fn describe(&self, version: &SourceVersion) -> SourceObject {
        SourceObject {
            bucket: None,
            key: self.path.display().to_string(),
            etag: Some(version.etag.clone()),
            version_id: None,
        }
    }

    async fn current(&self) -> Result<Option<SourceVersion>, Failure> {
        let path = self.path.clone();
        let hashed = tokio::task::spawn_blocking(move || content_hash(&path))
            .await
            .map_err(|e| Failure::transient(format!("hashing {}: {e}", self.path.display())))?;
        match hashed {
            Ok((bytes, etag)) => Ok(Some(SourceVersion { etag, version_id: None, bytes, effort: None, focus: None })),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_failure(&self.path, e)),
        }
    }

    /// Copies the file (the original is never modified) and checks it is still the version hashed.
    async fn fetch(&self, version: &SourceVersion, target: &Path, limit: u64) -> Result<u64, Failure> {
        let size = tokio::fs::metadata(&self.path).await.map_err(|e| io_failure(&self.path, e))?.len();
        if size > limit {
            return Err(Failure::permanent(format!("over limits: {size} bytes exceeds the {limit} byte limit")));
        }
        tokio::fs::copy(&self.path, target).await.map_err(|e| io_failure(&self.path, e))?;
        let copy = target.to_path_buf();
        let (bytes, etag) = tokio::task::spawn_blocking(move || content_hash(&copy))
            .await
            .map_err(|e| Failure::transient(format!("hashing the copy: {e}")))?
            .map_err(|e| io_failure(target, e))?;
        if etag != version.etag {
            return Err(Failure::transient(format!("{} changed while being processed", self.path.display())));
        }
        Ok(bytes)
    }
}

/// An output directory laid out like the variants bucket.
pub struct DirSink {
    pub root: PathBuf,
}

impl DirSink {
    fn path(&self, key: &str) -> PathBuf {
        self.root.join(key)
    }
}

impl Sink for DirSink {
    async fn read_manifest(&self, key: &str) -> Result<Option<Manifest>, Failure> {
        let path = self.path(key);
        let bytes = match tokio::fs::read(&path).await {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_failure(&path, e)),
        };
        match serde_json::from_slice(&bytes) {
            Ok(manifest) => Ok(Some(manifest)),
            Err(e) => {
                warn!(path = %path.display(), error = %e, "existing manifest is unreadable; reprocessing");
                Ok(None)
            }
        }
    }

    async fn store(&self, output: StoredOutput) -> Result<(), Failure> {
        let target = self.path(&output.key);
        if let Some(parent) = target.parent() {
            tokio::fs::create_dir_all(parent).await.map_err(|e| io_failure(parent, e))?;
        }
        match &output.body {
            OutputBody::Bytes(bytes) => tokio::fs::write(&target, bytes).await,
            OutputBody::File(file) => tokio::fs::copy(file, &target).await.map(|_| ()),
        }
        .map_err(|e| io_failure(&target, e))
    }

    async fn tag(&self, key: &str) -> Result<Option<String>, Failure> {
        let path = self.path(key);
        match tokio::task::spawn_blocking(move || content_hash(&path)).await {
            Ok(Ok((_, hash))) => Ok(Some(hash)),
            Ok(Err(e)) if e.kind() == ErrorKind::NotFound => Ok(None),
            Ok(Err(e)) => Err(io_failure(&self.path(key), e)),
            Err(e) => Err(Failure::transient(format!("hashing {key}: {e}"))),
        }
    }

    /// Not atomic across processes: one `media-edge process` writes a directory at a time.
    async fn store_if(&self, output: StoredOutput, expected: Option<String>) -> Result<Option<String>, Failure> {
        if self.tag(&output.key).await? != expected {
            return Ok(None);
        }
        let key = output.key.clone();
        self.store(output).await?;
        self.tag(&key).await
    }

    async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, Failure> {
        let path = self.path(key);
        match tokio::fs::read(&path).await {
            Ok(bytes) => Ok(self.tag(key).await?.map(|tag| (bytes, tag))),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(io_failure(&path, e)),
        }
    }

    /// Local output has no lifecycle rules: a superseded version's files stay until deleted.
    async fn mark_superseded(&self, _prefix: &str) -> Result<usize, Failure> {
        Ok(0)
    }

    async fn unmark_superseded(&self, _prefix: &str) -> Result<usize, Failure> {
        Ok(0)
    }

    async fn has_files(&self, prefix: &str) -> Result<bool, Failure> {
        let path = self.path(prefix);
        match tokio::fs::read_dir(&path).await {
            Ok(mut entries) => Ok(entries.next_entry().await.map_err(|e| io_failure(&path, e))?.is_some()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(false),
            Err(e) => Err(io_failure(&path, e)),
        }
    }

    /// Not atomic across processes (see `store_if`). Also removes its directory once empty (the
    /// claims directory, when the last claim goes).
    async fn remove_if(&self, key: &str, expected: &str) -> Result<bool, Failure> {
        if self.tag(key).await?.as_deref() != Some(expected) {
            return Ok(false);
        }
        let path = self.path(key);
        match tokio::fs::remove_file(&path).await {
            Ok(()) => {}
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            Err(e) => return Err(io_failure(&path, e)),
        }
        if let Some(parent) = path.parent() {
            let _ = tokio::fs::remove_dir(parent).await;
        }
        Ok(true)
    }
}

/// Size and SHA-256 (first 16 bytes, hex) of a file's content.
fn content_hash(path: &Path) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok((bytes, hex::encode(&hasher.finalize()[..16])))
}

fn io_failure(path: &Path, err: std::io::Error) -> Failure {
    let reason = format!("{}: {err}", path.display());
    match err.kind() {
        ErrorKind::NotFound | ErrorKind::PermissionDenied => Failure::permanent(reason),
        _ => Failure::transient(reason),
    }
}
