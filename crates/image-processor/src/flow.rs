//! The one processing flow: an original from a [`Source`] becomes variants, a manifest and a status
//! event in a [`Sink`]. The Lambda runs it from S3 to S3 ([`crate::store::s3`]); `media-edge process`
//! and the demo from files to a directory ([`crate::store::local`]). A new output format or variant
//! rule is written once, here or in what it calls.
//!
//! [`process`], top-down, as this file reads:
//! 1. claim the original's version, so one delivery at a time renders it (`claim`);
//! 2. skip it when its manifest already names this version (a duplicate delivery);
//! 3. read: fetch the original into a scratch directory;
//! 4. make: every output ([`render_outputs`]);
//! 5. store: name them ([`plan_outputs`]), store the files, then the manifest, and that only while
//!    the version is still the source's current one (`commit_manifest`);
//! 6. mark the files of a version no manifest names any more for expiry (`Versions`).

use std::path::Path;
use std::time::Instant;

use media_edge_shared::status::{now_rfc3339, Outcome, SourceObject, StatusEvent};
use media_edge_shared::Failure;
use tracing::{info, warn};

use crate::crop::Focus;
use crate::deadline::{Deadline, DEADLINE_MARGIN};
use crate::make::encode::{AvifEffort, EncodeSettings};
use crate::make::outputs::{render_outputs, OutputBody, OutputFile, RenderedOriginal, SOURCE_FILE};
use crate::make::render::RenderSettings;
use crate::scratch::ScratchDir;
use crate::store::keys::{source_version, OutputLayout, MANIFEST_CACHE_CONTROL, VARIANT_CACHE_CONTROL};
use crate::store::manifest::{
    picture_html, video_html, video_media_html, Manifest, ManifestFile, ManifestFocus, ManifestSkip, ManifestVariant,
    RenderNotes, Rerender, MANIFEST_SCHEMA, MANIFEST_VERSION,
};
use crate::store::sides::{Sink, Source, SourceVersion, StoredOutput};

/// Names the producer in status events.
pub const PIPELINE_NAME: &str = "image-processor";

/// What one run of the flow needs besides its source and sink.
#[derive(Debug, Clone, Copy)]
pub struct Job<'a> {
    pub settings: &'a RenderSettings,
    pub layout: &'a OutputLayout,
    /// Scratch directories live here (`/tmp` in Lambda).
    pub work_root: &'a Path,
    /// When the Lambda invocation ends, if any: ffmpeg is stopped before it.
    pub deadline: Option<Deadline>,
    /// The AVIF effort an operator asked for in the message (`media-edge backfill --effort`):
    /// over the upload's own `media-edge-effort` metadata, which is over the settings'.
    pub asked_effort: Option<&'a str>,
}

