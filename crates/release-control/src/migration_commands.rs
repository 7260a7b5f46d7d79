//! `media-edge migrate …` and the release controller's turn on a migration: each reads the records
//! from Route 53 and the state from the release bucket, changes the records with an atomic batch
//! that deletes them exactly as read (refused if anyone changed them since), then writes the state
//! with a conditional write. Announcements wait in the state until the controller publishes them,
//! as a channel's do.

use aws_sdk_route53::types::{ChangeBatch, RrType};
use aws_sdk_s3::primitives::ByteStream;
use edge_router::channel::{Change as HistoryEntry, PendingAnnouncement, Rollout, RolloutState};
use media_edge_shared::aws::describe_sdk_error;
use media_edge_shared::release_event::{ReleaseChange, ReleaseEvent};
use media_edge_shared::status::now_rfc3339;

use crate::error::ReleaseError;
use crate::migration::{announced_as, fqdn, not_prepared, state_key, MigrationState, Records, RELEASE_NAME};
use crate::rollout::{check_plan, decide, Decision, EdgeSync, GateReading};

const MAX_HISTORY: usize = 200;
/// Pages of ListResourceRecordSets read at most (a name has a handful of records).
const MAX_PAGES: usize = 20;

pub struct MigrationControl {
    pub s3: aws_sdk_s3::Client,
    /// The release bucket (the state lives under `migrations/`).
    pub bucket: String,
    pub route53: aws_sdk_route53::Client,
    pub zone: String,
    /// The site's name, with the final dot.
    pub name: String,
    pub actor: String,
}

/// The state as read, with the ETag a write must match (`None`: there is none yet).
#[derive(Debug, Clone)]
pub struct CurrentState {
    pub state: MigrationState,
    etag: Option<String>,
}

/// What `migrate status` shows.
#[derive(Debug)]
pub struct MigrationStatus {
    pub records: Records,
    pub state: MigrationState,
}

impl MigrationControl {
    pub fn new(
        s3: aws_sdk_s3::Client,
        bucket: &str,
        route53: aws_sdk_route53::Client,
        zone: &str,
        name: &str,
        actor: &str,
    ) -> Self {
        MigrationControl {
            s3,
            bucket: bucket.into(),
            route53,
            zone: zone.trim_start_matches("/hostedzone/").into(),
            name: fqdn(name),
            actor: actor.into(),
        }
    }

    /// Every record set at the name (any type), as Route 53 has them now.
    pub async fn records(&self) -> Result<Records, ReleaseError> {
        let mut sets = Vec::new();
        let (mut start_name, mut start_type, mut start_id) = (Some(self.name.clone()), None::<RrType>, None::<String>);
        for _ in 0..MAX_PAGES {
            let page = self
                .route53
                .list_resource_record_sets()
                .hosted_zone_id(&self.zone)
                .set_start_record_name(start_name.take())
                .set_start_record_type(start_type.take())
                .set_start_record_identifier(start_id.take())
                .send()
                .await
                .map_err(|e| ReleaseError::Storage(format!("Route 53: {}", describe_sdk_error(&e))))?;
            let mut past = false;
            for set in page.resource_record_sets() {
                if fqdn(set.name()) == self.name {
                    sets.push(set.clone());
                } else if !sets.is_empty() {
                    past = true;
                }
            }
            if past || !page.is_truncated() {
                break;
            }
            start_name = page.next_record_name().map(str::to_string);
            start_type = page.next_record_type().cloned();
            start_id = page.next_record_identifier().map(str::to_string);
        }
        Ok(Records { sets })
    }

