//! `media-edge release …`: publish static releases and move viewers between versions.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Subcommand;
use media_edge_shared::aws::load_sdk_config;
use release_control::{describe, invalidate_channel, EdgeStatus, EdgeStore, ReleaseControl, ReleaseError};

#[derive(clap::Args)]
pub struct ReleaseArgs {
    /// Releases bucket.
    #[arg(long, env = "RELEASES_BUCKET")]
    bucket: String,
    /// Release channel (first path segment served by the router, e.g. `sdk` or `app`).
    #[arg(long, env = "RELEASE_CHANNEL", default_value = "sdk")]
    channel: String,
    /// Number of cohorts: the stack's CohortCount (output CohortCount).
    #[arg(long, env = "COHORT_COUNT", default_value_t = release_control::DEFAULT_COHORTS)]
    cohorts: u16,
    /// Who is making the change (recorded in the history).
    #[arg(long, env = "USER", default_value = "unknown")]
    by: String,
    /// The CloudFront KeyValueStore the edge function routes by (stack output ReleaseStoreArn;
    /// ReleaseRouting=edge). Every change is copied there. Without it, the store the deployed
    /// release controller recorded in the channel config is used; with neither, only S3 is written.
    #[arg(long, env = "RELEASE_STORE_ARN")]
    store_arn: Option<String>,
    #[command(subcommand)]
    command: ReleaseCommand,
}

#[derive(Subcommand)]
enum ReleaseCommand {
    /// Upload DIR as VERSION, completely or not at all (immutable; the channel's first version
    /// becomes stable). Re-running an interrupted publish of the same files resumes it.
    Publish {
        version: String,
        dir: PathBuf,
        /// Replace an abandoned, never-completed publish of VERSION with other content.
        #[arg(long)]
        replace_incomplete: bool,
    },
    /// Start (or change) the canary: VERSION for WEIGHT percent of cohorts.
    Canary {
        version: String,
        #[arg(long)]
        weight: u8,
    },
    /// Change the canary's weight (0–100).
    SetWeight { weight: u8 },
    /// Make the canary the stable version (weight back to 0).
    Promote,
    /// Weight 0 at once. Origin routing: with a distribution id, the channel's cached responses
    /// are invalidated too, so viewers leave the canary now rather than after CACHE_SECONDS.
    /// Edge routing needs no invalidation (cached files are per version): none is made.
    Rollback {
        #[arg(long, env = "DISTRIBUTION_ID")]
        distribution_id: Option<String>,
    },
    /// Versions, weight, the share it really gives, which cohorts get which, last change, and
    /// what the edge store holds.
    Status,
    /// Roll VERSION out by itself: the release controller moves the canary through the weight
    /// STEPS, one per interval in which every gate (a CloudWatch alarm) stayed OK, promotes it
    /// after the last, and rolls it back the moment a gate alarms.
    Rollout {
        version: String,
        /// Weights in percent, increasing.
        #[arg(long, value_delimiter = ',', default_value = "1,5,25,50,100")]
        steps: Vec<u8>,
        /// How long each step must stay healthy: `10m`, `90s`, `1h`.
        #[arg(long, default_value = "10m")]
        every: String,
        /// A CloudWatch alarm that must stay OK (repeat for several).
        #[arg(long = "gate", required = true)]
        gates: Vec<String>,
    },
    /// Hold the rollout at its current step.
    Pause,
    /// Go on with a paused rollout (its step's interval starts again).
    Resume,
    /// Roll back now and stop the rollout (as `rollback`).
    Abort {
        #[arg(long, env = "DISTRIBUTION_ID")]
        distribution_id: Option<String>,
    },
    /// Copy the channel config from S3 to the edge store again (after a change whose edge write
    /// failed, or to repair a store edited by hand).
    Sync,
}