/// Processes one original. `Ok` carries the status event to publish (processed, duplicate or
/// superseded); `Err` is a classified failure, reported by the caller or retried if transient.
pub async fn process(source: &impl Source, sink: &impl Sink, job: Job<'_>) -> Result<StatusEvent, Failure> {
    let started = Instant::now();
    let version = source
        .current()
        .await?
        .ok_or_else(|| Failure::permanent("the object no longer exists (deleted before it was processed)"))?;
    // An uploader (a hero banner known in advance) or an operator (the originals with the most
    // views) may ask for another AVIF effort: its own settings, so its own version hash and keys.
    let asked;
    let asked_by = match (job.asked_effort, &version.effort) {
        (Some(text), _) => Some(("the message's media-edge-effort attribute", text)),
        (None, Some(text)) => Some(("metadata media-edge-effort", text.as_str())),
        (None, None) => None,
    };
    let asked_effort = match asked_by {
        None => None,
        Some((by, text)) => Some(AvifEffort::parse(text).ok_or_else(|| {
            Failure::permanent(format!("{by} is {text:?}: it takes fast, default or max (or leave it out)"))
        })?),
    };
    // The uploader's focus places the boxes of variants with a shape: part of the settings too.
    let focus = match &version.focus {
        None => None,
        Some(text) => Some(Focus::parse(text).map_err(|why| Failure::permanent(format!("metadata focus: {why}")))?),
    };
    let job = match (asked_effort, focus) {
        (None, None) => job,
        (effort, focus) => {
            let encode = match effort {
                Some(effort) => EncodeSettings { avif_effort: effort, ..job.settings.encode.clone() },
                None => job.settings.encode.clone(),
            };
            asked = RenderSettings { encode, focus: focus.or(job.settings.focus), ..job.settings.clone() };
            Job { settings: &asked, ..job }
        }
    };
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
    let Some(claim_tag) = claim(sink, &claim_key, claim_expiry_ms(job.deadline)).await? else {
        return Err(Failure::transient(
            "another delivery of this upload is being processed; this one is retried after it (and then skipped)",
        ));
    };
    let rendering = Rendering { version, hash, described, manifest_key, asked_effort, started };
    let result = process_claimed(source, sink, job, rendering).await;
    // Only while it is still ours: a claim another delivery took over is left to it.
    match sink.remove_if(&claim_key, &claim_tag).await {
        Ok(true) => {}
        Ok(false) => warn!(key = claim_key, "the processing claim was taken over by another delivery; left to it"),
        // It expires on its own (a later delivery may take it over then).
        Err(failure) => warn!(key = claim_key, reason = %failure.reason, "could not remove the processing claim"),
    }
    result
}

/// How long past the invocation's hard end a claim still holds: clocks of two Lambda environments
/// differ a little, and a delivery that dies with its process leaves the claim to expire long
/// before SQS delivers the message again (the queue's visibility timeout exceeds the function's
/// timeout by far).
pub const CLAIM_MARGIN: std::time::Duration = std::time::Duration::from_secs(60);

/// How long a claim holds: until the invocation's hard end (storing, committing and marking run
/// up to it) plus [`CLAIM_MARGIN`]; without a deadline, 15 minutes (Lambda's longest) plus it.
fn claim_expiry_ms(deadline: Option<Deadline>) -> u64 {
    let now = media_edge_shared::status::now_epoch_ms();
    let remaining = deadline
        .map(|d| d.at.saturating_duration_since(Instant::now()) + DEADLINE_MARGIN)
        .unwrap_or(std::time::Duration::from_secs(15 * 60));
    now + (remaining + CLAIM_MARGIN).as_millis() as u64
}

/// Takes the claim at `key` unless an unexpired one is held: a conditional write, so of two
/// deliveries racing for it exactly one wins. `Ok(Some(tag))`: taken, and the claim's tag (it is
/// removed only while it still has it); `Ok(None)`: another delivery holds it.
async fn claim(sink: &impl Sink, key: &str, expires_at_ms: u64) -> Result<Option<String>, Failure> {
    // Which delivery holds it, so no two claims have the same bytes (and tag).
    let holder = {
        use std::hash::{BuildHasher, Hasher};
        let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
        hasher.write_u128(
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos(),
        );
        format!("{:016x}", hasher.finish())
    };
    let claim = || StoredOutput {
        key: key.to_string(),
        body: OutputBody::Bytes(format!("{{\"expires_at_ms\":{expires_at_ms},\"holder\":\"{holder}\"}}").into_bytes()),
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
                    return Ok(None);
                }
                // Expired: its holder died. Taken over only if nobody else took it meanwhile.
                Some(tag)
            }
        };
        if let Some(tag) = sink.store_if(claim(), expected).await? {
            return Ok(Some(tag));
        }
    }
    Ok(None)
}

/// What `process` has settled before rendering.
struct Rendering {
    version: SourceVersion,
    hash: String,
    described: SourceObject,
    manifest_key: String,
    asked_effort: Option<AvifEffort>,
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
    let Rendering { version, hash, described, manifest_key, asked_effort, started } = rendering;
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

