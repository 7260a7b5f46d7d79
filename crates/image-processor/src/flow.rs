//! The one processing flow: an original from a [`Source`] becomes variants, a manifest and a status
//! event in a [`Sink`]. The Lambda runs it from S3 to S3 ([`crate::s3`]); `media-edge process` and
//! the demo from files to a directory ([`crate::local`]). A new output format or variant rule is
//! written once, here or in what it calls.

use std::future::Future;
use std::path::Path;
use std::time::Instant;

use media_edge_shared::status::{now_rfc3339, Outcome, SourceObject, StatusEvent};
use media_edge_shared::Failure;
use tracing::{info, warn};

use crate::config::{MANIFEST_CACHE_CONTROL, VARIANT_CACHE_CONTROL};
use crate::keys::{source_version, OutputLayout};
use crate::manifest::{
    picture_html, video_html, Manifest, ManifestFile, ManifestSkip, ManifestVariant, MANIFEST_SCHEMA, MANIFEST_VERSION,
};
use crate::outputs::{render_outputs, Deadline, OutputBody, OutputFile, RenderedOriginal, SOURCE_FILE};
use crate::render::RenderSettings;
use crate::scratch::ScratchDir;

/// Names the producer in status events.
pub const PIPELINE_NAME: &str = "image-processor";

/// One version of an original: what is rendered, and what a newer upload changes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceVersion {
    /// S3's ETag (unquoted), or a content hash for a local file.
    pub etag: String,
    pub version_id: Option<String>,
    pub bytes: u64,
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
    /// `Ok(false)`: it changed in between.
    fn store_if(
        &self,
        output: StoredOutput,
        expected: Option<String>,
    ) -> impl Future<Output = Result<bool, Failure>> + Send;
    /// A small object's content and tag; `None` if it is absent.
    fn read(&self, key: &str) -> impl Future<Output = Result<Option<(Vec<u8>, String)>, Failure>> + Send;
    fn remove(&self, key: &str) -> impl Future<Output = Result<(), Failure>> + Send;
    /// Marks every file under `prefix` (a version no manifest names any more) for the lifecycle
    /// rule that expires superseded variants. Returns how many were marked.
    fn mark_superseded(&self, prefix: &str) -> impl Future<Output = Result<usize, Failure>> + Send;
}

/// What one run of the flow needs besides its source and sink.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub settings: &'a RenderSettings,
    pub layout: &'a OutputLayout,
    /// Scratch directories live here (`/tmp` in Lambda).
    pub work_root: &'a Path,
    /// When the Lambda invocation ends, if any: ffmpeg is stopped before it.
    pub deadline: Option<Deadline>,
}

/// Processes one original. `Ok` carries the status event to publish (processed, duplicate or
/// superseded); `Err` is a classified failure, reported by the caller or retried if transient.
pub async fn process(source: &impl Source, sink: &impl Sink, job: Job<'_>) -> Result<StatusEvent, Failure> {
    let started = Instant::now();
    let version = source
        .current()
        .await?
        .ok_or_else(|| Failure::permanent("the object no longer exists (deleted before it was processed)"))?;
    let limit = job.settings.limits.max_input_bytes;
    if version.bytes > limit {
        return Err(Failure::permanent(format!("over limits: {} bytes exceeds the {limit} byte limit", version.bytes)));
    }
    let hash = source_version(
        source.bucket().unwrap_or(""),
        source.key(),
        &version.etag,
        version.version_id.as_deref(),
        &job.settings.fingerprint(),
    );
    let described = source.describe(&version);
    let manifest_key = job.layout.manifest_key(source.key());

    // One rendering per version at a time: two deliveries of one upload (SQS delivers at least
    // once; S3 may notify twice) would otherwise both render it and both report it processed.
    let claim_key = job.layout.claim_key(&hash);
    if !claim(sink, &claim_key, claim_expiry_ms(job.deadline)).await? {
        return Err(Failure::transient(
            "another delivery of this upload is being processed; this one is retried after it (and then skipped)",
        ));
    }
    let result =
        process_claimed(source, sink, job, Rendering { version, hash, described, manifest_key, started }).await;
    if let Err(failure) = sink.remove(&claim_key).await {
        // It expires on its own (a later delivery may take it over then).
        warn!(key = claim_key, reason = %failure.reason, "could not remove the processing claim");
    }
    result
}

/// What `process` has settled before rendering.
struct Rendering {
    version: SourceVersion,
    hash: String,
    described: SourceObject,
    manifest_key: String,
    started: Instant,
}

