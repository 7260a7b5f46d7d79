//! A release channel's configuration (`channels/<channel>.json` in the releases bucket): which
//! version is stable, which is the canary and at what weight, and who changed what when.

use media_edge_shared::release_event::{ReleaseChange, ReleaseEvent};
use serde::{Deserialize, Serialize};

use crate::cohort;

pub const CHANNEL_SCHEMA: &str = "media-edge.channel";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelConfig {
    pub schema: String,
    pub version: u32,
    pub channel: String,
    pub stable: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
    /// Percent of cohorts (0–100) that get the canary.
    #[serde(default)]
    pub weight: u8,
    /// The last canary withdrawn by a rollback, so `promote` can say why there is nothing to promote.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rolled_back: Option<String>,
    #[serde(default)]
    pub history: Vec<Change>,
    /// A progressive rollout of the canary, advanced by the release controller.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rollout: Option<Rollout>,
    /// Announcements of changes made but not yet accepted by the status topic, oldest first. They
    /// are written with the change itself, so a failed publish or a crash loses none: the
    /// release controller publishes them and removes each once it is done.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub pending: Vec<PendingAnnouncement>,
    /// The CloudFront KeyValueStore the deployed release controller copies this config to (edge
    /// routing), recorded by the controller: commands run without `--store-arn` still reach it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub edge_store: Option<String>,
}

/// A change to announce, and how far its announcement got.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingAnnouncement {
    pub event: ReleaseEvent,
    /// The status topic accepted it; only a follow-up (a rollback's invalidation) is left.
    #[serde(default)]
    pub published: bool,
}

/// A rollout plan: the canary's weight goes through `steps`, one step per `every_seconds` in which
/// every gate (a CloudWatch alarm) stayed healthy, and the canary is promoted after the last; any
/// gate in alarm rolls it back at once.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rollout {
    /// The canary version being rolled out.
    pub release: String,
    /// Weights, percent, increasing (e.g. 1, 5, 25, 50, 100).
    pub steps: Vec<u8>,
    pub every_seconds: u64,
    /// CloudWatch alarm names; every one must be OK for a whole interval to advance.
    pub gates: Vec<String>,
    /// Index into `steps` of the weight now served.
    pub step: usize,
    /// When the current step began (Unix seconds).
    pub step_started: u64,
    pub state: RolloutState,
    /// Why it stopped or is holding, in words (the gate that alarmed, the gate without data).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The step's weight was written to S3 but not to the edge store (its write failed): viewers
    /// may not have it yet. Kept in the config, not only seen by one controller run, so a store
    /// filled by someone else (`release sync`, an overlapping run) still restarts the step.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub edge_pending: bool,
    /// Written by releases before announcements moved to [`ChannelConfig::pending`]: an operator's
    /// change not yet announced. Read so an upgrade loses none; the controller moves it there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unannounced: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RolloutState {
    Running,
    Paused,
    RolledBack,
    Promoted,
    /// An operator changed the weight or versions by hand: the operator wins, the plan stops.
    Cancelled,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub at: String,
    pub by: String,
    pub action: String,
}

/// Why a stored channel config cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum ChannelConfigError {
    #[error("channel config is not valid JSON of the expected shape: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported channel config {schema}/v{version}")]
    Unsupported { schema: String, version: u32 },
    #[error("stable version {0:?} is not a valid version")]
    InvalidStable(String),
}

/// Which version one request gets.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Choice<'c> {
    pub version: &'c str,
    pub canary: bool,
}

/// Release versions are path segments: keep them plain.
pub fn valid_version(version: &str) -> bool {
    !version.is_empty()
        && version.len() <= 64
        && version != "."
        && version != ".."
        && version.chars().all(|c| c.is_ascii_alphanumeric() || "._-+".contains(c))
}

impl ChannelConfig {
    pub fn new(channel: &str, stable: &str) -> Self {
        ChannelConfig {
            schema: CHANNEL_SCHEMA.into(),
            version: 1,
            channel: channel.into(),
            stable: stable.into(),
            canary: None,
            weight: 0,
            rolled_back: None,
            history: Vec::new(),
            rollout: None,
            pending: Vec::new(),
            edge_store: None,
        }
    }

