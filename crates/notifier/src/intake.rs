//! What one SQS message tells the notifier: a status event from the status topic, a job that
//! died (a message moved to the processing DLQ), or something unreadable.

use aws_lambda_events::event::sqs::SqsMessage;
use media_edge_shared::release_event::{ReleaseEvent, RELEASE_SCHEMA};
use media_edge_shared::s3_event::{parse_s3_notification, sns_payload, EnvelopeError, Notification};
use media_edge_shared::status::{StatusEvent, STATUS_SCHEMA};

#[derive(Debug, Clone, PartialEq)]
pub enum Notice {
    Status(Box<StatusEvent>),
    /// A rollout changed state (the release controller's announcement).
    Release(Box<ReleaseEvent>),
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
    let unreadable = |reason: String| Notice::Unreadable { message_id: message_id.clone(), reason };

    // Parsed once; a status event arrives raw or in an SNS envelope, and so does a dead letter.
    let payload =
        match serde_json::from_str(body).map_err(|e| EnvelopeError::NotJson(e.to_string())).and_then(sns_payload) {
            Ok(payload) => payload,
            Err(e) => return unreadable(e.to_string()),
        };
    if payload.get("schema").and_then(|s| s.as_str()) == Some(STATUS_SCHEMA) {
        return match StatusEvent::from_value(payload) {
            Ok(status) => Notice::Status(Box::new(status)),
            Err(reason) => unreadable(format!("status event: {reason}")),
        };
    }
    if payload.get("schema").and_then(|s| s.as_str()) == Some(RELEASE_SCHEMA) {
        return match ReleaseEvent::from_value(payload) {
            Ok(event) => Notice::Release(Box::new(event)),
            Err(reason) => unreadable(format!("release event: {reason}")),
        };
    }
    // Otherwise it should be what the jobs queue carries: an S3 event notification.
    match parse_s3_notification(payload) {
        Ok(Notification::Objects(events)) => {
            Notice::DeadLetter { keys: events.into_iter().map(|e| e.key).collect(), receive_count }
        }
        Ok(Notification::Test) => Notice::DeadLetter { keys: Vec::new(), receive_count },
        Err(e) => unreadable(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use media_edge_shared::status::{Outcome, SourceObject};

    fn message(body: &str) -> SqsMessage {
        let mut m = SqsMessage::default();
        m.message_id = Some("m".into());
        m.body = Some(body.into());
        m
    }

    #[test]
    fn status_raw_or_wrapped_and_anything_else() {
        let source = SourceObject { bucket: None, key: "k.jpg".into(), etag: None, version_id: None };
        let raw = serde_json::to_string(&StatusEvent::new("image-processor", Outcome::Processed, source)).unwrap();
        let wrapped = serde_json::json!({"Type": "Notification", "Message": raw}).to_string();
        for body in [&raw, &wrapped] {
            assert!(matches!(read_message(&message(body)), Notice::Status(s) if s.source.key == "k.jpg"));
        }
        let future = raw.replace(r#""version":1"#, r#""version":9"#);
        assert!(
            matches!(read_message(&message(&future)), Notice::Unreadable { .. }),
            "unknown schema versions are not guessed at"
        );
        assert!(matches!(read_message(&message("[1,2]")), Notice::Unreadable { .. }));
    }
}