    /// Applies a batch; a change since the read (a delete that no longer matches) is a conflict.
    async fn change(&self, changes: Vec<aws_sdk_route53::types::Change>, comment: &str) -> Result<(), ReleaseError> {
        if changes.is_empty() {
            return Ok(());
        }
        let batch = ChangeBatch::builder()
            .comment(comment)
            .set_changes(Some(changes))
            .build()
            .map_err(|e| ReleaseError::Invalid(e.to_string()))?;
        match self.route53.change_resource_record_sets().hosted_zone_id(&self.zone).change_batch(batch).send().await {
            Ok(_) => Ok(()),
            Err(e) if e.as_service_error().is_some_and(|s| s.is_invalid_change_batch()) => {
                Err(ReleaseError::RecordsChanged(format!("{}: {}", self.name, describe_sdk_error(&e))))
            }
            Err(e) => Err(ReleaseError::Storage(format!("Route 53: {}", describe_sdk_error(&e)))),
        }
    }

    pub async fn read_state(&self) -> Result<CurrentState, ReleaseError> {
        match self.s3.get_object().bucket(&self.bucket).key(state_key(&self.name)).send().await {
            Ok(object) => {
                let etag = object.e_tag().map(str::to_string);
                let bytes = object.body.collect().await.map_err(|e| ReleaseError::Storage(e.to_string()))?.into_bytes();
                Ok(CurrentState { state: MigrationState::parse(&bytes)?, etag })
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                Ok(CurrentState { state: MigrationState::new(&self.zone, &self.name), etag: None })
            }
            Err(e) => Err(ReleaseError::Storage(describe_sdk_error(&e))),
        }
    }

    /// Writes the state if it is still `current` (with `action` in its history when given).
    async fn write_state(
        &self,
        current: &CurrentState,
        mut state: MigrationState,
        action: Option<String>,
    ) -> Result<CurrentState, ReleaseError> {
        if let Some(action) = action {
            state.history.push(HistoryEntry { at: now_rfc3339(), by: self.actor.clone(), action });
            if state.history.len() > MAX_HISTORY {
                state.history.drain(..state.history.len() - MAX_HISTORY);
            }
        }
        let body = serde_json::to_vec_pretty(&state).map_err(|e| ReleaseError::Invalid(e.to_string()))?;
        let request = self
            .s3
            .put_object()
            .bucket(&self.bucket)
            .key(state_key(&self.name))
            .body(ByteStream::from(body))
            .content_type("application/json")
            .cache_control("no-store");
        let request = match &current.etag {
            Some(etag) => request.if_match(etag),
            None => request.if_none_match("*"),
        };
        let written = request.send().await.map_err(|e| match e.raw_response().map(|r| r.status().as_u16()) {
            Some(409 | 412) => ReleaseError::Conflict,
            _ => ReleaseError::Storage(describe_sdk_error(&e)),
        })?;
        Ok(CurrentState { state, etag: written.e_tag().map(str::to_string) })
    }

    fn event(&self, change: ReleaseChange, from: u8, to: u8, reason: Option<String>) -> ReleaseEvent {
        ReleaseEvent::new(&announced_as(&self.name), RELEASE_NAME, change, from, to, reason)
    }

    /// `migrate prepare`: the name's records become the weighted pair (CloudFront at 0%).
    pub async fn prepare(
        &self,
        distribution_domain: &str,
        health_check: Option<&str>,
    ) -> Result<Records, ReleaseError> {
        let current = self.read_state().await?;
        let records = self.records().await?;
        let changes = records.prepare(distribution_domain, health_check)?;
        self.change(changes, "media-edge migrate prepare").await?;
        let mut state = current.state.clone();
        let text = format!("weighted records made: CloudFront ({distribution_domain}) at 0%, the old servers at 100%");
        state.pending.push(PendingAnnouncement {
            event: self.event(ReleaseChange::Operator, 0, 0, Some(text.clone())),
            published: false,
        });
        self.write_state(&current, state, Some(text)).await?;
        self.records().await
    }

