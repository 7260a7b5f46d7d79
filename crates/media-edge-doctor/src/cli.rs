//! The command line: `media-edge doctor preflight|smoke` (the `media-edge` tool) and
//! `media-edge-doctor preflight|smoke` (this crate's binary, which `make deploy` builds without
//! the image codecs).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use crate::checklist::Checklist;
use crate::error::DoctorError;
use crate::facts::{parse_overrides, DeployFacts, Parameters, SamConfig};
use crate::preflight::{self, PreflightClients, PreflightInput};
use crate::smoke::{self, SmokeClients, SmokeOptions};
use aws_config::Region;
use clap::{Args, Subcommand};

#[derive(Args)]
pub struct DoctorArgs {
    #[command(subcommand)]
    pub command: DoctorCommand,
}

#[derive(Subcommand)]
pub enum DoctorCommand {
    /// Before a deploy (read-only): the account's Lambda concurrency against the parameters, the
    /// Region and its log mode, the v2 log fields, Athena's result location, Slack's workspace,
    /// and the local deploy tools. Exits 1 on any ✗ (each with its fix), 2 on a usage error.
    Preflight {
        /// Default: samconfig.toml's region, else the AWS configuration's.
        #[arg(long)]
        region: Option<String>,
        /// The parameters and Region `sam deploy` will use (read when it exists).
        #[arg(long, default_value = "infra/samconfig.toml")]
        samconfig: PathBuf,
        /// On top of samconfig.toml's, as `sam deploy` takes them: `Key=Value Key2=Value2`.
        #[arg(long)]
        parameter_overrides: Option<String>,
        /// Where `make deploy-tools` puts sam, cargo-lambda and zig (searched before PATH).
        #[arg(long, default_value = ".venv-deploy/bin")]
        tools_dir: PathBuf,
        #[arg(long)]
        json: bool,
    },
    /// After a deploy: probe uploads (photo, PNG with alpha, animated GIF, one deleted at once)
    /// through the pipeline, every file they make fetched through the distribution, a probe
    /// release channel's canary and rollback, the alarms' metrics and the TLS fingerprint. Creates
    /// only probe objects, a queue and a subscription of its own, and removes them.
    Smoke {
        #[arg(long)]
        stack: String,
        /// Where viewers reach the distribution (default: https://<DistributionDomainName>).
        #[arg(long)]
        url: Option<String>,
        /// Seconds the probes may take through the pipeline.
        #[arg(long, default_value_t = 300)]
        timeout: u64,
        /// Seconds to wait for the alarms' metrics to appear after the traffic.
        #[arg(long, default_value_t = 180)]
        metrics_wait: u64,
        /// Leave the probes for inspection.
        #[arg(long)]
        keep: bool,
        #[arg(long)]
        json: bool,
    },
}

pub async fn run(args: DoctorArgs) -> ExitCode {
    let (result, json) = match args.command {
        DoctorCommand::Preflight { region, samconfig, parameter_overrides, tools_dir, json } => {
            (preflight(region, samconfig, parameter_overrides, tools_dir).await, json)
        }
        DoctorCommand::Smoke { stack, url, timeout, metrics_wait, keep, json } => {
            let options = SmokeOptions {
                stack,
                base_url: url,
                timeout: Duration::from_secs(timeout),
                metrics_wait: Duration::from_secs(metrics_wait),
                keep,
                ffmpeg: smoke::media::find_ffmpeg(),
                progress: true,
            };
            (smoke(options).await, json)
        }
    };
    match result {
        Ok(list) => {
            if json {
                println!("{}", list.to_json());
            } else {
                print!("{}", list.to_text());
            }
            if list.failed() {
                ExitCode::from(1)
            } else {
                ExitCode::SUCCESS
            }
        }
        Err(DoctorError::Usage(message)) => {
            eprintln!("error: {message}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::from(1)
        }
    }
}

async fn preflight(
    region: Option<String>,
    samconfig: PathBuf,
    parameter_overrides: Option<String>,
    tools_dir: PathBuf,
) -> Result<Checklist, DoctorError> {
    let facts = DeployFacts::of_this_checkout()?;
    let sam = if samconfig.is_file() { SamConfig::read(&samconfig)? } else { SamConfig::default() };
    let mut overrides = sam.overrides.clone();
    if let Some(text) = &parameter_overrides {
        overrides.extend(parse_overrides(text)?);
    }
    let parameters = Parameters::resolve(&facts, &overrides)?;
    let base = media_edge_shared::aws::load_sdk_config().await;
    let region = region
        .or(sam.region.clone())
        .or_else(|| base.region().map(|r| r.to_string()))
        .ok_or_else(|| DoctorError::Usage("no Region: pass --region, or set AWS_REGION".into()))?;
    let in_region = |name: &str| base.to_builder().region(Region::new(name.to_string())).build();
    let config = in_region(&region);
    let clients = PreflightClients {
        sts: aws_sdk_sts::Client::new(&config),
        lambda: aws_sdk_lambda::Client::new(&config),
        logs_us_east_1: aws_sdk_cloudwatchlogs::Client::new(&in_region("us-east-1")),
        athena: aws_sdk_athena::Client::new(&config),
        chatbot: aws_sdk_chatbot::Client::new(&in_region(preflight::CHATBOT_REGION)),
    };
    let input = PreflightInput { region: &region, facts: &facts, parameters: &parameters };
    let mut list = preflight::account_checks(&clients, &input).await;
    list.checks.extend(crate::tools::checks(&[tools_dir]));
    Ok(list)
}

async fn smoke(options: SmokeOptions) -> Result<Checklist, DoctorError> {
    let config = media_edge_shared::aws::load_sdk_config().await;
    let clients = SmokeClients {
        cloudformation: aws_sdk_cloudformation::Client::new(&config),
        s3: media_edge_shared::aws::s3_client(&config),
        sns: aws_sdk_sns::Client::new(&config),
        sqs: aws_sdk_sqs::Client::new(&config),
        cloudwatch: aws_sdk_cloudwatch::Client::new(&config),
        kvs: aws_sdk_cloudfrontkeyvaluestore::Client::new(&config),
    };
    let interrupted = async {
        if tokio::signal::ctrl_c().await.is_err() {
            std::future::pending::<()>().await;
        }
        eprintln!("smoke: interrupted; removing what this run made");
    };
    smoke::smoke(&clients, &options, interrupted).await
}
