//! One original, end to end: check, deduplicate, download (bounded), render, store, describe.

use std::sync::Arc;
use std::time::Instant;

use aws_sdk_s3::primitives::ByteStream;
use media_edge_shared::failure::classify_sdk_error;
use media_edge_shared::s3_event::ObjectEvent;
use media_edge_shared::status::{
    now_rfc3339, Outcome, SourceObject, StatusEvent, StatusPublisher, VariantReport,
};
use media_edge_shared::Failure;
use tracing::{info, warn};

use crate::config::{ProcessorConfig, MANIFEST_CACHE_CONTROL, VARIANT_CACHE_CONTROL};
use crate::keys::{source_version, OutputLayout};
use crate::manifest::{Manifest, MANIFEST_SCHEMA};
use crate::render::{self, Rendered};

pub const PIPELINE_NAME: &str = "image-processor";

/// What the processor needs, built once per cold start and cloned cheaply into each task.
#[derive(Clone, Debug)]
pub struct Processor {
    pub s3: aws_sdk_s3::Client,
    pub status: StatusPublisher,
    pub config: Arc<ProcessorConfig>,
}

impl Processor {
    pub fn new(s3: aws_sdk_s3::Client, status: StatusPublisher, config: ProcessorConfig) -> Self {
        Processor {
            s3,
            status,
            config: Arc::new(config),
        }
    }
}

/// The object's current version, from a HEAD request.
struct Head {
    etag: String,
    version_id: Option<String>,
    bytes: u64,
}

/// Processes one uploaded original. `Ok` carries the status event to publish (processed or
/// duplicate); `Err` is a classified failure, reported by the caller or retried if transient.
pub async fn process_object(
    processor: &Processor,
    event: &ObjectEvent,
) -> Result<StatusEvent, Failure> {
    let started = Instant::now();
    let config = &processor.config;
    let head = head_object(processor, event).await?;
    let limits = &config.render.limits;
    if head.bytes > limits.max_input_bytes {
        return Err(Failure::permanent(format!(
            "over limits: {} bytes exceeds the {} byte limit",
            head.bytes, limits.max_input_bytes
        )));
    }

    let version = source_version(
        &event.bucket,
        &event.key,
        &head.etag,
        head.version_id.as_deref(),
        &config.render.fingerprint(),
    );
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

    let bytes = download(processor, event, &head).await?;
    let input_bytes = bytes.len() as u64;
    let rendered = render_blocking(bytes, event.key.clone(), config.render.clone()).await?;

    let (manifest, outputs) = plan_outputs(
        rendered,
        &config.layout,
        &event.key,
        source.clone(),
        &version,
        input_bytes,
    );
    for output in outputs {
        put_object(
            processor,
            &output.key,
            output.bytes,
            output.content_type,
            output.cache_control,
        )
        .await?;
    }
    let variants = manifest.variants.clone();
    let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Processed, source);
    status.input_bytes = input_bytes;
    status.manifest_key = Some(manifest_key);
    status.output_bytes = manifest.output_bytes();
    status.variants = variants;
    status.duration_ms = started.elapsed().as_millis() as u64;
    Ok(status)
}

/// One object to store: a variant, or the manifest (always last).
#[derive(Debug, Clone)]
pub struct StoredOutput {
    pub key: String,
    pub bytes: Vec<u8>,
    pub content_type: &'static str,
    pub cache_control: &'static str,
}

