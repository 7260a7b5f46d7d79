//! One run of the controller over every channel: its rollout, and its edge store entry kept equal
//! to its config (repaired if a write failed). Safe to run twice at once and after missed runs:
//! every change is a conditional write on the channel config (a controller that loses the race
//! does nothing this run), and each run moves a rollout one step at most.

use edge_router::channel::RolloutState;
use media_edge_shared::aws::describe_sdk_error;
use media_edge_shared::release_event::{ReleaseChange, ReleaseEvent};
use release_control::{invalidate_channel, EdgeStore, ReleaseControl};
use serde::Serialize;
use tracing::{error, info};

use crate::config::ControllerConfig;
use crate::gates::read_gates;

/// The AWS clients a run uses (built once per sandbox in `main`).
#[derive(Clone, Debug)]
pub struct Clients {
    pub s3: aws_sdk_s3::Client,
    pub sns: aws_sdk_sns::Client,
    pub cloudwatch: aws_sdk_cloudwatch::Client,
    pub cloudfront: aws_sdk_cloudfront::Client,
    pub kvs: aws_sdk_cloudfrontkeyvaluestore::Client,
}

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
        match run_channel(clients, config, channel, now).await {
            Ok(events) => report.changes.extend(events),
            Err(why) => {
                error!(channel, %why, "release controller: channel not looked after this run");
                report.errors.push(format!("{channel}: {why}"));
            }
        }
    }
    report
}

async fn run_channel(
    clients: &Clients,
    config: &ControllerConfig,
    channel: &str,
    now: u64,
) -> Result<Vec<ReleaseEvent>, String> {
    let control = ReleaseControl {
        s3: clients.s3.clone(),
        bucket: config.bucket.clone(),
        channel: channel.into(),
        cohort_count: release_control::DEFAULT_COHORTS,
        actor: "release-controller".into(),
        edge: config.store_arn.clone().map(|arn| EdgeStore { client: clients.kvs.clone(), arn }),
    };
    let current = control.read().await.map_err(|e| e.to_string())?;
    let events = match current.config.as_ref().and_then(|c| c.rollout.clone()) {
        Some(rollout) if rollout.state == RolloutState::Running || rollout.unannounced.is_some() => {
            let running = rollout.state == RolloutState::Running;
            let gates = if running { read_gates(&clients.cloudwatch, &rollout.gates).await? } else { Vec::new() };
            control.apply_rollout(&current, now, &gates).await.map_err(|e| e.to_string())?
        }
        _ => Vec::new(),
    };
    // Every run, rollout or not: the edge store holds what the channel config says (repairs a
    // failed write, and fills the store of a stack that just switched to edge routing).
    if control.reconcile_edge().await.map_err(|e| e.to_string())? {
        info!(channel, "edge store was behind the channel config: copied");
    }
    for event in &events {
        info!(channel, change = ?event.change, from = event.weight_from, to = event.weight_to, "rollout changed");
        // Origin routing: cached per cohort, so viewers leave a rolled-back canary at once only
        // through an invalidation. Edge routing needs none (the next request is routed to stable).
        if event.change == ReleaseChange::RolledBack && config.store_arn.is_none() {
            if let Some(distribution) = &config.distribution_id {
                invalidate_channel(&clients.cloudfront, distribution, channel).await.map_err(|e| e.to_string())?;
            }
        }
        announce(&clients.sns, &config.status_topic_arn, event).await?;
    }
    Ok(events)
}

/// Publishes the change to the status topic; the notifier reports it in its next digest window.
async fn announce(sns: &aws_sdk_sns::Client, topic_arn: &str, event: &ReleaseEvent) -> Result<(), String> {
    let message = serde_json::to_string(event).map_err(|e| e.to_string())?;
    let change = serde_json::to_value(event.change).ok().and_then(|v| v.as_str().map(str::to_string));
    let attribute = aws_sdk_sns::types::MessageAttributeValue::builder()
        .data_type("String")
        .string_value(change.unwrap_or_default())
        .build()
        .map_err(|e| e.to_string())?;
    sns.publish()
        .topic_arn(topic_arn)
        .message(message)
        .message_attributes("release_change", attribute)
        .send()
        .await
        .map_err(|e| format!("announcing the change (it was made): {}", describe_sdk_error(&e)))?;
    Ok(())
}
