//! The Lambda handler: a batch of status events and dead letters in, Chatbot notifications out.
//!
//! A batch becomes at most three Slack messages (digest, failures, dead letters). A message that
//! cannot be published, for whatever reason, hands back to SQS exactly the status events it
//! reports, so nothing is dropped (after the queue's retries they reach the notifier's DLQ, which
//! has an alarm) and what was already posted is not posted again. Messages that cannot be read
//! are listed as failures, so they never block the rest.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use media_edge_shared::aws::classify_sdk_error;
use media_edge_shared::Failure;
use tracing::{error, info, warn};

use crate::chatbot::CustomNotification;
use crate::config::NotifierConfig;
use crate::digest;
use crate::intake::{read_message, Notice};

/// Publishes Chatbot notifications to the topic Chatbot is subscribed to.
#[derive(Clone, Debug)]
pub struct ChatbotPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl ChatbotPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        ChatbotPublisher { client, topic_arn: topic_arn.into() }
    }

    pub async fn publish(&self, notification: &CustomNotification) -> Result<(), Failure> {
        notification.validate().map_err(|e| Failure::permanent(format!("invalid Chatbot notification: {e}")))?;
        let body = serde_json::to_string(notification).map_err(|e| Failure::permanent(e.to_string()))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(body)
            .send()
            .await
            .map_err(|e| classify_sdk_error("publish Chatbot notification", &e))?;
        Ok(())
    }
}

pub async fn handle_batch(
    event: SqsEvent,
    publisher: &ChatbotPublisher,
    config: &NotifierConfig,
    hour: &str,
) -> SqsBatchResponse {
    let notices: Vec<Notice> = event.records.iter().map(read_message).collect();
    for notice in &notices {
        if let Notice::Unreadable { message_id, reason } = notice {
            warn!(message_id, reason, "unreadable message; listed as a failure");
        }
    }
    let mut unsent = Vec::new();
    for outgoing in digest::build(&notices, &config.digest, hour) {
        let title = &outgoing.notification.content.title;
        match publisher.publish(&outgoing.notification).await {
            Ok(()) => info!(title = %title, "published"),
            Err(failure) if failure.is_transient() => {
                warn!(title = %title, reason = %failure.reason, "not published; its events will be retried");
                unsent.extend(outgoing.covers);
            }
            // Topic gone, access denied, KMS, or a malformed notification (a bug): retrying may not
            // help, but acknowledging would lose the report. Retried, then dead-lettered (alarm).
            Err(failure) => {
                error!(title = %title, reason = %failure.reason, "not published (permanent); its events will be retried");
                unsent.extend(outgoing.covers);
            }
        }
    }
    unsent.sort_unstable();
    unsent.dedup();
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = unsent
        .into_iter()
        .filter_map(|i| event.records.get(i).and_then(|m| m.message_id.clone()))
        .map(|id| {
            let mut item = BatchItemFailure::default();
            item.item_identifier = id;
            item
        })
        .collect();
    response
}

/// The current UTC hour, `YYYY-MM-DDTHH`, which keys the Slack threads.
pub fn current_hour() -> String {
    media_edge_shared::status::now_rfc3339().chars().take(13).collect()
}
