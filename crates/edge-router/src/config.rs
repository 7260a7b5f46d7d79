//! The router's configuration, from environment variables.

use std::time::Duration;

use media_edge_shared::env::{self, ConfigError, Vars};

/// Cohorts per viewer population. See docs/edge-router.md for the trade-off (weight steps of 100/N %
/// against N cached copies per object per edge location).
pub const DEFAULT_COHORTS: u16 = 20;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RouterConfig {
    /// `RELEASES_BUCKET`.
    pub bucket: String,
    /// `CHANNELS`: comma-separated channel names, the first path segment (`sdk,app`).
    pub channels: Vec<String>,
    /// `COHORT_COUNT` (N); must match the CloudFront Function's.
    pub cohort_count: u16,
    /// `CONFIG_TTL_SECONDS` (default 5): how long a channel config is used before re-reading it.
    pub config_ttl: Duration,
    /// `CACHE_SECONDS` (default 60): shared-cache TTL of served files, so weight changes spread fast.
    pub cache_seconds: u32,
}

impl RouterConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env::ProcessEnv)
    }

    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let channels = channels_from_vars(vars)?;
        let cohort_count: u16 = env::parsed_or(vars, "COHORT_COUNT", DEFAULT_COHORTS)?;
        // A cohort travels as 1–3 digits (cookie and header): at most 1000 cohorts.
        if !(1..=1000).contains(&cohort_count) {
            return Err(env::invalid("COHORT_COUNT", &cohort_count.to_string(), "must be 1–1000"));
        }
        Ok(RouterConfig {
            bucket: env::required(vars, "RELEASES_BUCKET")?,
            channels,
            cohort_count,
            config_ttl: Duration::from_secs(env::parsed_or(vars, "CONFIG_TTL_SECONDS", 5)?),
            cache_seconds: env::parsed_or(vars, "CACHE_SECONDS", 60)?,
        })
    }
}

/// `CHANNELS`: comma-separated channel names (the first path segment), at least one.
pub fn channels_from_vars(vars: &impl Vars) -> Result<Vec<String>, ConfigError> {
    let channels: Vec<String> =
        env::required(vars, "CHANNELS")?.split(',').map(|c| c.trim().to_string()).filter(|c| !c.is_empty()).collect();
    if channels.is_empty() || !channels.iter().all(|c| crate::channel::valid_version(c)) {
        return Err(env::invalid("CHANNELS", &channels.join(","), "names of letters, digits, . _ -"));
    }
    Ok(channels)
}

/// Where things live in the releases bucket.
pub fn channel_key(channel: &str) -> String {
    format!("channels/{channel}.json")
}

pub fn release_key(channel: &str, version: &str, file: &str) -> String {
    format!("releases/{channel}/{version}/{file}")
}
