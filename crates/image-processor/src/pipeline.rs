//! One original against S3: check, deduplicate, download (streamed to a job directory, bounded),
//! render, store, describe.

use std::path::Path;
use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use media_edge_shared::aws::classify_sdk_error;
use media_edge_shared::aws::StatusPublisher;
use media_edge_shared::s3_event::ObjectEvent;
use media_edge_shared::status::{now_rfc3339, Outcome, SourceObject, StatusEvent, VariantReport};
use media_edge_shared::Failure;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::{info, warn};

use crate::config::{ProcessorConfig, MANIFEST_CACHE_CONTROL, VARIANT_CACHE_CONTROL};
use crate::job::JobDir;
use crate::keys::{source_version, OutputLayout};
use crate::manifest::{Manifest, MANIFEST_SCHEMA};
use crate::original::{render_original, Deadline, OutputBody, RenderedOriginal, SOURCE_FILE};
use crate::requeue::Requeue;

pub const PIPELINE_NAME: &str = "image-processor";

/// Outputs larger than this are uploaded in parts (S3 needs parts of at least 5 MiB).
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
const MULTIPART_PART_SIZE: usize = 8 * 1024 * 1024;

/// What the processor needs, built once per cold start and cloned cheaply into each task.
#[derive(Clone, Debug)]
pub struct Processor {
    pub s3: aws_sdk_s3::Client,
    pub status: StatusPublisher,
    pub requeue: Requeue,
    pub config: Arc<ProcessorConfig>,
}

impl Processor {
    pub fn new(
        s3: aws_sdk_s3::Client,
        sqs: aws_sdk_sqs::Client,
        status: StatusPublisher,
        config: ProcessorConfig,
    ) -> Self {
        Processor { s3, status, requeue: Requeue::new(sqs), config: Arc::new(config) }
    }
}

/// The object's current version, from a HEAD request.
struct Head {
    etag: String,
    version_id: Option<String>,
    bytes: u64,
}

impl Head {
    fn same_version(&self, other: &Head) -> bool {
        self.etag == other.etag && self.version_id == other.version_id
    }
}

/// Processes one uploaded original. `Ok` carries the status event to publish (processed,
/// duplicate or superseded); `Err` is a classified failure, reported by the caller or retried if
/// transient. `deadline` is when the invocation ends (ffmpeg is stopped before it).
pub async fn process_object(
    processor: &Processor,
    event: &ObjectEvent,
    deadline: Option<Deadline>,
) -> Result<StatusEvent, Failure> {
    let started = Instant::now();
    let config = &processor.config;
    let head = head_object(processor, event)
        .await?
        .ok_or_else(|| Failure::permanent("the object no longer exists (deleted before it was processed)"))?;
    let limits = &config.render.limits;
    if head.bytes > limits.max_input_bytes {
        return Err(Failure::permanent(format!(
            "over limits: {} bytes exceeds the {} byte limit",
            head.bytes, limits.max_input_bytes
        )));
    }

    let version =
        source_version(&event.bucket, &event.key, &head.etag, head.version_id.as_deref(), &config.render.fingerprint());
    let source = SourceObject {
        bucket: Some(event.bucket.clone()),
        key: event.key.clone(),
        etag: Some(head.etag.clone()),
        version_id: head.version_id.clone(),
    };
    let manifest_key = config.layout.manifest_key(&event.key);

    if let Some(existing) = read_manifest(processor, &manifest_key).await? {
        if existing.source_version == version {
            info!(key = %event.key, version, "already processed; skipping duplicate delivery");
            let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Duplicate, source);
            status.output_bytes = existing.output_bytes();
            status.variants = existing.variants;
            status.manifest_key = Some(manifest_key);
            status.duration_ms = started.elapsed().as_millis() as u64;
            return Ok(status);
        }
    }

    // Removed when this function returns, whatever happens.
    let job =
        JobDir::create(&config.work_root).map_err(|e| Failure::transient(format!("creating work directory: {e}")))?;
    let input_bytes = download(processor, event, &head, &job.file(SOURCE_FILE)).await?;
    let rendered = render_original(&job, &event.key, &config.render, deadline).await?;

    let (manifest, mut outputs) =
        plan_outputs(rendered, &config.layout, &event.key, source.clone(), &version, input_bytes)?;
    // plan_outputs puts the manifest last; it is written only once every variant is stored.
    let manifest_output = outputs.pop().ok_or_else(|| Failure::permanent("no manifest was planned"))?;
    for output in outputs {
        put_object(processor, output).await?;
    }
    let outcome = match commit_manifest(processor, event, &head, manifest_output).await? {
        ManifestCommit::Stored => Outcome::Processed,
        ManifestCommit::Superseded(why) => {
            warn!(key = %event.key, version, why, "a newer upload replaced this version; manifest left to it");
            Outcome::Superseded
        }
    };

    let mut status = StatusEvent::new(PIPELINE_NAME, outcome, source);
    status.input_bytes = input_bytes;
    status.manifest_key = Some(manifest_key).filter(|_| outcome == Outcome::Processed);
    status.output_bytes = manifest.output_bytes();
    status.variants = manifest.variants;
    status.duration_ms = started.elapsed().as_millis() as u64;
    Ok(status)
}

