//! The image pipeline end to end against the local emulator: S3 → SNS → SQS → handler → S3 + status.

use std::time::Duration;

use crate::support::{contains, decode_image, fixture, Harness};
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart};
use image::GenericImageView;
use media_edge_shared::status::Outcome;
use media_edge_shared::FailureClass;

#[tokio::test]
async fn upload_becomes_variants_manifest_and_status_event() {
    let h = Harness::new("e2e").await;
    // Spaces, '+', '%', parentheses, non-ASCII and nested prefixes all survive S3's key encoding.
    let key = "uploads/2026/봄 프로모션/beach photo+1 (100%).jpg";
    h.upload(key, fixture("oriented.jpg")).await;

    let report = h.run_jobs().await;
    assert_eq!(report.retried, 0, "{report:?}");

    let statuses = h.statuses().await;
    assert_eq!(statuses.len(), 1, "{statuses:#?}");
    let status = &statuses[0];
    assert_eq!(status.outcome, Outcome::Processed);
    assert_eq!(status.source.key, key);
    assert_eq!(status.source.bucket.as_deref(), Some(h.wiring.names.originals_bucket.as_str()));
    assert_eq!(status.input_bytes, fixture("oriented.jpg").len() as u64);
    assert_eq!(status.output_bytes, status.variants.iter().map(|v| v.bytes).sum::<u64>());

    let manifest = h.manifest(key).await;
    assert_eq!(manifest.reports(), status.variants);
    assert_eq!(manifest.version, 2);
    assert_eq!(manifest.source.etag, status.source.etag);
    assert_eq!((manifest.width, manifest.height), (1600, 2400), "upright dimensions");
    assert_eq!(manifest.source_format, "JPEG");

    let manifest_key = h.processor.config.layout.manifest_key(key);
    let (_, manifest_object) = h.variant_bytes(&manifest_key).await;
    assert_eq!(manifest_object.content_type(), Some("application/json"));
    assert_eq!(manifest_object.cache_control(), Some("public, max-age=60"));

    let expected = [("thumbnail", 200, 300), ("mobile", 640, 960), ("tablet", 1024, 1536), ("pc", 1600, 2400)];
    let mut stored = 1; // the manifest
    for (variant, (name, width, height)) in manifest.variants.iter().zip(expected) {
        assert_eq!((variant.name.as_str(), variant.width, variant.height), (name, width, height));
        // The one URL of a variant is its fallback; the CDN negotiates the rest by extension.
        let url_key = variant.key.clone().expect("stored");
        assert!(url_key.ends_with(&format!("/{name}.jpg")), "{url_key}");
        for file in &variant.formats {
            assert!(file.key.contains(&manifest.source_version), "{} names the source version", file.key);
            assert!(file.key.starts_with("2026/봄 프로모션/beach photo+1 (100%).jpg/"), "{}", file.key);
            let (bytes, object) = h.variant_bytes(&file.key).await;
            assert_eq!(bytes.len() as u64, file.bytes);
            assert_eq!(object.content_type(), Some(file.content_type.as_str()));
            assert_eq!(object.cache_control(), Some("public, max-age=31536000, immutable"));
            assert_eq!(decode_image(&bytes).dimensions(), (width, height), "{}", file.key);
            assert!(!contains(&bytes, b"Exif") && !contains(&bytes, b"Patient Name"), "metadata stripped");
            stored += 1;
        }
        // Every format's key exists: a skipped one holds the smaller file its viewers get.
        for extension in ["avif", "webp", "jpg"] {
            let format_key = format!("{}.{extension}", url_key.strip_suffix(".jpg").unwrap());
            let (bytes, object) = h.variant_bytes(&format_key).await;
            let served = manifest_file_for(variant, &format_key);
            assert_eq!(bytes.len() as u64, served.bytes, "{format_key}");
            assert_eq!(object.content_type(), Some(served.content_type.as_str()), "{format_key}");
        }
        stored += variant.skipped.len();
    }
    assert_eq!(h.variant_keys().await.len(), stored, "every file, copy and the manifest; nothing else");
    let picture = manifest.picture.as_deref().expect("a <picture> snippet");
    assert!(picture.contains("type=\"image/avif\"") && picture.contains("width=\"1600\" height=\"2400\""), "{picture}");
    let placeholder = manifest.placeholder.as_ref().expect("placeholder");
    assert!(placeholder.dominant_color.starts_with('#') && !placeholder.thumbhash.is_empty());
    // The page's URLs reach the files, `+`, space and `%` in the key included.
    assert!(h.assert_page_urls_resolve(&manifest).await >= 12);
}

