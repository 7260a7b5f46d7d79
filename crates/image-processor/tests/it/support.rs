//! Test harness: the real wiring on the local emulator, one set of uniquely named resources per
//! test so tests run in parallel.

use std::time::Duration;

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use aws_sdk_s3::primitives::ByteStream;
use image::codecs::gif::{GifEncoder, Repeat};
use image::{Delay, Frame, Rgba, RgbaImage};
use image_processor::lambda::config::ProcessorConfig;
use image_processor::make::render::RenderSettings;
use image_processor::store::manifest::Manifest;
use image_processor::{handle_batch, Processor};
use media_edge_local::{deploy_with, poll_queue_in_batches_of, sns_message, LocalClients, PollReport, Wiring};
use media_edge_shared::aws::StatusPublisher;
use media_edge_shared::status::StatusEvent;

pub fn fixture(name: &str) -> Vec<u8> {
    let path = format!("{}/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

pub fn sample_event(name: &str) -> String {
    let path = format!("{}/../../events/image-processor/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A moving gradient with a transparent band in every other frame; delays in ms.
pub fn animated_gif(width: u32, height: u32, delays_ms: &[u32]) -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new_with_speed(&mut out, 30);
        encoder.set_repeat(Repeat::Infinite).unwrap();
        for (i, &delay) in delays_ms.iter().enumerate() {
            let shift = (i as u32 * 7) % 255;
            let img = RgbaImage::from_fn(width, height, |x, y| {
                let transparent = i % 2 == 0 && y < height / 8;
                let alpha = if transparent { 0 } else { 255 };
                Rgba([((x * 255 / width) + shift) as u8, (y * 255 / height) as u8, 128, alpha])
            });
            encoder.encode_frame(Frame::from_parts(img, 0, 0, Delay::from_numer_denom_ms(delay, 1))).unwrap();
        }
    }
    out
}

/// Decodes a variant of any format we store. AVIF goes through the project's ffmpeg (dav1d), which
/// the `image` crate cannot decode without a system library; the rest through `image`.
pub fn decode_image(bytes: &[u8]) -> image::DynamicImage {
    if bytes.get(4..12) != Some(b"ftypavif") {
        return image::load_from_memory(bytes).expect("variant decodes");
    }
    let dir = work_root("avif-decode");
    let (input, output) = (dir.join("in.avif"), dir.join("out.png"));
    std::fs::write(&input, bytes).unwrap();
    // ffmpeg shows an AVIF's alpha as a second (gray) stream: merge it when there is one.
    let run = |merge_alpha: bool| {
        let mut command = std::process::Command::new(ffmpeg_path());
        command.args(["-nostdin", "-hide_banner", "-loglevel", "error", "-i"]).arg(&input);
        if merge_alpha {
            command.args(["-filter_complex", "[0:v:0][0:v:1]alphamerge"]);
        }
        command.args(["-frames:v", "1", "-pix_fmt", "rgba", "-y"]).arg(&output);
        command.stderr(std::process::Stdio::null()).status().expect("run ffmpeg").success()
    };
    assert!(run(true) || run(false), "ffmpeg could not decode the AVIF");
    let image = image::open(&output).expect("decoded AVIF");
    std::fs::remove_dir_all(&dir).ok();
    image
}

/// Peak signal-to-noise ratio between two RGB renderings of the same size, in dB.
pub fn psnr(a: &image::RgbImage, b: &image::RgbImage) -> f64 {
    assert_eq!(a.dimensions(), b.dimensions());
    let mse = a.as_raw().iter().zip(b.as_raw()).map(|(p, q)| (f64::from(*p) - f64::from(*q)).powi(2)).sum::<f64>()
        / a.as_raw().len() as f64;
    10.0 * (255.0f64 * 255.0 / mse.max(1e-9)).log10()
}

/// The key S3 reads from a URL path (CloudFront passes the path on as the viewer sent it): a `+`
/// is a space, then percent-escapes are decoded. The emulator reads `+` literally, so tests read
/// URLs the way S3 does and then ask the emulator for that key.
pub fn key_s3_reads(url_path: &str) -> String {
    let path = url_path.strip_prefix('/').unwrap_or(url_path).replace('+', " ");
    percent_encoding::percent_decode_str(&path).decode_utf8().expect("UTF-8 path").into_owned()
}

/// Every URL in a `<picture>` or `<video>` element (`src`, `poster` and each `srcset` entry).
pub fn page_urls(html: &str) -> Vec<String> {
    let mut urls = Vec::new();
    for attribute in [" src=\"", " poster=\"", " srcset=\""] {
        for (at, _) in html.match_indices(attribute) {
            let value = &html[at + attribute.len()..];
            let value = &value[..value.find('"').expect("attribute is closed")];
            if attribute == " srcset=\"" {
                urls.extend(value.split(", ").map(|entry| entry.split(' ').next().unwrap().to_string()));
            } else {
                urls.push(value.to_string());
            }
        }
    }
    urls
}

pub fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

pub struct Harness {
    pub clients: LocalClients,
    pub wiring: Wiring,
    pub processor: Processor,
}

/// A work directory per test, so tests can check that it is left empty.
pub fn work_root(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("media-edge-test-{}", media_edge_local::unique_name(label)));
    std::fs::create_dir_all(&dir).expect("work dir");
    dir
}

/// The ffmpeg `make` installs for tests (the same build the Lambda layer ships).
pub fn ffmpeg_path() -> std::path::PathBuf {
    std::env::var_os("FFMPEG_PATH")
        .map(std::path::PathBuf::from)
        .expect("FFMPEG_PATH must name the project's ffmpeg: run the tests with `make test`")
}

impl Harness {
    /// Provisions the wiring on the emulator named by `AWS_ENDPOINT_URL` (`make test` starts one).
    pub async fn new(label: &str) -> Harness {
        Self::with_settings(label, RenderSettings::default()).await
    }

    /// Default settings with the project's ffmpeg.
    pub fn default_settings() -> RenderSettings {
        let mut settings = RenderSettings::default();
        settings.video.ffmpeg_path = ffmpeg_path();
        settings
    }

    /// Job directories left in this test's work root (should be none between jobs).
    pub fn leftover_job_dirs(&self) -> Vec<std::path::PathBuf> {
        std::fs::read_dir(&self.processor.config.work_root)
            .map(|entries| entries.flatten().map(|e| e.path()).collect())
            .unwrap_or_default()
    }

    pub async fn with_settings(label: &str, render: RenderSettings) -> Harness {
        Self::deployed(label, render, &[]).await
    }

    /// A stack deployed with these template parameters (`InputPrefix`, `ProcessorBatchSize`, …).
    pub async fn with_parameters(label: &str, parameters: &[(&str, &str)]) -> Harness {
        Self::deployed(label, RenderSettings::default(), parameters).await
    }

    async fn deployed(label: &str, render: RenderSettings, parameters: &[(&str, &str)]) -> Harness {
        assert!(
            std::env::var("AWS_ENDPOINT_URL").is_ok(),
            "integration tests need the local AWS emulator: run them with `make test`"
        );
        let clients = LocalClients::from_env().await;
        let wiring =
            deploy_with(&clients, label, parameters).await.expect("deploy infra/template.yaml on the emulator");
        // The processor as deployed (buckets, prefixes, topic from the function's environment),
        // with the render settings this test is about and a work directory of its own.
        let environment = wiring.function_environment("ImageProcessorFunction").expect("the deployed processor");
        let deployed = ProcessorConfig::from_vars(&|name: &str| environment.get(name).cloned())
            .expect("the deployed processor's environment");
        let config = ProcessorConfig { render, work_root: work_root(label), ..deployed };
        let status = StatusPublisher::new(clients.sns.clone(), wiring.status_topic_arn.clone());
        let processor = Processor::new(clients.s3.clone(), clients.sqs.clone(), status, config);
        Harness { clients, wiring, processor }
    }

    pub async fn upload(&self, key: &str, bytes: Vec<u8>) {
        self.upload_with_metadata(key, bytes, &[]).await
    }

    /// An upload with user metadata (`x-amz-meta-<name>: <value>`).
    pub async fn upload_with_metadata(&self, key: &str, bytes: Vec<u8>, metadata: &[(&str, &str)]) {
        let metadata = metadata.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        self.clients
            .s3
            .put_object()
            .bucket(&self.wiring.names.originals_bucket)
            .key(key)
            .set_metadata(Some(metadata))
            .body(ByteStream::from(bytes))
            .send()
            .await
            .expect("upload original");
    }

    /// Runs the processor over the jobs queue until it is empty, as Lambda's event source would.
    pub async fn run_jobs(&self) -> PollReport {
        self.run_jobs_with(&self.processor, 20).await
    }

    /// Batches as the deployed mapping makes them (`BatchSize`); `max_batches` counts batches of
    /// ten, so a smaller deployed batch size gets proportionally more.
    pub async fn run_jobs_with(&self, processor: &Processor, max_batches: usize) -> PollReport {
        let batch_size = self.wiring.jobs_batch_size().expect("the deployed jobs mapping");
        let batches = max_batches * 10 / batch_size.clamp(1, 10) as usize;
        poll_queue_in_batches_of(
            &self.clients.sqs,
            &self.wiring.jobs_queue_url,
            &self.wiring.jobs_queue_arn,
            batch_size,
            Duration::from_secs(1),
            batches,
            |event| async move { handle_batch(event, processor, None).await },
        )
        .await
        .expect("poll jobs queue")
    }

    pub async fn handle(&self, event: SqsEvent) -> SqsBatchResponse {
        handle_batch(event, &self.processor, None).await
    }

    /// Status events published so far (received from a queue subscribed to the status topic).
    pub async fn statuses(&self) -> Vec<StatusEvent> {
        let bodies = media_edge_local::drain(&self.clients.sqs, &self.wiring.status_queue_url, Duration::from_secs(2))
            .await
            .expect("drain status queue");
        bodies
            .iter()
            .map(|body| {
                let message = sns_message(body).expect("SNS envelope");
                StatusEvent::from_json(&message).expect("valid status event")
            })
            .collect()
    }

    pub async fn variant_bytes(&self, key: &str) -> (Vec<u8>, aws_sdk_s3::operation::get_object::GetObjectOutput) {
        let object = self
            .clients
            .s3
            .get_object()
            .bucket(&self.wiring.names.variants_bucket)
            .key(key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("variant {key}: {e:?}"));
        let mut head = object;
        let body = std::mem::replace(&mut head.body, ByteStream::from_static(b""));
        (body.collect().await.expect("read variant").into_bytes().to_vec(), head)
    }

    pub async fn manifest(&self, source_key: &str) -> Manifest {
        let key = self.processor.config.layout.manifest_key(source_key);
        let (bytes, _) = self.variant_bytes(&key).await;
        serde_json::from_slice(&bytes).expect("manifest JSON")
    }

    /// Every URL a page gets from the manifest (`picture`, `video` and `video_media`), read as S3
    /// reads a path, names a file of the manifest and answers with its bytes. Returns how many URLs
    /// were checked.
    pub async fn assert_page_urls_resolve(&self, manifest: &Manifest) -> usize {
        let mut html =
            format!("{}{}", manifest.picture.as_deref().unwrap_or(""), manifest.video.as_deref().unwrap_or(""));
        manifest.video_media.iter().for_each(|v| html.push_str(&v.video));
        let urls = page_urls(&html);
        assert!(!urls.is_empty(), "no URLs in {html}");
        for url in &urls {
            let key = key_s3_reads(url);
            let listed = manifest.variants.iter().find_map(|v| {
                v.formats.iter().find(|f| f.key == key).map(|f| f.bytes).or_else(|| {
                    let served =
                        v.skipped.iter().find(|s| s.key.as_deref() == Some(key.as_str()))?.serves.as_deref()?;
                    v.formats.iter().find(|f| f.format == served).map(|f| f.bytes)
                })
            });
            let bytes =
                listed.unwrap_or_else(|| panic!("{url} reaches S3 as {key:?}, which the manifest does not name"));
            let object = self.clients.s3.get_object().bucket(&self.wiring.names.variants_bucket).key(&key).send().await;
            let object = object.unwrap_or_else(|e| panic!("{url} reaches S3 as {key:?}, which does not exist: {e:?}"));
            let body = object.body.collect().await.expect("read variant").into_bytes();
            assert_eq!(body.len() as u64, bytes, "{url}");
        }
        urls.len()
    }

    pub async fn variant_keys(&self) -> Vec<String> {
        let listed = self
            .clients
            .s3
            .list_objects_v2()
            .bucket(&self.wiring.names.variants_bucket)
            .send()
            .await
            .expect("list variants");
        listed.contents().iter().filter_map(|o| o.key().map(str::to_string)).collect()
    }

    /// A sample event from `events/`, pointed at this test's originals bucket.
    pub fn sample_event_for_this_test(&self, name: &str) -> SqsEvent {
        let text = sample_event(name).replace("media-edge-originals-example", &self.wiring.names.originals_bucket);
        serde_json::from_str(&text).expect("sample event is a valid SQS event")
    }

    /// Removes the `s3:TestEvent` S3 sent when the notification was configured, so a test that
    /// receives jobs itself gets only its uploads.
    pub async fn discard_test_event(&self) {
        let bodies = media_edge_local::drain(&self.clients.sqs, &self.wiring.jobs_queue_url, Duration::from_secs(1))
            .await
            .expect("drain jobs queue");
        assert!(bodies.iter().all(|b| b.contains("s3:TestEvent")), "only the TestEvent was queued: {bodies:?}");
    }

    /// Receives up to `n` messages from the jobs queue (long-polling), leaving them in flight.
    pub async fn receive_jobs(&self, n: usize) -> Vec<aws_sdk_sqs::types::Message> {
        let mut messages = Vec::new();
        for _ in 0..10 {
            let received = self
                .clients
                .sqs
                .receive_message()
                .queue_url(&self.wiring.jobs_queue_url)
                .max_number_of_messages((n - messages.len()) as i32)
                .wait_time_seconds(1)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .send()
                .await
                .expect("receive jobs");
            messages.extend(received.messages().iter().cloned());
            if messages.len() >= n {
                break;
            }
        }
        messages
    }

    pub async fn dlq_depth(&self) -> usize {
        media_edge_local::drain(&self.clients.sqs, &self.wiring.jobs_dlq_url, Duration::from_secs(1))
            .await
            .expect("drain DLQ")
            .len()
    }
}
