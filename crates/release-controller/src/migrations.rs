//! One run over the site migrations (`media-edge migrate`, docs/migration.md): each state under
//! `migrations/` in the release bucket gets its turn (a plan step on its gates, or the end of its
//! rollback window), and its announcements are published like a channel's: they leave the state
//! only once the status topic took them.

use media_edge_shared::aws::describe_sdk_error;
use media_edge_shared::release_event::ReleaseEvent;
use release_control::migration::MigrationState;
use release_control::MigrationControl;
use tracing::info;

use crate::announce::publish;
use crate::clients::Clients;
use crate::config::ControllerConfig;
use crate::gates::read_gates;

/// Looks after every migration; returns each one's failure (`name: why`), the others go on.
pub async fn run_migrations(
    clients: &Clients,
    config: &ControllerConfig,
    now: u64,
    announced: &mut Vec<ReleaseEvent>,
) -> Vec<String> {
    let mut errors = Vec::new();
    let keys = match migration_keys(&clients.s3, &config.bucket).await {
        Ok(keys) => keys,
        Err(why) => return vec![format!("migrations: {why}")],
    };
    for key in keys {
        if let Err(why) = run_migration(clients, config, &key, now, announced).await {
            errors.push(format!("{key}: {why}"));
        }
    }
    errors
}

async fn migration_keys(s3: &aws_sdk_s3::Client, bucket: &str) -> Result<Vec<String>, String> {
    let mut keys = Vec::new();
    let mut pages = s3.list_objects_v2().bucket(bucket).prefix("migrations/").into_paginator().send();
    while let Some(page) = pages.next().await {
        let page = page.map_err(|e| describe_sdk_error(&e))?;
        keys.extend(
            page.contents().iter().filter_map(|o| o.key()).filter(|k| k.ends_with(".json")).map(str::to_string),
        );
    }
    Ok(keys)
}

async fn run_migration(
    clients: &Clients,
    config: &ControllerConfig,
    key: &str,
    now: u64,
    announced: &mut Vec<ReleaseEvent>,
) -> Result<(), String> {
    let object =
        clients.s3.get_object().bucket(&config.bucket).key(key).send().await.map_err(|e| describe_sdk_error(&e))?;
    let bytes = object.body.collect().await.map_err(|e| e.to_string())?.into_bytes();
    let state = MigrationState::parse(&bytes).map_err(|e| e.to_string())?;
    let control = MigrationControl::new(
        clients.s3.clone(),
        &config.bucket,
        clients.route53.clone(),
        &state.zone,
        &state.name,
        "release-controller",
    );
    let gates = match &state.rollout {
        Some(r) if !r.gates.is_empty() => read_gates(&clients.cloudwatch, &r.gates).await?,
        _ => Vec::new(),
    };
    let done = control.turn(now, &gates).await.map_err(|e| e.to_string())?;
    if !done.is_empty() {
        info!(name = state.name, did = done.join("; "), "migration");
    }
    // Announcements, in order; a refused publish stops the rest until the next run.
    let pending = control.read_state().await.map_err(|e| e.to_string())?.state.pending;
    let mut published = Vec::new();
    let mut failure = None;
    for item in pending {
        match publish(&clients.sns, &config.status_topic_arn, &item.event).await {
            Ok(()) => {
                announced.push(item.event.clone());
                published.push(item.event.id);
            }
            Err(why) => {
                failure = Some(why);
                break;
            }
        }
    }
    control.settle_announcements(&published).await.map_err(|e| e.to_string())?;
    failure.map_or(Ok(()), Err)
}
