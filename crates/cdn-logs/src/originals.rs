//! What serving the originals would have cost: each variant URL's original size, from the
//! pipeline's manifests (the variants bucket, or a copy on disk). Logs carry only what was served;
//! the manifest at `<path>/manifest.json` says how large the original of `<path>/<version>/…` was.
//!
//! Only the manifests of variant URLs that appear in the logs are read, one per original, 32 at a
//! time. A
//! manifest of another version (the original was replaced since) does not count for that URL.

use std::collections::HashMap;

use futures_util::StreamExt;
use serde::Deserialize;

use crate::aggregate::Aggregate;
use crate::error::Error;
use crate::parse::percent_decoded;

/// Original sizes by variant URL, and how reading the manifests went.
#[derive(Debug, Clone, Default)]
pub struct Originals {
    /// Variant URL (as logged) → bytes of its original.
    pub by_uri: HashMap<String, u64>,
    pub manifests_read: u64,
    /// Variant URLs without a manifest, or whose manifest is of another version.
    pub unknown_urls: u64,
    /// Manifests that could not be read (a missing bucket, no permission, not JSON).
    pub unreadable_count: u64,
    /// The first few of them by location, as `location: why`.
    pub unreadable: Vec<String>,
    /// What each manifest read says, by its key (`<path>/manifest.json`).
    pub manifests: HashMap<String, ManifestFacts>,
}

/// What the report uses of one manifest besides the original's size.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ManifestFacts {
    /// The original's key in the originals bucket.
    pub source_key: Option<String>,
    pub source_version: String,
    /// The libaom effort its AVIF files were made at.
    pub avif_effort: Option<String>,
    /// The version of the same content it replaced (a re-encode), and that version's effort.
    pub rerender_of: Option<(String, Option<String>)>,
}

/// The part of a manifest this needs.
#[derive(Deserialize)]
struct ManifestHead {
    source_version: String,
    source_bytes: u64,
    #[serde(default)]
    source: Option<SourceHead>,
    #[serde(default)]
    avif_effort: Option<String>,
    #[serde(default)]
    rerender_of: Option<RerenderHead>,
}

#[derive(Deserialize)]
struct SourceHead {
    key: String,
}

#[derive(Deserialize)]
struct RerenderHead {
    source_version: String,
    #[serde(default)]
    avif_effort: Option<String>,
}

/// `/<path>/<12 hex digits>/<file>` as logged (URL-encoded) → (`<path>`, version, file), decoded:
/// the parts of a variant URL.
pub fn variant_parts(uri: &str) -> Option<(String, String, String)> {
    let decoded = percent_decoded(uri.as_bytes())?;
    let uri = std::str::from_utf8(&decoded).ok()?;
    let (rest, file) = uri.strip_prefix('/')?.rsplit_once('/')?;
    let (path, version) = rest.rsplit_once('/')?;
    let is_version = version.len() == 12 && version.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    (is_version && !path.is_empty() && !file.is_empty())
        .then(|| (path.to_string(), version.to_string(), file.to_string()))
}

/// `/<path>/<12 hex digits>/<file>` as logged (URL-encoded) → (`<path>/manifest.json`, version):
/// where a variant URL's manifest is, relative to the variants bucket (decoded URL paths are its
/// keys: `beach%20photo.jpg` is the key `beach photo.jpg`).
pub fn manifest_key(uri: &str) -> Option<(String, String)> {
    variant_parts(uri).map(|(path, version, _)| (format!("{path}/manifest.json"), version))
}

/// Manifests read at once from S3 (each a small GET).
const CONCURRENT_READS: usize = 32;
/// Unreadable manifests listed by name; the rest are counted.
const MAX_UNREADABLE_LISTED: usize = 5;

/// Reads the manifests of every variant URL served whole in an image format, from `root`: a
/// directory laid out like the variants bucket, or `s3://bucket[/prefix]` (the `s3` feature).
pub async fn load(root: &str, aggregate: &Aggregate) -> Result<Originals, Error> {
    let mut wanted: HashMap<String, Vec<(&str, String)>> = HashMap::new();
    for (uri, object) in &aggregate.objects {
        if object.whole_by_format.is_empty() {
            continue;
        }
        if let Some((key, version)) = manifest_key(uri) {
            wanted.entry(key).or_default().push((uri, version));
        }
    }
    let source = Source::new(root).await?;
    let reads = futures_util::stream::iter(wanted.keys().map(|key| {
        let source = &source;
        async move { (key, source.read(key).await) }
    }))
    .buffer_unordered(CONCURRENT_READS)
    .collect::<Vec<_>>()
    .await;
    let mut originals = Originals::default();
    let mut unreadable = Vec::new();
    for (key, read) in reads {
        let manifest = match read {
            Ok(Some(bytes)) => match serde_json::from_slice::<ManifestHead>(&bytes) {
                Ok(manifest) => Some(manifest),
                Err(e) => {
                    unreadable.push(format!("{}: not a manifest: {e}", source.location(key)));
                    None
                }
            },
            Ok(None) => None,
            Err(why) => {
                unreadable.push(format!("{}: {why}", source.location(key)));
                None
            }
        };
        originals.manifests_read += u64::from(manifest.is_some());
        if let Some(m) = &manifest {
            let facts = ManifestFacts {
                source_key: m.source.as_ref().map(|s| s.key.clone()),
                source_version: m.source_version.clone(),
                avif_effort: m.avif_effort.clone(),
                rerender_of: m.rerender_of.as_ref().map(|r| (r.source_version.clone(), r.avif_effort.clone())),
            };
            originals.manifests.insert(key.clone(), facts);
        }
        for (uri, version) in &wanted[key] {
            match &manifest {
                Some(m) if m.source_version == *version => {
                    originals.by_uri.insert(uri.to_string(), m.source_bytes);
                }
                _ => originals.unknown_urls += 1,
            }
        }
    }
    unreadable.sort();
    originals.unreadable_count = unreadable.len() as u64;
    unreadable.truncate(MAX_UNREADABLE_LISTED);
    originals.unreadable = unreadable;
    Ok(originals)
}

