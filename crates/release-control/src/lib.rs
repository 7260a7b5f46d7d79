//! Release controls over the channel config in S3 (what `media-edge release …` runs), and the
//! CloudFront invalidation a rollback may ask for: everything that changes what viewers get.
//!
//! Every change is a conditional write on the config's ETag (`If-Match`, or `If-None-Match: *`
//! when creating it), so two operators cannot silently overwrite each other: the second one gets
//! a conflict and re-runs against the new state. Every change is appended to the config's history.
//!
//! With an edge store (ReleaseRouting=edge), every change is then copied to the CloudFront
//! KeyValueStore the edge function routes by: the S3 config stays the source of truth.

pub mod edge_store;
mod error;
pub mod migration;
mod migration_commands;
pub mod rollout;
mod rollout_commands;

use std::path::{Path, PathBuf};

use aws_sdk_s3::primitives::ByteStream;
use media_edge_shared::aws::describe_sdk_error;
use media_edge_shared::status::now_rfc3339;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use edge_router::channel::{valid_version, Change, ChannelConfig, EdgeEntry, PendingAnnouncement};
use edge_router::cohort;
use edge_router::config::{channel_key, release_key};
use edge_router::router::content_type_for;

pub use edge_store::{EdgeStore, EdgeStoreError};
use error::no_config;
pub use error::ReleaseError;
pub use migration_commands::{CurrentState, MigrationControl, MigrationStatus};

/// Cohorts N when neither `--cohorts` nor COHORT_COUNT says: the template's CohortCount default
/// (1% steps; with ReleaseRouting=origin pass the stack's value, 20 keeps its cache hits).
pub const DEFAULT_COHORTS: u16 = 100;

/// Published files never change (a new release is a new version): browsers and CDNs may keep them.
pub const RELEASE_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
const MAX_HISTORY: usize = 200;

/// Writers racing on the edge store each retry this often before giving up.
const EDGE_WRITE_ATTEMPTS: usize = 5;

pub struct ReleaseControl {
    pub s3: aws_sdk_s3::Client,
    pub bucket: String,
    pub channel: String,
    pub cohort_count: u16,
    /// Recorded in the history as who made each change.
    pub actor: String,
    /// The KeyValueStore the edge function reads (`None`: routing by the origin router only).
    pub edge: Option<EdgeStore>,
}

/// What the edge store holds for the channel, beside what the S3 config says it should.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EdgeStatus {
    /// The stored value as it is (`None`: no entry).
    pub stored: Option<String>,
    /// The entry the S3 config gives (`None`: the channel has no config).
    pub expected: Option<EdgeEntry>,
}

impl EdgeStatus {
    pub fn in_sync(&self) -> bool {
        match (&self.stored, &self.expected) {
            (Some(stored), Some(expected)) => EdgeEntry::parse(stored).as_ref() == Some(expected),
            (None, None) => true,
            _ => false,
        }
    }
}

