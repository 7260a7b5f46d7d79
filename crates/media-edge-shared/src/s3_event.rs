//! S3 event notifications as they arrive in an SQS message body.
//!
//! Three shapes reach the jobs queue, and all are accepted:
//! - an SNS envelope (`{"Type":"Notification","Message":"<S3 event JSON>"}`), RawMessageDelivery off;
//! - the raw S3 event (`{"Records":[...]}`), RawMessageDelivery on, or S3 → SQS directly;
//! - S3's `s3:TestEvent`, sent when a notification is configured, which is acknowledged and skipped.
//!
//! The envelope's `MessageAttributes` may carry what an operator asks of the processor for the
//! object (`media-edge backfill --effort`): they travel in the body, so a message sent again or
//! redriven from the DLQ keeps them.
//!
//! The record types are our own: `aws_lambda_events`' `S3Event` rejects records without
//! `userIdentity`, `requestParameters` or `sequencer`, which local emulators omit.

use serde::Deserialize;

/// What one SQS message body said.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notification {
    /// S3's configuration check; nothing to do.
    Test,
    /// One or more object events (S3 sends one per message, but the format allows more).
    Objects(Vec<ObjectEvent>),
}

/// One S3 object event, with the key already decoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// e.g. `ObjectCreated:Put`, `ObjectCreated:CompleteMultipartUpload`.
    pub event_name: String,
    pub bucket: String,
    /// The object key as stored, decoded from the notification's form encoding.
    pub key: String,
    pub size: Option<u64>,
    pub etag: Option<String>,
    pub version_id: Option<String>,
    pub sequencer: Option<String>,
    /// When S3 saw the upload (`eventTime`, RFC 3339): the start of "upload to status".
    pub event_time: Option<String>,
    /// The AVIF effort an operator asked for (the envelope's [`EFFORT_ATTRIBUTE`]), as written.
    pub asked_effort: Option<String>,
}

/// The SNS message attribute naming the AVIF effort to render an object at (`fast`, `default`,
/// `max`): `media-edge backfill --effort` sets it; it wins over the upload's own metadata.
pub const EFFORT_ATTRIBUTE: &str = "media-edge-effort";

impl ObjectEvent {
    pub fn is_object_created(&self) -> bool {
        // Real S3 sends "ObjectCreated:Put"; the "s3:" prefix appears in configurations and some emulators.
        let name = self.event_name.strip_prefix("s3:").unwrap_or(&self.event_name);
        name.starts_with("ObjectCreated:")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("message body is not JSON: {0}")]
    NotJson(String),
    #[error("SNS envelope of type {0:?} carries no S3 event")]
    UnexpectedSnsType(String),
    #[error("message is not an S3 event notification (no Records and no Event)")]
    NotS3Event,
    #[error("S3 event record {index} is malformed: {reason}")]
    BadRecord { index: usize, reason: String },
    #[error("S3 event {0:?} is not supported")]
    UnsupportedEvent(String),
    #[error(transparent)]
    Key(#[from] KeyError),
}

/// Parses an SQS message body in any of the accepted shapes.
pub fn parse_sqs_body(body: &str) -> Result<Notification, EnvelopeError> {
    let value: serde_json::Value = serde_json::from_str(body).map_err(|e| EnvelopeError::NotJson(e.to_string()))?;
    let asked_effort = value
        .get("MessageAttributes")
        .and_then(|attributes| attributes.get(EFFORT_ATTRIBUTE))
        .and_then(|attribute| attribute.get("Value"))
        .and_then(|v| v.as_str())
        .map(str::to_string);
    let value = sns_payload(value)?;
    let mut notification = parse_s3_notification(value)?;
    if let Notification::Objects(events) = &mut notification {
        for event in events {
            event.asked_effort.clone_from(&asked_effort);
        }
    }
    Ok(notification)
}

/// The message an SNS envelope carries (RawMessageDelivery off), or `value` itself if it is not
/// an envelope (RawMessageDelivery on, or not from SNS at all).
pub fn sns_payload(value: serde_json::Value) -> Result<serde_json::Value, EnvelopeError> {
    let Some(kind) = value.get("Type").and_then(|t| t.as_str()) else {
        return Ok(value);
    };
    if kind != "Notification" {
        return Err(EnvelopeError::UnexpectedSnsType(kind.to_string()));
    }
    let message = value
        .get("Message")
        .and_then(|m| m.as_str())
        .ok_or(EnvelopeError::UnexpectedSnsType("Notification without Message".into()))?;
    serde_json::from_str(message).map_err(|e| EnvelopeError::NotJson(format!("SNS Message: {e}")))
}

/// Reads an S3 event notification (`Records`, or S3's `s3:TestEvent`) from parsed JSON.
pub fn parse_s3_notification(value: serde_json::Value) -> Result<Notification, EnvelopeError> {
    if let Some(event) = value.get("Event").and_then(|e| e.as_str()) {
        return if event == "s3:TestEvent" {
            Ok(Notification::Test)
        } else {
            Err(EnvelopeError::UnsupportedEvent(event.to_string()))
        };
    }
    let Some(records) = value.get("Records").and_then(|r| r.as_array()) else {
        return Err(EnvelopeError::NotS3Event);
    };
    let mut events = Vec::with_capacity(records.len());
    for (index, record) in records.iter().enumerate() {
        let raw: RawRecord = serde_json::from_value(record.clone())
            .map_err(|e| EnvelopeError::BadRecord { index, reason: e.to_string() })?;
        events.push(ObjectEvent {
            event_name: raw.event_name,
            bucket: raw.s3.bucket.name,
            key: decode_s3_key(&raw.s3.object.key)?,
            size: raw.s3.object.size,
            etag: raw.s3.object.e_tag.filter(|e| !e.is_empty()),
            version_id: raw.s3.object.version_id.filter(|v| !v.is_empty()),
            sequencer: raw.s3.object.sequencer,
            event_time: raw.event_time,
            asked_effort: None,
        });
    }
    Ok(Notification::Objects(events))
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawRecord {
    event_name: String,
    #[serde(default)]
    event_time: Option<String>,
    s3: RawS3,
}

#[derive(Deserialize)]
struct RawS3 {
    bucket: RawBucket,
    object: RawObject,
}

#[derive(Deserialize)]
struct RawBucket {
    name: String,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawObject {
    key: String,
    #[serde(default)]
    size: Option<u64>,
    #[serde(default, rename = "eTag")]
    e_tag: Option<String>,
    #[serde(default)]
    version_id: Option<String>,
    #[serde(default)]
    sequencer: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("object key {raw:?} does not decode to UTF-8 text")]
pub struct KeyError {
    pub raw: String,
}

/// Decodes an object key from an S3 event: form encoding, so `+` is a space, then percent-decoding
/// (`%2B` is a literal `+`, emulators also send `/` as `%2F`).
pub fn decode_s3_key(raw: &str) -> Result<String, KeyError> {
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|k| k.into_owned())
        .map_err(|_| KeyError { raw: raw.to_string() })
}

/// Encodes an object key as S3 event notifications carry it (the inverse of [`decode_s3_key`]):
/// unreserved characters and `/` as they are, a space as `+`, everything else percent-encoded.
pub fn encode_s3_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'_')
        .remove(b'.')
        .remove(b'~')
        .remove(b'/')
        .remove(b' ');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string().replace(' ', "+")
}