    /// `migrate shift WEIGHT`: CloudFront gets `share` percent now. Stops a running plan (the
    /// operator wins).
    pub async fn shift(&self, share: u8) -> Result<(u8, u8, i64), ReleaseError> {
        if share > 100 {
            return Err(ReleaseError::Invalid("the weight is a percentage, 0 to 100".into()));
        }
        let current = self.read_state().await?;
        if current.state.legacy_removed_at.is_some() && share < 100 {
            return Err(legacy_gone(&current.state));
        }
        let records = self.records().await?;
        let from = records.share().ok_or_else(not_prepared)?;
        self.change(records.shift(share)?, &format!("media-edge migrate shift {share}")).await?;
        let mut state = current.state.clone();
        let action = format!("CloudFront {from}% → {share}% by hand");
        cancel_plan(&mut state, &action);
        let event = self.event(ReleaseChange::Operator, from, share, Some(action.clone()));
        state.pending.push(PendingAnnouncement { event, published: false });
        self.write_state(&current, state, Some(action)).await?;
        Ok((from, share, records.ttl()))
    }

    /// `migrate rollout`: CloudFront at the first step now; the controller does the rest.
    pub async fn start_rollout(
        &self,
        steps: &[u8],
        every_seconds: u64,
        gates: &[String],
        keep_legacy_seconds: u64,
        now: u64,
    ) -> Result<MigrationState, ReleaseError> {
        check_plan(steps, every_seconds, gates)?;
        let current = self.read_state().await?;
        if current.state.legacy_removed_at.is_some() {
            return Err(legacy_gone(&current.state));
        }
        let records = self.records().await?;
        let from = records.share().ok_or_else(not_prepared)?;
        self.change(records.shift(steps[0])?, "media-edge migrate rollout").await?;
        let mut state = current.state.clone();
        state.rollout = Some(Rollout {
            release: RELEASE_NAME.into(),
            steps: steps.to_vec(),
            every_seconds,
            gates: gates.to_vec(),
            step: 0,
            step_started: now,
            state: RolloutState::Running,
            reason: None,
            unannounced: None,
            edge_pending: false,
        });
        state.keep_legacy_seconds = keep_legacy_seconds;
        state.keep_legacy_until = None;
        let steps_text = steps.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        let action = format!(
            "rollout to CloudFront: steps {steps_text} every {every_seconds} s, gates {}, then the old servers \
             kept {keep_legacy_seconds} s",
            gates.join(",")
        );
        let text = format!("rollout to CloudFront started at {}% (was {from}%)", steps[0]);
        state.pending.push(PendingAnnouncement {
            event: self.event(ReleaseChange::Operator, from, steps[0], Some(text)),
            published: false,
        });
        Ok(self.write_state(&current, state, Some(action)).await?.state)
    }

    /// `migrate rollback`: every viewer back to the old servers in one call. Returns the share
    /// CloudFront had and the TTL within which resolvers follow.
    pub async fn rollback(&self, why: &str) -> Result<(u8, i64), ReleaseError> {
        let current = self.read_state().await?;
        if current.state.legacy_removed_at.is_some() {
            return Err(legacy_gone(&current.state));
        }
        let records = self.records().await?;
        let from = records.share().ok_or_else(not_prepared)?;
        if !records.legacy_present() {
            return Err(ReleaseError::Invalid("the name has no legacy record to roll back to".into()));
        }
        self.change(records.shift(0)?, "media-edge migrate rollback").await?;
        let ttl = records.ttl();
        let mut state = current.state.clone();
        if let Some(rollout) = state.rollout.as_mut().filter(|r| in_motion(r)) {
            rollout.state = RolloutState::RolledBack;
            rollout.reason = Some(why.into());
        }
        state.keep_legacy_until = None;
        let reason = format!("{why}; resolvers follow within the record's TTL, {ttl} s");
        state.pending.push(PendingAnnouncement {
            event: self.event(ReleaseChange::RolledBack, from, 0, Some(reason)),
            published: false,
        });
        self.write_state(&current, state, Some(format!("rolled back from {from}%: {why}"))).await?;
        Ok((from, ttl))
    }

