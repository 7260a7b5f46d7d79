//! Release controls over the channel config in S3 (what `media-edge release …` runs).
//!
//! Every change is a conditional write on the config's ETag (`If-Match`, or `If-None-Match: *`
//! when creating it), so two operators cannot silently overwrite each other: the second one gets
//! a conflict and re-runs against the new state. Every change is appended to the config's history.

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use media_edge_shared::failure::describe_sdk_error;
use media_edge_shared::status::now_rfc3339;

use crate::channel::{valid_version, Change, ChannelConfig};
use crate::cohort;
use crate::config::{channel_key, release_key};
use crate::router::content_type_for;

/// Published files never change (a new release is a new version): browsers and CDNs may keep them.
pub const RELEASE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
const MAX_HISTORY: usize = 200;

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{0}")]
    Invalid(String),
    #[error("the channel config changed since it was read (someone else released); run the command again")]
    Conflict,
    #[error("S3: {0}")]
    Storage(String),
    #[error("{0}")]
    Io(String),
}

pub struct ReleaseControl {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub channel: String,
    pub cohort_count: u16,
    /// Recorded in the history as who made each change.
    pub actor: String,
}

/// A channel config as read, with the ETag a write must match (`None`: there is none yet).
pub struct Current {
    pub config: Option<ChannelConfig>,
    etag: Option<String>,
}

impl ReleaseControl {
    pub async fn read(&self) -> Result<Current, ReleaseError> {
        match self.s3.get_object().bucket(&self.bucket).key(channel_key(&self.channel)).send().await {
            Ok(object) => {
                let etag = object.e_tag().map(str::to_string);
                let bytes = object.body.collect().await.map_err(|e| ReleaseError::Storage(e.to_string()))?.into_bytes();
                let (config, _) = ChannelConfig::parse(&bytes).map_err(ReleaseError::Invalid)?;
                Ok(Current { config: Some(config), etag })
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                Ok(Current { config: None, etag: None })
            }
            Err(e) => Err(ReleaseError::Storage(describe_sdk_error(&e))),
        }
    }

    /// Writes a weight change based on an earlier read (for tests of concurrent operators).
    #[doc(hidden)]
    pub async fn write_for_test(&self, current: &Current, weight: u8) -> Result<ChannelConfig, ReleaseError> {
        let config = current.config.clone().ok_or_else(no_config)?;
        self.write(current, ChannelConfig { weight, ..config }, format!("weight {weight}%")).await
    }

