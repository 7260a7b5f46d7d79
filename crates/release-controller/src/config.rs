//! The controller's settings, from its environment (the template sets them).

use media_edge_shared::env::{self, ConfigError, Vars};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ControllerConfig {
    /// `RELEASES_BUCKET`: where the channel configs are.
    pub bucket: String,
    /// `CHANNELS`: comma-separated channels to look after.
    pub channels: Vec<String>,
    /// `STATUS_TOPIC_ARN`: where state changes are announced (the notifier posts them to Slack).
    pub status_topic_arn: String,
    /// `RELEASE_STORE_ARN`: the edge KeyValueStore, written with every change (edge routing).
    pub store_arn: Option<String>,
    /// `DISTRIBUTION_ID`: with origin routing, a rollback also invalidates the channel's paths.
    pub distribution_id: Option<String>,
}

impl ControllerConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env::ProcessEnv)
    }

    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let channels = edge_router::config::channels_from_vars(vars)?;
        let optional = |name: &str| env::optional(vars, name).filter(|v| !v.trim().is_empty());
        Ok(ControllerConfig {
            bucket: env::required(vars, "RELEASES_BUCKET")?,
            channels,
            status_topic_arn: env::required(vars, "STATUS_TOPIC_ARN")?,
            store_arn: optional("RELEASE_STORE_ARN"),
            distribution_id: optional("DISTRIBUTION_ID"),
        })
    }
}
