//! `media-edge doctor smoke --stack NAME`: the live stack, end to end, with probe objects only.
//!
//! claim a run → probes uploaded (and one deleted at once) → their status events (a queue of the
//! run's own on the status topic) → every file their manifests name, through the distribution →
//! the probe release channel → the alarms' metrics → everything the run made removed (unless
//! `--keep`), also when a check fails or the run is interrupted.

pub mod alarms;
pub mod http;
pub mod media;
pub mod probes;
pub mod release;
mod s3;
pub mod stack;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use aws_sdk_s3::primitives::ByteStream;
use media_edge_shared::aws::describe_sdk_error;
use media_edge_shared::status::{Outcome, StatusEvent};
use release_control::{EdgeStore, ReleaseControl};
use serde::Deserialize;
use sha2::{Digest, Sha256};

use crate::checklist::{Check, Checklist};
use crate::error::DoctorError;
use http::{url_path, Hello, Http};
use probes::Probe;
use s3::{delete_keys, list_keys};
use stack::Stack;

/// Every run's objects live under this, below the stack's input prefix.
pub const RUN_PREFIX: &str = "media-edge-smoke/";

pub struct SmokeClients {
    pub cloudformation: aws_sdk_cloudformation::Client,
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub sqs: aws_sdk_sqs::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub kvs: aws_sdk_cloudfrontkeyvaluestore::Client,
}

#[derive(Debug, Clone)]
pub struct SmokeOptions {
    pub stack: String,
    /// Where viewers reach the distribution; `https://<DistributionDomainName>` when absent.
    pub base_url: Option<String>,
    /// How long the probes may take through the pipeline.
    pub timeout: Duration,
    /// How long to wait for the alarms' metrics to appear after the traffic.
    pub metrics_wait: Duration,
    pub keep: bool,
    /// Decodes AVIF and MP4 fully when present.
    pub ffmpeg: Option<PathBuf>,
    /// Progress lines on stderr.
    pub progress: bool,
}

/// What a run made, for the clean-up.
#[derive(Debug, Default)]
struct Made {
    originals: Vec<String>,
    variant_prefixes: Vec<String>,
    queue_url: Option<String>,
    subscription_arn: Option<String>,
    release: bool,
}

struct Run<'a> {
    clients: &'a SmokeClients,
    options: &'a SmokeOptions,
    stack: Stack,
    id: String,
    base_url: String,
    originals_bucket: String,
    variants_bucket: String,
    made: Arc<Mutex<Made>>,
    release: release::ReleaseProbe,
    work_dir: PathBuf,
}

