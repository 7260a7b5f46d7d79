//! The release event: what the release controller publishes to the status topic when a rollout
//! changes state, and the notifier posts to Slack. State changes only: never one per check.

use serde::{Deserialize, Serialize};

use crate::status::now_rfc3339;

/// Value of [`ReleaseEvent::schema`].
pub const RELEASE_SCHEMA: &str = "media-edge.release";
pub const RELEASE_SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReleaseChange {
    /// The weight moved to the next step.
    Advanced,
    /// A step is due but a gate is not healthy (announced once per reason).
    Held,
    Promoted,
    RolledBack,
    /// An operator's command (rollout started, paused, resumed, cancelled by a manual change).
    Operator,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReleaseEvent {
    pub schema: String,
    pub version: u32,
    pub channel: String,
    /// The version being rolled out.
    pub release: String,
    pub change: ReleaseChange,
    pub weight_from: u8,
    pub weight_to: u8,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// RFC 3339, UTC.
    pub at: String,
}

impl ReleaseEvent {
    pub fn new(
        channel: &str,
        release: &str,
        change: ReleaseChange,
        weight_from: u8,
        weight_to: u8,
        reason: Option<String>,
    ) -> Self {
        ReleaseEvent {
            schema: RELEASE_SCHEMA.into(),
            version: RELEASE_SCHEMA_VERSION,
            channel: channel.into(),
            release: release.into(),
            change,
            weight_from,
            weight_to,
            reason,
            at: now_rfc3339(),
        }
    }

    /// Parses an event, refusing other schemas and versions rather than guessing.
    pub fn from_value(value: serde_json::Value) -> Result<Self, String> {
        let event: ReleaseEvent = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if event.schema != RELEASE_SCHEMA || event.version != RELEASE_SCHEMA_VERSION {
            return Err(format!("unsupported release event {}/v{}", event.schema, event.version));
        }
        Ok(event)
    }
}
