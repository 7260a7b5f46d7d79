//! CloudFront standard access logs into a report of which content drives the transfer bill and
//! which the CDN fails to cache: the engine of `media-edge logs` (docs/cdn-logs.md). It counts with
//! the same definitions as the Athena named queries in the template (`infra/log-definitions.json`).
//!
//! - [`read`]: files, directories (walked, sorted) and, with the `s3` feature, `s3://bucket/prefix`,
//!   plain or gzipped, into an [`Aggregate`]. Malformed lines and unreadable files are counted in it,
//!   never fatal. [`LogFeed`] takes the bytes of one log from anywhere else.
//! - [`Report::build`]: the ranked tables; [`Report::text`], [`Report::json`], [`Report::csv`],
//!   [`Report::html`] and [`Report::hourly_svg`] render them. [`load_originals`] reads the
//!   pipeline's manifests and [`Report::add_savings`] adds the bytes saved against the originals.
//! - [`Error`]: what stops a report (a bad time range, a missing argument, S3 listing failing).

mod aggregate;
mod cells;
mod chart;
mod compare;
mod compare_output;
mod definitions;
mod error;
mod files;
mod hot;
mod html;
mod json;
mod markup;
mod nginx;
mod originals;
mod output;
mod parquet;
mod parse;
mod progress;
mod reader;
mod releases;
mod report;
#[cfg(feature = "s3")]
mod s3;
mod sink;
mod tally;

use std::path::Path;

pub use aggregate::{Aggregate, InputStats, ObjectTally, TimeRange};
pub use compare::{Comparison, NotMigrated, Side, SizeDifference};
pub use definitions::Definitions;
pub use error::Error;
pub use hot::{hot, reencodes, HotList, HotOriginal, Reencode};
pub use nginx::{parse_nginx_line, NginxRequest};
pub use originals::{load as load_originals, manifest_key, variant_parts, ManifestFacts, Originals};
pub use parse::Request;
pub use reader::LogFeed;
pub use releases::{CohortHealth, Health, Releases, Routed};
pub use report::{
    CacheSummary, Candidate, CohortRow, InputSummary, Missed, ReleaseRow, Report, Row, Savings, SavingsRow,
};
pub use sink::{Dialect, Sink};
pub use tally::Tally;

/// How [`read`] reads.
#[derive(Debug, Clone, Default)]
pub struct ReadOptions {
    /// Requests outside it are counted as out of range and left out.
    pub range: TimeRange,
    /// Files read in parallel: one per core when `None`, at most two per core.
    pub jobs: Option<usize>,
    /// Show files and bytes read so far on stderr.
    pub progress: bool,
}

/// Reads every source (a file, a directory read recursively, or `s3://bucket/prefix`) into one
/// aggregate. A source that is missing is an error; trouble below it is counted in the aggregate's
/// `input` and reading goes on.
pub async fn read(sources: &[String], options: &ReadOptions) -> Result<Aggregate, Error> {
    let mut aggregate = Aggregate::new(Definitions::load()?, options.range);
    read_into(sources, &mut aggregate, options).await?;
    Ok(aggregate)
}

/// `logs compare`: nginx's logs and CloudFront's for the same range, each read as [`read`] reads.
pub async fn compare(nginx: &[String], cloudfront: &[String], options: &ReadOptions) -> Result<(Side, Side), Error> {
    let mut nginx_side = Side::new(Dialect::Nginx, options.range);
    read_into(nginx, &mut nginx_side, options).await?;
    let mut cloudfront_side = Side::new(Dialect::CloudFront, options.range);
    read_into(cloudfront, &mut cloudfront_side, options).await?;
    Ok((nginx_side, cloudfront_side))
}

async fn read_into<S: Sink>(sources: &[String], aggregate: &mut S, options: &ReadOptions) -> Result<(), Error> {
    let (s3_sources, local_sources): (Vec<&String>, Vec<&String>) =
        sources.iter().partition(|s| s.starts_with("s3://"));
    #[cfg(not(feature = "s3"))]
    if let Some(url) = s3_sources.first() {
        return Err(Error::S3Disabled { url: url.to_string() });
    }
    let mut files = Vec::new();
    for source in local_sources {
        std::fs::metadata(source).map_err(|e| Error::Source { source_name: source.clone(), source: e })?;
        files::collect(Path::new(source), &mut files, &mut aggregate.input().unreadable);
    }
    let before = files.len();
    files.retain(|path| options.range.may_hold(&path.to_string_lossy()));
    aggregate.input().files_outside_range += (before - files.len()) as u64;
    let progress = progress::Progress::start(options.progress);
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    // More workers than cores only multiplies memory (each keeps its own tallies).
    let jobs = options.jobs.unwrap_or(cores).clamp(1, cores.max(1) * 2);
    files::read_all(&files, aggregate, jobs, &progress);
    #[cfg(feature = "s3")]
    for url in s3_sources {
        s3::read(url, aggregate, &progress).await?;
    }
    progress.finish();
    Ok(())
}
