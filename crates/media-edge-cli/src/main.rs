//! `media-edge`: media-edge's command-line tool.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod backfill;
mod logs;
mod migrate;
mod process;
mod release;
mod simulate;

#[derive(Parser)]
#[command(name = "media-edge", version, about = "media-edge's command-line tool")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the image processor's processing on local files, without AWS.
    ///
    /// Writes variants and a manifest per file under DIR (the same layout as the variants bucket).
    /// Directories are walked. On a terminal it shows progress and a readable list; with --json,
    /// or when piped, it prints one JSON report per file with the status event's fields. Settings
    /// come from the same environment variables as the Lambda (VARIANTS, JPEG_QUALITY, MAX_PIXELS,
    /// …). Exits 1 when any file failed, 2 on a usage error.
    Process {
        /// Images, or directories of images, to process.
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Output directory (created if missing).
        #[arg(long, short)]
        out: PathBuf,
        /// One JSON report per line, even on a terminal.
        #[arg(long)]
        json: bool,
        /// Where the variants with a shape (VARIANTS `mobile:640:4x5`) are centred, as an
        /// upload's `x-amz-meta-focus` says it: a point `0.72,0.40` or a rectangle `x,y,w,h`, in
        /// fractions of the picture. Without it, the picture's saliency decides.
        #[arg(long)]
        focus: Option<String>,
    },
    /// Report on CloudFront access logs: top objects by bytes and requests, traffic by hour,
    /// cache hit ratios, bytes by content type and status, and optimisation candidates.
    ///
    /// Reads standard (W3C, tab-separated) logs, plain or gzipped, from files, directories or
    /// `s3://bucket/prefix`. Malformed lines are counted and reported, never fatal.
    Logs(logs::LogsArgs),
    /// Publish static releases and control canaries (see `media-edge release --help`).
    Release(release::ReleaseArgs),
    /// Move a site's viewers off its old web servers by weighted DNS (Route 53): prepare, shift,
    /// rollout with health gates, rollback, finish with a rollback window, status.
    Migrate(migrate::MigrateArgs),
    /// Send originals that already exist through the pipeline (the same message an upload
    /// produces): those never processed and those whose variants are outdated.
    Backfill(backfill::BackfillArgs),
    /// Before a deploy, what the account and this machine must offer (`doctor preflight`); after
    /// it, the live stack proven end to end with probe objects (`doctor smoke --stack NAME`).
    Doctor(media_edge_doctor::cli::DoctorArgs),
    /// Simulate canary routing designs behind a CDN, in 10-minute windows: canary share against
    /// the weight, cache hit ratio, and viewers who flipped versions.
    Simulate {
        #[arg(long, default_value_t = 20_000)]
        viewers: u32,
        #[arg(long, default_value_t = 5)]
        windows: u32,
        /// Canary weight per window, comma-separated; the last repeats (e.g. `20,20,30,30,30`).
        #[arg(long, default_value = "50", value_delimiter = ',')]
        weights: Vec<u8>,
        /// Shared-cache TTL in seconds (the background document used 600).
        #[arg(long, default_value_t = 600)]
        ttl: u32,
        /// Cohort counts to compare for the cohort strategies.
        #[arg(long, default_value = "10", value_delimiter = ',')]
        cohorts: Vec<u16>,
        /// CDN edge locations, each with its own cache.
        #[arg(long, default_value_t = 40)]
        edges: u32,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Also: how many viewers a bad canary at this weight reaches before it is withdrawn
        /// after each of --withdrawn-after (minutes).
        #[arg(long)]
        bad_canary_weight: Option<u8>,
        #[arg(long, value_delimiter = ',', default_value = "6,30")]
        withdrawn_after: Vec<u32>,
    },
    /// Print, as a JSON array, the ffmpeg command line the processor would run to turn GIF into
    /// MP4 (program first). For benchmarks and debugging; honours the VIDEO_* variables.
    #[command(hide = true)]
    FfmpegArgs { gif: PathBuf, mp4: PathBuf },
}

fn main() -> ExitCode {
    // Before the runtime starts its threads: `process` renders one image after another.
    image_processor::lambda::allocator::keep_freed_memory();
    match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(runtime) => runtime.block_on(run()),
        Err(e) => {
            eprintln!("error: starting the async runtime: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()))
        .with_writer(std::io::stderr)
        .init();
    let cli = Cli::parse();
    match cli.command {
        Command::Process { files, out, json, focus } => process::run(&files, &out, json, focus.as_deref()).await,
        Command::FfmpegArgs { gif, mp4 } => process::print_ffmpeg_args(&gif, &mp4),
        Command::Release(args) => release::run(args).await,
        Command::Backfill(args) => backfill::command(args).await,
        Command::Logs(args) => logs::run(args).await,
        Command::Migrate(args) => migrate::run(args).await,
        Command::Doctor(args) => media_edge_doctor::cli::run(args).await,
        Command::Simulate {
            viewers,
            windows,
            weights,
            ttl,
            cohorts,
            edges,
            seed,
            bad_canary_weight,
            withdrawn_after,
        } => {
            use simulate::{run, table, Scenario, Strategy};
            let base = Scenario { viewers, windows, weights, ttl_seconds: ttl, edges, seed, ..Scenario::default() };
            let minutes = base.window_seconds / 60;
            let mut summary = vec![
                "| mode | N | hit ratio | weight → canary share per window (%) | viewers flipped, steady weight | router invocations per million | rollback to 99% |".to_string(),
                "|---|---|---|---|---|---|---|".to_string(),
            ];
            for strategy in [Strategy::RandomCached, Strategy::RandomUncached] {
                let reports = run(&base, strategy);
                println!("{}", table(strategy, &reports, minutes));
                summary.push(simulate::summary_row(strategy, None, &reports));
            }
            let base_cohorts = cohorts.last().copied();
            for n in cohorts {
                let scenario = Scenario { cohorts: n.max(1), ..base.clone() };
                for strategy in [Strategy::Ja3Cohort, Strategy::Ja4NetworkCohort, Strategy::EdgeVersion] {
                    let reports = run(&scenario, strategy);
                    println!("N = {n} cohorts: {}", table(strategy, &reports, minutes));
                    if strategy != Strategy::Ja3Cohort {
                        summary.push(simulate::summary_row(strategy, Some(n), &reports));
                    }
                }
            }
            println!("{}", summary.join("\n"));
            if let Some(weight) = bad_canary_weight {
                let n = base_cohorts.unwrap_or(100);
                println!("\n| bad canary at {weight}% (N = {n}, edge routing) withdrawn after | viewers who got it (of {viewers}) | requests served it |");
                println!("|---|---|---|");
                for minutes in withdrawn_after {
                    let (got, requests) =
                        simulate::bad_canary_exposure(&Scenario { cohorts: n, ..base.clone() }, weight, minutes);
                    let share = 100.0 * got as f64 / f64::from(viewers.max(1));
                    println!("| {minutes} min | {got} ({share:.2}%) | {requests} |");
                }
            }
            ExitCode::SUCCESS
        }
    }
}