/// The manifest entry whose bytes the key holds: a file, or what a skipped format's key serves.
fn manifest_file_for<'m>(
    variant: &'m image_processor::store::manifest::ManifestVariant,
    key: &str,
) -> &'m image_processor::store::manifest::ManifestFile {
    if let Some(file) = variant.formats.iter().find(|f| f.key == key) {
        return file;
    }
    let skip = variant.skipped.iter().find(|s| s.key.as_deref() == Some(key)).expect("key is a file or a copy");
    let serves = skip.serves.as_deref().expect("copy names what it serves");
    variant.formats.iter().find(|f| f.format == serves).expect("served file is listed")
}

#[tokio::test]
async fn every_envelope_shape_is_accepted() {
    let h = Harness::new("envelopes").await;
    // The keys the sample events name (form-encoded there), stored for real.
    h.upload("uploads/2026/promo/beach photo (rotated).jpg", fixture("oriented.jpg")).await;
    h.upload("uploads/logo+alpha.png", fixture("alpha.png")).await;
    h.upload("uploads/프로모션 banner.webp", fixture("photo.webp")).await;
    h.run_jobs().await;
    h.statuses().await;

    // The notifications already processed them; drop the manifests so the samples do real work.
    for key in h.variant_keys().await {
        if key.ends_with("manifest.json") {
            h.clients.s3.delete_object().bucket(&h.wiring.names.variants_bucket).key(key).send().await.unwrap();
        }
    }
    for sample in ["sns-wrapped.json", "raw-delivery.json", "direct-from-s3.json", "test-event.json"] {
        let response = h.handle(h.sample_event_for_this_test(sample)).await;
        assert!(response.batch_item_failures.is_empty(), "{sample}: {response:?}");
    }
    let mut keys: Vec<(String, Outcome)> = h.statuses().await.into_iter().map(|s| (s.source.key, s.outcome)).collect();
    keys.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        keys,
        vec![
            ("uploads/2026/promo/beach photo (rotated).jpg".to_string(), Outcome::Processed),
            ("uploads/logo+alpha.png".to_string(), Outcome::Processed),
            ("uploads/프로모션 banner.webp".to_string(), Outcome::Processed),
        ],
        "one status per original; the TestEvent produces none"
    );
    let logo = h.manifest("uploads/logo+alpha.png").await;
    for variant in &logo.variants {
        let fallback = variant.formats.last().expect("fallback");
        assert_eq!(fallback.content_type, "image/png", "transparency kept as PNG");
    }
    // The demo's own sample: its page URLs reach its files (a literal `+` would reach `logo alpha.png`).
    assert!(h.assert_page_urls_resolve(&logo).await > 0);
}

