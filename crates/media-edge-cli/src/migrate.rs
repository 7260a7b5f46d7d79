//! `media-edge migrate …`: move a site's viewers from its old web servers to CloudFront by
//! weighted DNS (docs/migration.md). The engine is `release_control::MigrationControl`.

use std::process::ExitCode;

use clap::Subcommand;
use media_edge_shared::aws::load_sdk_config;
use release_control::migration::parse_duration;
use release_control::{MigrationControl, MigrationStatus};

use crate::release::unix_now;

#[derive(clap::Args)]
pub struct MigrateArgs {
    /// The stack's release bucket (output ReleasesBucketName): the migration's state and history.
    #[arg(long, env = "RELEASES_BUCKET")]
    bucket: String,
    /// The Route 53 hosted zone of the site's name (the stack's HostedZoneId parameter).
    #[arg(long, env = "HOSTED_ZONE_ID")]
    zone: String,
    /// The site's name, e.g. `www.example.com` (the stack's RecordName parameter).
    #[arg(long, env = "RECORD_NAME")]
    name: String,
    /// Who is making the change (recorded in the history).
    #[arg(long, env = "USER", default_value = "unknown")]
    by: String,
    #[command(subcommand)]
    command: MigrateCommand,
}

#[derive(Subcommand)]
enum MigrateCommand {
    /// Turn the name's record(s) into two weighted records in one atomic change: the old servers
    /// as they are (weight 100) and CloudFront (weight 0). Nothing changes for viewers.
    Prepare {
        /// The distribution's domain name (stack output DistributionDomainName).
        #[arg(long, env = "DISTRIBUTION_DOMAIN")]
        distribution_domain: String,
        /// A Route 53 health check on the old servers (stack output LegacyHealthCheckId): while it
        /// fails, Route 53 sends everyone to CloudFront.
        #[arg(long)]
        health_check: Option<String>,
    },
    /// CloudFront gets WEIGHT percent of viewers now (0–100). Refused if the records changed
    /// since they were read; stops a running plan.
    Shift { weight: u8 },
    /// Move by steps on the release controller, one per interval in which every gate (a
    /// CloudWatch alarm) stayed OK; a gate in alarm sends everyone back at once. After the last
    /// step the old servers are kept for --keep-legacy, then removed.
    Rollout {
        #[arg(long, value_delimiter = ',', default_value = "10,25,50,100")]
        steps: Vec<u8>,
        /// How long each step must stay healthy: `1d`, `6h`, `30m`.
        #[arg(long, default_value = "1d")]
        every: String,
        /// A CloudWatch alarm that must stay OK (repeat for several).
        #[arg(long = "gate", required = true)]
        gates: Vec<String>,
        #[arg(long, default_value = "3d")]
        keep_legacy: String,
    },
    /// Every viewer back to the old servers in one call (until the rollback window is over).
    Rollback {
        #[arg(long, default_value = "rolled back by hand")]
        why: String,
    },
    /// CloudFront at 100%; the old servers' records stay at weight 0 for KEEP_LEGACY (rollback
    /// stays one command), then the release controller removes them and says so.
    Finish {
        #[arg(long, default_value = "3d")]
        keep_legacy: String,
    },
    /// Records and weights, TTL, the plan, the rollback window and the history.
    Status,
}

pub async fn run(args: MigrateArgs) -> ExitCode {
    let sdk = load_sdk_config().await;
    let control = MigrationControl::new(
        media_edge_shared::aws::s3_client(&sdk),
        &args.bucket,
        aws_sdk_route53::Client::new(&sdk),
        &args.zone,
        &args.name,
        &args.by,
    );
    let now = unix_now();
    let result = match args.command {
        MigrateCommand::Prepare { distribution_domain, health_check } => {
            control.prepare(&distribution_domain, health_check.as_deref()).await.map(|records| {
                println!("{}: weighted records made; CloudFront at 0%, nothing changed for viewers", control.name);
                for line in records.describe() {
                    println!("  {line}");
                }
            })
        }
        MigrateCommand::Shift { weight } => control.shift(weight).await.map(|(from, to, ttl)| {
            println!("{}: CloudFront {from}% → {to}%; resolvers follow within the record's TTL, {ttl} s", control.name);
        }),
        MigrateCommand::Rollout { steps, every, gates, keep_legacy } => {
            match (parse_duration(&every), parse_duration(&keep_legacy)) {
                (Ok(every), Ok(keep)) => control.start_rollout(&steps, every, &gates, keep, now).await.map(|state| {
                    println!(
                        "{}: rollout started at {}%; the release controller takes each next step after {every} s of healthy gates",
                        control.name,
                        steps.first().copied().unwrap_or_default()
                    );
                    print_history_tail(&state.history);
                }),
                (Err(e), _) | (_, Err(e)) => Err(e),
            }
        }
        MigrateCommand::Rollback { why } => control.rollback(&why).await.map(|(from, ttl)| {
            println!(
                "{}: every viewer back on the old servers (CloudFront was at {from}%); resolvers follow within the record's TTL, {ttl} s",
                control.name
            );
        }),
        MigrateCommand::Finish { keep_legacy } => match parse_duration(&keep_legacy) {
            Ok(keep) => control.finish(keep, now).await.map(|state| {
                println!("{}: every viewer on CloudFront", control.name);
                print_history_tail(&state.history);
            }),
            Err(e) => Err(e),
        },
        MigrateCommand::Status => control.status().await.map(|status| print!("{}", describe(&status, now))),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("media-edge migrate: {e}");
            ExitCode::FAILURE
        }
    }
}

fn print_history_tail(history: &[edge_router::channel::Change]) {
    if let Some(last) = history.last() {
        println!("  {} {}: {}", last.at, last.by, last.action);
    }
}

fn describe(status: &MigrationStatus, now: u64) -> String {
    let mut out = String::new();
    let state = &status.state;
    let share = status.records.share();
    out.push_str(&match share {
        Some(share) => format!("{}: CloudFront {share}%, the old servers {}%\n", state.name, 100 - share),
        None => format!("{}: not prepared (`media-edge migrate prepare`)\n", state.name),
    });
    out.push_str(&format!(
        "  TTL: {} s (how long resolvers may keep an answer after a change)\n",
        status.records.ttl()
    ));
    for line in status.records.describe() {
        out.push_str(&format!("  record: {line}\n"));
    }
    if let Some(r) = &state.rollout {
        let steps = r.steps.iter().map(u8::to_string).collect::<Vec<_>>().join(",");
        out.push_str(&format!(
            "  plan: {:?}, steps {steps}, at step {} of {}, every {} s, gates {}{}\n",
            r.state,
            r.step + 1,
            r.steps.len(),
            r.every_seconds,
            r.gates.join(","),
            r.reason.as_deref().map(|why| format!(" ({why})")).unwrap_or_default()
        ));
    }
    match (&state.legacy_removed_at, state.keep_legacy_until) {
        (Some(at), _) => out.push_str(&format!("  the old servers' records were removed at {at}: no rollback\n")),
        (None, Some(until)) if until > now => out.push_str(&format!(
            "  rollback window: {} s left (`media-edge migrate rollback` sends everyone back)\n",
            until - now
        )),
        (None, Some(_)) => {
            out.push_str("  rollback window over: the release controller removes the old servers' records\n")
        }
        (None, None) => {}
    }
    if !state.pending.is_empty() {
        out.push_str(&format!("  {} announcement(s) waiting for the release controller\n", state.pending.len()));
    }
    for change in state.history.iter().rev().take(10) {
        out.push_str(&format!("  {} {}: {}\n", change.at, change.by, change.action));
    }
    out
}
