//! Announcing a change on the status topic: the notifier reports it in its next digest window.

use media_edge_shared::aws::describe_sdk_error;
use media_edge_shared::release_event::ReleaseEvent;

/// Publishes the change to the status topic; the notifier reports it in its next digest window.
pub async fn publish(sns: &aws_sdk_sns::Client, topic_arn: &str, event: &ReleaseEvent) -> Result<(), String> {
    let message = serde_json::to_string(event).map_err(|e| e.to_string())?;
    let change = serde_json::to_value(event.change).ok().and_then(|v| v.as_str().map(str::to_string));
    let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(change.unwrap_or_default())
        .build()
        .map_err(|e| e.to_string())?;
    sns.publish()
        .topic_arn(topic_arn)
        .message(message)
        .message_attributes("release_change", attribute)
        .send()
        .await
        .map_err(|e| format!("announcing a release change (it stays pending): {}", describe_sdk_error(&e)))?;
    Ok(())
}
