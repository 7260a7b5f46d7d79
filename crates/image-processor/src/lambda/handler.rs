//! The Lambda handler: an SQS batch in, the messages to retry out (ReportBatchItemFailures).
//!
//! Each message runs in its own task, so a panic fails that message only. Permanent failures are
//! reported on the status topic and acknowledged; transient ones are handed back to SQS, which
//! retries them and dead-letters them after the queue's maxReceiveCount. Messages not started
//! before the deadline are sent to the queue again ([`crate::lambda::requeue`]), not handed back.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use media_edge_shared::s3_event::{parse_sqs_body, Notification, ObjectEvent};
use media_edge_shared::status::{FailureReport, Outcome, SourceObject, StatusEvent};
use media_edge_shared::Failure;
use tracing::{error, info, warn};

use std::time::Instant;

use std::sync::Arc;

use media_edge_shared::aws::StatusPublisher;
use media_edge_shared::metrics::{millis_since, MetricSet, Unit};

use crate::deadline::Deadline;
use crate::flow::{self, Job, PIPELINE_NAME};
use crate::lambda::config::ProcessorConfig;
use crate::lambda::fault_injection;
use crate::lambda::intake::{classify, Intake};
use crate::lambda::requeue::Requeue;
use crate::scratch::sweep_stale;
use crate::store::s3::{S3Sink, S3Source};

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

/// One uploaded original, from the originals bucket to the variants bucket.
async fn process_object(
    processor: &Processor,
    event: &ObjectEvent,
    deadline: Option<Deadline>,
) -> Result<StatusEvent, Failure> {
    fault_injection::panic_if_asked(&event.key);
    let config = &processor.config;
    let source = S3Source { s3: &processor.s3, bucket: &event.bucket, key: &event.key };
    let sink = S3Sink { s3: &processor.s3, bucket: &config.variants_bucket };
    let job = Job {
        settings: &config.render,
        layout: &config.layout,
        work_root: &config.work_root,
        deadline,
        asked_effort: event.asked_effort.as_deref(),
    };
    flow::process(&source, &sink, job).await
}

/// Whether SQS should delete the message or deliver it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Done,
    Retry,
}

/// `deadline` is [`crate::deadline::DEADLINE_MARGIN`] before the invocation times out (from the
/// Lambda context); ffmpeg is stopped before it.
pub async fn handle_batch(event: SqsEvent, processor: &Processor, deadline: Option<Instant>) -> SqsBatchResponse {
    // Messages are handled one at a time, so no job of ours is running: clear what a killed
    // invocation left in the (reused) work directory.
    sweep_stale(&processor.config.work_root);
    let mut response = SqsBatchResponse::default();
    let mut not_started = Vec::new();
    let mut first_job = true;
    for message in event.records {
        let message_id = message.message_id.clone().unwrap_or_default();
        if deadline.is_some_and(|d| Instant::now() >= d) {
            // Out of time: leave the rest rather than let the invocation time out, which would
            // return the whole batch, finished messages included.
            not_started.push(message);
            continue;
        }
        // Only the invocation's first job has all of its time (see `Deadline::full_invocation`).
        let job_deadline = deadline.map(|at| Deadline { at, full_invocation: first_job });
        first_job = false;
        let task_processor = processor.clone();
        let outcome = tokio::spawn(async move { handle_message(&task_processor, message, job_deadline).await }).await;
        let disposition = outcome.unwrap_or_else(|join_error| {
            error!(message_id, error = %join_error, "message handling panicked; will retry");
            Disposition::Retry
        });
        if disposition == Disposition::Retry {
            push_failure(&mut response, message_id);
        }
    }
    for message in not_started {
        let message_id = message.message_id.clone().unwrap_or_default();
        match processor.requeue.send_again(&message).await {
            Ok(()) => warn!(message_id, "invocation deadline reached; message sent again as a new message"),
            Err(failure) => {
                // Handing it back is the fallback: it costs a receive and a visibility timeout.
                error!(message_id, reason = %failure.reason, "could not send the message again; handed back");
                push_failure(&mut response, message_id);
            }
        }
    }
    response
}

