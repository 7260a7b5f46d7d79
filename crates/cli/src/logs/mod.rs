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
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;
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
    if let (Some(since), Some(until)) = (range.since, range.until) {
        if since >= until {
            return Err("--since must be before --until".into());
        }
    }
    let mut aggregate = Aggregate::new(definitions::Definitions::load()?, range);

    let (s3_sources, local_sources): (Vec<&String>, Vec<&String>) =
        args.sources.iter().partition(|s| s.starts_with("s3://"));
    let mut files = Vec::new();
    for source in local_sources {
        // A missing or unreadable argument is a mistake to report; trouble below it is not fatal.
        std::fs::metadata(source).map_err(|e| format!("{source}: {e}"))?;
        collect_files(Path::new(source), &mut files, &mut aggregate.input.unreadable);
    }
    let progress = Progress::start(args.progress || std::io::stderr().is_terminal());
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // More workers than cores only multiplies memory (each keeps its own tallies).
    let jobs = args.jobs.unwrap_or(cores).clamp(1, cores.max(1) * 2);
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

/// Files under `path` (itself if a file), sorted so runs are repeatable. Symbolic links to
/// directories are not followed (no loops, no double counting); what cannot be read is noted.
fn collect_files(path: &Path, files: &mut Vec<PathBuf>, unreadable: &mut Vec<String>) {
    let is_dir = match std::fs::metadata(path) {
        Ok(metadata) => metadata.is_dir(),
        Err(e) => return unreadable.push(format!("{}: {e}", path.display())),
    };
    if !is_dir {
        files.push(path.to_path_buf());
        return;
    }
    let entries = match std::fs::read_dir(path) {
        Ok(entries) => entries,
        Err(e) => return unreadable.push(format!("{}: {e}", path.display())),
    };
    let mut children = Vec::new();
    for entry in entries {
        match entry {
            Ok(entry) => {
                let link_to_dir = entry.file_type().is_ok_and(|t| t.is_symlink()) && entry.path().is_dir();
                if !link_to_dir {
                    children.push(entry.path());
                }
            }
            Err(e) => unreadable.push(format!("{}: {e}", path.display())),
        }
    }
    children.sort();
    for child in children {
        collect_files(&child, files, unreadable);
    }
}

/// Reads files on `jobs` threads, each into its own aggregate, merged at the end.
fn read_local(files: &[PathBuf], aggregate: &mut Aggregate, jobs: usize, progress: &Progress) {
    let next = AtomicUsize::new(0);
    let workers: Vec<std::thread::Result<Aggregate>> = std::thread::scope(|scope| {
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
        handles.into_iter().map(|h| h.join()).collect()
    });
    for worker in workers {
        match worker {
            Ok(worker) => aggregate.merge(worker),
            // Not expected (nothing in reading panics by design), but never a silent gap.
            Err(_) => aggregate.input.unreadable.push("a reader thread failed: its files are missing".into()),
        }
    }
}

/// Bytes and files read so far, printed to stderr once a second while enabled.
struct Progress {
    bytes: AtomicU64,
    files: AtomicU64,
    /// Set by `stop`; the lock also keeps the ticker from printing after the final line.
    done: Mutex<bool>,
    enabled: bool,
    started: Instant,
}

impl Progress {
    fn start(enabled: bool) -> std::sync::Arc<Progress> {
        let progress = std::sync::Arc::new(Progress {
            bytes: AtomicU64::new(0),
            files: AtomicU64::new(0),
            done: Mutex::new(false),
            enabled,
            started: Instant::now(),
        });
        if enabled {
            let ticker = progress.clone();
            std::thread::spawn(move || loop {
                std::thread::sleep(Duration::from_millis(1000));
                let Ok(done) = ticker.done.lock() else { break };
                if *done {
                    break;
                }
                ticker.print();
                drop(done);
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
        let Ok(mut done) = self.done.lock() else { return };
        *done = true;
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