/// Runs every smoke check, then removes what the run made (unless `keep`). `interrupt` ends the
/// checks early (Ctrl-C): the clean-up still runs.
pub async fn smoke(
    clients: &SmokeClients,
    options: &SmokeOptions,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<Checklist, DoctorError> {
    let stack = Stack::describe(&clients.cloudformation, &options.stack).await?;
    let run = Run::new(clients, options, stack)?;
    let mut list = Checklist::default();
    let outcome = tokio::select! {
        checks = run.checks() => checks,
        () = interrupt => Err(DoctorError::Usage("interrupted".into())),
    };
    match outcome {
        Ok(checks) => list.checks.extend(checks),
        Err(e) => list.push(Check::fail("smoke", e.to_string(), "fix the cause above, then run smoke again")),
    }
    if options.keep {
        list.push(Check::note("cleanup", format!("--keep: the probes stay ({})", run.where_things_are())));
    } else {
        list.push(run.clean_up().await);
    }
    Ok(list)
}

impl<'a> Run<'a> {
    fn new(clients: &'a SmokeClients, options: &'a SmokeOptions, stack: Stack) -> Result<Self, DoctorError> {
        let started = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        // Unique among runs at once (tests run several in one process): time, process, run.
        static RUNS: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let run = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let id = format!("{}-{}-{run}", started.as_secs(), std::process::id());
        let base_url = match &options.base_url {
            Some(url) => url.trim_end_matches('/').to_string(),
            None => format!("https://{}", stack.output("DistributionDomainName")?),
        };
        let edge = match stack.output("ReleaseRouting")? {
            "edge" => {
                Some(EdgeStore { client: clients.kvs.clone(), arn: stack.output("ReleaseStoreArn")?.to_string() })
            }
            _ => None,
        };
        // Edge routing: the next request after the store has propagated (AWS gives no figure; a
        // minute is what the docs allow browsers too). Origin: the router's 5 s config cache,
        // then the 60 s shared cache.
        let rollback_limit = if edge.is_some() { Duration::from_secs(60) } else { Duration::from_secs(65) };
        let cohort_count: u16 = stack
            .output("CohortCount")?
            .parse()
            .map_err(|_| DoctorError::Usage(format!("stack {}'s CohortCount output is not a number", stack.name)))?;
        let facts = crate::facts::DeployFacts::of_this_checkout()?;
        let release = release::ReleaseProbe {
            control: ReleaseControl {
                s3: clients.s3.clone(),
                bucket: stack.output("ReleasesBucketName")?.to_string(),
                channel: facts.probe_channel.clone(),
                cohort_count,
                actor: "media-edge doctor smoke".into(),
                edge,
            },
            base_url: base_url.clone(),
            rollback_limit,
            run: id.clone(),
        };
        Ok(Run {
            clients,
            options,
            originals_bucket: stack.output("OriginalsBucketName")?.to_string(),
            variants_bucket: stack.output("VariantsBucketName")?.to_string(),
            work_dir: std::env::temp_dir().join(format!("media-edge-smoke-{id}")),
            stack,
            id,
            base_url,
            made: Arc::new(Mutex::new(Made::default())),
            release,
        })
    }

    fn progress(&self, line: &str) {
        if self.options.progress {
            eprintln!("smoke: {line}");
        }
    }

    fn made(&self) -> std::sync::MutexGuard<'_, Made> {
        self.made.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn input_prefix(&self) -> &str {
        self.stack.parameter("InputPrefix").unwrap_or("uploads/")
    }

    fn key_of(&self, probe: &Probe) -> String {
        format!("{}{RUN_PREFIX}{}/{}", self.input_prefix(), self.id, probe.name)
    }

    fn where_things_are(&self) -> String {
        format!(
            "s3://{}/{}{RUN_PREFIX}{}/, the variants next to them in s3://{}, queue {} (run {})",
            self.originals_bucket,
            self.input_prefix(),
            self.id,
            self.variants_bucket,
            self.made().queue_url.clone().unwrap_or_default(),
            self.id
        )
    }

    async fn checks(&self) -> Result<Vec<Check>, DoctorError> {
        let mut checks = Vec::new();
        self.progress(&format!("stack {}, distribution {}", self.stack.name, self.base_url));
        let queue = self.listen().await?;
        let probes = probes::probes()?;
        let gone = probes::gone()?;
        for probe in probes.iter().chain([&gone]) {
            self.upload(probe).await?;
        }
        // Deleted before the pipeline reads it, as an upload that was removed again.
        self.delete_original(&self.key_of(&gone)).await?;
        self.progress(&format!(
            "uploaded {} probes under {}{RUN_PREFIX}{}/",
            probes.len() + 1,
            self.input_prefix(),
            self.id
        ));
        let mut wanted: Vec<String> = probes.iter().chain([&gone]).map(|p| self.key_of(p)).collect();
        let mut statuses = self.wait_for_statuses(&queue, &wanted).await?;
        // The pipeline may have read the deleted probe before the delete: send its job again, now
        // that it is gone for sure (the message S3 sent).
        let gone_key = self.key_of(&gone);
        if statuses.get(&gone_key).is_some_and(|s| s.outcome != Outcome::Failed) {
            self.progress("the deleted probe was processed before the delete; sending its job again");
            self.resend(&gone_key, gone.bytes.len() as u64).await?;
            statuses.remove(&gone_key);
            wanted = vec![gone_key.clone()];
            statuses.extend(self.wait_for_statuses(&queue, &wanted).await?);
        }
        let http = Http::new(Hello::Default)?;
        for probe in &probes {
            let key = self.key_of(probe);
            checks.push(match statuses.get(&key) {
                Some(status) => self.served(probe, status, &http).await,
                None => Check::fail(
                    &format!("smoke-{}", probe.label),
                    format!("no status for {key} within {} s", self.options.timeout.as_secs()),
                    "the processor's logs; the jobs queue and its DLQ (JobsQueueUrl, JobsDeadLetterQueueUrl)",
                ),
            });
        }
        checks.push(gone_verdict(statuses.get(&gone_key), &gone_key));
        self.made().release = true;
        self.progress("release routing on the probe channel");
        checks.extend(self.release.checks(&http, &self.work_dir).await);
        checks.push(self.release.fingerprint().await);
        self.progress("the alarms' metrics");
        checks.extend(alarms::check(&self.clients.cloudwatch, &self.stack.alarms, self.options.metrics_wait).await);
        Ok(checks)
    }

    /// A queue of the run's own, subscribed to the status topic.
    async fn listen(&self) -> Result<String, DoctorError> {
        let aws = |what: &str, e: String| DoctorError::Aws(format!("{what}: {e}"));
        let topic = self.stack.output("StatusTopicArn")?.to_string();
        let name = format!("media-edge-smoke-{}", self.id);
        let created = self
            .clients
            .sqs
            .create_queue()
            .queue_name(&name)
            .send()
            .await
            .map_err(|e| aws("creating the run's status queue", describe_sdk_error(&e)))?;
        let url = created.queue_url().unwrap_or_default().to_string();
        self.made().queue_url = Some(url.clone());
        let attributes = self
            .clients
            .sqs
            .get_queue_attributes()
            .queue_url(&url)
            .attribute_names(aws_sdk_sqs::types::QueueAttributeName::QueueArn)
            .send()
            .await
            .map_err(|e| aws("reading the status queue", describe_sdk_error(&e)))?;
        let arn = attributes
            .attributes()
            .and_then(|a| a.get(&aws_sdk_sqs::types::QueueAttributeName::QueueArn))
            .cloned()
            .unwrap_or_default();
        let policy = serde_json::json!({
            "Version": "2012-10-17",
            "Statement": [{
                "Effect": "Allow",
                "Principal": {"Service": "sns.amazonaws.com"},
                "Action": "sqs:SendMessage",
                "Resource": arn,
                "Condition": {"ArnEquals": {"aws:SourceArn": topic}},
            }],
        });
        self.clients
            .sqs
            .set_queue_attributes()
            .queue_url(&url)
            .attributes(aws_sdk_sqs::types::QueueAttributeName::Policy, policy.to_string())
            .send()
            .await
            .map_err(|e| aws("letting the status topic send to the run's queue", describe_sdk_error(&e)))?;
        let subscribed = self
            .clients
            .sns
            .subscribe()
            .topic_arn(&topic)
            .protocol("sqs")
            .endpoint(&arn)
            .return_subscription_arn(true)
            .send()
            .await
            .map_err(|e| aws("subscribing to the status topic", describe_sdk_error(&e)))?;
        self.made().subscription_arn = subscribed.subscription_arn().map(str::to_string);
        Ok(url)
    }

    async fn upload(&self, probe: &Probe) -> Result<(), DoctorError> {
        let key = self.key_of(probe);
        self.made().originals.push(key.clone());
        self.clients
            .s3
            .put_object()
            .bucket(&self.originals_bucket)
            .key(&key)
            .content_type(probe.content_type)
            .body(ByteStream::from(probe.bytes.clone()))
            .send()
            .await
            .map_err(|e| DoctorError::Aws(format!("uploading {key}: {}", describe_sdk_error(&e))))?;
        Ok(())
    }

    async fn delete_original(&self, key: &str) -> Result<(), DoctorError> {
        delete_keys(&self.clients.s3, &self.originals_bucket, &[key.to_string()]).await
    }

    async fn resend(&self, key: &str, size: u64) -> Result<(), DoctorError> {
        let jobs = self.stack.output("JobsQueueUrl")?;
        let body = media_edge_shared::s3_event::upload_notification(
            &self.originals_bucket,
            key,
            size,
            "deleted",
            &media_edge_shared::status::now_rfc3339(),
            "media-edge-doctor",
            &format!("media-edge-doctor-{}", self.id),
            None,
        );
        self.clients
            .sqs
            .send_message()
            .queue_url(jobs)
            .message_body(body)
            .send()
            .await
            .map_err(|e| DoctorError::Aws(format!("sending the deleted probe's job: {}", describe_sdk_error(&e))))?;
        Ok(())
    }

    /// The status event of each wanted key (the last one seen), until all came or the timeout.
    async fn wait_for_statuses(
        &self,
        queue: &str,
        wanted: &[String],
    ) -> Result<BTreeMap<String, StatusEvent>, DoctorError> {
        let started = Instant::now();
        let mut found: BTreeMap<String, StatusEvent> = BTreeMap::new();
        let mut last_report = Instant::now();
        while found.len() < wanted.len() && started.elapsed() < self.options.timeout {
            let left = self.options.timeout.saturating_sub(started.elapsed());
            let received = self
                .clients
                .sqs
                .receive_message()
                .queue_url(queue)
                .max_number_of_messages(10)
                .wait_time_seconds(left.as_secs().clamp(1, 5) as i32)
                .send()
                .await
                .map_err(|e| DoctorError::Aws(format!("reading the status queue: {}", describe_sdk_error(&e))))?;
            for message in received.messages() {
                if let Some(event) = status_of(message.body().unwrap_or_default()) {
                    if event.source.bucket.as_deref() == Some(self.originals_bucket.as_str())
                        && wanted.contains(&event.source.key)
                    {
                        found.insert(event.source.key.clone(), event);
                    }
                }
                if let Some(handle) = message.receipt_handle() {
                    let _ = self.clients.sqs.delete_message().queue_url(queue).receipt_handle(handle).send().await;
                }
            }
            if last_report.elapsed() >= Duration::from_secs(10) {
                last_report = Instant::now();
                self.progress(&format!(
                    "{} of {} statuses after {} s",
                    found.len(),
                    wanted.len(),
                    started.elapsed().as_secs()
                ));
            }
        }
        Ok(found)
    }

    /// Every file the probe's manifest names, through the distribution.
    async fn served(&self, probe: &Probe, status: &StatusEvent, http: &Http) -> Check {
        let id = format!("smoke-{}", probe.label);
        if status.outcome != Outcome::Processed {
            let reason = status.failure.as_ref().map(|f| f.reason.as_str()).unwrap_or_default();
            return Check::fail(
                &id,
                format!("{} was {:?}: {reason}", probe.name, status.outcome),
                "the processor's logs for this key",
            );
        }
        let Some(manifest_key) = &status.manifest_key else {
            return Check::fail(&id, format!("{}: the status names no manifest", probe.name), "the processor's logs");
        };
        if let Some(parent) = manifest_key.rsplit_once('/').and_then(|(dir, _)| dir.rsplit_once('/')).map(|(p, _)| p) {
            let prefix = format!("{parent}/");
            let mut made = self.made();
            if !made.variant_prefixes.contains(&prefix) {
                made.variant_prefixes.push(prefix);
            }
        }
        match self.verify_manifest(manifest_key, http).await {
            Ok(report) if report.problems.is_empty() => Check::pass(
                &id,
                format!(
                    "{}: {} files through the distribution ({}), {} negotiated URLs × 3 Accepts: status, type, Vary, \
                     Cache-Control and bytes as stored; decoded{}",
                    probe.name,
                    report.files,
                    report.formats.join(", "),
                    report.negotiated,
                    if report.by_ffmpeg { " (AVIF and MP4 by ffmpeg)" } else { " (AVIF and MP4 by structure)" }
                ),
            ),
            Ok(report) => Check::fail(
                &id,
                format!("{}: {}", probe.name, report.problems.iter().take(6).cloned().collect::<Vec<_>>().join("; ")),
                "docs/deploying.md#doctor: the distribution's behaviours, its response headers policy and the \
                 format negotiation function",
            ),
            Err(e) => Check::fail(
                &id,
                format!("{}: {e}", probe.name),
                "run smoke again; if it persists, the stack's permissions",
            ),
        }
    }

    async fn stored(&self, key: &str) -> Result<(Vec<u8>, Option<String>), DoctorError> {
        let object = self.clients.s3.get_object().bucket(&self.variants_bucket).key(key).send().await.map_err(|e| {
            DoctorError::Aws(format!("reading s3://{}/{key}: {}", self.variants_bucket, describe_sdk_error(&e)))
        })?;
        let cache_control = object.cache_control().map(str::to_string);
        let bytes = object
            .body
            .collect()
            .await
            .map_err(|e| DoctorError::Aws(format!("reading s3://{}/{key}: {e}", self.variants_bucket)))?
            .into_bytes()
            .to_vec();
        Ok((bytes, cache_control))
    }

    async fn verify_manifest(&self, manifest_key: &str, http: &Http) -> Result<ServedReport, DoctorError> {
        let mut report = ServedReport::default();
        let (manifest_bytes, manifest_cache) = self.stored(manifest_key).await?;
        let url = format!("{}/{}", self.base_url, url_path(manifest_key));
        let r = http.get(&url, &[]).await?;
        report.compare(manifest_key, "manifest", &r, &manifest_bytes, manifest_cache.as_deref(), "application/json");
        let manifest: Manifest = serde_json::from_slice(&manifest_bytes)
            .map_err(|e| DoctorError::Aws(format!("the manifest {manifest_key} is not one: {e}")))?;
        for variant in &manifest.variants {
            let mut by_format: BTreeMap<&str, Vec<u8>> = BTreeMap::new();
            for file in &variant.formats {
                let (bytes, cache) = self.stored(&file.key).await?;
                let r = http.get(&format!("{}/{}", self.base_url, url_path(&file.key)), &[]).await?;
                report.files += 1;
                if !report.formats.contains(&file.format) {
                    report.formats.push(file.format.clone());
                }
                if report.compare(&file.key, &file.format, &r, &bytes, cache.as_deref(), &file.content_type) {
                    match media::decode(&file.format, &r.body, self.options.ffmpeg.as_deref()) {
                        Ok(decoded) => {
                            report.by_ffmpeg |= decoded.by == "ffmpeg";
                            let (w, h) = (decoded.width, decoded.height);
                            // Video sizes are rounded to even numbers by the encoder.
                            let close = |a: u32, b: u32| if file.format == "mp4" { a.abs_diff(b) <= 1 } else { a == b };
                            if !close(w, variant.width) || !close(h, variant.height) {
                                report.problems.push(format!(
                                    "{}: {w}×{h}, the manifest says {}×{}",
                                    file.key, variant.width, variant.height
                                ));
                            }
                            if file.format == "mp4" && decoded.frames.unwrap_or(0) < 2 {
                                report.problems.push(format!("{}: {:?} frames", file.key, decoded.frames));
                            }
                        }
                        Err(e) => report.problems.push(format!("{} does not decode: {e}", file.key)),
                    }
                }
                by_format.insert(file.format.as_str(), bytes);
            }
            // The variant's one URL: the viewer's Accept picks the format.
            let Some(fallback_key) = &variant.key else { continue };
            let Some(fallback) = variant.formats.iter().find(|f| &f.key == fallback_key) else { continue };
            if !(by_format.contains_key("avif") || by_format.contains_key("webp")) {
                continue;
            }
            report.negotiated += 1;
            let url = format!("{}/{}", self.base_url, url_path(fallback_key));
            let accepts = [
                (
                    "image/avif,image/webp,image/apng,image/*,*/*;q=0.8",
                    if by_format.contains_key("avif") { "avif" } else { "webp" },
                ),
                (
                    "image/webp,image/*,*/*;q=0.8",
                    if by_format.contains_key("webp") { "webp" } else { fallback.format.as_str() },
                ),
                ("", fallback.format.as_str()),
            ];
            for (accept, expected) in accepts {
                let headers: Vec<(&str, &str)> = if accept.is_empty() { vec![] } else { vec![("accept", accept)] };
                let r = http.get(&url, &headers).await?;
                let want = by_format.get(expected).map(Vec::as_slice).unwrap_or_default();
                let label = if accept.is_empty() { "no Accept".to_string() } else { format!("Accept {accept}") };
                if r.status != 200 || digest(&r.body) != digest(want) {
                    report
                        .problems
                        .push(format!("{fallback_key} with {label}: {} and not the {expected} file", r.status));
                }
                if !r.header("vary").is_some_and(|v| v.to_ascii_lowercase().contains("accept")) {
                    report.problems.push(format!("{fallback_key} with {label}: no Vary: Accept"));
                }
            }
        }
        Ok(report)
    }

    async fn clean_up(&self) -> Check {
        let mut problems = Vec::new();
        let made = std::mem::take(&mut *self.made());
        for key in &made.originals {
            if let Err(e) = self.delete_original(key).await {
                problems.push(e.to_string());
            }
        }
        for prefix in &made.variant_prefixes {
            match list_keys(&self.clients.s3, &self.variants_bucket, prefix).await {
                Ok(keys) => {
                    if let Err(e) = delete_keys(&self.clients.s3, &self.variants_bucket, &keys).await {
                        problems.push(e.to_string());
                    }
                }
                Err(e) => problems.push(e.to_string()),
            }
        }
        if let Some(arn) = &made.subscription_arn {
            if let Err(e) = self.clients.sns.unsubscribe().subscription_arn(arn).send().await {
                problems.push(format!("unsubscribing {arn}: {}", describe_sdk_error(&e)));
            }
        }
        if let Some(url) = &made.queue_url {
            if let Err(e) = self.clients.sqs.delete_queue().queue_url(url).send().await {
                problems.push(format!("deleting {url}: {}", describe_sdk_error(&e)));
            }
        }
        if made.release {
            if let Err(e) = self.release.remove().await {
                problems.push(e.to_string());
            }
        }
        let _ = std::fs::remove_dir_all(&self.work_dir);
        if problems.is_empty() {
            Check::pass(
                "cleanup",
                format!(
                    "removed {} probes, {} variant folders, the run's queue and subscription{} (run {})",
                    made.originals.len(),
                    made.variant_prefixes.len(),
                    if made.release { ", the probe channel" } else { "" },
                    self.id
                ),
            )
        } else {
            Check::fail("cleanup", format!("left behind: {}", problems.join("; ")), "remove them by hand (names above)")
        }
    }
}

fn status_of(body: &str) -> Option<StatusEvent> {
    let value: serde_json::Value = serde_json::from_str(body).ok()?;
    let payload = media_edge_shared::s3_event::sns_payload(value).ok()?;
    StatusEvent::from_value(payload).ok()
}

/// The deleted probe must end as gone (a permanent failure saying so): "forbidden" would mean the
/// processor cannot list the bucket, and every deleted upload would be retried as our fault.
pub fn gone_verdict(status: Option<&StatusEvent>, key: &str) -> Check {
    let id = "smoke-gone";
    let Some(status) = status else {
        return Check::fail(id, format!("no status for the deleted probe {key}"), "the processor's logs for this key");
    };
    match (&status.outcome, &status.failure) {
        (Outcome::Failed, Some(f))
            if f.class == media_edge_shared::failure::FailureClass::Permanent
                && f.reason.contains("no longer exists") =>
        {
            Check::pass(id, format!("an upload deleted before processing ends as gone: {:?}", f.reason))
        }
        (Outcome::Failed, Some(f)) => Check::fail(
            id,
            format!("the deleted probe failed as {:?}: {:?} (not \"gone\")", f.class, f.reason),
            "the processor needs s3:ListBucket on the originals bucket so that S3 answers 404, not 403, for a \
             missing key (ImageProcessorRole)",
        ),
        (outcome, _) => {
            Check::fail(id, format!("the deleted probe ended as {outcome:?}"), "the processor's logs for this key")
        }
    }
}

#[derive(Debug, Default)]
struct ServedReport {
    files: usize,
    negotiated: usize,
    formats: Vec<String>,
    by_ffmpeg: bool,
    problems: Vec<String>,
}

impl ServedReport {
    /// Status, Content-Type, Vary, Cache-Control and bytes as stored. `false`: not the object.
    fn compare(
        &mut self,
        key: &str,
        what: &str,
        r: &http::Response,
        stored: &[u8],
        cache: Option<&str>,
        content_type: &str,
    ) -> bool {
        let before = self.problems.len();
        if r.status != 200 {
            self.problems.push(format!("{key} ({what}): HTTP {}", r.status));
            return false;
        }
        if r.header("content-type").map(|t| t.split(';').next().unwrap_or_default().trim()) != Some(content_type) {
            self.problems.push(format!("{key}: Content-Type {:?}, stored as {content_type}", r.header("content-type")));
        }
        if what != "manifest" && !r.header("vary").is_some_and(|v| v.to_ascii_lowercase().contains("accept")) {
            self.problems.push(format!("{key}: no Vary: Accept"));
        }
        if r.header("cache-control") != cache || cache.is_none() {
            self.problems.push(format!("{key}: Cache-Control {:?}, stored {:?}", r.header("cache-control"), cache));
        }
        if digest(&r.body) != digest(stored) {
            self.problems.push(format!("{key}: {} bytes served, not the {} stored", r.body.len(), stored.len()));
            return false;
        }
        self.problems.len() == before || self.problems[before..].iter().all(|p| !p.contains("bytes served"))
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

#[derive(Debug, Deserialize)]
struct Manifest {
    variants: Vec<ManifestVariant>,
}

#[derive(Debug, Deserialize)]
struct ManifestVariant {
    width: u32,
    height: u32,
    #[serde(default)]
    key: Option<String>,
    formats: Vec<ManifestFile>,
}

#[derive(Debug, Deserialize)]
struct ManifestFile {
    format: String,
    key: String,
    content_type: String,
}
