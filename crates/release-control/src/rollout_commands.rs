//! The rollout commands on a channel (start, pause, resume) and the controller's turn
//! (`apply_rollout`): each reads the channel config, asks [`crate::rollout`] what to do, and writes
//! the result with the channel's conditional write.

use edge_router::channel::{ChannelConfig, Rollout, RolloutState};
use media_edge_shared::release_event::{ReleaseChange, ReleaseEvent};

use crate::error::{no_config, ReleaseError};
use crate::rollout::{check_plan, decide, Decision, EdgeSync, GateReading};
use crate::{Current, ReleaseControl};

/// A rollout change the controller wrote.
#[derive(Debug)]
pub struct Applied {
    pub written: Current,
    /// The change's copy to the edge store failed (why): viewers do not have it yet.
    pub edge_behind: Option<String>,
}

impl ReleaseControl {
    /// Starts a rollout of `version`: it becomes the canary at the first step's weight now.
    pub async fn start_rollout(
        &self,
        version: &str,
        steps: &[u8],
        every_seconds: u64,
        gates: &[String],
        now: u64,
    ) -> Result<ChannelConfig, ReleaseError> {
        check_plan(steps, every_seconds, gates)?;
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        if version == config.stable {
            return Err(ReleaseError::Invalid(format!("{version} is already the stable version")));
        }
        self.require_complete(version).await?;
        let weight = steps[0];
        let rollout = Rollout {
            release: version.into(),
            steps: steps.to_vec(),
            every_seconds,
            gates: gates.to_vec(),
            step: 0,
            step_started: now,
            state: RolloutState::Running,
            reason: None,
            unannounced: None,
            edge_pending: false,
        };
        let steps_text = steps.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        let action =
            format!("rollout {version}: steps {steps_text} every {every_seconds} s, gates {}", gates.join(","));
        let mut next =
            ChannelConfig { canary: Some(version.into()), weight, rolled_back: None, rollout: Some(rollout), ..config };
        let text = format!("rollout of {version} started at {weight}%");
        next.announce(ReleaseEvent::new(&self.channel, version, ReleaseChange::Operator, weight, weight, Some(text)));
        self.write(&current, next, action).await
    }

    /// Holds the rollout at its step; the weight stays. Gates still roll it back.
    pub async fn pause(&self) -> Result<ChannelConfig, ReleaseError> {
        self.change_rollout(RolloutState::Running, "paused", |r| Rollout { state: RolloutState::Paused, ..r }).await
    }

    /// Resumes a paused rollout; its step's interval starts again at `now`.
    pub async fn resume(&self, now: u64) -> Result<ChannelConfig, ReleaseError> {
        self.change_rollout(RolloutState::Paused, "resumed", move |r| Rollout {
            state: RolloutState::Running,
            step_started: now,
            reason: None,
            ..r
        })
        .await
    }

    async fn change_rollout(
        &self,
        from: RolloutState,
        verb: &str,
        change: impl FnOnce(Rollout) -> Rollout,
    ) -> Result<ChannelConfig, ReleaseError> {
        let current = self.read().await?;
        let config = current.config.clone().ok_or_else(no_config)?;
        let rollout = match &config.rollout {
            Some(r) if r.state == from => r.clone(),
            _ => return Err(ReleaseError::Invalid(format!("there is no rollout to mark {verb}"))),
        };
        let release = rollout.release.clone();
        let weight = config.weight;
        let mut next = ChannelConfig { rollout: Some(change(rollout)), ..config };
        let text = format!("rollout of {release} {verb} at {weight}%");
        next.announce(ReleaseEvent::new(&self.channel, &release, ReleaseChange::Operator, weight, weight, Some(text)));
        self.write(&current, next, format!("rollout {release} {verb}")).await
    }

