//! What stops a report. Trouble inside the logs (a malformed line, a file that breaks off, an
//! unreadable directory below an argument) is counted in the report instead, never an error.
//!
//! Messages are what `media-edge logs` prints after its name, so they name the command's options;
//! each keeps its cause as `source()`.

use std::path::PathBuf;

/// What listing an `s3://` source can fail with.
#[cfg(feature = "s3")]
pub type ListError = aws_sdk_s3::error::SdkError<
    aws_sdk_s3::operation::list_objects_v2::ListObjectsV2Error,
    aws_sdk_s3::config::http::HttpResponse,
>;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `--since`/`--until` that is not a UTC time.
    #[error("`{text}` is not a UTC time like 2026-11-21 or 2026-11-21T13:05")]
    BadTime { text: String },
    #[error("--since must be before --until")]
    EmptyRange,
    /// The definitions built into the crate do not parse (a broken `infra/log-definitions.json`).
    #[error("infra/log-definitions.json: {0}")]
    Definitions(#[source] serde_json::Error),
    /// A source named on the command line is missing or unreadable.
    #[error("{source_name}: {source}")]
    Source { source_name: String, source: std::io::Error },
    /// An `s3://` source, in a build without the `s3` feature.
    #[error("{url}: reading from S3 needs the `s3` feature of the cdn-logs crate")]
    S3Disabled { url: String },
    #[cfg(feature = "s3")]
    #[error("{url}: no bucket name")]
    NoBucket { url: String },
    /// Listing an `s3://bucket/prefix` source failed (no such bucket, access denied, network).
    #[cfg(feature = "s3")]
    #[error("{url}: listing failed: {}", media_edge_shared::aws::describe_sdk_error(source))]
    S3Listing { url: String, source: Box<ListError> },
    #[error("{0}")]
    Json(#[source] serde_json::Error),
    #[error("{0}")]
    Csv(#[from] csv::Error),
    /// The `--chart` file could not be written.
    #[error("{}: {source}", path.display())]
    Chart { path: PathBuf, source: std::io::Error },
    /// An output file (`--not-migrated`) could not be written.
    #[error("{}: {source}", path.display())]
    Write { path: PathBuf, source: std::io::Error },
}