enum Source {
    Directory(std::path::PathBuf),
    #[cfg(feature = "s3")]
    Bucket {
        client: aws_sdk_s3::Client,
        bucket: String,
        prefix: String,
    },
}

impl Source {
    async fn new(root: &str) -> Result<Source, Error> {
        if let Some(location) = root.strip_prefix("s3://") {
            #[cfg(feature = "s3")]
            {
                let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
                if bucket.is_empty() {
                    return Err(Error::NoBucket { url: root.to_string() });
                }
                let prefix =
                    if prefix.is_empty() || prefix.ends_with('/') { prefix.to_string() } else { format!("{prefix}/") };
                let config = media_edge_shared::aws::load_sdk_config().await;
                return Ok(Source::Bucket {
                    client: media_edge_shared::aws::s3_client(&config),
                    bucket: bucket.to_string(),
                    prefix,
                });
            }
            #[cfg(not(feature = "s3"))]
            return Err(Error::S3Disabled { url: format!("s3://{location}") });
        }
        let directory = std::path::PathBuf::from(root);
        std::fs::metadata(&directory).map_err(|source| Error::Source { source_name: root.to_string(), source })?;
        Ok(Source::Directory(directory))
    }

    fn location(&self, key: &str) -> String {
        match self {
            Source::Directory(directory) => directory.join(key).display().to_string(),
            #[cfg(feature = "s3")]
            Source::Bucket { bucket, prefix, .. } => format!("s3://{bucket}/{prefix}{key}"),
        }
    }

    /// The manifest's bytes; `None` if there is none.
    async fn read(&self, key: &str) -> Result<Option<Vec<u8>>, String> {
        match self {
            Source::Directory(directory) => match std::fs::read(directory.join(key)) {
                Ok(bytes) => Ok(Some(bytes)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(e.to_string()),
            },
            #[cfg(feature = "s3")]
            Source::Bucket { client, bucket, prefix } => {
                let key = format!("{prefix}{key}");
                match client.get_object().bucket(bucket).key(&key).send().await {
                    Ok(object) => {
                        let body = object.body.collect().await.map_err(|e| format!("download broke off: {e}"))?;
                        Ok(Some(body.to_vec()))
                    }
                    Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
                    Err(e) => Err(media_edge_shared::aws::describe_sdk_error(&e)),
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn manifests_of_variant_urls() {
        let key = |path: &str| Some((path.to_string(), "0123456789ab".to_string()));
        assert_eq!(
            manifest_key("/variants/promo/a.jpg/0123456789ab/mobile.jpg"),
            key("variants/promo/a.jpg/manifest.json")
        );
        assert_eq!(manifest_key("/variants/sale.gif/0123456789ab/video.mp4"), key("variants/sale.gif/manifest.json"));
        // Logged URIs are URL-encoded; bucket keys are not (spaces, Korean names).
        assert_eq!(
            manifest_key("/variants/beach%20photo%20(rotated).jpg/0123456789ab/pc.jpg"),
            key("variants/beach photo (rotated).jpg/manifest.json")
        );
        assert_eq!(
            manifest_key("/variants/%ED%94%84%EB%A1%9C%EB%AA%A8%EC%85%98.webp/0123456789ab/pc.jpg"),
            key("variants/프로모션.webp/manifest.json")
        );
        assert_eq!(manifest_key("/variants/%ZZ.jpg/0123456789ab/pc.jpg"), None, "a broken escape");
        assert_eq!(manifest_key("/variants/%FF.jpg/0123456789ab/pc.jpg"), None, "not UTF-8");
        for not_a_variant in [
            "/legacy/promo/a.gif",
            "/variants/a.jpg/0123456789AB/pc.jpg",
            "/0123456789ab/pc.jpg",
            "/a/0123456789ab/",
            "pc.jpg",
        ] {
            assert_eq!(manifest_key(not_a_variant), None, "{not_a_variant}");
        }
    }
}