/// Whether the manifest now describes the version that was rendered.
#[derive(Debug, Clone, PartialEq, Eq)]
enum ManifestCommit {
    Stored,
    /// The source changed or disappeared while it was rendered (the reason says which).
    Superseded(&'static str),
}

/// Writes the manifest only while the rendered version is still the object's current version, so
/// a render that took minutes can never replace the manifest of a newer upload.
///
/// The manifest's ETag is read first, then the source is checked, then the write is conditional on
/// that ETag: a newer version's manifest written at any point after the read makes the write fail
/// (412), and the next round sees the newer source. A newer upload whose own processing ends after
/// this write simply overwrites it, as it should.
async fn commit_manifest(
    processor: &Processor,
    event: &ObjectEvent,
    rendered: &Head,
    manifest: StoredOutput,
) -> Result<ManifestCommit, Failure> {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let manifest_etag = object_etag(processor, &manifest.key).await?;
        match head_object(processor, event).await? {
            None => return Ok(ManifestCommit::Superseded("the original was deleted")),
            Some(current) if !current.same_version(rendered) => {
                return Ok(ManifestCommit::Superseded("the original was replaced by a newer upload"))
            }
            Some(_) => {}
        }
        let condition = match manifest_etag {
            Some(etag) => WriteCondition::IfMatch(etag),
            None => WriteCondition::IfNoneMatch,
        };
        match put_object_if(processor, manifest.clone(), condition).await {
            Ok(()) => return Ok(ManifestCommit::Stored),
            Err(PutError::PreconditionFailed) => continue,
            Err(PutError::Failed(failure)) => return Err(failure),
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
pub fn plan_outputs(
    rendered: RenderedOriginal,
    layout: &OutputLayout,
    source_key: &str,
    source: SourceObject,
    version: &str,
    input_bytes: u64,
) -> Result<(Manifest, Vec<StoredOutput>), Failure> {
    let mut outputs = Vec::with_capacity(rendered.outputs.len() + 1);
    let mut variants = Vec::with_capacity(rendered.outputs.len());
    for output in rendered.outputs {
        let key = layout.variant_key(source_key, version, &output.name, output.extension);
        let bytes = output.body.len().map_err(|e| Failure::transient(format!("reading output: {e}")))?;
        variants.push(VariantReport {
            name: output.name,
            key: key.clone(),
            width: output.width,
            height: output.height,
            bytes,
            content_type: output.content_type.to_string(),
            duration_ms: output.duration_ms,
            fps: output.fps,
        });
        outputs.push(StoredOutput {
            key,
            body: output.body,
            content_type: output.content_type,
            cache_control: VARIANT_CACHE_CONTROL,
        });
    }
    let manifest = Manifest {
        schema: MANIFEST_SCHEMA.to_string(),
        version: 1,
        source,
        source_version: version.to_string(),
        source_format: rendered.source_format.name().to_string(),
        width: rendered.width,
        height: rendered.height,
        frames: rendered.frames,
        source_bytes: input_bytes,
        variants,
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

/// The object's current version; `None` if it no longer exists.
async fn head_object(processor: &Processor, event: &ObjectEvent) -> Result<Option<Head>, Failure> {
    let head = match processor.s3.head_object().bucket(&event.bucket).key(&event.key).send().await {
        Ok(head) => head,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => return Ok(None),
        Err(e) => return Err(classify_sdk_error("read object metadata", &e)),
    };
    let etag = head.e_tag().map(normalize_etag).unwrap_or_default();
    if etag.is_empty() {
        return Err(Failure::transient("object metadata has no ETag"));
    }
    Ok(Some(Head {
        etag,
        version_id: head.version_id().filter(|v| !v.is_empty() && *v != "null").map(str::to_string),
        bytes: head.content_length().unwrap_or(0).max(0) as u64,
    }))
}

/// The ETag of an output object, exactly as S3 returns it (for `If-Match`); `None` if absent.
async fn object_etag(processor: &Processor, key: &str) -> Result<Option<String>, Failure> {
    match processor.s3.head_object().bucket(&processor.config.variants_bucket).key(key).send().await {
        Ok(head) => Ok(head.e_tag().map(str::to_string)),
        Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
        Err(e) => Err(classify_sdk_error("read manifest metadata", &e)),
    }
}

/// S3 quotes ETags in headers and not in events; compare them unquoted.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

async fn read_manifest(processor: &Processor, key: &str) -> Result<Option<Manifest>, Failure> {
    let response = processor.s3.get_object().bucket(&processor.config.variants_bucket).key(key).send().await;
    let object = match response {
        Ok(object) => object,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(classify_sdk_error("read manifest", &e)),
    };
    let body = object.body.collect().await.map_err(|e| Failure::transient(format!("read manifest body: {e}")))?;
    match serde_json::from_slice::<Manifest>(&body.into_bytes()) {
        Ok(manifest) => Ok(Some(manifest)),
        Err(e) => {
            // A manifest we cannot read is rewritten by processing again.
            warn!(key, error = %e, "existing manifest is unreadable; reprocessing");
            Ok(None)
        }
    }
}

/// Streams exactly the version we checked (If-Match) into `target`, refusing to write past the
/// byte limit even if the object grew in between. Returns the bytes written.
async fn download(processor: &Processor, event: &ObjectEvent, head: &Head, target: &Path) -> Result<u64, Failure> {
    let limit = processor.config.render.limits.max_input_bytes;
    let mut request = processor.s3.get_object().bucket(&event.bucket).key(&event.key);
    request = match &head.version_id {
        Some(version) => request.version_id(version),
        None => request.if_match(format!("\"{}\"", head.etag)),
    };
    let object = request.send().await.map_err(|e| {
        if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) {
            // Overwritten since the HEAD: retry to process the version that now exists.
            Failure::transient("object changed while being processed")
        } else if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
            Failure::permanent("the object no longer exists (deleted before it was processed)")
        } else {
            classify_sdk_error("download original", &e)
        }
    })?;
    let disk = |e: std::io::Error| Failure::transient(format!("writing local copy: {e}"));
    let mut file = tokio::fs::File::create(target).await.map_err(disk)?;
    let mut body = object.body;
    let mut written = 0u64;
    while let Some(chunk) = body.try_next().await.map_err(|e| Failure::transient(format!("download original: {e}")))? {
        written += chunk.len() as u64;
        if written > limit {
            return Err(Failure::permanent(format!("over limits: object exceeds the {limit} byte limit")));
        }
        file.write_all(&chunk).await.map_err(disk)?;
    }
    file.flush().await.map_err(disk)?;
    Ok(written)
}

/// A conditional write (S3 conditional writes: `If-Match` / `If-None-Match: *`).
enum WriteCondition {
    IfMatch(String),
    IfNoneMatch,
}

enum PutError {
    PreconditionFailed,
    Failed(Failure),
}

/// Writes a small object only if the condition holds (the manifest).
async fn put_object_if(processor: &Processor, output: StoredOutput, condition: WriteCondition) -> Result<(), PutError> {
    let StoredOutput { key, body, content_type, cache_control } = output;
    let OutputBody::Bytes(bytes) = body else {
        return Err(PutError::Failed(Failure::permanent("conditional writes are for in-memory objects")));
    };
    let request = processor
        .s3
        .put_object()
        .bucket(&processor.config.variants_bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .content_type(content_type)
        .cache_control(cache_control);
    let request = match condition {
        WriteCondition::IfMatch(etag) => request.if_match(etag),
        WriteCondition::IfNoneMatch => request.if_none_match("*"),
    };
    match request.send().await {
        Ok(_) => Ok(()),
        // 412: the condition failed; 409: a concurrent conditional write to the same key.
        Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) => {
            Err(PutError::PreconditionFailed)
        }
        Err(e) => Err(PutError::Failed(classify_sdk_error("store manifest", &e))),
    }
}

/// Takes the output by value: image bytes move into the request instead of being copied.
async fn put_object(processor: &Processor, output: StoredOutput) -> Result<(), Failure> {
    let StoredOutput { key, body, content_type, cache_control } = output;
    let body = match body {
        OutputBody::Bytes(bytes) => ByteStream::from(bytes),
        OutputBody::File(path) => {
            let unreadable =
                |e: &dyn std::fmt::Display| Failure::transient(format!("reading output {}: {e}", path.display()));
            let size = tokio::fs::metadata(&path).await.map_err(|e| unreadable(&e))?.len();
            if size > MULTIPART_THRESHOLD {
                return put_multipart(processor, &key, content_type, cache_control, &path).await;
            }
            ByteStream::from_path(&path).await.map_err(|e| unreadable(&e))?
        }
    };
    processor
        .s3
        .put_object()
        .bucket(&processor.config.variants_bucket)
        .key(key)
        .body(body)
        .content_type(content_type)
        .cache_control(cache_control)
        .send()
        .await
        .map_err(|e| classify_sdk_error("store output", &e))?;
    Ok(())
}

/// Uploads a large file in parts, reading one part at a time; aborts the upload on failure so no
/// orphaned parts accrue storage.
async fn put_multipart(
    processor: &Processor,
    key: &str,
    content_type: &str,
    cache_control: &str,
    path: &Path,
) -> Result<(), Failure> {
    let s3 = &processor.s3;
    let bucket = &processor.config.variants_bucket;
    let created = s3
        .create_multipart_upload()
        .bucket(bucket)
        .key(key)
        .content_type(content_type)
        .cache_control(cache_control)
        .send()
        .await
        .map_err(|e| classify_sdk_error("start multipart upload", &e))?;
    let upload_id = created.upload_id().unwrap_or_default().to_string();
    let result = async {
        let mut file =
            tokio::fs::File::open(path).await.map_err(|e| Failure::transient(format!("reading output: {e}")))?;
        let mut parts = Vec::new();
        for part_number in 1.. {
            let mut buffer = Vec::with_capacity(MULTIPART_PART_SIZE);
            let read = (&mut file)
                .take(MULTIPART_PART_SIZE as u64)
                .read_to_end(&mut buffer)
                .await
                .map_err(|e| Failure::transient(format!("reading output: {e}")))?;
            if read == 0 {
                break;
            }
            let uploaded = s3
                .upload_part()
                .bucket(bucket)
                .key(key)
                .upload_id(&upload_id)
                .part_number(part_number)
                .body(ByteStream::from(buffer))
                .send()
                .await
                .map_err(|e| classify_sdk_error("upload part", &e))?;
            parts.push(CompletedPart::builder().part_number(part_number).set_e_tag(uploaded.e_tag).build());
        }
        s3.complete_multipart_upload()
            .bucket(bucket)
            .key(key)
            .upload_id(&upload_id)
            .multipart_upload(CompletedMultipartUpload::builder().set_parts(Some(parts)).build())
            .send()
            .await
            .map_err(|e| classify_sdk_error("complete multipart upload", &e))?;
        Ok(())
    }
    .await;
    if result.is_err() {
        let _ = s3.abort_multipart_upload().bucket(bucket).key(key).upload_id(&upload_id).send().await;
    }
    result
}