    /// `migrate finish --keep-legacy 3d`: CloudFront at 100% (if not yet), the old servers kept at
    /// weight 0 until `now + keep_seconds`, then removed by the controller.
    pub async fn finish(&self, keep_seconds: u64, now: u64) -> Result<MigrationState, ReleaseError> {
        let current = self.read_state().await?;
        let records = self.records().await?;
        let from = records.share().ok_or_else(not_prepared)?;
        self.change(records.shift(100)?, "media-edge migrate finish").await?;
        let mut state = current.state.clone();
        cancel_plan(&mut state, "finished by hand");
        if let Some(rollout) = state.rollout.as_mut().filter(|r| r.state == RolloutState::Cancelled) {
            rollout.state = RolloutState::Promoted;
        }
        let until = now.saturating_add(keep_seconds);
        state.keep_legacy_seconds = keep_seconds;
        state.keep_legacy_until = Some(until);
        let text = format!(
            "all viewers on CloudFront (was {from}%); the old servers stay one `migrate rollback` away until {}",
            rfc3339(until)
        );
        state.pending.push(PendingAnnouncement {
            event: self.event(ReleaseChange::Promoted, from, 100, Some(text.clone())),
            published: false,
        });
        Ok(self.write_state(&current, state, Some(text)).await?.state)
    }

    pub async fn status(&self) -> Result<MigrationStatus, ReleaseError> {
        Ok(MigrationStatus { records: self.records().await?, state: self.read_state().await?.state })
    }

    /// The controller's turn at `now`, with the gates it read for the plan: a plan step (by the
    /// same [`decide`] as release rollouts; Route 53 is the edge that must hold the weight), and
    /// the end of the rollback window. Returns what it did, in words (empty: nothing).
    pub async fn turn(&self, now: u64, gates: &[GateReading]) -> Result<Vec<String>, ReleaseError> {
        match self.take_turn(now, gates).await {
            // Another run (or an operator) moved the records between this run's read and its change:
            // the next run decides again on what they are then.
            Err(ReleaseError::RecordsChanged(_)) => Ok(Vec::new()),
            other => other,
        }
    }

