//! The flow's S3 side: the original in the originals bucket ([`S3Source`]), outputs in the variants
//! bucket ([`S3Sink`]). Downloads stream to the scratch directory, bounded; large outputs go up in
//! parts; the manifest is written with S3's conditional writes.

use std::path::Path;

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use media_edge_shared::aws::{classify_sdk_error, describe_sdk_error};
use media_edge_shared::status::SourceObject;
use media_edge_shared::Failure;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tracing::warn;

use crate::make::outputs::OutputBody;
use crate::store::manifest::Manifest;
use crate::store::sides::{Sink, Source, SourceVersion, StoredOutput};

/// Outputs larger than this are uploaded in parts (S3 needs parts of at least 5 MiB).
const MULTIPART_THRESHOLD: u64 = 16 * 1024 * 1024;
const MULTIPART_PART_SIZE: usize = 8 * 1024 * 1024;

/// An uploaded original.
pub struct S3Source<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
    pub key: &'a str,
}

impl Source for S3Source<'_> {
    fn bucket(&self) -> Option<&str> {
        Some(self.bucket)
    }

    fn key(&self) -> &str {
        self.key
    }

    fn describe(&self, version: &SourceVersion) -> SourceObject {
        SourceObject {
            bucket: Some(self.bucket.to_string()),
            key: self.key.to_string(),
            etag: Some(version.etag.clone()),
            version_id: version.version_id.clone(),
        }
    }

    async fn current(&self) -> Result<Option<SourceVersion>, Failure> {
        let head = match self.s3.head_object().bucket(self.bucket).key(self.key).send().await {
            Ok(head) => head,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => return Ok(None),
            Err(e) if is_forbidden(e.raw_response()) => {
                let denied = classify_sdk_error("read object metadata", &e);
                return if self.listed().await.map_err(|listing| both_denied(denied, listing))? {
                    Err(Failure::transient(format!(
                        "read object metadata: {} (the object exists; check the processor's access to it)",
                        describe_sdk_error(&e)
                    )))
                } else {
                    Ok(None)
                };
            }
            // S3 answers a HEAD with no body, so no error code: only the status says what it was.
            // Without a code, nothing shows the content is at fault (400 is also an expired
            // token or the wrong Region): retried, never reported to the uploader as their file's.
            Err(e) if e.as_service_error().is_some_and(|s| s.meta().code().is_none()) => {
                let failure = classify_sdk_error("read object metadata", &e);
                return Err(Failure::transient(failure.reason));
            }
            Err(e) => return Err(classify_sdk_error("read object metadata", &e)),
        };
        let etag = head.e_tag().map(normalize_etag).unwrap_or_default();
        if etag.is_empty() {
            return Err(Failure::transient("object metadata has no ETag"));
        }
        Ok(Some(SourceVersion {
            etag,
            version_id: head.version_id().filter(|v| !v.is_empty() && *v != "null").map(str::to_string),
            bytes: head.content_length().unwrap_or(0).max(0) as u64,
            effort: head.metadata().and_then(|m| m.get(EFFORT_METADATA)).cloned(),
            focus: head.metadata().and_then(|m| m.get(FOCUS_METADATA)).cloned(),
        }))
    }

    /// Streams exactly the version checked (its version id, or `If-Match` on its ETag) into
    /// `target`, refusing to write past `limit` even if the object grew in between.
    async fn fetch(&self, version: &SourceVersion, target: &Path, limit: u64) -> Result<u64, Failure> {
        let mut request = self.s3.get_object().bucket(self.bucket).key(self.key);
        request = match &version.version_id {
            Some(id) => request.version_id(id),
            None => request.if_match(format!("\"{}\"", version.etag)),
        };
        let object = match request.send().await {
            Ok(object) => object,
            // Overwritten since the HEAD: retry to process the version that now exists.
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 412) => {
                return Err(Failure::transient("object changed while being processed"))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Err(gone()),
            Err(e) if is_forbidden(e.raw_response()) => {
                let denied = classify_sdk_error("download original", &e);
                return Err(match self.listed().await {
                    Ok(false) => gone(),
                    Ok(true) => denied,
                    Err(listing) => both_denied(denied, listing),
                });
            }
            Err(e) => return Err(classify_sdk_error("download original", &e)),
        };
        let disk = |e: std::io::Error| Failure::transient(format!("writing local copy: {e}"));
        let mut file = tokio::fs::File::create(target).await.map_err(disk)?;
        let mut body = object.body;
        let mut written = 0u64;
        while let Some(chunk) =
            body.try_next().await.map_err(|e| Failure::transient(format!("download original: {e}")))?
        {
            written += chunk.len() as u64;
            if written > limit {
                return Err(Failure::permanent(format!("over limits: object exceeds the {limit} byte limit")));
            }
            file.write_all(&chunk).await.map_err(disk)?;
        }
        file.flush().await.map_err(disk)?;
        Ok(written)
    }
}

