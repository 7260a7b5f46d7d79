//! `media-edge logs`: the command line of the CDN log report; the engine is the `cdn-logs` crate
//! (docs/cdn-logs.md).

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;

use cdn_logs::{Error, ReadOptions, Report, TimeRange};
use clap::ValueEnum;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct LogsArgs {
    #[command(subcommand)]
    compare: Option<LogsCommand>,
    /// Log files, directories (read recursively) or `s3://bucket/prefix`. Plain or gzipped.
    #[arg(required = true)]
    sources: Vec<String>,
    /// Only requests at or after this UTC time (`2026-11-21`, `2026-11-21T13:00`).
    #[arg(long)]
    since: Option<String>,
    /// Only requests before this UTC time.
    #[arg(long)]
    until: Option<String>,
    /// Rows per ranked table.
    #[arg(long, default_value_t = 20)]
    top: usize,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    format: Format,
    /// Also write the hourly traffic curve as an SVG chart to FILE.
    #[arg(long, value_name = "FILE")]
    chart: Option<PathBuf>,
    /// Show progress on stderr (default: when stderr is a terminal).
    #[arg(long)]
    progress: bool,
    /// Files read in parallel (default: one per core).
    #[arg(long)]
    jobs: Option<usize>,
    /// The pipeline's manifests (`s3://<VariantsBucketName>`, or a directory laid out like it):
    /// adds the bytes each format saved against serving the originals. Reads one manifest per
    /// original in the logs.
    #[arg(long, value_name = "DIR|s3://BUCKET")]
    manifests: Option<String>,
    /// Instead of the report: the N originals whose variants served the most bytes, where more
    /// AVIF effort pays most (`--format json` is what `media-edge backfill --keys-from` reads;
    /// with --manifests each row names the original's key and its current effort).
    #[arg(long, value_name = "N")]
    hot: Option<usize>,
}

#[derive(clap::Subcommand)]
enum LogsCommand {
    /// While a site moves off its old web servers: nginx's access logs beside CloudFront's for
    /// the same hours, per hour and per path (requests, status classes, bytes, p50/p95 time),
    /// with the paths nginx answers 2xx and CloudFront 4xx/5xx (not migrated, or routed wrong)
    /// and those whose body differs in size (docs/migration.md).
    Compare(CompareArgs),
}

#[derive(clap::Args)]
struct CompareArgs {
    /// nginx access logs (`combined`, or the `media_edge` log_format of docs/migration.md):
    /// files, directories (rotated and gzipped files included) or `s3://bucket/prefix`.
    #[arg(long, required = true, num_args = 1..)]
    nginx: Vec<String>,
    /// CloudFront's logs for the same hours (legacy, or v2 JSON/Parquet), as `media-edge logs` reads.
    #[arg(long, required = true, num_args = 1..)]
    cloudfront: Vec<String>,
    /// Only requests at or after this UTC time (`2026-11-21`, `2026-11-21T13:00`).
    #[arg(long)]
    since: Option<String>,
    /// Only requests before this UTC time.
    #[arg(long)]
    until: Option<String>,
    /// Busiest paths listed.
    #[arg(long, default_value_t = 20)]
    top: usize,
    #[arg(long, value_enum, default_value_t = CompareFormat::Text)]
    format: CompareFormat,
    /// Also write the not-migrated paths' object keys to FILE, one per line: `media-edge backfill
    /// --keys-from FILE` reads it, and so can a copy loop.
    #[arg(long, value_name = "FILE")]
    not_migrated: Option<PathBuf>,
    /// Exit 1 when a path is not migrated or differs in size (for a check before raising weights).
    #[arg(long)]
    strict: bool,
    #[arg(long)]
    progress: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum CompareFormat {
    Text,
    Json,
    Html,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
    /// One self-contained page (chart, sortable tables), to open in a browser or attach.
    Html,
}

pub async fn run(args: LogsArgs) -> ExitCode {
    if let Some(LogsCommand::Compare(args)) = args.compare {
        return match compare(args).await {
            Ok(code) => code,
            Err(e) => {
                eprintln!("media-edge logs compare: {e}");
                ExitCode::FAILURE
            }
        };
    }
    match report(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("media-edge logs: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn compare(args: CompareArgs) -> Result<ExitCode, Error> {
    let options = ReadOptions {
        range: TimeRange::parse(args.since.as_deref(), args.until.as_deref())?,
        jobs: None,
        progress: args.progress || std::io::stderr().is_terminal(),
    };
    let (nginx, cloudfront) = cdn_logs::compare(&args.nginx, &args.cloudfront, &options).await?;
    let comparison = cdn_logs::Comparison::build(&nginx, &cloudfront, args.top);
    print!(
        "{}",
        match args.format {
            CompareFormat::Text => comparison.text(),
            CompareFormat::Json => comparison.json()?,
            CompareFormat::Html => comparison.html(),
        }
    );
    if let Some(path) = &args.not_migrated {
        std::fs::write(path, comparison.not_migrated_keys())
            .map_err(|source| Error::Write { path: path.clone(), source })?;
    }
    let differs = !comparison.not_migrated.is_empty() || !comparison.size_differences.is_empty();
    Ok(if args.strict && differs { ExitCode::FAILURE } else { ExitCode::SUCCESS })
}

async fn report(args: LogsArgs) -> Result<(), Error> {
    let options = ReadOptions {
        range: TimeRange::parse(args.since.as_deref(), args.until.as_deref())?,
        jobs: args.jobs,
        progress: args.progress || std::io::stderr().is_terminal(),
    };
    let aggregate = cdn_logs::read(&args.sources, &options).await?;
    if let Some(n) = args.hot {
        let originals = match &args.manifests {
            Some(root) => Some(cdn_logs::load_originals(root, &aggregate).await?),
            None => None,
        };
        let hot = cdn_logs::hot(&aggregate, n, originals.as_ref());
        print!(
            "{}",
            match args.format {
                Format::Table | Format::Html => hot.text(),
                Format::Json => hot.json()?,
                Format::Csv => hot.csv()?,
            }
        );
        return Ok(());
    }
    let mut report = Report::build(&aggregate, args.top);
    if let Some(root) = &args.manifests {
        report.add_savings(&aggregate, &cdn_logs::load_originals(root, &aggregate).await?);
    }
    let text = match args.format {
        Format::Table => report.text(),
        Format::Json => report.json()?,
        Format::Csv => report.csv()?,
        Format::Html => report.html(),
    };
    print!("{text}");
    if let Some(path) = args.chart {
        std::fs::write(&path, report.hourly_svg()).map_err(|source| Error::Chart { path, source })?;
    }
    Ok(())
}
