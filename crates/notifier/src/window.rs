//! The scheduled path, which keeps Slack quiet under a promotion spike: once per digest window
//! (an EventBridge schedule), everything waiting in the notifier queue is read and reported as
//! one batch, so the channel gets at most one digest and one failure list per window, whether
//! 10 or 10,000 originals were processed in it.
//!
//! Messages are deleted only once the message that reports them is posted; the ones a failed post
//! covered are made visible again for the next window (after the queue's maxReceiveCount they
//! wait in the notifier DLQ, which has an alarm). A run that dies midway leaves its messages to
//! reappear after the queue's visibility timeout: reported late, never lost.

use std::time::{Duration, Instant};

use aws_lambda_events::event::sqs::SqsEvent;
use aws_sdk_sqs::types::{ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry};
use media_edge_shared::aws::classify_sdk_error;
use media_edge_shared::aws::sqs::lambda_message;
use media_edge_shared::env::{self, ConfigError, Vars};
use media_edge_shared::Failure;
use serde::Serialize;
use tracing::{info, warn};

use crate::config::NotifierConfig;
use crate::handler::{handle_batch, ChatbotPublisher};

/// SQS's largest receive and batch-delete.
const SQS_BATCH: usize = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowConfig {
    /// `NOTIFIER_QUEUE_URL`: the queue the status topic fills.
    pub queue_url: String,
    /// `MAX_MESSAGES_PER_WINDOW` (default 5,000): more waits for the next window, which bounds a
    /// run's time and memory (about a second per 250 messages).
    pub max_messages: usize,
}

impl WindowConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env::ProcessEnv)
    }

    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(WindowConfig {
            queue_url: env::required(vars, "NOTIFIER_QUEUE_URL")?,
            max_messages: env::parsed_or(vars, "MAX_MESSAGES_PER_WINDOW", 5_000)?.max(1),
        })
    }
}

/// What one window's run did; returned as the invocation's result and logged.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct WindowReport {
    /// Messages read from the queue.
    pub received: usize,
    /// Reported and deleted.
    pub acknowledged: usize,
    /// Covered by a message that could not be posted: back on the queue for the next window.
    pub returned: usize,
    /// Reported but not deleted (the delete failed): they come back after the visibility timeout
    /// and are reported again.
    pub not_deleted: usize,
    /// The run stopped reading at `max_messages` or its time budget with messages still waiting.
    pub more_waiting: bool,
}

/// One window: reads what is waiting (until the queue is empty, `config.max_messages`, or
/// `read_until`), reports it through [`handle_batch`], and settles every message it read.
/// Errs only when nothing could be read at all.
pub async fn run_window(
    sqs: &aws_sdk_sqs::Client,
    window: &WindowConfig,
    publisher: &ChatbotPublisher,
    config: &NotifierConfig,
    hour: &str,
    read_until: Instant,
) -> Result<WindowReport, Failure> {
    let mut report = WindowReport::default();
    let mut event = SqsEvent::default();
    let mut seen_empty = false;
    loop {
        if event.records.len() >= window.max_messages || Instant::now() >= read_until {
            report.more_waiting = true;
            break;
        }
        let wanted = (window.max_messages - event.records.len()).min(SQS_BATCH);
        let received = sqs
            .receive_message()
            .queue_url(&window.queue_url)
            .max_number_of_messages(wanted as i32)
            // A short wait, not a short poll: a short poll samples only some of SQS's servers and
            // can answer "empty" while messages wait.
            .wait_time_seconds(1)
            .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount)
            .send()
            .await;
        let received = match received {
            Ok(received) => received,
            Err(e) if event.records.is_empty() => return Err(classify_sdk_error("read the notifier queue", &e)),
            Err(e) => {
                // Report what was read; the rest waits for the next window.
                warn!(error = %classify_sdk_error("read the notifier queue", &e).reason, "stopped reading");
                report.more_waiting = true;
                break;
            }
        };
        if received.messages().is_empty() {
            // One empty answer after messages is confirmed by a second: under load the emulator
            // (and SQS, when a message's visibility lapses just then) can answer empty while one
            // still waits, and it would wait a whole window for the next digest.
            if event.records.is_empty() || seen_empty {
                break;
            }
            seen_empty = true;
            continue;
        }
        seen_empty = false;
        event.records.extend(received.messages().iter().map(|m| lambda_message(m, None)));
    }
    report.received = event.records.len();
    if event.records.is_empty() {
        return Ok(report);
    }

    let handles: Vec<(String, String)> = event
        .records
        .iter()
        .map(|m| (m.message_id.clone().unwrap_or_default(), m.receipt_handle.clone().unwrap_or_default()))
        .collect();
    let response = handle_batch(event, publisher, config, hour).await;
    let (returned, acknowledged): (Vec<_>, Vec<_>) =
        handles.into_iter().partition(|(id, _)| response.batch_item_failures.iter().any(|f| &f.item_identifier == id));
    report.returned = returned.len();
    report.not_deleted = delete(sqs, &window.queue_url, &acknowledged).await;
    report.acknowledged = acknowledged.len() - report.not_deleted;
    make_visible(sqs, &window.queue_url, &returned).await;
    info!(?report, "window reported");
    Ok(report)
}

/// Deletes the messages (batches of 10); returns how many were not deleted.
async fn delete(sqs: &aws_sdk_sqs::Client, queue_url: &str, messages: &[(String, String)]) -> usize {
    let mut not_deleted = 0;
    for chunk in messages.chunks(SQS_BATCH) {
        let entries: Vec<DeleteMessageBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, (_, handle))| {
                DeleteMessageBatchRequestEntry::builder().id(i.to_string()).receipt_handle(handle).build().ok()
            })
            .collect();
        not_deleted += chunk.len() - entries.len();
        match sqs.delete_message_batch().queue_url(queue_url).set_entries(Some(entries)).send().await {
            Ok(output) => not_deleted += output.failed().len(),
            Err(e) => {
                warn!(error = %classify_sdk_error("delete reported messages", &e).reason, "they will be reported again");
                not_deleted += chunk.len();
            }
        }
    }
    not_deleted
}

/// Makes the messages visible again at once, so the next window reports them (best effort: if
/// this fails they come back after the queue's visibility timeout instead).
async fn make_visible(sqs: &aws_sdk_sqs::Client, queue_url: &str, messages: &[(String, String)]) {
    for chunk in messages.chunks(SQS_BATCH) {
        let entries: Vec<ChangeMessageVisibilityBatchRequestEntry> = chunk
            .iter()
            .enumerate()
            .filter_map(|(i, (_, handle))| {
                ChangeMessageVisibilityBatchRequestEntry::builder()
                    .id(i.to_string())
                    .receipt_handle(handle)
                    .visibility_timeout(0)
                    .build()
                    .ok()
            })
            .collect();
        if let Err(e) =
            sqs.change_message_visibility_batch().queue_url(queue_url).set_entries(Some(entries)).send().await
        {
            warn!(error = %classify_sdk_error("return unreported messages", &e).reason, "they return after the visibility timeout");
        }
    }
}

/// How long a run may keep reading: the invocation's time less a margin to post and delete.
pub fn read_budget(remaining: Duration) -> Duration {
    remaining.saturating_sub(Duration::from_secs(20))
}