impl S3Source<'_> {
    /// Whether the original is listed. Without `s3:ListBucket` S3 answers 403 rather than 404 for
    /// a key that does not exist, so a 403 on the original is told apart by listing it: absent,
    /// it is gone (a deleted upload); present, the processor lacks access to it (our fault).
    /// `Err`: the listing failed too (classified: a denied listing is our environment's fault).
    async fn listed(&self) -> Result<bool, Failure> {
        let listing = self
            .s3
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(self.key)
            // The key itself sorts first among keys it prefixes.
            .max_keys(1)
            .send()
            .await
            .map_err(|e| classify_sdk_error("list the original", &e))?;
        Ok(listing.contents().iter().any(|o| o.key() == Some(self.key)))
    }
}

/// The user metadata naming an original's AVIF effort (`x-amz-meta-media-edge-effort: max`).
pub const EFFORT_METADATA: &str = "media-edge-effort";
/// The user metadata naming an original's focus (`x-amz-meta-focus: 0.72,0.40`, or `x,y,w,h`).
pub const FOCUS_METADATA: &str = "focus";

/// A deleted upload: the content is gone, which no retry changes.
fn gone() -> Failure {
    Failure::permanent("the object no longer exists (deleted before it was processed)")
}

/// 401 or 403: S3 denied the request (with a code or, for HEAD, without a body).
fn is_forbidden(response: Option<&aws_sdk_s3::config::http::HttpResponse>) -> bool {
    response.is_some_and(|r| matches!(r.status().as_u16(), 401 | 403))
}

/// The original could not be read, nor listed to tell a deleted upload from missing access:
/// transient (our environment's fault), with both reasons.
fn both_denied(denied: Failure, listing: Failure) -> Failure {
    Failure::transient(format!("{}; {}", denied.reason, listing.reason))
}

/// S3 quotes ETags in headers and not in events; compare them unquoted.
pub fn normalize_etag(etag: &str) -> String {
    etag.trim().trim_matches('"').to_string()
}

/// The variants bucket.
pub struct S3Sink<'a> {
    pub s3: &'a aws_sdk_s3::Client,
    pub bucket: &'a str,
}