/// A channel config as read, with the ETag a write must match (`None`: there is none yet).
#[derive(Debug, Clone)]
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
                let (config, _) = ChannelConfig::parse(&bytes).map_err(|e| ReleaseError::Invalid(e.to_string()))?;
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
        config: ChannelConfig,
        action: String,
    ) -> Result<ChannelConfig, ReleaseError> {
        match self.write_current(current, config, action).await? {
            (written, None) => written.config.ok_or_else(no_config),
            (_, Some(why)) => Err(ReleaseError::EdgeNotUpdated(why)),
        }
    }

    /// Writes `config` (with `action` in its history) if the stored config is still `current`,
    /// then, when its routing changed, copies it to the edge store. Returns what was written and,
    /// if the copy failed, why (the change is made: S3 is the source of truth).
    pub(crate) async fn write_current(
        &self,
        current: &Current,
        mut config: ChannelConfig,
        action: String,
    ) -> Result<(Current, Option<String>), ReleaseError> {
        config.history.push(Change { at: now_rfc3339(), by: self.actor.clone(), action });
        if config.history.len() > MAX_HISTORY {
            config.history.drain(..config.history.len() - MAX_HISTORY);
        }
        let routing_changed = current.config.as_ref().map(EdgeEntry::of) != Some(EdgeEntry::of(&config));
        // A rollout step written to S3 is marked as not yet at the edge until the store has it, in
        // the same write: however the copy fails (an outage, a crash), the controller restarts the
        // step once the store holds it, whoever copies it.
        let guarded = routing_changed && self.edge.is_some() && in_motion(&config);
        if let Some(rollout) = config.rollout.as_mut().filter(|_| guarded) {
            rollout.edge_pending = true;
        }
        let written = self.put_config(current, config).await?;
        if !routing_changed {
            return Ok((written, None));
        }
        match self.sync_edge().await {
            Ok(_) if guarded => Ok((self.edge_confirmed(written).await, None)),
            Ok(_) => Ok((written, None)),
            Err(ReleaseError::EdgeNotUpdated(why)) => Ok((written, Some(why))),
            Err(e) => Ok((written, Some(e.to_string()))),
        }
    }

    /// Clears the rollout's `edge_pending` once the store took the step. If this write fails the
    /// flag stays and the controller's next run restarts the step: a little later, never early.
    async fn edge_confirmed(&self, written: Current) -> Current {
        let Some(mut config) = written.config.clone() else { return written };
        if let Some(rollout) = config.rollout.as_mut() {
            rollout.edge_pending = false;
        }
        match self.put_config(&written, config).await {
            Ok(confirmed) => confirmed,
            Err(e) => {
                tracing::warn!(channel = self.channel, error = %e, "the edge store has the step; its flag stays set");
                written
            }
        }
    }

    /// The conditional write itself: `If-Match` the ETag read (`If-None-Match: *` for a new
    /// channel), so a writer that read an older config is refused with [`ReleaseError::Conflict`].
    async fn put_config(&self, current: &Current, config: ChannelConfig) -> Result<Current, ReleaseError> {
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
        let written = request.send().await.map_err(|e| {
            let status = e.raw_response().map(|r| r.status().as_u16());
            if matches!(status, Some(412) | Some(409)) {
                ReleaseError::Conflict
            } else {
                ReleaseError::Storage(describe_sdk_error(&e))
            }
        })?;
        Ok(Current { config: Some(config), etag: written.e_tag().map(str::to_string) })
    }

    /// Records how far the announcements got: `done` ones leave the config, `published` ones
    /// (their follow-up failed) are marked so they are not published again. Re-reads and retries
    /// when another writer changed the config meanwhile. No history entry: nothing changed for
    /// viewers.
    pub async fn settle_announcements(
        &self,
        mut current: Current,
        done: &[String],
        published: &[String],
    ) -> Result<Current, ReleaseError> {
        for _ in 0..EDGE_WRITE_ATTEMPTS {
            let Some(mut config) = current.config.clone() else { return Ok(current) };
            let before = config.pending.clone();
            config.pending.retain(|p| !done.contains(&p.event.id));
            for p in &mut config.pending {
                p.published |= published.contains(&p.event.id);
            }
            if config.pending == before {
                return Ok(current);
            }
            match self.put_config(&current, config).await {
                Ok(written) => return Ok(written),
                Err(ReleaseError::Conflict) => current = self.read().await?,
                Err(e) => return Err(e),
            }
        }
        Err(ReleaseError::Conflict)
    }

    /// Whether the edge store holds what the config says, copying it if not (nothing to do
    /// without a store, or for a channel without a config).
    pub async fn edge_sync(&self) -> rollout::EdgeSync {
        use rollout::EdgeSync;
        match self.edge_status().await {
            Ok(Some(status)) if status.expected.is_some() && !status.in_sync() => match self.sync_edge().await {
                Ok(_) => EdgeSync::CaughtUp,
                Err(ReleaseError::EdgeNotUpdated(why)) => EdgeSync::Behind(why),
                Err(e) => EdgeSync::Behind(e.to_string()),
            },
            Ok(_) => EdgeSync::InSync,
            Err(e) => EdgeSync::Behind(e.to_string()),
        }
    }

    /// Records in the config which edge store the deployed controller keeps (`None`: origin
    /// routing), so commands run without `--store-arn` find it.
    pub async fn record_edge_store(&self, current: Current) -> Result<Current, ReleaseError> {
        let arn = self.edge.as_ref().map(|e| e.arn.clone());
        let Some(config) = current.config.clone() else { return Ok(current) };
        if config.edge_store == arn {
            return Ok(current);
        }
        let action = match &arn {
            Some(arn) => format!("routing at the edge: store {arn}"),
            None => "routing at the origin (no edge store)".into(),
        };
        Ok(self.write_current(&current, ChannelConfig { edge_store: arn, ..config }, action).await?.0)
    }

    /// Copies the channel's S3 config to the edge store (nothing without one). Each attempt reads
    /// the store's ETag *before* the S3 config and writes only if the store still has that ETag, so
    /// of two operators racing, the one whose write lands last wrote what S3 held after the other's
    /// change: the store ends at the newest config, never at an older one.
    pub async fn sync_edge(&self) -> Result<Option<EdgeEntry>, ReleaseError> {
        let Some(edge) = &self.edge else { return Ok(None) };
        let not_updated = |e: EdgeStoreError| ReleaseError::EdgeNotUpdated(e.to_string());
        for _ in 0..EDGE_WRITE_ATTEMPTS {
            let etag = edge.etag().await.map_err(not_updated)?;
            let config = self.read().await?.config.ok_or_else(no_config)?;
            let entry = EdgeEntry::of(&config);
            match edge.put(&self.channel, &entry, &etag).await {
                Ok(()) => return Ok(Some(entry)),
                Err(EdgeStoreError::Conflict) => continue,
                Err(e) => return Err(not_updated(e)),
            }
        }
        Err(ReleaseError::EdgeNotUpdated(format!(
            "the store changed under each of {EDGE_WRITE_ATTEMPTS} attempts (other writers)"
        )))
    }

    /// What the edge store holds for the channel and whether it is what the S3 config says.
    pub async fn edge_status(&self) -> Result<Option<EdgeStatus>, ReleaseError> {
        let Some(edge) = &self.edge else { return Ok(None) };
        let stored = edge.get(&self.channel).await.map_err(|e| ReleaseError::Storage(e.to_string()))?;
        let expected = self.read().await?.config.as_ref().map(EdgeEntry::of);
        Ok(Some(EdgeStatus { stored, expected }))
    }

    /// The version's publish record, with its ETag (`None`: never published through a record).
    async fn read_record(&self, version: &str) -> Result<Option<(PublishRecord, String)>, ReleaseError> {
        match self.s3.get_object().bucket(&self.bucket).key(record_key(&self.channel, version)).send().await {
            Ok(object) => {
                let etag = object.e_tag().unwrap_or_default().to_string();
                let bytes = object.body.collect().await.map_err(|e| ReleaseError::Storage(e.to_string()))?.into_bytes();
                let record: PublishRecord = serde_json::from_slice(&bytes)
                    .map_err(|e| ReleaseError::Invalid(format!("publish record of {version} is unreadable: {e}")))?;
                Ok(Some((record, etag)))
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => Ok(None),
            Err(e) => Err(ReleaseError::Storage(describe_sdk_error(&e))),
        }
    }

    /// Writes the record if it is still at `etag` (`None`: only if there is none), returning the new
    /// ETag. `Ok(None)`: it changed (another operator); re-read it.
    async fn write_record(&self, record: &PublishRecord, etag: Option<&str>) -> Result<Option<String>, ReleaseError> {
        let body = serde_json::to_vec_pretty(record).map_err(|e| ReleaseError::Invalid(e.to_string()))?;
        let request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(record_key(&self.channel, &record.release))
            .body(ByteStream::from(body))
            .content_type("application/json")
            .cache_control("no-store");
        let request = match etag {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        match request.send().await {
            Ok(written) => Ok(Some(written.e_tag().unwrap_or_default().to_string())),
            Err(e) if e.raw_response().is_some_and(|r| matches!(r.status().as_u16(), 409 | 412)) => Ok(None),
            Err(e) => Err(ReleaseError::Storage(describe_sdk_error(&e))),
        }
    }

    /// Only a version whose publish completed may be served.
    async fn require_complete(&self, version: &str) -> Result<(), ReleaseError> {
        match self.read_record(version).await? {
            Some((record, _)) if record.state == PublishState::Complete => Ok(()),
            Some((record, _)) => Err(ReleaseError::Invalid(format!(
                "version {version} is not completely published (started by {} at {}); \
                 run `publish {version} DIR` again to finish it",
                record.by, record.started_at
            ))),
            None => Err(ReleaseError::Invalid(format!("version {version} is not published"))),
        }
    }

    /// Uploads `dir` as `version`, completely or not at all: a publish record claims the version
    /// with the content's digest before any file is written and is marked complete only when every
    /// file is in place, and only complete versions can become a canary or stable. Re-running an
    /// interrupted publish of the same content resumes it (files already there are skipped);
    /// publishing a complete version again with the same content changes nothing; different
    /// content for a claimed version is refused, so immutable keys never change under viewers.
    /// `replace_incomplete` lets an abandoned, never-completed publish of other content be replaced.
    pub async fn publish(
        &self,
        version: &str,
        dir: &Path,
        replace_incomplete: bool,
    ) -> Result<PublishReport, ReleaseError> {
        if !valid_version(version) {
            return Err(ReleaseError::Invalid(format!(
                "{version:?} is not a valid version (letters, digits, . _ - +)"
            )));
        }
        let files = local_files(dir)?;
        if files.is_empty() {
            return Err(ReleaseError::Invalid(format!("{} has no files", dir.display())));
        }
        let digest = content_digest(&files);
        let mut report = PublishReport { files: files.len(), ..PublishReport::default() };

        // Claim the version (or find the claim of an earlier, identical attempt).
        let record_etag = loop {
            let fresh = PublishRecord::new(&self.channel, version, &digest, &files, &self.actor);
            match self.read_record(version).await? {
                None => {
                    if let Some(etag) = self.write_record(&fresh, None).await? {
                        break etag;
                    }
                }
                Some((existing, etag)) => match (existing.state, existing.digest == digest) {
                    (PublishState::Complete, true) => {
                        report.already_complete = true;
                        return Ok(report);
                    }
                    (PublishState::Complete, false) => {
                        return Err(ReleaseError::Invalid(format!(
                            "version {version} is already published with different content; versions are immutable"
                        )))
                    }
                    (PublishState::Publishing, true) => {
                        report.resumed = true;
                        break etag;
                    }
                    (PublishState::Publishing, false) if replace_incomplete => {
                        if let Some(etag) = self.write_record(&fresh, Some(&etag)).await? {
                            report.replaced_incomplete = true;
                            break etag;
                        }
                    }
                    (PublishState::Publishing, false) => {
                        return Err(ReleaseError::Invalid(format!(
                            "version {version} is being published with different content (started by {} at {}); \
                             if that publish was abandoned, run again with --replace-incomplete",
                            existing.by, existing.started_at
                        )))
                    }
                },
            }
        };

        // A version a channel serves is never rewritten, even if it predates publish records.
        let channel = self.read().await?.config;
        let live = channel.as_ref().is_some_and(|c| c.stable == version || c.canary.as_deref() == Some(version));
        for file in &files {
            let key = release_key(&self.channel, version, &file.path);
            match self.remote_checksum(&key).await? {
                Some(remote) if remote == file.sha256 => report.skipped += 1,
                Some(_) if live => {
                    return Err(ReleaseError::Invalid(format!(
                        "{key} differs from {} but version {version} is being served; publish a new version",
                        file.path
                    )))
                }
                _ => {
                    self.upload(&key, file).await?;
                    report.uploaded += 1;
                }
            }
        }
        // Files an abandoned attempt with other content left behind do not belong to this version.
        let wanted: std::collections::HashSet<String> =
            files.iter().map(|f| release_key(&self.channel, version, &f.path)).collect();
        for key in self.list_keys(&format!("releases/{}/{version}/", self.channel)).await? {
            if !wanted.contains(&key) {
                if live {
                    return Err(ReleaseError::Invalid(format!("{key} is not in {}", dir.display())));
                }
                self.s3
                    .delete_object()
                    .bucket(&self.bucket)
                    .key(&key)
                    .send()
                    .await
                    .map_err(|e| ReleaseError::Storage(describe_sdk_error(&e)))?;
                report.removed += 1;
            }
        }

        let mut complete = PublishRecord::new(&self.channel, version, &digest, &files, &self.actor);
        complete.state = PublishState::Complete;
        complete.completed_at = Some(now_rfc3339());
        if self.write_record(&complete, Some(&record_etag)).await?.is_none() {
            // Someone else finished the same publish first: fine if it is the same content.
            match self.read_record(version).await? {
                Some((other, _)) if other.state == PublishState::Complete && other.digest == digest => {}
                _ => return Err(ReleaseError::Conflict),
            }
        }

        let current = self.read().await?;
        if current.config.is_none() {
            let first = ChannelConfig::new(&self.channel, version);
            report.channel_created =
                Some(self.write(&current, first, format!("first release {version} as stable")).await?);
        }
        Ok(report)
    }

    /// The SHA-256 a published file was stored with (`Some("")` for a file without one).
    async fn remote_checksum(&self, key: &str) -> Result<Option<String>, ReleaseError> {
        match self.s3.head_object().bucket(&self.bucket).key(key).send().await {
            Ok(head) => Ok(Some(head.metadata().and_then(|m| m.get(CHECKSUM_METADATA)).cloned().unwrap_or_default())),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_not_found()) => Ok(None),
            Err(e) => Err(ReleaseError::Storage(describe_sdk_error(&e))),
        }
    }

    async fn upload(&self, key: &str, file: &LocalFile) -> Result<(), ReleaseError> {
        let body = ByteStream::from_path(&file.local)
            .await
            .map_err(|e| ReleaseError::Io(format!("{}: {e}", file.local.display())))?;
        self.s3
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(body)
            .content_type(content_type_for(&file.path))
            .cache_control(RELEASE_CACHE_CONTROL)
            .metadata(CHECKSUM_METADATA, &file.sha256)
            .send()
            .await
            .map_err(|e| ReleaseError::Storage(describe_sdk_error(&e)))?;
        Ok(())
    }

    async fn list_keys(&self, prefix: &str) -> Result<Vec<String>, ReleaseError> {
        let mut keys = Vec::new();
        let mut pages = self.s3.list_objects_v2().bucket(&self.bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| ReleaseError::Storage(describe_sdk_error(&e)))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        Ok(keys)
    }

    pub async fn canary(&self, version: &str, weight: u8) -> Result<ChannelConfig, ReleaseError> {
        check_weight(weight)?;
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        if version == config.stable {
            return Err(ReleaseError::Invalid(format!("{version} is already the stable version")));
        }
        self.require_complete(version).await?;
        let action = format!("canary {version} at {weight}%");
        let (rollout, cancelled) = rollout::cancelled(&config, &action, weight);
        let mut next =
            ChannelConfig { canary: Some(version.to_string()), weight, rolled_back: None, rollout, ..config };
        next.pending.extend(cancelled.map(|event| PendingAnnouncement { event, published: false }));
        self.write(&current, next, action).await
    }

    pub async fn set_weight(&self, weight: u8) -> Result<ChannelConfig, ReleaseError> {
        check_weight(weight)?;
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        let canary = config.canary.clone().ok_or_else(|| {
            ReleaseError::Invalid("there is no canary; start one with `canary VERSION --weight W`".into())
        })?;
        let action = format!("canary {canary} weight {}% → {weight}%", config.weight);
        let (rollout, cancelled) = rollout::cancelled(&config, &action, weight);
        let mut next = ChannelConfig { weight, rollout, ..config };
        next.pending.extend(cancelled.map(|event| PendingAnnouncement { event, published: false }));
        self.write(&current, next, action).await
    }

    pub async fn promote(&self) -> Result<ChannelConfig, ReleaseError> {
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        let canary = config.canary.clone().ok_or_else(|| {
            ReleaseError::Invalid(match &config.rolled_back {
                Some(bad) => format!("there is no canary to promote ({bad} was rolled back)"),
                None => "there is no canary to promote".into(),
            })
        })?;
        self.require_complete(&canary).await?;
        let action = format!("promote {canary} to stable (was {})", config.stable);
        let (rollout, cancelled) = rollout::cancelled(&config, &action, 0);
        let mut next = ChannelConfig { stable: canary, canary: None, weight: 0, rolled_back: None, rollout, ..config };
        next.pending.extend(cancelled.map(|event| PendingAnnouncement { event, published: false }));
        self.write(&current, next, action).await
    }

    /// Everyone back on stable at once (as soon as caches expire or are invalidated), and the
    /// canary withdrawn: a later `promote` cannot promote it, and `set-weight` cannot bring it back.
    /// Only `canary VERSION` starts it again, deliberately.
    pub async fn rollback(&self) -> Result<ChannelConfig, ReleaseError> {
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        let action =
            format!("rollback: canary {} weight {}% → 0%", config.canary.as_deref().unwrap_or("-"), config.weight);
        let rolled_back = config.canary.clone().or(config.rolled_back.clone());
        let (rollout, cancelled) = rollout::cancelled(&config, &action, 0);
        let mut next = ChannelConfig { canary: None, weight: 0, rolled_back, rollout, ..config };
        next.pending.extend(cancelled.map(|event| PendingAnnouncement { event, published: false }));
        self.write(&current, next, action).await
    }
}