#[tokio::test]
async fn redelivery_and_multipart_events_are_not_processed_twice() {
    let h = Harness::new("dupes").await;
    let key = "uploads/dupe.jpg";
    h.upload(key, fixture("progressive.jpg")).await;
    let body = h
        .clients
        .sqs
        .receive_message()
        .queue_url(&h.wiring.jobs_queue_url)
        .wait_time_seconds(2)
        .max_number_of_messages(10)
        .send()
        .await
        .unwrap();
    let messages = body.messages().to_vec();
    let upload_message = messages
        .iter()
        .find(|m| m.body().unwrap_or_default().contains("dupe.jpg"))
        .expect("notification for the upload");
    // Deliver the same message twice in one batch, then once more later (at-least-once delivery).
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    for suffix in ["a", "b"] {
        let mut message = media_edge_local::lambda_message(upload_message, Some(&h.wiring.jobs_queue_arn));
        message.message_id = Some(format!("copy-{suffix}"));
        event.records.push(message);
    }
    assert!(h.handle(event.clone()).await.batch_item_failures.is_empty());
    let first_manifest = h.manifest(key).await;
    assert!(h.handle(event).await.batch_item_failures.is_empty());
    let outcomes: Vec<Outcome> = h.statuses().await.iter().map(|s| s.outcome).collect();
    assert_eq!(outcomes, vec![Outcome::Processed, Outcome::Duplicate, Outcome::Duplicate, Outcome::Duplicate]);
    assert_eq!(h.manifest(key).await.created_at, first_manifest.created_at, "manifest not rewritten");

    // A multipart upload: the emulator notifies more than once for one object.
    let big_key = "uploads/multipart.jpg";
    let bytes = fixture("oriented.jpg");
    let bucket = &h.wiring.names.originals_bucket;
    let upload = h.clients.s3.create_multipart_upload().bucket(bucket).key(big_key).send().await.unwrap();
    let upload_id = upload.upload_id().unwrap();
    let part = h
        .clients
        .s3
        .upload_part()
        .bucket(bucket)
        .key(big_key)
        .upload_id(upload_id)
        .part_number(1)
        .body(bytes.into())
        .send()
        .await
        .unwrap();
    h.clients
        .s3
        .complete_multipart_upload()
        .bucket(bucket)
        .key(big_key)
        .upload_id(upload_id)
        .multipart_upload(
            CompletedMultipartUpload::builder()
                .parts(CompletedPart::builder().part_number(1).e_tag(part.e_tag().unwrap()).build())
                .build(),
        )
        .send()
        .await
        .unwrap();
    h.run_jobs().await;
    let statuses: Vec<_> = h.statuses().await.into_iter().filter(|s| s.source.key == big_key).collect();
    assert!(!statuses.is_empty());
    let processed = statuses.iter().filter(|s| s.outcome == Outcome::Processed).count();
    assert_eq!(processed, 1, "processed exactly once: {statuses:#?}");
    assert!(statuses.iter().all(|s| s.outcome != Outcome::Failed), "{statuses:#?}");
}

#[tokio::test]
async fn poison_messages_do_not_fail_the_batch() {
    let h = Harness::new("poison").await;
    h.upload("uploads/badge.gif", fixture("static.gif")).await;
    h.upload("uploads/fake.jpg", b"this is not an image\n".to_vec()).await;
    h.run_jobs().await;
    h.statuses().await;
    for key in h.variant_keys().await {
        h.clients.s3.delete_object().bucket(&h.wiring.names.variants_bucket).key(key).send().await.unwrap();
    }

    let response = h.handle(h.sample_event_for_this_test("batch-with-poison.json")).await;
    assert!(response.batch_item_failures.is_empty(), "poison is reported, not retried: {response:?}");

    let statuses = h.statuses().await;
    assert_eq!(statuses.len(), 4, "{statuses:#?}");
    let by_key = |needle: &str| statuses.iter().find(|s| s.source.key.contains(needle)).expect(needle);
    assert_eq!(by_key("badge.gif").outcome, Outcome::Processed);
    let fake = by_key("fake.jpg");
    assert_eq!(fake.outcome, Outcome::Failed);
    let failure = fake.failure.as_ref().unwrap();
    assert_eq!(failure.class, FailureClass::Permanent);
    assert!(failure.reason.contains("not a JPEG, PNG, GIF or WebP"), "{}", failure.reason);
    let unreadable: Vec<_> = statuses.iter().filter(|s| s.source.key.starts_with("sqs-message/")).collect();
    assert_eq!(unreadable.len(), 2);
    assert!(unreadable.iter().all(|s| s.outcome == Outcome::Failed));
    assert!(unreadable.iter().any(|s| s.failure.as_ref().unwrap().reason.contains("not JSON")));
}

#[tokio::test]
async fn permanent_failures_are_reported_once_and_leave_no_outputs() {
    let h = Harness::new("permanent").await;
    let jpeg = fixture("oriented.jpg");
    h.upload("uploads/truncated.jpg", jpeg[..jpeg.len() / 2].to_vec()).await;
    h.upload("uploads/bomb.png", fixture("bomb.png")).await;
    h.upload("uploads/really-a-jpeg.png", fixture("gray.jpg")).await;
    h.upload("uploads/notes.txt", b"hello".to_vec()).await;

    let report = h.run_jobs().await;
    assert_eq!(report.retried, 0, "permanent failures are acknowledged: {report:?}");
    let statuses = h.statuses().await;
    let reason = |needle: &str| {
        let s = statuses.iter().find(|s| s.source.key.contains(needle)).unwrap_or_else(|| panic!("{needle}"));
        assert_eq!(s.outcome, Outcome::Failed);
        assert_eq!(s.failure.as_ref().unwrap().class, FailureClass::Permanent);
        s.failure.as_ref().unwrap().reason.clone()
    };
    assert!(reason("truncated.jpg").contains("truncated"));
    assert!(reason("bomb.png").contains("over limits"));
    assert!(reason("really-a-jpeg.png").contains("content is JPEG"));
    assert!(reason("notes.txt").contains("not a JPEG, PNG, GIF or WebP"));
    assert_eq!(statuses.len(), 4);
    assert!(h.variant_keys().await.is_empty(), "nothing stored for failed originals");
    assert_eq!(h.dlq_depth().await, 0);
}

