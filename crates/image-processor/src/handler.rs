//! The Lambda handler: an SQS batch in, the messages to retry out (ReportBatchItemFailures).
//!
//! Each message runs in its own task, so a panic fails that message only. Permanent failures are
//! reported on the status topic and acknowledged; transient ones are handed back to SQS, which
//! retries them and dead-letters them after the queue's maxReceiveCount. Messages not started
//! before the deadline are sent to the queue again ([`crate::requeue`]), not handed back.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent, SqsMessage};
use media_edge_shared::s3_event::{parse_sqs_body, Notification, ObjectEvent};
use media_edge_shared::status::{FailureReport, Outcome, SourceObject, StatusEvent};
use media_edge_shared::Failure;
use tracing::{error, info, warn};

use std::time::Instant;

use std::sync::Arc;

use media_edge_shared::aws::StatusPublisher;

use crate::config::ProcessorConfig;
use crate::flow::{self, Job, PIPELINE_NAME};
use crate::intake::{classify, Intake};
use crate::outputs::Deadline;
use crate::requeue::Requeue;
use crate::s3::{S3Sink, S3Source};
use crate::scratch::sweep_stale;

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
    let config = &processor.config;
    let source = S3Source { s3: &processor.s3, bucket: &event.bucket, key: &event.key };
    let sink = S3Sink { s3: &processor.s3, bucket: &config.variants_bucket };
    let job = Job { settings: &config.render, layout: &config.layout, work_root: &config.work_root, deadline };
    flow::process(&source, &sink, job).await
}

/// Whether SQS should delete the message or deliver it again.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Done,
    Retry,
}

/// `deadline` is when the invocation times out (from the Lambda context); ffmpeg is stopped before.
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
    match process_object(processor, event, deadline).await {
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
