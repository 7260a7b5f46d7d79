//! Where the readers put requests: the report's [`Aggregate`], or one side of `logs compare`.
//! The readers (files, S3, gzip, Parquet) are the same for both; a sink says which line format
//! its logs are in.

use crate::aggregate::{Aggregate, InputStats, TimeRange};
use crate::parse::Request;

/// The line format of a sink's logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// CloudFront's: W3C with `#Fields`, v2 JSON lines, or v2 Parquet files.
    CloudFront,
    /// nginx's access log (`combined`, or the extended `media_edge` format).
    Nginx,
}

pub trait Sink: Send + Sized {
    fn add(&mut self, request: &Request<'_>);
    fn input(&mut self) -> &mut InputStats;
    fn range(&self) -> TimeRange;
    /// An empty sink like this one, for another reader thread.
    fn sibling(&self) -> Self;
    fn merge(&mut self, other: Self);
    fn dialect(&self) -> Dialect {
        Dialect::CloudFront
    }
}

impl Sink for Aggregate {
    fn add(&mut self, request: &Request<'_>) {
        Aggregate::add(self, request);
    }

    fn input(&mut self) -> &mut InputStats {
        &mut self.input
    }

    fn range(&self) -> TimeRange {
        Aggregate::range(self)
    }

    fn sibling(&self) -> Self {
        Aggregate::sibling(self)
    }

    fn merge(&mut self, other: Self) {
        Aggregate::merge(self, other);
    }
}