/// The message S3 → SNS → SQS delivers for an upload of `key` (RawMessageDelivery off): what
/// `media-edge backfill` and `media-edge doctor smoke` put on the jobs queue. `origin` names who
/// sent it in place of S3 (principal and configuration id); `asked_effort` becomes the envelope's
/// [`EFFORT_ATTRIBUTE`], as SNS writes a message attribute.
#[allow(clippy::too_many_arguments)]
pub fn upload_notification(
    bucket: &str,
    key: &str,
    size: u64,
    etag: &str,
    event_time: &str,
    origin: &str,
    message_id: &str,
    asked_effort: Option<&str>,
) -> String {
    let record = serde_json::json!({
        "eventVersion": "2.1",
        "eventSource": "aws:s3",
        "eventTime": event_time,
        "eventName": "ObjectCreated:Put",
        "userIdentity": {"principalId": origin},
        "s3": {
            "s3SchemaVersion": "1.0",
            "configurationId": origin,
            "bucket": {"name": bucket, "arn": format!("arn:aws:s3:::{bucket}")},
            "object": {"key": encode_s3_key(key), "size": size, "eTag": etag.trim_matches('"')},
        },
    });
    let mut envelope = serde_json::json!({
        "Type": "Notification",
        "MessageId": message_id,
        "Subject": "Amazon S3 Notification",
        "Message": serde_json::json!({"Records": [record]}).to_string(),
    });
    if let Some(effort) = asked_effort {
        envelope["MessageAttributes"] = serde_json::json!({EFFORT_ATTRIBUTE: {"Type": "String", "Value": effort}});
    }
    envelope.to_string()
}