    /// Parses a stored config. A stable version is required; a broken canary part (bad version,
    /// weight over 100) is dropped so stable keeps being served, and reported in the second value.
    pub fn parse(bytes: &[u8]) -> Result<(ChannelConfig, Option<String>), ChannelConfigError> {
        let mut config: ChannelConfig = serde_json::from_slice(bytes)?;
        if config.schema != CHANNEL_SCHEMA || config.version != 1 {
            return Err(ChannelConfigError::Unsupported { schema: config.schema, version: config.version });
        }
        if !valid_version(&config.stable) {
            return Err(ChannelConfigError::InvalidStable(config.stable));
        }
        // A config written before announcements moved to `pending`: keep its operator's change.
        if let Some(rollout) = config.rollout.as_mut() {
            if let Some(text) = rollout.unannounced.take() {
                // The same id every time this config is read, so a retried announcement of it is
                // recognised as one.
                let id = legacy_event_id(&config.channel, &rollout.release, &text, config.history.len());
                let mut event = ReleaseEvent::new(
                    &config.channel,
                    &rollout.release,
                    ReleaseChange::Operator,
                    config.weight,
                    config.weight,
                    Some(text),
                );
                event.id = id;
                config.pending.push(PendingAnnouncement { event, published: false });
            }
        }
        let mut problem = None;
        if let Some(canary) = &config.canary {
            if !valid_version(canary) || config.weight > 100 {
                problem = Some(format!("canary {canary:?} at weight {} ignored", config.weight));
                config.canary = None;
                config.weight = 0;
            }
        }
        Ok((config, problem))
    }

    /// Queues `event` to be announced with the change it describes (written together).
    pub fn announce(&mut self, event: ReleaseEvent) {
        self.pending.push(PendingAnnouncement { event, published: false });
    }

    pub fn choose(&self, cohort: u16, cohort_count: u16) -> Choice<'_> {
        match &self.canary {
            Some(canary) if cohort::in_canary(cohort, self.weight, cohort_count) => {
                Choice { version: canary, canary: true }
            }
            _ => Choice { version: &self.stable, canary: false },
        }
    }
}

fn legacy_event_id(channel: &str, release: &str, text: &str, history: usize) -> String {
    use sha2::{Digest, Sha256};
    let digest = Sha256::digest(format!("{channel}\0{release}\0{text}\0{history}"));
    let hex: String = digest.iter().take(8).map(|b| format!("{b:02x}")).collect();
    format!("{channel}-legacy-{hex}")
}

/// The KeyValueStore's documented limits (CloudFront Developer Guide, key value store quotas): a
/// key of at most 512 bytes and a value of at most 1 KB.
pub const MAX_EDGE_KEY_BYTES: usize = 512;
pub const MAX_EDGE_VALUE_BYTES: usize = 1024;

/// What the edge function reads for a channel from the CloudFront KeyValueStore (the key is the
/// channel's name): only what routing needs, so the value stays far below the store's 1 KB. The
/// channel config in S3 stays the source of truth and the history; this is written from it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EdgeEntry {
    pub stable: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub canary: Option<String>,
    #[serde(default)]
    pub weight: u8,
}

impl EdgeEntry {
    pub fn of(config: &ChannelConfig) -> Self {
        EdgeEntry {
            stable: config.stable.clone(),
            canary: config.canary.clone(),
            weight: if config.canary.is_some() { config.weight } else { 0 },
        }
    }

    /// The value as stored: compact JSON, e.g. `{"stable":"1.4.0","canary":"1.5.0","weight":5}`.
    pub fn to_value(&self) -> String {
        // Serialising three plain fields cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    pub fn parse(value: &str) -> Option<Self> {
        serde_json::from_str(value).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn edge_entries_carry_only_routing_and_fit_the_store() {
        let mut config = config(5);
        assert_eq!(EdgeEntry::of(&config).to_value(), r#"{"stable":"1.0.0","canary":"2.0.0","weight":5}"#);
        config.canary = None;
        assert_eq!(EdgeEntry::of(&config).to_value(), r#"{"stable":"1.0.0","weight":0}"#);
        // The longest versions a channel accepts still fit a KeyValueStore value.
        let longest = "9".repeat(64);
        let entry = EdgeEntry { stable: longest.clone(), canary: Some(longest), weight: 100 };
        assert!(entry.to_value().len() < MAX_EDGE_VALUE_BYTES / 4, "{}", entry.to_value().len());
        assert_eq!(EdgeEntry::parse(&entry.to_value()), Some(entry));
    }

    fn config(weight: u8) -> ChannelConfig {
        ChannelConfig { canary: Some("2.0.0".into()), weight, ..ChannelConfig::new("sdk", "1.0.0") }
    }

    #[test]
    fn weight_picks_cohorts() {
        let at = |w: u8| (0..10).filter(|&c| config(w).choose(c, 10).canary).count();
        assert_eq!((at(0), at(50), at(100)), (0, 5, 10));
        assert_eq!(config(50).choose(4, 10).version, "2.0.0");
        assert_eq!(config(50).choose(5, 10).version, "1.0.0");
    }

    #[test]
    fn broken_canary_falls_back_to_stable() {
        let json = br#"{"schema":"media-edge.channel","version":1,"channel":"sdk","stable":"1.0.0","canary":"../x","weight":50}"#;
        let (config, problem) = ChannelConfig::parse(json).unwrap();
        assert!(config.canary.is_none() && problem.is_some());
        assert!(ChannelConfig::parse(br#"{"schema":"media-edge.channel","version":1,"channel":"sdk","stable":"../"}"#)
            .is_err());
        assert!(ChannelConfig::parse(b"not json").is_err());
    }
}
