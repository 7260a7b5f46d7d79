//! The notifier's configuration, from environment variables.

use media_edge_shared::env::{self, ConfigError, Vars};

use crate::digest::DigestSettings;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotifierConfig {
    /// `CHATBOT_TOPIC_ARN`: the SNS topic AWS Chatbot is subscribed to.
    pub chatbot_topic_arn: String,
    /// `DEPLOYMENT_LABEL` (default `media-edge`) and `MAX_LISTED_FAILURES` (default 15).
    pub digest: DigestSettings,
}

impl NotifierConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env::ProcessEnv)
    }

    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        Ok(NotifierConfig {
            chatbot_topic_arn: env::required(vars, "CHATBOT_TOPIC_ARN")?,
            digest: DigestSettings {
                label: env::optional(vars, "DEPLOYMENT_LABEL").unwrap_or_else(|| "media-edge".into()),
                max_listed: env::parsed_or(vars, "MAX_LISTED_FAILURES", 15)?,
            },
        })
    }
}
