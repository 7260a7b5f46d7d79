//! The Lambda handler: a batch of status events and dead letters in, Chatbot notifications out.
//!
//! The whole batch becomes one digest, so delivery is all or nothing: if publishing fails (a
//! transient SNS error) every message is handed back to SQS and the batch is retried. Messages
//! that cannot be read are listed as failures and acknowledged, so they never block the rest.

use aws_lambda_events::event::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use media_edge_shared::failure::classify_sdk_error;
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
    let notifications = digest::build(&notices, &config.digest, hour);
    let mut response = SqsBatchResponse::default();
    for notification in &notifications {
        match publisher.publish(notification).await {
            Ok(()) => info!(title = %notification.content.title, "published"),
            Err(failure) if failure.is_transient() => {
                warn!(reason = %failure.reason, "publishing failed; the batch will be retried");
                response.batch_item_failures = event
                    .records
                    .iter()
                    .filter_map(|m| m.message_id.clone())
                    .map(|id| {
                        let mut item = BatchItemFailure::default();
                        item.item_identifier = id;
                        item
                    })
                    .collect();
                return response;
            }
            // Our own message is malformed: a bug, logged loudly; retrying would not fix it.
            Err(failure) => error!(reason = %failure.reason, "notification not published"),
        }
    }
    response
}

/// The current UTC hour, `YYYY-MM-DDTHH`, which keys the Slack threads.
pub fn current_hour() -> String {
    media_edge_shared::status::now_rfc3339().chars().take(13).collect()
}