    // The same content rendered before with other settings or effort: the log report compares
    // what a view of each version weighed.
    let rerender_of = existing
        .as_ref()
        .filter(|m| m.source_version != hash && m.source.etag.is_some() && m.source.etag == described.etag)
        .map(|m| Rerender { source_version: m.source_version.clone(), avif_effort: m.avif_effort.clone() });
    let notes = RenderNotes {
        avif_effort: avif_effort(job.settings).map(str::to_string),
        avif_effort_asked: asked_effort.map(|e| e.name().to_string()),
        rerender_of,
        picture_media: job.settings.picture_media.clone(),
    };
    let (manifest, mut outputs) =
        plan_outputs(rendered, job.layout, source.key(), described.clone(), &hash, input_bytes, notes)?;
    // plan_outputs puts the manifest last; it is written only once every variant is stored.
    let manifest_output = outputs.pop().ok_or_else(|| Failure::permanent("no manifest was planned"))?;
    // Files already under this version's prefix: this renders again a version rendered before
    // (the same bytes uploaded again), whose files a concurrent marking may be tagging.
    let own_prefix = job.layout.version_prefix(source.key(), &hash);
    let rendered_before = sink.has_files(&own_prefix).await?;
    let versions = Versions { sink, layout: job.layout, source_key: source.key(), manifest_key: &manifest_key };
    // Files stored by a render that then fails are named by no manifest: marked for expiry, so an
    // upload whose retries run out leaves none for good. A retry finds them (`rendered_before`)
    // and unmarks them once its manifest is stored.
    let mut stored_any = false;
    for output in outputs {
        if let Err(failure) = sink.store(output).await {
            if stored_any {
                versions.mark_unnamed(&hash).await;
            }
            return Err(failure);
        }
        stored_any = true;
    }
    let committed = match commit_manifest(source, sink, &version, manifest_output).await {
        Ok(committed) => committed,
        Err(failure) => {
            versions.mark_unnamed(&hash).await;
            return Err(failure);
        }
    };
    let outcome = match committed {
        ManifestCommit::Stored { replaced } => {
            if let Some(replaced) = replaced.filter(|replaced| *replaced != hash) {
                versions.mark_unnamed(&replaced).await;
            }
            if rendered_before {
                versions.keep_named(&hash).await;
            }
            Outcome::Processed
        }
        ManifestCommit::Superseded(why) => {
            warn!(key = source.key(), version = hash, why, "a newer upload replaced this version; manifest left to it");
            // Its files are named by no manifest (unless one names this version after all).
            versions.mark_unnamed(&hash).await;
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

/// The libaom effort the AVIF files are made with, for the manifest.
fn avif_effort(settings: &RenderSettings) -> Option<&'static str> {
    let encode = &settings.encode;
    encode.avif.then(|| encode.avif_effort.name())
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
    notes: RenderNotes,
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
            aspect: output.aspect.map(|a| a.to_string()),
            crop: output.crop.map(|c| [c.x, c.y, c.width, c.height]),
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
    let picture = picture_html(
        &variants,
        if animated { &["poster"] } else { &[] },
        rendered.placeholder.as_ref(),
        &notes.picture_media,
    );
    let video = if animated { video_html(&variants, poster.as_ref()) } else { None };
    let video_media = if animated { video_media_html(&variants, &notes.picture_media) } else { Vec::new() };
    let has_avif = variants.iter().any(|v| v.formats.iter().any(|f| f.format == "avif"));
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
        video_media,
        not_carried_over: rendered.not_carried_over,
        avif_effort: notes.avif_effort.filter(|_| has_avif),
        avif_effort_asked: notes.avif_effort_asked,
        rerender_of: notes.rerender_of,
        focus: rendered
            .focus
            .map(|(focus, source)| ManifestFocus { at: focus.to_string(), source: source.name().into() }),
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

/// Whether the manifest now describes the version that was rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ManifestCommit {
    /// `replaced`: the version the manifest named until this write (the one the write's condition
    /// was on), if any.
    Stored { replaced: Option<String> },
    /// The source changed or disappeared while it was rendered (the reason says which).
    Superseded(&'static str),
}

/// Writes the manifest only while the rendered version is still the source's current version, so
/// a render that took minutes can never replace the manifest of a newer upload.
///
/// The manifest (its tag, and the version it names) is read first, then the source is checked,
/// then the write is conditional on that tag: a newer version's manifest written at any point after the read makes the write fail,
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
        let (tag, replaced) = match sink.read(&manifest.key).await? {
            None => (None, None),
            Some((body, tag)) => {
                // An unreadable manifest names no version.
                let replaced = serde_json::from_slice::<Manifest>(&body).ok().map(|m| m.source_version);
                (Some(tag), replaced)
            }
        };
        match source.current().await? {
            None => return Ok(ManifestCommit::Superseded("the original was deleted")),
            Some(current) if current.etag != rendered.etag || current.version_id != rendered.version_id => {
                return Ok(ManifestCommit::Superseded("the original was replaced by a newer upload"))
            }
            Some(_) => {}
        }
        if sink.store_if(manifest.clone(), tag).await?.is_some() {
            return Ok(ManifestCommit::Stored { replaced });
        }
    }
    Err(Failure::transient("the manifest kept changing while it was written (concurrent uploads of one key)"))
}

/// The versions of one original's files, and which of them the manifest names.
struct Versions<'a, S> {
    sink: &'a S,
    layout: &'a OutputLayout,
    source_key: &'a str,
    manifest_key: &'a str,
}

