//! The status event: one per original, published by the image processor to the status topic and read
//! by the notifier. Versioned so consumers can refuse what they do not understand.

use std::time::SystemTime;

use serde::{Deserialize, Serialize};

use crate::failure::{Failure, FailureClass};

/// Value of [`StatusEvent::schema`].
pub const STATUS_SCHEMA: &str = "media-edge.status";
/// Bumped on incompatible changes; additive fields keep the version.
pub const STATUS_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatusEvent {
    pub schema: String,
    pub version: u32,
    /// Which function produced it, e.g. `image-processor`.
    pub pipeline: String,
    pub outcome: Outcome,
    pub source: SourceObject,
    /// Present when `outcome` is `failed`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure: Option<FailureReport>,
    #[serde(default)]
    pub variants: Vec<VariantReport>,
    /// Where the manifest listing the variants was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub manifest_key: Option<String>,
    /// Bytes of the original that were read.
    pub input_bytes: u64,
    /// Bytes of all variants written (or found, for a duplicate).
    pub output_bytes: u64,
    pub duration_ms: u64,
    /// Time spent in ffmpeg (animations only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ffmpeg_ms: Option<u64>,
    /// What the original holds that the variants do not carry (an HDR gain map, an MPO's further
    /// pictures), in words a person reads.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_carried_over: Vec<String>,
    /// RFC 3339, UTC.
    pub at: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Variants were made and stored.
    Processed,
    /// This exact version had already been processed (at-least-once redelivery); nothing was redone.
    Duplicate,
    /// Processing failed; see `failure`.
    Failed,
    /// A newer upload replaced this version while it was being rendered: its variants were
    /// stored, but the manifest was left to the newer version (which reports its own status).
    Superseded,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SourceObject {
    /// Absent when the source is a local file (`media-edge process`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bucket: Option<String>,
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub etag: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version_id: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FailureReport {
    pub class: FailureClass,
    pub reason: String,
}

impl From<&Failure> for FailureReport {
    fn from(f: &Failure) -> Self {
        FailureReport { class: f.class, reason: f.reason.clone() }
    }
}

/// One stored output: also the manifest's entry format.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VariantReport {
    /// `thumbnail`, `mobile`, `tablet`, `pc`, …
    pub name: String,
    pub key: String,
    pub width: u32,
    pub height: u32,
    pub bytes: u64,
    pub content_type: String,
    /// Video variants only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
}

impl StatusEvent {
    /// Distinct variants (`pc`, `mobile`, …, `video`): `variants` lists each stored file, and an
    /// image variant is stored in several formats.
    pub fn variant_names(&self) -> Vec<&str> {
        let mut names: Vec<&str> = Vec::new();
        for v in &self.variants {
            if !names.contains(&v.name.as_str()) {
                names.push(&v.name);
            }
        }
        names
    }

    pub fn new(pipeline: &str, outcome: Outcome, source: SourceObject) -> Self {
        StatusEvent {
            schema: STATUS_SCHEMA.to_string(),
            version: STATUS_SCHEMA_VERSION,
            pipeline: pipeline.to_string(),
            outcome,
            source,
            failure: None,
            variants: Vec::new(),
            manifest_key: None,
            input_bytes: 0,
            output_bytes: 0,
            duration_ms: 0,
            ffmpeg_ms: None,
            not_carried_over: Vec::new(),
            at: now_rfc3339(),
        }
    }

    /// Parses and checks the schema name and version.
    pub fn from_json(json: &str) -> Result<Self, StatusEventError> {
        Self::from_value(serde_json::from_str(json)?)
    }

    /// As [`from_json`](Self::from_json), from already parsed JSON.
    pub fn from_value(value: serde_json::Value) -> Result<Self, StatusEventError> {
        let event: StatusEvent = serde_json::from_value(value)?;
        if event.schema != STATUS_SCHEMA || event.version != STATUS_SCHEMA_VERSION {
            return Err(StatusEventError::Unsupported { schema: event.schema, version: event.version });
        }
        Ok(event)
    }
}

/// Why a status event was not accepted.
#[derive(Debug, thiserror::Error)]
pub enum StatusEventError {
    #[error("not a status event: {0}")]
    Json(#[from] serde_json::Error),
    /// Consumers refuse versions they do not know rather than guess.
    #[error("unsupported status event {schema}/v{version} (expected {STATUS_SCHEMA}/v{STATUS_SCHEMA_VERSION})")]
    Unsupported { schema: String, version: u32 },
}

/// Milliseconds since the Unix epoch (0 if the clock is before it).
pub fn now_epoch_ms() -> u64 {
    SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

pub fn now_rfc3339() -> String {
    aws_smithy_types::DateTime::from(SystemTime::now())
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_checks_version() {
        let mut event = StatusEvent::new(
            "image-processor",
            Outcome::Failed,
            SourceObject { bucket: Some("b".into()), key: "k.jpg".into(), etag: None, version_id: None },
        );
        event.failure = Some(FailureReport { class: FailureClass::Permanent, reason: "truncated".into() });
        let json = serde_json::to_string(&event).unwrap();
        assert!(json.contains(r#""outcome":"failed""#), "{json}");
        assert!(json.contains(r#""class":"permanent""#), "{json}");
        assert_eq!(StatusEvent::from_json(&json).unwrap(), event);

        let future = json.replace(r#""version":1"#, r#""version":2"#);
        assert!(StatusEvent::from_json(&future).unwrap_err().to_string().contains("v2"));
    }

    #[test]
    fn timestamps_are_rfc3339_utc() {
        let at = now_rfc3339();
        assert!(at.ends_with('Z') && at.contains('T'), "{at}");
    }
}