/// Under the claim: skipped if already processed (checked here, so a delivery that raced another
/// one to the claim sees what the winner stored), else rendered and stored.
async fn process_claimed(
    source: &impl Source,
    sink: &impl Sink,
    job: Job<'_>,
    rendering: Rendering,
) -> Result<StatusEvent, Failure> {
    let Rendering { version, hash, described, manifest_key, started } = rendering;
    let limit = job.settings.limits.max_input_bytes;
    let existing = sink.read_manifest(&manifest_key).await?;
    if let Some(existing) = &existing {
        if existing.source_version == hash {
            info!(key = source.key(), version = hash, "already processed; skipping duplicate delivery");
            let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Duplicate, described);
            status.output_bytes = existing.output_bytes();
            status.variants = existing.reports();
            status.not_carried_over = existing.not_carried_over.clone();
            status.manifest_key = Some(manifest_key);
            status.duration_ms = started.elapsed().as_millis() as u64;
            return Ok(status);
        }
    }

    // Removed when this function returns, whatever happens.
    let scratch =
        ScratchDir::create(job.work_root).map_err(|e| Failure::transient(format!("creating work directory: {e}")))?;
    let input_bytes = source.fetch(&version, &scratch.file(SOURCE_FILE), limit).await?;
    let rendered = render_outputs(&scratch, source.key(), job.settings, job.deadline).await?;
    let ffmpeg_ms = Some(rendered.ffmpeg_ms).filter(|&ms| ms > 0);

    let (manifest, mut outputs) =
        plan_outputs(rendered, job.layout, source.key(), described.clone(), &hash, input_bytes)?;
    // plan_outputs puts the manifest last; it is written only once every variant is stored.
    let manifest_output = outputs.pop().ok_or_else(|| Failure::permanent("no manifest was planned"))?;
    for output in outputs {
        sink.store(output).await?;
    }
    let outcome = match commit_manifest(source, sink, &version, manifest_output).await? {
        ManifestCommit::Stored => {
            if let Some(previous) = existing.filter(|m| m.source_version != hash) {
                mark_previous_version(sink, job.layout, source.key(), &previous.source_version).await;
            }
            Outcome::Processed
        }
        ManifestCommit::Superseded(why) => {
            warn!(key = source.key(), version = hash, why, "a newer upload replaced this version; manifest left to it");
            Outcome::Superseded
        }
    };

    let mut status = StatusEvent::new(PIPELINE_NAME, outcome, described);
    status.input_bytes = input_bytes;
    status.manifest_key = Some(manifest_key).filter(|_| outcome == Outcome::Processed);
    status.output_bytes = manifest.output_bytes();
    status.variants = manifest.reports();
    status.not_carried_over = manifest.not_carried_over.clone();
    status.duration_ms = started.elapsed().as_millis() as u64;
    status.ffmpeg_ms = ffmpeg_ms;
    Ok(status)
}

/// The version the manifest named before is no longer named by any manifest: its files are marked
/// so the variants bucket's lifecycle rule expires them (pages that still name them keep working
/// until then). Not marking them is not a failure of this upload: they only linger.
async fn mark_previous_version(sink: &impl Sink, layout: &OutputLayout, source_key: &str, previous: &str) {
    let prefix = layout.version_prefix(source_key, previous);
    match sink.mark_superseded(&prefix).await {
        Ok(marked) => info!(prefix, marked, "previous version's files marked superseded"),
        Err(e) => warn!(prefix, error = %e, "previous version's files not marked superseded; they stay"),
    }
}

/// How long a claim holds: until the invocation's deadline (a delivery that dies with its process
/// leaves the claim to expire before SQS delivers the message again, since the queue's visibility
/// timeout exceeds the function's timeout), or 15 minutes (Lambda's longest) without one.
fn claim_expiry_ms(deadline: Option<Deadline>) -> u64 {
    let now = media_edge_shared::status::now_epoch_ms();
    let remaining = deadline
        .map(|d| d.at.saturating_duration_since(Instant::now()))
        .unwrap_or(std::time::Duration::from_secs(15 * 60));
    now + remaining.as_millis() as u64
}