/// A key as CopyObject's `x-amz-copy-source` takes it: percent-encoded, `/` kept.
pub fn encode_copy_source_key(key: &str) -> String {
    const KEEP: &percent_encoding::AsciiSet =
        &percent_encoding::NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.').remove(b'~').remove(b'/');
    percent_encoding::utf8_percent_encode(key, KEEP).to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn copy_sources_are_percent_encoded() {
        assert_eq!(encode_copy_source_key("a b/c+d/한.jpg"), "a%20b/c%2Bd/%ED%95%9C.jpg");
    }

    #[test]
    fn encoded_keys_decode_to_themselves() {
        for key in
            ["uploads/a b+c.jpg", "uploads/100%.jpg", "uploads/한글/x y.png", "uploads/a~b_c-d.e", "uploads/?#&=.gif"]
        {
            assert_eq!(decode_s3_key(&encode_s3_key(key)).unwrap(), key);
        }
        assert_eq!(encode_s3_key("uploads/a b+c.jpg"), "uploads/a+b%2Bc.jpg");
    }

    fn record(key: &str) -> String {
        format!(
            r#"{{"Records":[{{"eventName":"ObjectCreated:Put","s3":{{"bucket":{{"name":"originals"}},"object":{{"key":"{key}","size":12,"eTag":"abc"}}}}}}]}}"#
        )
    }

    #[test]
    fn decodes_form_encoded_keys() {
        assert_eq!(decode_s3_key("uploads/my+photo.jpg").unwrap(), "uploads/my photo.jpg");
        assert_eq!(decode_s3_key("uploads/a%2Bb.jpg").unwrap(), "uploads/a+b.jpg");
        assert_eq!(decode_s3_key("uploads%2Fnested%2Fx.png").unwrap(), "uploads/nested/x.png");
        assert_eq!(decode_s3_key("uploads/100%25.jpg").unwrap(), "uploads/100%.jpg");
        assert_eq!(decode_s3_key("uploads/%ED%95%9C%EA%B8%80.jpg").unwrap(), "uploads/한글.jpg");
        assert!(decode_s3_key("uploads/%FF.jpg").is_err());
    }

    #[test]
    fn raw_record_without_optional_fields_parses() {
        let Notification::Objects(events) = parse_sqs_body(&record("uploads/a+b.jpg")).unwrap() else {
            panic!("expected objects");
        };
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].bucket, "originals");
        assert_eq!(events[0].key, "uploads/a b.jpg");
        assert_eq!(events[0].size, Some(12));
        assert_eq!(events[0].sequencer, None);
        assert!(events[0].is_object_created());
    }

    #[test]
    fn sns_envelope_is_unwrapped() {
        let envelope = serde_json::json!({
            "Type": "Notification",
            "TopicArn": "arn:aws:sns:us-east-1:123456789012:uploads",
            "Message": record("uploads/x.png"),
        });
        let parsed = parse_sqs_body(&envelope.to_string()).unwrap();
        assert!(matches!(parsed, Notification::Objects(ref e) if e[0].key == "uploads/x.png"));
    }

    #[test]
    fn an_asked_effort_rides_in_the_envelope_as_sns_writes_message_attributes() {
        let asked = upload_notification(
            "originals",
            "uploads/a b.jpg",
            12,
            "\"e1\"",
            "2026-12-07T00:00:00Z",
            "t",
            "m",
            Some("max"),
        );
        let envelope: serde_json::Value = serde_json::from_str(&asked).unwrap();
        assert_eq!(
            envelope["MessageAttributes"][EFFORT_ATTRIBUTE],
            serde_json::json!({"Type": "String", "Value": "max"})
        );
        let Notification::Objects(events) = parse_sqs_body(&asked).unwrap() else { panic!("expected objects") };
        assert_eq!((events[0].key.as_str(), events[0].asked_effort.as_deref()), ("uploads/a b.jpg", Some("max")));
        let plain = upload_notification("originals", "uploads/a.jpg", 12, "e1", "2026-12-07T00:00:00Z", "t", "m", None);
        assert!(!plain.contains("MessageAttributes"));
        let Notification::Objects(events) = parse_sqs_body(&plain).unwrap() else { panic!("expected objects") };
        assert_eq!(events[0].asked_effort, None);
    }

    #[test]
    fn test_event_is_recognised_raw_and_wrapped() {
        let test = r#"{"Service":"Amazon S3","Event":"s3:TestEvent","Bucket":"originals"}"#;
        assert_eq!(parse_sqs_body(test).unwrap(), Notification::Test);
        let wrapped = serde_json::json!({"Type": "Notification", "Message": test}).to_string();
        assert_eq!(parse_sqs_body(&wrapped).unwrap(), Notification::Test);
    }

    #[test]
    fn garbage_is_a_clear_error() {
        assert!(matches!(parse_sqs_body("not json"), Err(EnvelopeError::NotJson(_))));
        assert_eq!(parse_sqs_body(r#"{"hello":1}"#), Err(EnvelopeError::NotS3Event));
        assert!(matches!(
            parse_sqs_body(r#"{"Records":[{"eventName":"ObjectCreated:Put"}]}"#),
            Err(EnvelopeError::BadRecord { index: 0, .. })
        ));
        assert!(matches!(
            parse_sqs_body(r#"{"Type":"SubscriptionConfirmation"}"#),
            Err(EnvelopeError::UnexpectedSnsType(_))
        ));
    }
}
