//! What the flow needs from the two sides it runs between: a [`Source`] an original comes from
//! and a [`Sink`] outputs go to. S3 (`s3`, beside this file) and local files (`local`) implement
//! both.

use std::future::Future;
use std::path::Path;

use media_edge_shared::status::SourceObject;
use media_edge_shared::Failure;

use crate::make::outputs::OutputBody;
use crate::store::manifest::Manifest;

/// One version of an original: what is rendered, and what a newer upload changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVersion {
    /// S3's ETag (unquoted), or a content hash for a local file.
    pub etag: String,
    pub version_id: Option<String>,
    pub bytes: u64,
    /// The uploader's AVIF effort for this original (S3 metadata `media-edge-effort`, sent as
    /// `x-amz-meta-media-edge-effort`), as written: checked where the settings are made.
    pub effort: Option<String>,
    /// The uploader's focus for variants with a shape (S3 metadata `focus`, sent as
    /// `x-amz-meta-focus: 0.72,0.40`), as written: checked where the settings are made.
    pub focus: Option<String>,
}

/// Where an original comes from.
pub trait Source {
    /// The bucket (`None` for a local file) and the key outputs are named after.
    fn bucket(&self) -> Option<&str>;
    fn key(&self) -> &str;
    /// How status events name the original.
    fn describe(&self, version: &SourceVersion) -> SourceObject;
    /// Its current version; `None` if it no longer exists.
    fn current(&self) -> impl Future<Output = Result<Option<SourceVersion>, Failure>> + Send;
    /// Copies exactly `version` to `target`, never more than `limit` bytes. Returns the bytes copied.
    fn fetch(
        &self,
        version: &SourceVersion,
        target: &Path,
        limit: u64,
    ) -> impl Future<Output = Result<u64, Failure>> + Send;
}

/// Where outputs go.
pub trait Sink {
    fn read_manifest(&self, key: &str) -> impl Future<Output = Result<Option<Manifest>, Failure>> + Send;
    fn store(&self, output: StoredOutput) -> impl Future<Output = Result<(), Failure>> + Send;
    /// A tag that changes whenever the object at `key` does (S3's ETag); `None` if it is absent.
    fn tag(&self, key: &str) -> impl Future<Output = Result<Option<String>, Failure>> + Send;
    /// Stores `output` only if its key's tag is still `expected` (`None`: only if absent).
    /// `Ok(Some(tag))`: stored, and this is its new tag; `Ok(None)`: it changed in between.
    fn store_if(
        &self,
        output: StoredOutput,
        expected: Option<String>,
    ) -> impl Future<Output = Result<Option<String>, Failure>> + Send;
    /// A small object's content and tag; `None` if it is absent.
    fn read(&self, key: &str) -> impl Future<Output = Result<Option<(Vec<u8>, String)>, Failure>> + Send;
    /// Removes `key` only while its tag is still `expected`. `Ok(false)`: it changed (or is gone).
    fn remove_if(&self, key: &str, expected: &str) -> impl Future<Output = Result<bool, Failure>> + Send;
    /// Whether any file exists under `prefix`.
    fn has_files(&self, prefix: &str) -> impl Future<Output = Result<bool, Failure>> + Send;
    /// Marks every file under `prefix` (a version no manifest names any more) for the lifecycle
    /// rule that expires superseded variants. Returns how many were marked.
    fn mark_superseded(&self, prefix: &str) -> impl Future<Output = Result<usize, Failure>> + Send;
    /// Takes that mark off every file under `prefix` again (a manifest names them after all).
    fn unmark_superseded(&self, prefix: &str) -> impl Future<Output = Result<usize, Failure>> + Send;
}

/// One object to store: a variant, or the manifest (always last).
#[derive(Debug, Clone)]
pub struct StoredOutput {
    pub key: String,
    pub body: OutputBody,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}
