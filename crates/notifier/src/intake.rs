//! What one SQS message tells the notifier: a status event from the status topic, a job that
//! died (a message moved to the processing DLQ), or something unreadable.

use aws_lambda_events::event::sqs::SqsMessage;
use media_edge_shared::s3_event::{parse_sqs_body, Notification};
use media_edge_shared::status::StatusEvent;

#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Status(Box<StatusEvent>),
    /// A jobs-queue message that exhausted its retries: the originals it named were never processed.
    DeadLetter {
        keys: Vec<String>,
        receive_count: Option<u32>,
    },
    /// Neither; reported, never retried.
    Unreadable {
        message_id: String,
        reason: String,
    },
}

pub fn read_message(message: &SqsMessage) -> Notice {
    let message_id = message.message_id.clone().unwrap_or_default();
    let body = message.body.as_deref().unwrap_or_default();
    let receive_count = message.attributes.get("ApproximateReceiveCount").and_then(|c| c.parse().ok());

    let Ok(value) = serde_json::from_str::<serde_json::Value>(body) else {
        return Notice::Unreadable { message_id, reason: "message body is not JSON".into() };
    };
    // A status event, raw (RawMessageDelivery on) or in an SNS envelope.
    let inner = match (value.get("Type").and_then(|t| t.as_str()), value.get("Message").and_then(|m| m.as_str())) {
        (Some("Notification"), Some(message)) => message.to_string(),
        _ => body.to_string(),
    };
    if inner.contains("\"media-edge.status\"") {
        return match StatusEvent::from_json(&inner) {
            Ok(status) => Notice::Status(Box::new(status)),
            Err(reason) => Notice::Unreadable { message_id, reason: format!("status event: {reason}") },
        };
    }
    // Otherwise it should be what the jobs queue carries: an S3 event notification.
    match parse_sqs_body(body) {
        Ok(Notification::Objects(events)) => {
            Notice::DeadLetter { keys: events.into_iter().map(|e| e.key).collect(), receive_count }
        }
        Ok(Notification::Test) => Notice::DeadLetter { keys: Vec::new(), receive_count },
        Err(e) => Notice::Unreadable { message_id, reason: e.to_string() },
    }
}