/// Takes the claim at `key` unless an unexpired one is held: a conditional write, so of two
/// deliveries racing for it exactly one wins. `Ok(false)`: another delivery holds it.
async fn claim(sink: &impl Sink, key: &str, expires_at_ms: u64) -> Result<bool, Failure> {
    let claim = || StoredOutput {
        key: key.to_string(),
        body: OutputBody::Bytes(format!("{{\"expires_at_ms\":{expires_at_ms}}}").into_bytes()),
        content_type: "application/json",
        cache_control: "no-store",
    };
    for _ in 0..3 {
        let expected = match sink.read(key).await? {
            None => None,
            Some((body, tag)) => {
                let held_until = serde_json::from_slice::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| v["expires_at_ms"].as_u64())
                    .unwrap_or(0);
                if held_until > media_edge_shared::status::now_epoch_ms() {
                    return Ok(false);
                }
                // Expired: its holder died. Taken over only if nobody else took it meanwhile.
                Some(tag)
            }
        };
        if sink.store_if(claim(), expected).await? {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether the manifest now describes the version that was rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ManifestCommit {
    Stored,
    /// The source changed or disappeared while it was rendered (the reason says which).
    Superseded(&'static str),
}

/// Writes the manifest only while the rendered version is still the source's current version, so
/// a render that took minutes can never replace the manifest of a newer upload.
///
/// The manifest's tag is read first, then the source is checked, then the write is conditional on
/// that tag: a newer version's manifest written at any point after the read makes the write fail,
/// and the next round sees the newer source. A newer upload whose own processing ends after this
/// write simply overwrites it, as it should.
async fn commit_manifest(
    source: &impl Source,
    sink: &impl Sink,
    rendered: &SourceVersion,
    manifest: StoredOutput,
) -> Result<ManifestCommit, Failure> {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let tag = sink.tag(&manifest.key).await?;
        match source.current().await? {
            None => return Ok(ManifestCommit::Superseded("the original was deleted")),
            Some(current) if current.etag != rendered.etag || current.version_id != rendered.version_id => {
                return Ok(ManifestCommit::Superseded("the original was replaced by a newer upload"))
            }
            Some(_) => {}
        }
        if sink.store_if(manifest.clone(), tag).await? {
            return Ok(ManifestCommit::Stored);
        }
    }
    Err(Failure::transient("the manifest kept changing while it was written (concurrent uploads of one key)"))
}

/// One object to store: a variant, or the manifest (always last).
#[derive(Debug, Clone)]
pub struct StoredOutput {
    pub key: String,
    pub body: OutputBody,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// Names and describes the rendered outputs: the manifest and the objects to store, manifest last.
/// Shared by the Lambda (which stores them in S3) and `media-edge process` (which writes files).
///
/// A negotiated image variant gets a key per format (`pc.avif`, `pc.webp`, `pc.jpg`): the CDN
/// sends a viewer to the key of the best format its `Accept` allows, so each key must exist. A
/// format left out (its file was no smaller) has its key hold what that viewer gets instead.
pub fn plan_outputs(
    rendered: RenderedOriginal,
    layout: &OutputLayout,
    source_key: &str,
    source: SourceObject,
    version: &str,
    input_bytes: u64,
) -> Result<(Manifest, Vec<StoredOutput>), Failure> {
    let mut outputs = Vec::with_capacity(rendered.outputs.len() * 3 + 1);
    let mut variants = Vec::with_capacity(rendered.outputs.len());
    let animated = rendered.frames > 1;
    let key_of = |name: &str, extension: &str| layout.variant_key(source_key, version, name, extension);
    let stored = |key: String, body: OutputBody, content_type: &'static str| StoredOutput {
        key,
        body,
        content_type,
        cache_control: VARIANT_CACHE_CONTROL,
    };
    for output in rendered.outputs {
        // Copies under skipped formats' keys first (the only bodies cloned), then the files move.
        let mut skipped = Vec::with_capacity(output.skipped.len());
        for skip in &output.skipped {
            // What a viewer of the skipped format gets: the smallest file it accepts (files are
            // best first and each kept one is smaller than those after it).
            let accepted = |file: &&OutputFile| skip.format == "avif" || file.format != "avif";
            let serves = output.files.iter().find(accepted).filter(|_| output.negotiated);
            let key = serves.map(|file| {
                let key = key_of(&output.name, skip.extension);
                outputs.push(stored(key.clone(), file.body.clone(), file.content_type));
                key
            });
            skipped.push(ManifestSkip {
                format: skip.format.to_string(),
                reason: skip.reason.clone(),
                key,
                serves: serves.map(|file| file.format.to_string()),
            });
        }
        let mut formats = Vec::with_capacity(output.files.len());
        for file in output.files {
            let key = key_of(&output.name, file.extension);
            let bytes = file.body.len().map_err(|e| Failure::transient(format!("reading output: {e}")))?;
            formats.push(ManifestFile {
                format: file.format.to_string(),
                key: key.clone(),
                bytes,
                content_type: file.content_type.to_string(),
                from_original: file.from_original,
            });
            outputs.push(stored(key, file.body, file.content_type));
        }
        variants.push(ManifestVariant {
            name: output.name,
            width: output.width,
            height: output.height,
            // The fallback (always last) for images; the one file otherwise.
            key: formats.last().map(|f| f.key.clone()),
            formats,
            skipped,
            duration_ms: output.duration_ms,
            fps: output.fps,
        });
    }
    // An animation's page element is its video; its poster sizes make the <picture> for places
    // that show a still (the full-size poster is the video's own poster).
    let poster = variants.iter().find(|v| v.name == "poster").cloned();
    let picture = picture_html(&variants, if animated { &["poster"] } else { &[] }, rendered.placeholder.as_ref());
    let video = if animated { video_html(&variants, poster.as_ref()) } else { None };
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.to_string(),
        version: MANIFEST_VERSION,
        source,
        source_version: version.to_string(),
        source_format: rendered.source_format.name().to_string(),
        width: rendered.width,
        height: rendered.height,
        frames: rendered.frames,
        source_bytes: input_bytes,
        placeholder: rendered.placeholder,
        variants,
        picture,
        video,
        not_carried_over: rendered.not_carried_over,
        created_at: now_rfc3339(),
    };
    let manifest_json = serde_json::to_vec_pretty(&manifest)
        .map_err(|e| Failure::permanent(format!("manifest does not serialise: {e}")))?;
    outputs.push(StoredOutput {
        key: layout.manifest_key(source_key),
        body: OutputBody::Bytes(manifest_json),
        content_type: "application/json",
        cache_control: MANIFEST_CACHE_CONTROL,
    });
    Ok((manifest, outputs))
}