    async fn take_turn(&self, now: u64, gates: &[GateReading]) -> Result<Vec<String>, ReleaseError> {
        let current = self.read_state().await?;
        let records = self.records().await?;
        let Some(share) = records.share() else { return Ok(Vec::new()) };
        let mut state = current.state.clone();
        let mut done = Vec::new();
        let mut events = Vec::new();
        if let Some(mut rollout) = state.rollout.clone().filter(in_motion) {
            let at_step = rollout.steps.get(rollout.step).copied();
            let next = rollout.steps.get(rollout.step + 1).copied();
            if at_step != Some(share) && next == Some(share) {
                // The last run moved the records and could not record it: it counts from now.
                rollout.step += 1;
                rollout.step_started = now;
                done.push(format!("step {}% recorded", share));
            } else if at_step != Some(share) {
                rollout.state = RolloutState::Cancelled;
                rollout.reason = Some(format!("the records were moved outside the plan (CloudFront at {share}%)"));
                events.push(self.event(ReleaseChange::Operator, share, share, rollout.reason.clone()));
                done.push("plan cancelled: moved by hand".into());
            }
            if in_motion(&rollout) {
                match decide(&rollout, now, gates, &EdgeSync::InSync) {
                    Decision::Wait | Decision::RestartStep => {}
                    Decision::Hold { why } if rollout.reason.as_deref() == Some(why.as_str()) => {}
                    Decision::Hold { why } => {
                        events.push(self.event(ReleaseChange::Held, share, share, Some(why.clone())));
                        rollout.reason = Some(why);
                        done.push("holding".into());
                    }
                    Decision::Advance { step, weight } => {
                        self.change(records.shift(weight)?, "media-edge release controller: rollout step").await?;
                        rollout.step = step;
                        rollout.step_started = now;
                        rollout.reason = None;
                        events.push(self.event(ReleaseChange::Advanced, share, weight, None));
                        done.push(format!("CloudFront {share}% → {weight}%"));
                    }
                    Decision::Promote => {
                        rollout.state = RolloutState::Promoted;
                        rollout.reason = None;
                        let until = now.saturating_add(state.keep_legacy_seconds);
                        state.keep_legacy_until = Some(until);
                        let text = format!(
                            "every viewer on CloudFront; the old servers stay one `migrate rollback` away until {}",
                            rfc3339(until)
                        );
                        events.push(self.event(ReleaseChange::Promoted, share, 100, Some(text.clone())));
                        done.push(text);
                    }
                    Decision::RollBack { why } => {
                        self.change(records.shift(0)?, "media-edge release controller: rollback").await?;
                        let reason = format!("{why}; resolvers follow within the record's TTL, {} s", records.ttl());
                        rollout.state = RolloutState::RolledBack;
                        rollout.reason = Some(why);
                        events.push(self.event(ReleaseChange::RolledBack, share, 0, Some(reason)));
                        done.push("rolled back".into());
                    }
                }
            }
            state.rollout = Some(rollout);
        } else if let Some(until) = state.keep_legacy_until.filter(|u| now >= *u && state.legacy_removed_at.is_none()) {
            if share < 100 {
                // Someone sent viewers back during the window: the old servers are not done.
                state.keep_legacy_until = None;
                done.push(format!("window ended with CloudFront at {share}%: the old servers' records stay"));
            } else if records.legacy_present() {
                self.change(records.remove_legacy()?, "media-edge release controller: rollback window over").await?;
                state.legacy_removed_at = Some(now_rfc3339());
                let text =
                    format!("rollback window over (since {}): the old servers' records are removed", rfc3339(until));
                events.push(self.event(ReleaseChange::Operator, 100, 100, Some(text.clone())));
                done.push(text);
            }
        }
        if done.is_empty() {
            return Ok(done);
        }
        for event in events {
            state.pending.push(PendingAnnouncement { event, published: false });
        }
        match self.write_state(&current, state, Some(done.join("; "))).await {
            Ok(_) => Ok(done),
            // An operator wrote meanwhile: the records changed above are what the next run reads.
            Err(ReleaseError::Conflict) => Ok(done),
            Err(e) => Err(e),
        }
    }

    /// Drops the announcements the status topic has taken (`done`), re-reading on a conflict.
    pub async fn settle_announcements(&self, done: &[String]) -> Result<(), ReleaseError> {
        for _ in 0..5 {
            let current = self.read_state().await?;
            let mut state = current.state.clone();
            state.pending.retain(|p| !done.contains(&p.event.id));
            if state.pending == current.state.pending {
                return Ok(());
            }
            match self.write_state(&current, state, None).await {
                Ok(_) => return Ok(()),
                Err(ReleaseError::Conflict) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(ReleaseError::Conflict)
    }
}

fn in_motion(rollout: &Rollout) -> bool {
    matches!(rollout.state, RolloutState::Running | RolloutState::Paused)
}

fn cancel_plan(state: &mut MigrationState, action: &str) {
    if let Some(rollout) = state.rollout.as_mut().filter(|r| in_motion(r)) {
        rollout.state = RolloutState::Cancelled;
        rollout.reason = Some(format!("changed by hand: {action}"));
    }
}

fn legacy_gone(state: &MigrationState) -> ReleaseError {
    ReleaseError::Invalid(format!(
        "the old servers' records were removed at {} (the rollback window was over): there is nothing to send \
         viewers back to",
        state.legacy_removed_at.as_deref().unwrap_or("?")
    ))
}

fn rfc3339(seconds: u64) -> String {
    aws_smithy_types::DateTime::from_secs(i64::try_from(seconds).unwrap_or(i64::MAX))
        .fmt(aws_smithy_types::date_time::Format::DateTime)
        .unwrap_or_else(|_| format!("{seconds} s after the epoch"))
}