#[tokio::test]
async fn input_byte_limit_is_checked_before_download() {
    let settings = image_processor::make::render::RenderSettings {
        limits: image_processor::limits::Limits { max_input_bytes: 10_000, ..Default::default() },
        ..Default::default()
    };
    let h = Harness::with_settings("bytes", settings).await;
    h.upload("uploads/large.jpg", fixture("oriented.jpg")).await;
    h.run_jobs().await;
    let statuses = h.statuses().await;
    assert_eq!(statuses.len(), 1);
    let reason = &statuses[0].failure.as_ref().unwrap().reason;
    assert!(reason.contains("exceeds the 10000 byte limit"), "{reason}");
}

#[tokio::test]
async fn transient_failures_are_retried_then_dead_lettered() {
    let h = Harness::new("transient").await;
    h.upload("uploads/retry-me.jpg", fixture("gray.jpg")).await;

    // The same processor, but its S3 endpoint refuses connections: a transient failure.
    let sdk = aws_config::defaults(aws_config::BehaviorVersion::latest())
        .endpoint_url("http://127.0.0.1:9")
        .http_client(media_edge_shared::aws::http_client())
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .timeout_config(aws_config::timeout::TimeoutConfig::builder().connect_timeout(Duration::from_secs(1)).build())
        .load()
        .await;
    let broken_s3 =
        aws_sdk_s3::Client::from_conf(aws_sdk_s3::config::Builder::from(&sdk).force_path_style(true).build());
    let broken = image_processor::Processor {
        s3: broken_s3,
        status: h.processor.status.clone(),
        requeue: h.processor.requeue.clone(),
        config: h.processor.config.clone(),
    };

    // The TestEvent is acknowledged in the first batch; the upload keeps coming back.
    let report = h.run_jobs_with(&broken, 10).await;
    assert_eq!(report.retried, h.wiring.jobs_max_receive_count().unwrap() as usize, "{report:?}");
    assert!(h.statuses().await.is_empty(), "no status for a failure that will be retried");
    assert_eq!(h.dlq_depth().await, 1, "after maxReceiveCount the message is dead-lettered");
}

#[tokio::test]
async fn own_outputs_and_other_events_are_ignored() {
    let h = Harness::new("ignore").await;
    // Uploads outside the input prefix are filtered by the notification and by the code.
    h.upload("elsewhere/photo.jpg", fixture("gray.jpg")).await;
    let event_for = |bucket: &str, key: &str, name: &str| {
        let body = serde_json::json!({"Records": [{"eventName": name, "s3": {"bucket": {"name": bucket}, "object": {"key": key}}}]});
        let mut message = aws_lambda_events::event::sqs::SqsMessage::default();
        message.message_id = Some(format!("{name}-{key}"));
        message.body = Some(body.to_string());
        message
    };
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = vec![
        event_for(&h.wiring.names.originals_bucket, "elsewhere/photo.jpg", "ObjectCreated:Put"),
        event_for(&h.wiring.names.variants_bucket, "x.jpg/0123/pc.jpg", "ObjectCreated:Put"),
        event_for(&h.wiring.names.originals_bucket, "uploads/gone.jpg", "ObjectRemoved:Delete"),
    ];
    let response = h.handle(event).await;
    assert!(response.batch_item_failures.is_empty());
    assert!(h.statuses().await.is_empty(), "ignored events publish nothing");
    assert!(h.variant_keys().await.is_empty(), "and write nothing");
}