pub async fn run(args: ReleaseArgs) -> ExitCode {
    let sdk = load_sdk_config().await;
    let store = |arn| EdgeStore { client: aws_sdk_cloudfrontkeyvaluestore::Client::new(&sdk), arn };
    let mut control = ReleaseControl {
        s3: media_edge_shared::aws::s3_client(&sdk),
        bucket: args.bucket,
        channel: args.channel.clone(),
        cohort_count: args.cohorts,
        actor: args.by,
        edge: args.store_arn.map(store),
    };
    // Routed at the edge but run without the store: a change written to S3 alone would reach
    // viewers only when the controller copies it, so take the store the controller recorded.
    if control.edge.is_none() {
        if let Ok(Some(arn)) = control.read().await.map(|c| c.config.and_then(|c| c.edge_store)) {
            eprintln!("edge routing: using the store the release controller recorded for {}: {arn}", args.channel);
            control.edge = Some(store(arn));
        }
    }
    let edge_mode = control.edge.is_some();
    let result = match args.command {
        ReleaseCommand::Publish { version, dir, replace_incomplete } => {
            control.publish(&version, &dir, replace_incomplete).await.map(|report| {
                if report.already_complete {
                    println!("{version} is already published with these {} files: nothing to do", report.files);
                    return;
                }
                let how = match (report.resumed, report.replaced_incomplete) {
                    (true, _) => " (resumed an interrupted publish)",
                    (_, true) => " (replaced an abandoned publish)",
                    _ => "",
                };
                println!(
                    "published {version}: {} files ({} uploaded, {} already in place){how}",
                    report.files, report.uploaded, report.skipped
                );
                if report.removed > 0 {
                    println!("removed {} files an abandoned publish had left", report.removed);
                }
                if report.channel_created.is_some() {
                    println!("first release of channel {}: {version} is stable", args.channel);
                }
            })
        }
        ReleaseCommand::Canary { version, weight } => {
            control.canary(&version, weight).await.map(|c| print!("{}", describe(&c, args.cohorts)))
        }
        ReleaseCommand::SetWeight { weight } => {
            control.set_weight(weight).await.map(|c| print!("{}", describe(&c, args.cohorts)))
        }
        ReleaseCommand::Promote => control.promote().await.map(|c| print!("{}", describe(&c, args.cohorts))),
        ReleaseCommand::Rollout { version, steps, every, gates } => {
            match release_control::rollout::parse_interval(&every) {
                Ok(every) => control
                    .start_rollout(&version, &steps, every, &gates, unix_now())
                    .await
                    .map(|c| print!("{}", describe(&c, args.cohorts))),
                Err(e) => Err(e),
            }
        }
        ReleaseCommand::Pause => control.pause().await.map(|c| print!("{}", describe(&c, args.cohorts))),
        ReleaseCommand::Resume => control.resume(unix_now()).await.map(|c| print!("{}", describe(&c, args.cohorts))),
        ReleaseCommand::Rollback { distribution_id } | ReleaseCommand::Abort { distribution_id } => {
            match control.rollback().await {
                Ok(config) => {
                    print!("{}", describe(&config, args.cohorts));
                    match distribution_id {
                        _ if edge_mode => {
                            println!("edge store updated: viewers get stable from their next request (a browser's copy within its 60 s)");
                            if distribution_id.is_some() {
                                println!("no invalidation made: with edge routing CloudFront caches each version under its own path, so none is needed");
                            }
                            Ok(())
                        }
                        Some(id) => invalidate(&sdk, &id, &args.channel).await,
                        None => {
                            println!("no distribution id: cached copies expire within the router's CACHE_SECONDS");
                            Ok(())
                        }
                    }
                }
                Err(e) => Err(e),
            }
        }
        ReleaseCommand::Status => match control.read().await {
            Ok(current) => match current.config {
                Some(config) => {
                    print!("{}", describe(&config, args.cohorts));
                    control.edge_status().await.map(|edge| print!("{}", describe_edge(edge.as_ref())))
                }
                None => Err(ReleaseError::Invalid(format!("channel {} has no releases yet", args.channel))),
            },
            Err(e) => Err(e),
        },
        ReleaseCommand::Sync => control.sync_edge().await.and_then(|entry| match entry {
            Some(entry) => {
                println!("edge store: {} = {}", args.channel, entry.to_value());
                Ok(())
            }
            None => Err(ReleaseError::Invalid("no edge store: pass --store-arn or set RELEASE_STORE_ARN".into())),
        }),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("media-edge release: {e}");
            ExitCode::FAILURE
        }
    }
}

pub(crate) fn unix_now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

fn describe_edge(edge: Option<&EdgeStatus>) -> String {
    match edge {
        None => "  edge store: none given (origin routing; --store-arn for edge routing)\n".into(),
        Some(status) => {
            let stored = status.stored.as_deref().unwrap_or("no entry");
            if status.in_sync() {
                format!("  edge store: {stored} (matches the config)\n")
            } else {
                format!("  edge store: {stored}\n  warning: the edge store does not match the config: run `media-edge release sync`\n")
            }
        }
    }
}

async fn invalidate(sdk: &aws_config::SdkConfig, distribution_id: &str, channel: &str) -> Result<(), ReleaseError> {
    let id = invalidate_channel(&aws_sdk_cloudfront::Client::new(sdk), distribution_id, channel).await?;
    println!("invalidation {id} of /{channel} and /{channel}/* created on distribution {distribution_id}");
    Ok(())
}