fn push_failure(response: &mut SqsBatchResponse, message_id: String) {
    if message_id.is_empty() {
        error!("a message to retry has no messageId; SQS will redeliver it after the visibility timeout");
        return;
    }
    let mut failure = BatchItemFailure::default();
    failure.item_identifier = message_id;
    response.batch_item_failures.push(failure);
}

async fn handle_message(processor: &Processor, message: SqsMessage, deadline: Option<Deadline>) -> Disposition {
    let message_id = message.message_id.unwrap_or_default();
    let body = message.body.unwrap_or_default();
    match parse_sqs_body(&body) {
        Ok(Notification::Test) => {
            info!(message_id, "s3:TestEvent acknowledged");
            Disposition::Done
        }
        Ok(Notification::Objects(events)) => {
            let mut disposition = Disposition::Done;
            for event in &events {
                if handle_object(processor, event, deadline).await == Disposition::Retry {
                    disposition = Disposition::Retry;
                }
            }
            disposition
        }
        Err(envelope_error) => {
            // Retrying cannot make a malformed message readable: report it and let it go.
            warn!(message_id, error = %envelope_error, "unreadable message");
            let source =
                SourceObject { bucket: None, key: format!("sqs-message/{message_id}"), etag: None, version_id: None };
            report_failure(processor, source, &Failure::permanent(envelope_error.to_string())).await
        }
    }
}

async fn handle_object(processor: &Processor, event: &ObjectEvent, deadline: Option<Deadline>) -> Disposition {
    if let Intake::Skip(reason) = classify(event, &processor.config) {
        info!(bucket = %event.bucket, key = %event.key, reason, "event ignored");
        return Disposition::Done;
    }
    let result = process_object(processor, event, deadline).await;
    for set in outcome_metrics(&result, event.event_time.as_deref(), media_edge_shared::metrics::now_ms()) {
        set.emit();
    }
    match result {
        Ok(status) => {
            info!(
                key = %event.key,
                outcome = ?status.outcome,
                variants = status.variants.len(),
                input_bytes = status.input_bytes,
                output_bytes = status.output_bytes,
                duration_ms = status.duration_ms,
                "original done"
            );
            publish(processor, &status).await
        }
        Err(failure) if failure.is_transient() => {
            warn!(key = %event.key, reason = %failure.reason, "transient failure; will retry");
            Disposition::Retry
        }
        Err(failure) => {
            warn!(key = %event.key, reason = %failure.reason, "permanent failure; reported, not retried");
            let source = SourceObject {
                bucket: Some(event.bucket.clone()),
                key: event.key.clone(),
                etag: event.etag.clone(),
                version_id: event.version_id.clone(),
            };
            report_failure(processor, source, &failure).await
        }
    }
}