#[tokio::test]
async fn object_deleted_before_processing_is_a_permanent_failure() {
    let h = Harness::new("deleted").await;
    h.upload("uploads/short-lived.jpg", fixture("gray.jpg")).await;
    h.clients
        .s3
        .delete_object()
        .bucket(&h.wiring.names.originals_bucket)
        .key("uploads/short-lived.jpg")
        .send()
        .await
        .unwrap();
    let report = h.run_jobs().await;
    assert_eq!(report.retried, 0);
    let statuses = h.statuses().await;
    assert_eq!(statuses.len(), 1);
    assert!(statuses[0].failure.as_ref().unwrap().reason.contains("no longer exists"));
}

#[tokio::test]
async fn messages_not_started_by_the_deadline_come_back_at_once_with_no_receives_used() {
    let h = Harness::new("deferred").await;
    h.discard_test_event().await;
    h.upload("uploads/later.jpg", fixture("gray.jpg")).await;
    // Received (and handed back) twice already: two of the five receives used.
    for _ in 0..2 {
        let messages = h.receive_jobs(1).await;
        let handle = messages[0].receipt_handle().unwrap();
        h.clients
            .sqs
            .change_message_visibility()
            .queue_url(&h.wiring.jobs_queue_url)
            .receipt_handle(handle)
            .visibility_timeout(0)
            .send()
            .await
            .unwrap();
    }
    let messages = h.receive_jobs(1).await;
    assert_eq!(
        messages[0].attributes().unwrap()[&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount],
        "3"
    );
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records = vec![media_edge_local::lambda_message(&messages[0], Some(&h.wiring.jobs_queue_arn))];

    let response = image_processor::handle_batch(event, &h.processor, Some(std::time::Instant::now())).await;
    assert!(response.batch_item_failures.is_empty(), "acknowledged, not handed back: {response:?}");
    // Lambda deletes what it acknowledged; the copy is visible at once (the original is still in
    // flight for 90 minutes) and has used no receive.
    h.clients
        .sqs
        .delete_message()
        .queue_url(&h.wiring.jobs_queue_url)
        .receipt_handle(messages[0].receipt_handle().unwrap())
        .send()
        .await
        .unwrap();
    let again = h.receive_jobs(1).await;
    assert_eq!(again.len(), 1, "the message is back on the queue at once");
    assert_eq!(again[0].body(), messages[0].body());
    assert_eq!(
        again[0].attributes().unwrap()[&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount],
        "1"
    );
    assert!(h.statuses().await.is_empty(), "nothing was tried");
}

#[tokio::test]
async fn an_older_upload_never_overwrites_the_manifest_of_a_newer_one() {
    // v1: an animation that takes seconds to encode (x264's slowest preset).
    let mut settings = Harness::default_settings();
    settings.video.preset = "placebo".into();
    let h = Harness::with_settings("race", settings).await;
    let key = "uploads/banner.gif";
    h.discard_test_event().await;
    h.upload(key, crate::support::animated_gif(480, 270, &[40; 120])).await;
    let v1_messages = h.receive_jobs(1).await;
    let mut v1_event = aws_lambda_events::event::sqs::SqsEvent::default();
    v1_event.records = vec![media_edge_local::lambda_message(&v1_messages[0], Some(&h.wiring.jobs_queue_arn))];
    let processor = h.processor.clone();
    let v1 = tokio::spawn(async move { image_processor::handle_batch(v1_event, &processor, None).await });
    tokio::time::sleep(Duration::from_millis(500)).await;

    // v2, a still GIF, replaces it while v1 is encoding, and is processed completely (by another
    // Lambda environment: its own work directory, which a new batch sweeps).
    h.upload(key, fixture("static.gif")).await;
    let mut other_config = (*h.processor.config).clone();
    other_config.work_root = crate::support::work_root("race-other");
    let other = image_processor::Processor { config: std::sync::Arc::new(other_config), ..h.processor.clone() };
    let report = h.run_jobs_with(&other, 20).await;
    assert_eq!(report.retried, 0);
    assert!(!v1.is_finished(), "v1 finished before v2 was processed: the race was not exercised");
    let v1_response = v1.await.unwrap();
    assert!(v1_response.batch_item_failures.is_empty(), "{v1_response:?}");

    let manifest = h.manifest(key).await;
    assert_eq!(manifest.frames, 1, "the manifest describes the newer upload");
    let head = h.clients.s3.head_object().bucket(&h.wiring.names.originals_bucket).key(key).send().await.unwrap();
    assert_eq!(manifest.source.etag.as_deref(), head.e_tag().map(|e| e.trim_matches('"')));
    let mut outcomes: Vec<(String, Outcome)> =
        h.statuses().await.into_iter().map(|s| (s.source.etag.unwrap_or_default(), s.outcome)).collect();
    outcomes.sort_by_key(|(_, outcome)| *outcome == Outcome::Superseded);
    assert_eq!(outcomes.iter().map(|(_, o)| *o).collect::<Vec<_>>(), [Outcome::Processed, Outcome::Superseded]);
    assert_eq!(Some(outcomes[0].0.as_str()), manifest.source.etag.as_deref());
}

