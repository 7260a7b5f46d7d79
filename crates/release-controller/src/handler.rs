//! One run of the controller over every channel: its announcements, its rollout, and its edge
//! store entry kept equal to its config (repaired if a write failed). Safe to run twice at once
//! and after missed runs: every change is a conditional write on the channel config (a controller
//! that loses the race does nothing this run), and each run moves a rollout one step at most.
//! Announcements are written with the change they announce and leave the config only once the
//! status topic has accepted them, so a failed publish delays one and loses none.

use edge_router::channel::RolloutState;
use media_edge_shared::release_event::{ReleaseChange, ReleaseEvent};
use release_control::rollout::EdgeSync;
use release_control::{invalidate_channel, Current, EdgeStore, ReleaseControl};
use serde::Serialize;
use tracing::{error, info};

use crate::announce::publish;
pub use crate::clients::Clients;
use crate::config::ControllerConfig;
use crate::gates::read_gates;

/// What one run did, per channel (the Lambda's result, and the test's).
#[derive(Debug, Default, Serialize, PartialEq, Eq)]
pub struct RunReport {
    /// Changes made and announced.
    pub changes: Vec<ReleaseEvent>,
    /// Channels that could not be looked after this run, with why (retried next run).
    pub errors: Vec<String>,
}

/// Looks after every channel at `now` (Unix seconds).
pub async fn run_once(clients: &Clients, config: &ControllerConfig, now: u64) -> RunReport {
    let mut report = RunReport::default();
    for channel in &config.channels {
        if let Err(why) = run_channel(clients, config, channel, now, &mut report.changes).await {
            error!(channel, %why, "release controller: channel not looked after this run");
            report.errors.push(format!("{channel}: {why}"));
        }
    }
    let errors = crate::migrations::run_migrations(clients, config, now, &mut report.changes).await;
    for why in &errors {
        error!(%why, "release controller: migration not looked after this run");
    }
    report.errors.extend(errors);
    report
}

/// One channel: first whatever is waiting to be announced (from an earlier run or an operator's
/// command), then the rollout's turn and its announcement, then the edge store. Announcements
/// come before every other call that can fail, and a failed one does not stop the rollout (a
/// gate in alarm still rolls it back while SNS is down).
async fn run_channel(
    clients: &Clients,
    config: &ControllerConfig,
    channel: &str,
    now: u64,
    announced: &mut Vec<ReleaseEvent>,
) -> Result<(), String> {
    let control = ReleaseControl {
        s3: clients.s3.clone(),
        bucket: config.bucket.clone(),
        channel: channel.into(),
        cohort_count: release_control::DEFAULT_COHORTS,
        actor: "release-controller".into(),
        edge: config.store_arn.clone().map(|arn| EdgeStore { client: clients.kvs.clone(), arn }),
    };
    let mut failures = Vec::new();
    let current = control.read().await.map_err(|e| e.to_string())?;
    let (mut current, failed) = announce_pending(clients, config, &control, current, announced).await?;
    failures.extend(failed);

    let rollout = current.config.as_ref().and_then(|c| c.rollout.clone());
    let edge = match rollout {
        // Gates are read for a paused rollout too: pausing stops advancing, not protection.
        Some(rollout) if matches!(rollout.state, RolloutState::Running | RolloutState::Paused) => {
            let gates = read_gates(&clients.cloudwatch, &rollout.gates).await?;
            let edge = control.edge_sync().await;
            match control.apply_rollout(&current, now, &gates, &edge).await.map_err(|e| e.to_string())? {
                Some(applied) => {
                    let (written, failed) =
                        announce_pending(clients, config, &control, applied.written, announced).await?;
                    current = written;
                    failures.extend(failed);
                    applied.edge_behind.map_or(edge, EdgeSync::Behind)
                }
                None => edge,
            }
        }
        // Every run, rollout or not: the edge store holds what the channel config says (repairs a
        // failed write, and fills the store of a stack that just switched to edge routing).
        _ => control.edge_sync().await,
    };
    if let Err(e) = control.record_edge_store(current).await {
        failures.push(e.to_string());
    }
    match edge {
        // Held (and announced once); reported every run so the function's Errors metric shows it.
        EdgeSync::Behind(why) => failures.push(format!("the edge store is behind the channel config: {why}")),
        EdgeSync::CaughtUp => info!(channel, "edge store was behind the channel config: copied"),
        EdgeSync::InSync => {}
    }
    if failures.is_empty() {
        Ok(())
    } else {
        Err(failures.join("; "))
    }
}

/// Publishes the config's pending announcements in order, and for a rollback with origin
/// routing invalidates the channel's cached files; each leaves the config only once all of that
/// succeeded. A failed publish stops the rest (order is kept) and is retried next run; a failed
/// invalidation is retried next run without holding back the rest. One published
/// again after a failed bookkeeping write carries its id, so the notifier reports it once.
/// Returns the config as it now is, and what failed.
async fn announce_pending(
    clients: &Clients,
    config: &ControllerConfig,
    control: &ReleaseControl,
    current: Current,
    announced: &mut Vec<ReleaseEvent>,
) -> Result<(Current, Option<String>), String> {
    let pending = current.config.as_ref().map(|c| c.pending.clone()).unwrap_or_default();
    if pending.is_empty() {
        return Ok((current, None));
    }
    let (mut done, mut published, mut failure) = (Vec::new(), Vec::new(), None);
    for item in pending {
        let event = &item.event;
        if !item.published {
            if let Err(why) = publish(&clients.sns, &config.status_topic_arn, event).await {
                failure = Some(why);
                break;
            }
            info!(channel = event.channel, id = event.id, change = ?event.change, from = event.weight_from,
                to = event.weight_to, "announced");
            announced.push(event.clone());
        }
        // Origin routing: cached per cohort, so viewers leave a rolled-back canary at once only
        // through an invalidation. Edge routing needs none (the next request is routed to stable).
        if event.change == ReleaseChange::RolledBack && config.store_arn.is_none() {
            if let Some(distribution) = &config.distribution_id {
                if let Err(e) = invalidate_channel(&clients.cloudfront, distribution, &event.channel).await {
                    // Announced; only the invalidation is left, and it must not hold back the
                    // announcements after it.
                    published.push(event.id.clone());
                    failure = Some(format!("invalidating the rolled-back channel's files (retried next run): {e}"));
                    continue;
                }
            }
        }
        done.push(event.id.clone());
    }
    let settled = control.settle_announcements(current, &done, &published).await.map_err(|e| e.to_string())?;
    Ok((settled, failure))
}