/// What one original's outcome reports as metrics (CloudWatch EMF): processed or failed by
/// class, bytes in and out by format, render and ffmpeg time, and time from upload to status.
fn outcome_metrics(result: &Result<StatusEvent, Failure>, event_time: Option<&str>, now_ms: u64) -> Vec<MetricSet> {
    let service = || MetricSet::new(PIPELINE_NAME);
    let since_upload = event_time.and_then(|t| millis_since(t, now_ms));
    let mut sets = Vec::new();
    match result {
        Ok(status) if status.outcome == Outcome::Processed => {
            let mut set = service()
                .value("OriginalsProcessed", 1.0, Unit::Count)
                .value("InputBytes", status.input_bytes as f64, Unit::Bytes)
                .value("RenderMs", status.duration_ms as f64, Unit::Milliseconds);
            if let Some(ms) = status.ffmpeg_ms {
                set = set.value("FfmpegMs", ms as f64, Unit::Milliseconds);
            }
            if let Some(ms) = since_upload {
                set = set.value("UploadToStatusMs", ms as f64, Unit::Milliseconds);
            }
            sets.push(set);
            let mut by_format: Vec<(&str, u64)> = Vec::new();
            for variant in &status.variants {
                let format = variant.content_type.rsplit('/').next().unwrap_or("other");
                match by_format.iter_mut().find(|(f, _)| *f == format) {
                    Some((_, bytes)) => *bytes += variant.bytes,
                    None => by_format.push((format, variant.bytes)),
                }
            }
            for (format, bytes) in by_format {
                sets.push(service().dimension("Format", format).value("OutputBytes", bytes as f64, Unit::Bytes));
            }
        }
        Ok(_) => {}
        Err(failure) => {
            let mut set = service().dimension("FailureClass", failure.class.to_string()).value(
                "OriginalsFailed",
                1.0,
                Unit::Count,
            );
            if let (Some(ms), false) = (since_upload, failure.is_transient()) {
                set = set.value("UploadToStatusMs", ms as f64, Unit::Milliseconds);
            }
            sets.push(set);
        }
    }
    sets
}

async fn report_failure(processor: &Processor, source: SourceObject, failure: &Failure) -> Disposition {
    let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Failed, source);
    status.failure = Some(FailureReport::from(failure));
    publish(processor, &status).await
}

/// A status that could not be published is not lost: the message is retried.
async fn publish(processor: &Processor, status: &StatusEvent) -> Disposition {
    match processor.status.publish(status).await {
        Ok(()) => Disposition::Done,
        Err(failure) => {
            error!(key = %status.source.key, reason = %failure.reason, "could not publish status; will retry");
            Disposition::Retry
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_edge_shared::status::VariantReport;

    fn variant(name: &str, content_type: &str, bytes: u64) -> VariantReport {
        VariantReport {
            name: name.into(),
            key: format!("k/{name}"),
            width: 1,
            height: 1,
            bytes,
            content_type: content_type.into(),
            duration_ms: None,
            fps: None,
        }
    }

    #[test]
    fn outcomes_become_metrics() {
        let source = SourceObject { bucket: None, key: "a.gif".into(), etag: None, version_id: None };
        let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Processed, source);
        status.input_bytes = 5_000_000;
        status.duration_ms = 900;
        status.ffmpeg_ms = Some(700);
        status.variants = vec![
            variant("poster", "image/jpeg", 100),
            variant("pc", "image/jpeg", 50),
            variant("video", "video/mp4", 400),
        ];
        let now = 1_796_119_210_000; // 10 s after the upload below
        let sets = outcome_metrics(&Ok(status), Some("2026-12-01T10:00:00Z"), now);
        let docs: Vec<serde_json::Value> = sets.iter().map(|s| s.to_emf(now)).collect();
        assert_eq!(docs.len(), 3, "{docs:#?}");
        assert_eq!(docs[0]["OriginalsProcessed"], 1.0);
        assert_eq!(docs[0]["FfmpegMs"], 700.0);
        assert_eq!(docs[0]["UploadToStatusMs"], 10_000.0);
        assert_eq!((docs[1]["Format"].as_str(), docs[1]["OutputBytes"].as_f64()), (Some("jpeg"), Some(150.0)));
        assert_eq!((docs[2]["Format"].as_str(), docs[2]["OutputBytes"].as_f64()), (Some("mp4"), Some(400.0)));

        let failed = outcome_metrics(&Err(Failure::permanent("corrupt")), None, now);
        let doc = failed[0].to_emf(now);
        assert_eq!((doc["FailureClass"].as_str(), doc["OriginalsFailed"].as_f64()), (Some("permanent"), Some(1.0)));
        assert_eq!(doc["_aws"]["CloudWatchMetrics"][0]["Dimensions"], serde_json::json!([["Service", "FailureClass"]]));
    }
}