#[tokio::test]
async fn two_deliveries_of_one_upload_at_once_render_it_once() {
    // SQS delivers at least once and S3 may notify twice: two processors can hold the same upload
    // at the same moment. The claim lets one render; the other comes back and is then skipped.
    let h = Harness::new("claim").await;
    h.discard_test_event().await;
    h.upload("uploads/twice.jpg", fixture("gray.jpg")).await;
    let messages = h.receive_jobs(1).await;
    let first = media_edge_local::lambda_message(&messages[0], Some(&h.wiring.jobs_queue_arn));
    let mut second = first.clone();
    second.message_id = Some("the-same-upload-delivered-again".into());
    let event = |m: &aws_lambda_events::event::sqs::SqsMessage| {
        let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
        event.records = vec![m.clone()];
        event
    };

    let (a, b) = tokio::join!(h.handle(event(&first)), h.handle(event(&second)));
    let handed_back: Vec<String> =
        a.batch_item_failures.iter().chain(&b.batch_item_failures).map(|f| f.item_identifier.clone()).collect();
    assert_eq!(handed_back.len(), 1, "one delivery renders, the other comes back: {handed_back:?}");
    let statuses = h.statuses().await;
    let outcomes: Vec<Outcome> = statuses.iter().map(|s| s.outcome).collect();
    assert_eq!(outcomes, [Outcome::Processed]);

    // Delivered again, the one handed back finds the manifest.
    let again = if handed_back[0] == second.message_id.clone().unwrap() { &second } else { &first };
    assert!(h.handle(event(again)).await.batch_item_failures.is_empty());
    let outcomes: Vec<Outcome> = h.statuses().await.iter().map(|s| s.outcome).collect();
    assert_eq!(outcomes, [Outcome::Duplicate]);
    let keys = h.variant_keys().await;
    assert!(keys.iter().all(|k| !k.starts_with(".claims/")), "no claim left behind: {keys:?}");
}

#[tokio::test]
async fn a_reupload_marks_the_previous_versions_files_for_expiry() {
    let h = Harness::new("superseded").await;
    let key = "uploads/promo.jpg";
    h.discard_test_event().await;
    h.upload(key, fixture("progressive.jpg")).await;
    h.run_jobs().await;
    let first = h.manifest(key).await;
    h.upload(key, fixture("oriented.jpg")).await;
    h.run_jobs().await;
    let second = h.manifest(key).await;
    assert_ne!(first.source_version, second.source_version);

    let tagged = |k: String| {
        let s3 = h.clients.s3.clone();
        let bucket = h.wiring.names.variants_bucket.clone();
        async move {
            let tags = s3.get_object_tagging().bucket(bucket).key(&k).send().await.unwrap();
            tags.tag_set().iter().any(|t| t.key() == image_processor::store::s3::SUPERSEDED_TAG && t.value() == "true")
        }
    };
    let files = |m: &image_processor::store::manifest::Manifest| -> Vec<String> {
        m.variants.iter().flat_map(|v| v.formats.iter().map(|f| f.key.clone())).collect()
    };
    assert!(!files(&first).is_empty());
    for k in files(&first) {
        assert!(tagged(k.clone()).await, "{k} of the previous version is marked superseded");
        // Marked by a copy onto itself: the lifecycle rule's days count from now, and what the
        // object says about itself is kept.
        let head = h.clients.s3.head_object().bucket(&h.wiring.names.variants_bucket).key(&k).send().await.unwrap();
        assert!(head.content_type().is_some_and(|t| t.starts_with("image/")), "{k}: {:?}", head.content_type());
        assert_eq!(head.cache_control(), Some(image_processor::store::keys::VARIANT_CACHE_CONTROL), "{k}");
    }
    for k in files(&second) {
        assert!(!tagged(k.clone()).await, "{k} of the current version is not marked");
    }
}