impl Sink for S3Sink<'_> {
    async fn read_manifest(&self, key: &str) -> Result<Option<Manifest>, Failure> {
        let object = match self.s3.get_object().bucket(self.bucket).key(key).send().await {
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

    /// Takes the output by value: image bytes move into the request instead of being copied.
    async fn store(&self, output: StoredOutput) -> Result<(), Failure> {
        let StoredOutput { key, body, content_type, cache_control } = output;
        let body = match body {
            OutputBody::Bytes(bytes) => ByteStream::from(bytes),
            OutputBody::File(path) => {
                let unreadable =
                    |e: &dyn std::fmt::Display| Failure::transient(format!("reading output {}: {e}", path.display()));
                let size = tokio::fs::metadata(&path).await.map_err(|e| unreadable(&e))?.len();
                if size > MULTIPART_THRESHOLD {
                    return self.put_multipart(&key, content_type, cache_control, &path).await;
                }
                ByteStream::from_path(&path).await.map_err(|e| unreadable(&e))?
            }
        };
        self.s3
            .put_object()
            .bucket(self.bucket)
            .key(key)
            .body(body)
            .content_type(content_type)
            .cache_control(cache_control)
            .send()
            .await
            .map_err(|e| classify_sdk_error("store output", &e))?;
        Ok(())
    }

    async fn tag(&self, key: &str) -> Result<Option<String>, Failure> {
        match self.s3.head_object().bucket(self.bucket).key(key).send().await {
            Ok(head) => Ok(head.e_tag().map(str::to_string)),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(classify_sdk_error("read manifest metadata", &e)),
        }
    }

    /// S3 conditional writes: `If-Match` on the ETag, or `If-None-Match: *` when there is none.
    async fn store_if(&self, output: StoredOutput, expected: Option<String>) -> Result<Option<String>, Failure> {
        let StoredOutput { key, body, content_type, cache_control } = output;
        let OutputBody::Bytes(bytes) = body else {
            return Err(Failure::permanent("conditional writes are for in-memory objects"));
        };
        let request = self
            .s3
            .put_object()
            .bucket(self.bucket)
            .key(key)
            .body(ByteStream::from(bytes))
            .content_type(content_type)
            .cache_control(cache_control);
        let request = match expected {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(put) => Ok(Some(put.e_tag().unwrap_or_default().to_string())),
            // 412: the condition failed; 409: a concurrent conditional write to the same key.
            Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) => Ok(None),
            Err(e) => Err(classify_sdk_error("store manifest", &e)),
        }
    }

    async fn read(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, Failure> {
        let object = match self.s3.get_object().bucket(self.bucket).key(key).send().await {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(classify_sdk_error("read claim", &e)),
        };
        let tag = object.e_tag().unwrap_or_default().to_string();
        let body = object.body.collect().await.map_err(|e| Failure::transient(format!("read {key}: {e}")))?;
        Ok(Some((body.into_bytes().to_vec(), tag)))
    }

    /// S3's conditional delete (`If-Match`).
    async fn remove_if(&self, key: &str, expected: &str) -> Result<bool, Failure> {
        match self.s3.delete_object().bucket(self.bucket).key(key).if_match(expected).send().await {
            Ok(_) => Ok(true),
            // 412: it changed; 404: it is gone.
            Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 404 | 412)) => Ok(false),
            Err(e) => Err(classify_sdk_error("remove claim", &e)),
        }
    }

    async fn has_files(&self, prefix: &str) -> Result<bool, Failure> {
        let listing = self
            .s3
            .list_objects_v2()
            .bucket(self.bucket)
            .prefix(prefix)
            .max_keys(1)
            .send()
            .await
            .map_err(|e| classify_sdk_error("list version", &e))?;
        Ok(!listing.contents().is_empty())
    }

    /// Copies each file onto itself with the tag `media-edge-superseded=true` (content type,
    /// cache control and metadata kept): the variants bucket's lifecycle rule
    /// (`expire-superseded-variants`) expires tagged objects a number of days after they were
    /// *written*, so the copy starts that count now rather than at the original render.
    async fn mark_superseded(&self, prefix: &str) -> Result<usize, Failure> {
        use aws_sdk_s3::types::{MetadataDirective, TaggingDirective};
        let mut marked = 0;
        let mut pages = self.s3.list_objects_v2().bucket(self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify_sdk_error("list superseded version", &e))?;
            for key in page.contents().iter().filter_map(|o| o.key()) {
                let head = self
                    .s3
                    .head_object()
                    .bucket(self.bucket)
                    .key(key)
                    .send()
                    .await
                    .map_err(|e| classify_sdk_error("read superseded variant", &e))?;
                let source = format!("{}/{}", self.bucket, media_edge_shared::s3_event::encode_copy_source_key(key));
                self.s3
                    .copy_object()
                    .bucket(self.bucket)
                    .key(key)
                    .copy_source(source)
                    .metadata_directive(MetadataDirective::Replace)
                    .set_content_type(head.content_type().map(str::to_string))
                    .set_cache_control(head.cache_control().map(str::to_string))
                    .set_metadata(head.metadata().cloned())
                    .tagging_directive(TaggingDirective::Replace)
                    .tagging(format!("{SUPERSEDED_TAG}=true"))
                    .send()
                    .await
                    .map_err(|e| classify_sdk_error("mark superseded variant", &e))?;
                marked += 1;
            }
        }
        Ok(marked)
    }

    /// Sets each file's tag to `media-edge-superseded=false`, which the lifecycle rule (it expires
    /// `=true`) leaves alone (`s3:PutObjectTagging`, which marking needs too); the file itself is
    /// left as it is.
    async fn unmark_superseded(&self, prefix: &str) -> Result<usize, Failure> {
        let mut unmarked = 0;
        let mut pages = self.s3.list_objects_v2().bucket(self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| classify_sdk_error("list named version", &e))?;
            for key in page.contents().iter().filter_map(|o| o.key()) {
                let kept = aws_sdk_s3::types::Tag::builder()
                    .key(SUPERSEDED_TAG)
                    .value("false")
                    .build()
                    .map_err(|e| Failure::permanent(format!("tag: {e}")))?;
                let tagging = aws_sdk_s3::types::Tagging::builder()
                    .tag_set(kept)
                    .build()
                    .map_err(|e| Failure::permanent(format!("tag set: {e}")))?;
                self.s3
                    .put_object_tagging()
                    .bucket(self.bucket)
                    .key(key)
                    .tagging(tagging)
                    .send()
                    .await
                    .map_err(|e| classify_sdk_error("unmark named variant", &e))?;
                unmarked += 1;
            }
        }
        Ok(unmarked)
    }
}

/// The object tag the lifecycle rule `expire-superseded-variants` (infra) looks for.
pub const SUPERSEDED_TAG: &str = "media-edge-superseded";

impl S3Sink<'_> {
    /// Uploads a large file in parts, reading one part at a time; aborts the upload on failure so no
    /// orphaned parts accrue storage.
    async fn put_multipart(
        &self,
        key: &str,
        content_type: &str,
        cache_control: &str,
        path: &Path,
    ) -> Result<(), Failure> {
        let s3 = self.s3;
        let bucket = self.bucket;
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
}