/// A rollout that can still move viewers (running, or paused and able to roll back).
fn in_motion(config: &ChannelConfig) -> bool {
    use edge_router::channel::RolloutState;
    config.rollout.as_ref().is_some_and(|r| matches!(r.state, RolloutState::Running | RolloutState::Paused))
}

fn check_weight(weight: u8) -> Result<(), ReleaseError> {
    if weight > 100 {
        return Err(ReleaseError::Invalid(format!("weight {weight} is over 100")));
    }
    Ok(())
}

/// Where a version's publish record lives: outside `releases/`, so viewers can never fetch it.
pub fn record_key(channel: &str, version: &str) -> String {
    format!("versions/{channel}/{version}.json")
}

/// Object metadata holding a published file's SHA-256 (hex).
const CHECKSUM_METADATA: &str = "sha256";

#[derive(Debug, Default)]
pub struct PublishReport {
    pub files: usize,
    pub uploaded: usize,
    /// Already in place with the same content (a resumed publish).
    pub skipped: usize,
    /// Left by an abandoned attempt and not part of this content.
    pub removed: usize,
    pub resumed: bool,
    pub replaced_incomplete: bool,
    /// The version was already completely published with this content: nothing was done.
    pub already_complete: bool,
    /// The channel's config, when this was its first release (now its stable version).
    pub channel_created: Option<ChannelConfig>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PublishState {
    Publishing,
    Complete,
}

/// `versions/<channel>/<version>.json`: the claim on a version and, once complete, its contents.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PublishRecord {
    pub schema: String,
    pub channel: String,
    pub release: String,
    pub state: PublishState,
    /// SHA-256 over every file's path, size and SHA-256: the content's identity.
    pub digest: String,
    pub files: Vec<RecordedFile>,
    pub by: String,
    pub started_at: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecordedFile {
    pub path: String,
    pub bytes: u64,
    pub sha256: String,
}

impl PublishRecord {
    fn new(channel: &str, release: &str, digest: &str, files: &[LocalFile], by: &str) -> Self {
        PublishRecord {
            schema: "media-edge.release".into(),
            channel: channel.into(),
            release: release.into(),
            state: PublishState::Publishing,
            digest: digest.into(),
            files: files
                .iter()
                .map(|f| RecordedFile { path: f.path.clone(), bytes: f.bytes, sha256: f.sha256.clone() })
                .collect(),
            by: by.into(),
            started_at: now_rfc3339(),
            completed_at: None,
        }
    }
}

/// A file to publish: where it is, its path in the release, and what it contains.
#[derive(Debug, Clone)]
struct LocalFile {
    local: PathBuf,
    path: String,
    bytes: u64,
    sha256: String,
}

/// Every file under `dir`, sorted by release path. A symlink to a file is published as that file;
/// a symlink to a directory, a broken link or anything that is not a regular file is refused, so
/// nothing is silently left out of a release.
fn local_files(dir: &Path) -> Result<Vec<LocalFile>, ReleaseError> {
    let mut files = Vec::new();
    for entry in walkdir::WalkDir::new(dir).sort_by_file_name() {
        let entry = entry.map_err(|e| ReleaseError::Io(format!("{}: {e}", dir.display())))?;
        let path = entry.path();
        let kind = entry.file_type();
        if kind.is_dir() {
            continue;
        }
        if kind.is_symlink() {
            match std::fs::metadata(path) {
                Ok(target) if target.is_file() => {}
                Ok(_) => {
                    return Err(ReleaseError::Invalid(format!(
                        "{} is a symbolic link to a directory: copy its files into the release instead",
                        path.display()
                    )))
                }
                Err(e) => {
                    return Err(ReleaseError::Invalid(format!("{} is a broken symbolic link: {e}", path.display())))
                }
            }
        } else if !kind.is_file() {
            return Err(ReleaseError::Invalid(format!("{} is not a regular file", path.display())));
        }
        let relative = path.strip_prefix(dir).map_err(|e| ReleaseError::Io(e.to_string()))?;
        let relative = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
        let (bytes, sha256) = file_sha256(path).map_err(|e| ReleaseError::Io(format!("{}: {e}", path.display())))?;
        files.push(LocalFile { local: path.to_path_buf(), path: relative, bytes, sha256 });
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(files)
}

fn file_sha256(path: &Path) -> std::io::Result<(u64, String)> {
    let mut hasher = Sha256::new();
    let bytes = std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok((bytes, hex::encode(hasher.finalize())))
}

/// The content digest `publish` records for `dir`.
pub fn content_digest_of(dir: &Path) -> Result<String, ReleaseError> {
    Ok(content_digest(&local_files(dir)?))
}

fn content_digest(files: &[LocalFile]) -> String {
    let mut hasher = Sha256::new();
    for file in files {
        hasher.update(format!("{}\0{}\0{}\n", file.path, file.bytes, file.sha256));
    }
    hex::encode(hasher.finalize())
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
    if let Some(r) = &config.rollout {
        let steps = r.steps.iter().map(|w| format!("{w}%")).collect::<Vec<_>>().join(" → ");
        let state = serde_json::to_value(r.state).ok().and_then(|v| v.as_str().map(str::to_string)).unwrap_or_default();
        out.push_str(&format!(
            "  rollout {}: {state}, step {} of {} ({steps}), every {} s, gates {}\n",
            r.release,
            r.step + 1,
            r.steps.len(),
            r.every_seconds,
            r.gates.join(", ")
        ));
        if let Some(reason) = &r.reason {
            out.push_str(&format!("    {reason}\n"));
        }
    }
    if let Some(bad) = &config.rolled_back {
        out.push_str(&format!("  rolled back: {bad} (start it again with `canary {bad} --weight W`)\n"));
    }
    if let Some(last) = config.history.last() {
        out.push_str(&format!("  last change {} by {}: {}\n", last.at, last.by, last.action));
    }
    out
}

/// Invalidates `/<channel>` and `/<channel>/*` (the bare root has its own cache behaviour) so viewers
/// leave a withdrawn canary without waiting for cache expiry. Returns the invalidation's id.
pub async fn invalidate_channel(
    cloudfront: &aws_sdk_cloudfront::Client,
    distribution_id: &str,
    channel: &str,
) -> Result<String, ReleaseError> {
    use aws_sdk_cloudfront::types::{InvalidationBatch, Paths};
    let paths = Paths::builder()
        .quantity(2)
        .items(format!("/{channel}"))
        .items(format!("/{channel}/*"))
        .build()
        .map_err(|e| ReleaseError::Invalid(e.to_string()))?;
    let batch = InvalidationBatch::builder()
        .paths(paths)
        .caller_reference(format!("media-edge-rollback-{channel}-{}", now_rfc3339()))
        .build()
        .map_err(|e| ReleaseError::Invalid(e.to_string()))?;
    let created = cloudfront
        .create_invalidation()
        .distribution_id(distribution_id)
        .invalidation_batch(batch)
        .send()
        .await
        .map_err(|e| ReleaseError::Storage(describe_sdk_error(&e)))?;
    Ok(created.invalidation().map(|i| i.id().to_string()).unwrap_or_default())
}