/// Names and describes the rendered variants: the manifest and the objects to store, manifest last.
/// Shared by the Lambda (which stores them in S3) and `media-edge process` (which writes files).
pub fn plan_outputs(
    rendered: Rendered,
    layout: &OutputLayout,
    source_key: &str,
    source: SourceObject,
    version: &str,
    input_bytes: u64,
) -> (Manifest, Vec<StoredOutput>) {
    let mut outputs = Vec::with_capacity(rendered.variants.len() + 1);
    let mut variants = Vec::with_capacity(rendered.variants.len());
    for variant in rendered.variants {
        let key = layout.variant_key(
            source_key,
            version,
            &variant.name,
            variant.format.extension(),
        );
        variants.push(VariantReport {
            name: variant.name,
            key: key.clone(),
            width: variant.width,
            height: variant.height,
            bytes: variant.bytes.len() as u64,
            content_type: variant.format.content_type().to_string(),
            duration_ms: None,
            fps: None,
        });
        outputs.push(StoredOutput {
            key,
            bytes: variant.bytes,
            content_type: variant.format.content_type(),
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
    // Serialising plain strings and numbers cannot fail; an empty manifest would still be valid JSON.
    let manifest_json = serde_json::to_vec_pretty(&manifest).unwrap_or_else(|_| b"{}".to_vec());
    outputs.push(StoredOutput {
        key: layout.manifest_key(source_key),
        bytes: manifest_json,
        content_type: "application/json",
        cache_control: MANIFEST_CACHE_CONTROL,
    });
    (manifest, outputs)
}

/// Decoding is CPU-bound: run it off the async workers. A panic inside a codec on hostile input
/// surfaces here as a permanent failure of this object only.
pub async fn render_blocking(
    bytes: Vec<u8>,
    name: String,
    settings: render::RenderSettings,
) -> Result<Rendered, Failure> {
    let joined =
        tokio::task::spawn_blocking(move || render::render(&bytes, &name, &settings)).await;
    match joined {
        Ok(Ok(rendered)) => Ok(rendered),
        Ok(Err(image_error)) => Err(Failure::permanent(image_error.to_string())),
        Err(join_error) if join_error.is_panic() => Err(Failure::permanent(
            "the image decoder crashed on this file (treated as corrupt)",
        )),
        Err(join_error) => Err(Failure::transient(format!(
            "render task was cancelled: {join_error}"
        ))),
    }
}

async fn head_object(processor: &Processor, event: &ObjectEvent) -> Result<Head, Failure> {
    let head = processor
        .s3
        .head_object()
        .bucket(&event.bucket)
        .key(&event.key)
        .send()
        .await
        .map_err(|e| {
            if e.as_service_error().is_some_and(|s| s.is_not_found()) {
                Failure::permanent("the object no longer exists (deleted before it was processed)")
            } else {
                classify_sdk_error("read object metadata", &e)
            }
        })?;
    let etag = head.e_tag().map(normalize_etag).unwrap_or_default();
    if etag.is_empty() {
        return Err(Failure::transient("object metadata has no ETag"));
    }
    Ok(Head {
        etag,
        version_id: head
            .version_id()
            .filter(|v| !v.is_empty() && *v != "null")
            .map(str::to_string),
        bytes: head.content_length().unwrap_or(0).max(0) as u64,
    })
}

/// S3 quotes ETags in headers and not in events; compare them unquoted.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

async fn read_manifest(processor: &Processor, key: &str) -> Result<Option<Manifest>, Failure> {
    let response = processor
        .s3
        .get_object()
        .bucket(&processor.config.variants_bucket)
        .key(key)
        .send()
        .await;
    let object = match response {
        Ok(object) => object,
        Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
        Err(e) => return Err(classify_sdk_error("read manifest", &e)),
    };
    let body = object
        .body
        .collect()
        .await
        .map_err(|e| Failure::transient(format!("read manifest body: {e}")))?;
    match serde_json::from_slice::<Manifest>(&body.into_bytes()) {
        Ok(manifest) => Ok(Some(manifest)),
        Err(e) => {
            // A manifest we cannot read is rewritten by processing again.
            warn!(key, error = %e, "existing manifest is unreadable; reprocessing");
            Ok(None)
        }
    }
}

/// Downloads exactly the version we checked (If-Match), refusing to read past the byte limit even
/// if the object grew in between.
async fn download(
    processor: &Processor,
    event: &ObjectEvent,
    head: &Head,
) -> Result<Vec<u8>, Failure> {
    let limit = processor.config.render.limits.max_input_bytes;
    let mut request = processor
        .s3
        .get_object()
        .bucket(&event.bucket)
        .key(&event.key);
    request = match &head.version_id {
        Some(version) => request.version_id(version),
        None => request.if_match(format!("\"{}\"", head.etag)),
    };
    let object = request.send().await.map_err(|e| {
        if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) {
            // Overwritten since the HEAD: the newer upload has its own event; retry this one to
            // report it against the version that now exists.
            Failure::transient("object changed while being processed")
        } else if e.as_service_error().is_some_and(|s| s.is_no_such_key()) {
            Failure::permanent("the object no longer exists (deleted before it was processed)")
        } else {
            classify_sdk_error("download original", &e)
        }
    })?;
    let mut body = object.body;
    let mut bytes = Vec::with_capacity(head.bytes.min(limit) as usize);
    while let Some(chunk) = body
        .try_next()
        .await
        .map_err(|e| Failure::transient(format!("download original: {e}")))?
    {
        if (bytes.len() + chunk.len()) as u64 > limit {
            return Err(Failure::permanent(format!(
                "over limits: object exceeds the {limit} byte limit"
            )));
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(bytes)
}

async fn put_object(
    processor: &Processor,
    key: &str,
    bytes: Vec<u8>,
    content_type: &str,
    cache_control: &str,
) -> Result<(), Failure> {
    processor
        .s3
        .put_object()
        .bucket(&processor.config.variants_bucket)
        .key(key)
        .body(ByteStream::from(bytes))
        .content_type(content_type)
        .cache_control(cache_control)
        .send()
        .await
        .map_err(|e| classify_sdk_error("store output", &e))?;
    Ok(())
}