#[tokio::test]
async fn another_parameter_set_flows_through_the_template_to_the_processor() {
    // What an operator changes with `sam deploy --parameter-overrides`: the notification's prefix
    // filter, the processor's environment, its memory and the event source's batch size all follow.
    let h = Harness::with_parameters(
        "params",
        &[("InputPrefix", "incoming/"), ("ProcessorBatchSize", "3"), ("ProcessorMemorySize", "2048")],
    )
    .await;
    assert_eq!(h.processor.config.layout.input_prefix, "incoming/");
    assert_eq!(h.wiring.jobs_batch_size().unwrap(), 3);
    assert_eq!(h.wiring.stack["functions"]["ImageProcessorFunction"]["MemorySize"], 2048);

    h.upload("uploads/not-watched.jpg", fixture("gray.jpg")).await;
    for name in ["a", "b", "c", "d"] {
        h.upload(&format!("incoming/{name}.jpg"), fixture("gray.jpg")).await;
    }
    let report = h.run_jobs().await;
    assert_eq!(report.retried, 0, "{report:?}");
    // Four jobs (the uploads outside the prefix made none), in batches of at most three.
    assert_eq!(report.messages, 4, "{report:?}");
    assert!(report.batches >= 2, "four jobs cannot fit one batch of the deployed size: {report:?}");

    let mut keys: Vec<String> = h.statuses().await.into_iter().map(|s| s.source.key).collect();
    keys.sort();
    assert_eq!(keys, ["incoming/a.jpg", "incoming/b.jpg", "incoming/c.jpg", "incoming/d.jpg"]);
    let variants = h.variant_keys().await;
    assert!(variants.contains(&"a.jpg/manifest.json".to_string()), "{variants:?}");
    assert!(!variants.iter().any(|k| k.contains("not-watched")), "{variants:?}");
}

/// An uploader can ask for the most AVIF effort for one original (a hero banner known in advance):
/// it gets its own version (keys), the manifest says so, and its AVIF files are no larger than
/// the default effort's. A value the processor does not know fails the upload and says why.
#[tokio::test]
async fn an_upload_can_ask_for_more_avif_effort_and_a_wrong_ask_is_reported() {
    let h = Harness::with_settings("effort", Harness::default_settings()).await;
    h.upload("uploads/default.jpg", fixture("progressive.jpg")).await;
    h.upload_with_metadata("uploads/hero.jpg", fixture("progressive.jpg"), &[("media-edge-effort", "max")]).await;
    h.upload_with_metadata("uploads/typo.jpg", fixture("progressive.jpg"), &[("media-edge-effort", "ultra")]).await;
    let report = h.run_jobs().await;
    assert_eq!(report.retried, 0, "{report:?}");
    let statuses = h.statuses().await;
    let status =
        |key: &str| statuses.iter().find(|s| s.source.key == key).unwrap_or_else(|| panic!("{key}: {statuses:#?}"));
    assert_eq!(status("uploads/default.jpg").outcome, Outcome::Processed);
    assert_eq!(status("uploads/hero.jpg").outcome, Outcome::Processed);
    let typo = status("uploads/typo.jpg");
    assert_eq!(typo.outcome, Outcome::Failed);
    let reason = &typo.failure.as_ref().unwrap().reason;
    assert!(reason.contains("media-edge-effort is \"ultra\"") && reason.contains("fast, default or max"), "{reason}");

    let (default, hero) = (h.manifest("uploads/default.jpg").await, h.manifest("uploads/hero.jpg").await);
    assert_eq!(default.avif_effort.as_deref(), Some("default"));
    assert_eq!(hero.avif_effort.as_deref(), Some("max"));
    assert_ne!(default.source_version, hero.source_version, "another effort is another version");
    let avif_bytes = |m: &image_processor::store::manifest::Manifest| -> u64 {
        m.variants.iter().flat_map(|v| &v.formats).filter(|f| f.format == "avif").map(|f| f.bytes).sum()
    };
    assert!(avif_bytes(&hero) > 0 && avif_bytes(&default) > 0);
    assert!(avif_bytes(&hero) <= avif_bytes(&default), "max {} > default {}", avif_bytes(&hero), avif_bytes(&default));
}