    async fn write(
        &self,
        current: &Current,
        mut config: ChannelConfig,
        action: String,
    ) -> Result<ChannelConfig, ReleaseError> {
        config.history.push(Change { at: now_rfc3339(), by: self.actor.clone(), action });
        if config.history.len() > MAX_HISTORY {
            config.history.drain(..config.history.len() - MAX_HISTORY);
        }
        let body = serde_json::to_vec_pretty(&config).map_err(|e| ReleaseError::Invalid(e.to_string()))?;
        let mut request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(channel_key(&self.channel))
            .body(ByteStream::from(body))
            .content_type("application/json")
            .cache_control("no-store");
        request = match &current.etag {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        request.send().await.map_err(|e| {
            let status = e.raw_response().map(|r| r.status().as_u16());
            if matches!(status, Some(412) | Some(409)) {
                ReleaseError::Conflict
            } else {
                ReleaseError::Storage(describe_sdk_error(&e))
            }
        })?;
        Ok(config)
    }

    async fn version_exists(&self, version: &str) -> Result<bool, ReleaseError> {
        let listed = self
            .s3
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(format!("releases/{}/{version}/", self.channel))
            .max_keys(1)
            .send()
            .await
            .map_err(|e| ReleaseError::Storage(describe_sdk_error(&e)))?;
        Ok(listed.key_count().unwrap_or(0) > 0)
    }

    /// Uploads `dir` as `version`. Refuses an existing version. The first version of a channel
    /// becomes its stable version.
    pub async fn publish(&self, version: &str, dir: &Path) -> Result<(usize, Option<ChannelConfig>), ReleaseError> {
        if !valid_version(version) {
            return Err(ReleaseError::Invalid(format!(
                "{version:?} is not a valid version (letters, digits, . _ - +)"
            )));
        }
        if self.version_exists(version).await? {
            return Err(ReleaseError::Invalid(format!(
                "version {version} is already published; versions are immutable"
            )));
        }
        let files = list_files(dir).map_err(|e| ReleaseError::Io(format!("{}: {e}", dir.display())))?;
        if files.is_empty() {
            return Err(ReleaseError::Invalid(format!("{} has no files", dir.display())));
        }
        for file in &files {
            let relative = file.strip_prefix(dir).map_err(|e| ReleaseError::Io(e.to_string()))?;
            let relative = relative.to_string_lossy().replace('\\', "/");
            let key = release_key(&self.channel, version, &relative);
            let body =
                ByteStream::from_path(file).await.map_err(|e| ReleaseError::Io(format!("{}: {e}", file.display())))?;
            self.s3
                .put_object()
                .bucket(&self.bucket)
                .key(&key)
                .body(body)
                .content_type(content_type_for(&relative))
                .cache_control(RELEASE_CACHE_CONTROL)
                .send()
                .await
                .map_err(|e| ReleaseError::Storage(describe_sdk_error(&e)))?;
        }
        let current = self.read().await?;
        let created = match current.config {
            None => Some(
                self.write(
                    &current,
                    ChannelConfig::new(&self.channel, version),
                    format!("first release {version} as stable"),
                )
                .await?,
            ),
            Some(_) => None,
        };
        Ok((files.len(), created))
    }

    pub async fn canary(&self, version: &str, weight: u8) -> Result<ChannelConfig, ReleaseError> {
        check_weight(weight)?;
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        if version == config.stable {
            return Err(ReleaseError::Invalid(format!("{version} is already the stable version")));
        }
        if !self.version_exists(version).await? {
            return Err(ReleaseError::Invalid(format!("version {version} is not published")));
        }
        let next = ChannelConfig { canary: Some(version.to_string()), weight, ..config };
        self.write(&current, next, format!("canary {version} at {weight}%")).await
    }

    pub async fn set_weight(&self, weight: u8) -> Result<ChannelConfig, ReleaseError> {
        check_weight(weight)?;
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        let canary = config.canary.clone().ok_or_else(|| {
            ReleaseError::Invalid("there is no canary; start one with `canary VERSION --weight W`".into())
        })?;
        let previous = config.weight;
        let next = ChannelConfig { weight, ..config };
        self.write(&current, next, format!("canary {canary} weight {previous}% → {weight}%")).await
    }

    pub async fn promote(&self) -> Result<ChannelConfig, ReleaseError> {
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        let canary =
            config.canary.clone().ok_or_else(|| ReleaseError::Invalid("there is no canary to promote".into()))?;
        let action = format!("promote {canary} to stable (was {})", config.stable);
        let next = ChannelConfig { stable: canary, canary: None, weight: 0, ..config };
        self.write(&current, next, action).await
    }

    /// Weight 0 at once: every viewer is back on stable as soon as caches expire (or are invalidated).
    pub async fn rollback(&self) -> Result<ChannelConfig, ReleaseError> {
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        let action =
            format!("rollback: canary {} weight {}% → 0%", config.canary.as_deref().unwrap_or("-"), config.weight);
        let next = ChannelConfig { weight: 0, ..config };
        self.write(&current, next, action).await
    }
}

fn check_weight(weight: u8) -> Result<(), ReleaseError> {
    if weight > 100 {
        return Err(ReleaseError::Invalid(format!("weight {weight} is over 100")));
    }
    Ok(())
}

fn no_config() -> ReleaseError {
    ReleaseError::Invalid("the channel has no releases yet; `publish` one first".into())
}

fn list_files(dir: &Path) -> std::io::Result<Vec<PathBuf>> {
    let mut files = Vec::new();
    let mut pending = vec![dir.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next)? {
            let entry = entry?;
            let kind = entry.file_type()?;
            if kind.is_dir() {
                pending.push(entry.path());
            } else if kind.is_file() {
                files.push(entry.path());
            }
        }
    }
    files.sort();
    Ok(files)
}

/// What `status` shows: versions, the weight asked for and the share it really gives.
pub fn describe(config: &ChannelConfig, cohort_count: u16) -> String {
    let mut out = format!("channel {}\n  stable  {}\n", config.channel, config.stable);
    match &config.canary {
        None => out.push_str("  canary  none\n"),
        Some(canary) => {
            let cohorts = cohort::canary_cohorts(config.weight, cohort_count);
            let effective = 100.0 * f64::from(cohorts) / f64::from(cohort_count);
            out.push_str(&format!(
                "  canary  {canary} at weight {}%: {cohorts} of {cohort_count} cohorts ({effective:.0}% of viewers)\n",
                config.weight
            ));
            if (effective - f64::from(config.weight)).abs() > f64::EPSILON {
                out.push_str(&format!(
                    "  warning: {} cohorts give weights in steps of {:.0}%; {}% is served as {effective:.0}%\n",
                    cohort_count,
                    100.0 / f64::from(cohort_count),
                    config.weight
                ));
            }
            let list = |canary: bool| {
                (0..cohort_count)
                    .filter(|&c| cohort::in_canary(c, config.weight, cohort_count) == canary)
                    .map(|c| c.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            out.push_str(&format!("  cohorts on canary: [{}]  on stable: [{}]\n", list(true), list(false)));
        }
    }
    if let Some(last) = config.history.last() {
        out.push_str(&format!("  last change {} by {}: {}\n", last.at, last.by, last.action));
    }
    out
}
