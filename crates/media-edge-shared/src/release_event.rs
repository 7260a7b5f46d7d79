//! The release event: what the release controller publishes to the status topic when a rollout
//! changes state, and the notifier posts to Slack. State changes only: never one per check.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

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
    /// Unique per change: an announcement published again after a failed bookkeeping write
    /// carries the same id, and the notifier reports it once. Empty in events from older releases.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub id: String,
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
            id: new_event_id(channel),
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

/// `<channel>-<nanoseconds, hex>-<sequence>`: distinct for every event this process makes, and
/// across processes unless two make one in the same nanosecond.
fn new_event_id(channel: &str) -> String {
    static SEQUENCE: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
    format!("{channel}-{nanos:x}-{}", SEQUENCE.fetch_add(1, Ordering::Relaxed))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_event_gets_its_own_id_and_keeps_it_through_json() {
        let a = ReleaseEvent::new("sdk", "1.5.0", ReleaseChange::Advanced, 1, 5, None);
        let b = ReleaseEvent::new("sdk", "1.5.0", ReleaseChange::Advanced, 1, 5, None);
        assert!(a.id.starts_with("sdk-") && a.id != b.id, "{} {}", a.id, b.id);
        let back = ReleaseEvent::from_value(serde_json::to_value(&a).unwrap()).unwrap();
        assert_eq!(back, a);
        // Events from releases before ids still read (with no id).
        let mut old = serde_json::to_value(&a).unwrap();
        old.as_object_mut().unwrap().remove("id");
        assert_eq!(ReleaseEvent::from_value(old).unwrap().id, "");
    }
}