impl<S: Sink> Versions<'_, S> {
    /// Whether the manifest names `version` now. An unreadable manifest names nothing; a failed
    /// read is `None` (not known).
    async fn named(&self, version: &str) -> Option<bool> {
        match self.sink.read_manifest(self.manifest_key).await {
            Ok(manifest) => Some(manifest.is_some_and(|m| m.source_version == version)),
            Err(e) => {
                warn!(key = self.manifest_key, error = %e, "could not read the manifest");
                None
            }
        }
    }

    /// `version` is named by no manifest (it was replaced, or lost the race to be named): its files
    /// are marked so the variants bucket's lifecycle rule expires them (pages that still name them
    /// keep working until then). A concurrent render of the same bytes may write and name this
    /// version again meanwhile: the manifest is read again after marking, and what it names is
    /// unmarked. Not marking is not a failure of this upload: the files only linger.
    async fn mark_unnamed(&self, version: &str) {
        let prefix = self.layout.version_prefix(self.source_key, version);
        if self.named(version).await != Some(false) {
            info!(prefix, "version named by the manifest (or not known); not marked superseded");
            return;
        }
        match self.sink.mark_superseded(&prefix).await {
            Ok(marked) => info!(prefix, marked, "superseded version's files marked for expiry"),
            Err(e) => warn!(prefix, error = %e, "superseded version's files not (all) marked; they stay"),
        }
        if self.named(version).await != Some(false) {
            self.keep_named(version).await;
        }
    }

    /// The manifest names `version` (this render's): a marking that raced the render may have
    /// tagged its files; the tag comes off.
    async fn keep_named(&self, version: &str) {
        let prefix = self.layout.version_prefix(self.source_key, version);
        match self.sink.unmark_superseded(&prefix).await {
            Ok(unmarked) => info!(prefix, unmarked, "named version's files kept (expiry mark removed)"),
            Err(e) => warn!(prefix, error = %e, "could not remove the expiry mark from a named version's files"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_claim_holds_past_the_invocations_hard_end() {
        let now = media_edge_shared::status::now_epoch_ms();
        let job_deadline = Deadline { at: Instant::now() + std::time::Duration::from_secs(5), full_invocation: true };
        let expiry = claim_expiry_ms(Some(job_deadline));
        // The job's deadline is DEADLINE_MARGIN before the hard end; the claim holds CLAIM_MARGIN past that.
        let hard_end = now + 5_000 + DEADLINE_MARGIN.as_millis() as u64;
        let margin = CLAIM_MARGIN.as_millis() as u64;
        assert!((hard_end + margin - 100..=hard_end + margin + 1_000).contains(&expiry), "{expiry} vs {hard_end}");
        let without = claim_expiry_ms(None);
        assert!(without >= now + 15 * 60 * 1000 + margin, "Lambda's longest invocation, and the margin");
    }
}
