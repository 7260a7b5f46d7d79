//! `media-edge logs`: which content drives the transfer bill and which the CDN fails to cache,
//! from CloudFront standard access logs on disk or in S3. The same definitions as the Athena
//! named queries in the template (`infra/log-definitions.json`).

mod aggregate;
mod chart;
mod definitions;
mod output;
mod parse;
mod reader;
mod report;

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use aggregate::{Aggregate, TimeRange};
use clap::ValueEnum;
use media_edge_shared::units::human_bytes;

#[derive(clap::Args)]
pub struct LogsArgs {
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
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
}

pub async fn run(args: LogsArgs) -> ExitCode {
    match report(args).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("media-edge logs: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn report(args: LogsArgs) -> Result<(), String> {
    let range = TimeRange {
        since: args.since.as_deref().map(parse::parse_instant).transpose()?,
        until: args.until.as_deref().map(parse::parse_instant).transpose()?,
    };
    let mut aggregate = Aggregate::new(definitions::Definitions::load()?, range);

    let (s3_sources, local_sources): (Vec<&String>, Vec<&String>) =
        args.sources.iter().partition(|s| s.starts_with("s3://"));
    let mut files = Vec::new();
    for source in local_sources {
        collect_files(Path::new(source), &mut files).map_err(|e| format!("{source}: {e}"))?;
    }
    let progress = Progress::start(args.progress || std::io::stderr().is_terminal());
    let jobs = args.jobs.unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get())).max(1);
    read_local(&files, &mut aggregate, jobs, &progress);
    for source in s3_sources {
        s3::read(source, &mut aggregate, &progress).await?;
    }
    progress.stop();

    let report = report::build(&aggregate, args.top);
    let text = match args.format {
        Format::Table => output::text(&report),
        Format::Json => output::json(&report)?,
        Format::Csv => output::csv(&report),
    };
    print!("{text}");
    if let Some(path) = args.chart {
        let title = match (&report.input.from, &report.input.to) {
            (Some(from), Some(to)) => format!("Traffic by hour, {from} to {to}"),
            _ => "Traffic by hour".to_string(),
        };
        std::fs::write(&path, chart::hourly_svg(&report.by_hour, &title))
            .map_err(|e| format!("{}: {e}", path.display()))?;
    }
    Ok(())
}

/// Files under `path` (itself if a file), sorted so runs are repeatable.
fn collect_files(path: &Path, files: &mut Vec<PathBuf>) -> std::io::Result<()> {
    if !std::fs::metadata(path)?.is_dir() {
        files.push(path.to_path_buf());
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?.map(|e| e.map(|e| e.path())).collect::<Result<_, _>>()?;
    entries.sort();
    for entry in entries {
        collect_files(&entry, files)?;
    }
    Ok(())
}

/// Reads files on `jobs` threads, each into its own aggregate, merged at the end.
fn read_local(files: &[PathBuf], aggregate: &mut Aggregate, jobs: usize, progress: &Progress) {
    let next = AtomicUsize::new(0);
    let workers: Vec<Aggregate> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs.min(files.len()))
            .map(|_| {
                let mut mine = aggregate.sibling();
                let next = &next;
                scope.spawn(move || {
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let name = path.display().to_string();
                        match std::fs::File::open(path) {
                            Ok(file) => reader::read_from(&name, &mut mine, file, |n| progress.add(n)),
                            Err(e) => mine.input.unreadable.push(format!("{name}: {e}")),
                        }
                        progress.file_done();
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().filter_map(|h| h.join().ok()).collect()
    });
    for worker in workers {
        aggregate.merge(worker);
    }
}

/// Bytes and files read so far, printed to stderr once a second while enabled.
struct Progress {
    bytes: AtomicU64,
    files: AtomicU64,
    done: AtomicBool,
    enabled: bool,
    started: Instant,
}

impl Progress {
    fn start(enabled: bool) -> std::sync::Arc<Progress> {
        let progress = std::sync::Arc::new(Progress {
            bytes: AtomicU64::new(0),
            files: AtomicU64::new(0),
            done: AtomicBool::new(false),
            enabled,
            started: Instant::now(),
        });
        if enabled {
            let ticker = progress.clone();
            std::thread::spawn(move || {
                while !ticker.done.load(Ordering::Relaxed) {
                    std::thread::sleep(Duration::from_millis(1000));
                    ticker.print();
                }
            });
        }
        progress
    }

    fn add(&self, bytes: usize) {
        self.bytes.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    fn file_done(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
    }

    fn print(&self) {
        let bytes = self.bytes.load(Ordering::Relaxed);
        let seconds = self.started.elapsed().as_secs_f64().max(0.001);
        eprint!(
            "\r{} files, {} read, {}/s   ",
            self.files.load(Ordering::Relaxed),
            human_bytes(bytes),
            human_bytes((bytes as f64 / seconds) as u64)
        );
    }

    fn stop(&self) {
        self.done.store(true, Ordering::Relaxed);
        if self.enabled {
            self.print();
            eprintln!();
        }
    }
}

mod s3 {
    //! Logs from `s3://bucket/prefix`, streamed object by object through the SDK.

    use media_edge_shared::aws::{load_sdk_config, s3_client};
    use media_edge_shared::failure::describe_sdk_error;

    use super::aggregate::Aggregate;
    use super::reader::LogFeed;
    use super::Progress;

    pub async fn read(url: &str, aggregate: &mut Aggregate, progress: &Progress) -> Result<(), String> {
        let location = url.trim_start_matches("s3://");
        let (bucket, prefix) = location.split_once('/').unwrap_or((location, ""));
        if bucket.is_empty() {
            return Err(format!("{url}: no bucket name"));
        }
        let client = s3_client(&load_sdk_config().await);
        let mut keys = Vec::new();
        let mut pages = client.list_objects_v2().bucket(bucket).prefix(prefix).into_paginator().send();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| format!("{url}: listing failed: {}", describe_sdk_error(&e)))?;
            keys.extend(page.contents().iter().filter_map(|o| o.key().map(str::to_string)));
        }
        for key in keys {
            let source = format!("s3://{bucket}/{key}");
            if let Err(why) = read_object(&client, bucket, &key, &source, aggregate, progress).await {
                aggregate.input.unreadable.push(format!("{source}: {why}"));
            }
            progress.file_done();
        }
        Ok(())
    }

    async fn read_object(
        client: &aws_sdk_s3::Client,
        bucket: &str,
        key: &str,
        source: &str,
        aggregate: &mut Aggregate,
        progress: &Progress,
    ) -> Result<(), String> {
        let object = client.get_object().bucket(bucket).key(key).send().await.map_err(|e| describe_sdk_error(&e))?;
        let mut body = object.body;
        let mut feed = LogFeed::new(source, aggregate);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(|e| format!("download broke off: {e}"))?;
            progress.add(chunk.len());
            feed.push(&chunk).map_err(|e| e.to_string())?;
        }
        feed.finish().map_err(|e| e.to_string())
    }
}
