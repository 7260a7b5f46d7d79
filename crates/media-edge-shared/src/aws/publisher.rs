//! Status events onto the status topic (SNS).

use crate::aws::errors::classify_sdk_error;
use crate::failure::Failure;
use crate::status::StatusEvent;

/// Publishes status events to the status topic.
#[derive(Clone, Debug)]
pub struct StatusPublisher {
    client: aws_sdk_sns::Client,
    topic_arn: String,
}

impl StatusPublisher {
    pub fn new(client: aws_sdk_sns::Client, topic_arn: impl Into<String>) -> Self {
        StatusPublisher { client, topic_arn: topic_arn.into() }
    }

    /// The `outcome` is also a message attribute, so subscriptions can filter (e.g. failures only).
    pub async fn publish(&self, event: &StatusEvent) -> Result<(), Failure> {
        let body = serde_json::to_string(event)
            .map_err(|e| Failure::permanent(format!("status event does not serialise: {e}")))?;
        let outcome =
            serde_json::to_value(event.outcome).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
            .data_type("String")
            .string_value(outcome)
            .build()
            .map_err(|e| Failure::permanent(format!("status attribute: {e}")))?;
        self.client
            .publish()
            .topic_arn(&self.topic_arn)
            .message(body)
            .message_attributes("outcome", attribute)
            .send()
            .await
            .map_err(|e| classify_sdk_error("publish status event", &e))?;
        Ok(())
    }
}