    /// The controller's turn for this channel, on the config it read, the gates it read for it and
    /// what it found at the edge. The change and its announcement are written together (the
    /// announcement stays pending in the config until the status topic accepts it). Returns what
    /// was written, or `None` when there was nothing to do or another writer changed the config
    /// first (the next run decides again on what it wrote).
    pub async fn apply_rollout(
        &self,
        current: &Current,
        now: u64,
        gates: &[GateReading],
        edge: &EdgeSync,
    ) -> Result<Option<Applied>, ReleaseError> {
        let Some(config) = current.config.clone() else { return Ok(None) };
        let Some(rollout) = config.rollout.clone() else { return Ok(None) };
        let event = |change: ReleaseChange, to: u8, reason: Option<String>| {
            ReleaseEvent::new(&self.channel, &rollout.release, change, config.weight, to, reason)
        };
        // A change the edge store does not hold yet reaches viewers only when it does.
        let at_edge = |why: String| match edge {
            EdgeSync::Behind(behind) => {
                format!("{why}; the edge store is behind ({behind}), viewers move when it catches up")
            }
            _ => why,
        };
        let (mut next, announcement, action) = match decide(&rollout, now, gates, edge) {
            Decision::Wait => return Ok(None),
            Decision::Hold { why } if rollout.reason.as_deref() == Some(why.as_str()) => return Ok(None),
            Decision::Hold { why } => {
                let next = Rollout { reason: Some(why.clone()), ..rollout.clone() };
                let said = match edge {
                    EdgeSync::Behind(cause) => format!("{why} ({cause})"),
                    _ => why.clone(),
                };
                let announcement = event(ReleaseChange::Held, config.weight, Some(said));
                (
                    ChannelConfig { rollout: Some(next), ..config.clone() },
                    Some(announcement),
                    format!("rollout holding: {why}"),
                )
            }
            Decision::RestartStep => {
                let next = Rollout { step_started: now, reason: None, edge_pending: false, ..rollout.clone() };
                let action = format!(
                    "rollout {}: the edge store holds {}%, the step starts now",
                    rollout.release, config.weight
                );
                (ChannelConfig { rollout: Some(next), ..config.clone() }, None, action)
            }
            Decision::Advance { step, weight } => {
                let next = Rollout { step, step_started: now, reason: None, ..rollout.clone() };
                let action = format!("rollout {} weight {}% → {weight}%", rollout.release, config.weight);
                let announcement = event(ReleaseChange::Advanced, weight, None);
                (ChannelConfig { weight, rollout: Some(next), ..config.clone() }, Some(announcement), action)
            }
            Decision::Promote => {
                let next = Rollout { state: RolloutState::Promoted, reason: None, ..rollout.clone() };
                let action = format!("rollout promoted {} to stable (was {})", rollout.release, config.stable);
                let promoted = ChannelConfig {
                    stable: rollout.release.clone(),
                    canary: None,
                    weight: 0,
                    rolled_back: None,
                    rollout: Some(next),
                    ..config.clone()
                };
                (promoted, Some(event(ReleaseChange::Promoted, 100, None)), action)
            }
            Decision::RollBack { why } => {
                let next = Rollout { state: RolloutState::RolledBack, reason: Some(why.clone()), ..rollout.clone() };
                let action = format!("rollout rolled back {} at {}%: {why}", rollout.release, config.weight);
                let announcement = event(ReleaseChange::RolledBack, 0, Some(at_edge(why)));
                let back = ChannelConfig {
                    canary: None,
                    weight: 0,
                    rolled_back: Some(rollout.release.clone()),
                    rollout: Some(next),
                    ..config.clone()
                };
                (back, Some(announcement), action)
            }
        };
        if let Some(announcement) = announcement {
            next.announce(announcement);
        }
        match self.write_current(current, next, action).await {
            // With the edge store behind, the change is still made and its announcement pending
            // (S3 is the source of truth); the next run finds the edge behind, holds, and copies it.
            Ok((written, edge_behind)) => Ok(Some(Applied { written, edge_behind })),
            Err(ReleaseError::Conflict) => Ok(None),
            Err(e) => Err(e),
        }
    }
}
