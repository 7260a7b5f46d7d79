//! `media-edge logs compare`: an old web server's traffic (nginx access logs) beside CloudFront's
//! for the same hours, while a site moves (docs/migration.md). Both sides are read by the same
//! readers as the report (files, directories, `s3://`, plain or gzipped, rotated files included)
//! into a [`Side`] each; [`Comparison::build`] lines them up per hour and per path and picks out
//! what needs a person: paths nginx serves and CloudFront does not (not copied yet, or routed
//! wrong), and paths whose body differs in size for the same status (a stale or different object).

use std::collections::HashMap;

use foldhash::fast::RandomState;
use serde::Serialize;

use crate::aggregate::{max_some, min_some, InputStats, TimeRange};
use crate::parse::{percent_decoded, Request};
use crate::report::{hour_label, time_label};
use crate::sink::{Dialect, Sink};

/// Distinct body sizes kept per path: more than this and the path "varies" (a dynamic page).
const MAX_SIZES: usize = 4;

/// Request times in buckets of 1/8 of a power of two (at most 12.5% wide; exact below 8 ms).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Times {
    /// (bucket, requests), sorted by bucket; sparse, as most paths see few requests.
    buckets: Vec<(u16, u32)>,
}

impl Times {
    fn bucket(ms: u64) -> u16 {
        if ms < 8 {
            return ms as u16;
        }
        let octave = 63 - u64::from(ms.leading_zeros()); // >= 3
        let step = (ms >> (octave - 3)) & 7;
        (8 + (octave - 3) * 8 + step) as u16
    }

    /// The smallest time in the bucket.
    fn lower_bound(bucket: u16) -> u64 {
        if bucket < 8 {
            return u64::from(bucket);
        }
        let (octave, step) = (u64::from(bucket - 8) / 8 + 3, u64::from(bucket - 8) % 8);
        (8 + step) << (octave - 3)
    }

    fn add(&mut self, ms: u64) {
        let bucket = Self::bucket(ms);
        match self.buckets.binary_search_by_key(&bucket, |(b, _)| *b) {
            Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(1),
            Err(i) => self.buckets.insert(i, (bucket, 1)),
        }
    }

    fn merge(&mut self, other: &Times) {
        for (bucket, count) in &other.buckets {
            match self.buckets.binary_search_by_key(bucket, |(b, _)| *b) {
                Ok(i) => self.buckets[i].1 = self.buckets[i].1.saturating_add(*count),
                Err(i) => self.buckets.insert(i, (*bucket, *count)),
            }
        }
    }

    /// The time `q` of requests took at most (its bucket's lower bound); `None` without times.
    pub fn quantile(&self, q: f64) -> Option<u64> {
        let total: u64 = self.buckets.iter().map(|(_, c)| u64::from(*c)).sum();
        if total == 0 {
            return None;
        }
        let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
        let mut seen = 0;
        for (bucket, count) in &self.buckets {
            seen += u64::from(*count);
            if seen >= rank {
                return Some(Self::lower_bound(*bucket));
            }
        }
        None
    }
}

/// Requests, status classes, bytes and times of a group of requests on one side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Counts {
    pub requests: u64,
    /// By status class: `[none, 1xx, 2xx, 3xx, 4xx, 5xx]`.
    pub classes: [u64; 6],
    pub bytes: u64,
    pub times: Times,
}

impl Counts {
    fn add(&mut self, request: &Request<'_>) {
        self.requests += 1;
        self.classes[class(request.status)] += 1;
        self.bytes = self.bytes.saturating_add(request.bytes);
        if let Some(ms) = request.time_taken_ms {
            self.times.add(ms);
        }
    }

    fn merge(&mut self, other: &Counts) {
        self.requests += other.requests;
        for (mine, theirs) in self.classes.iter_mut().zip(other.classes) {
            *mine += theirs;
        }
        self.bytes = self.bytes.saturating_add(other.bytes);
        self.times.merge(&other.times);
    }

    pub fn errors(&self) -> u64 {
        self.classes[4] + self.classes[5]
    }

    pub fn error_rate(&self) -> Option<f64> {
        (self.requests > 0).then(|| self.errors() as f64 / self.requests as f64)
    }
}

fn class(status: Option<u16>) -> usize {
    match status {
        Some(s @ 100..=599) => usize::from(s / 100),
        _ => 0,
    }
}

/// One path on one side.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PathCounts {
    pub counts: Counts,
    /// Body sizes of whole GET responses (status 200): (size, requests), at most [`MAX_SIZES`].
    sizes: Vec<(u64, u64)>,
    /// More distinct sizes than kept.
    sizes_vary: bool,
}

impl PathCounts {
    fn add_size(&mut self, size: u64, requests: u64) {
        if let Some(slot) = self.sizes.iter_mut().find(|(s, _)| *s == size) {
            slot.1 += requests;
        } else if self.sizes.len() < MAX_SIZES {
            self.sizes.push((size, requests));
        } else {
            self.sizes_vary = true;
        }
    }

    /// The body size most whole responses had, unless the path's size varies.
    fn usual_size(&self) -> Option<u64> {
        if self.sizes_vary || self.sizes.len() > 1 {
            return None;
        }
        self.sizes.first().map(|(size, _)| *size)
    }
}

/// Everything one side's logs said, by hour and by normalised path.
#[derive(Debug)]
pub struct Side {
    dialect: Dialect,
    range: TimeRange,
    pub input: InputStats,
    pub total: Counts,
    /// By hour (seconds since the epoch / 3600).
    pub hours: HashMap<i64, Counts, RandomState>,
    pub paths: HashMap<Box<str>, PathCounts, RandomState>,
}

impl Side {
    pub fn new(dialect: Dialect, range: TimeRange) -> Self {
        Side {
            dialect,
            range,
            input: InputStats::default(),
            total: Counts::default(),
            hours: HashMap::default(),
            paths: HashMap::default(),
        }
    }
}

impl Sink for Side {
    fn add(&mut self, request: &Request<'_>) {
        if !self.range.contains(request.timestamp) {
            self.input.out_of_range += 1;
            return;
        }
        self.input.requests += 1;
        self.input.first = min_some(self.input.first, Some(request.timestamp));
        self.input.last = max_some(self.input.last, Some(request.timestamp));
        self.total.add(request);
        self.hours.entry(request.timestamp.div_euclid(3600)).or_default().add(request);
        let path = normalise_path(request.uri);
        let entry = match self.paths.get_mut(path.as_str()) {
            Some(entry) => entry,
            None => self.paths.entry(path.into_boxed_str()).or_default(),
        };
        entry.counts.add(request);
        if request.status == Some(200) && request.method.eq_ignore_ascii_case(b"GET") {
            if let Some(size) = request.content_len {
                entry.add_size(size, 1);
            }
        }
    }

    fn input(&mut self) -> &mut InputStats {
        &mut self.input
    }

    fn range(&self) -> TimeRange {
        self.range
    }

    fn sibling(&self) -> Self {
        Side::new(self.dialect, self.range)
    }

    fn merge(&mut self, other: Self) {
        self.input.merge(&other.input);
        self.total.merge(&other.total);
        for (hour, counts) in &other.hours {
            self.hours.entry(*hour).or_default().merge(counts);
        }
        for (path, theirs) in other.paths {
            let mine = self.paths.entry(path).or_default();
            mine.counts.merge(&theirs.counts);
            for (size, requests) in theirs.sizes {
                mine.add_size(size, requests);
            }
            mine.sizes_vary |= theirs.sizes_vary;
        }
    }

    fn dialect(&self) -> Dialect {
        self.dialect
    }
}

/// The same path however each side logged it: percent-escapes decoded (CloudFront escapes its
/// URIs, nginx logs them as the client sent them), repeated slashes as one. A broken escape keeps
/// the raw text.
pub fn normalise_path(raw: &[u8]) -> String {
    let decoded = percent_decoded(raw).unwrap_or(std::borrow::Cow::Borrowed(raw));
    let text = String::from_utf8_lossy(&decoded);
    let mut path = String::with_capacity(text.len() + 1);
    if !text.starts_with('/') {
        path.push('/');
    }
    for c in text.chars() {
        if c == '/' && path.ends_with('/') {
            continue;
        }
        path.push(c);
    }
    path
}

/// One side's numbers in a row of the comparison.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct SideRow {
    pub requests: u64,
    #[serde(rename = "2xx")]
    pub ok: u64,
    #[serde(rename = "3xx")]
    pub redirects: u64,
    #[serde(rename = "4xx")]
    pub client_errors: u64,
    #[serde(rename = "5xx")]
    pub server_errors: u64,
    pub bytes: u64,
    pub error_rate: Option<f64>,
    pub p50_ms: Option<u64>,
    pub p95_ms: Option<u64>,
}

impl From<&Counts> for SideRow {
    fn from(c: &Counts) -> Self {
        SideRow {
            requests: c.requests,
            ok: c.classes[2],
            redirects: c.classes[3],
            client_errors: c.classes[4],
            server_errors: c.classes[5],
            bytes: c.bytes,
            error_rate: c.error_rate(),
            p50_ms: c.times.quantile(0.5),
            p95_ms: c.times.quantile(0.95),
        }
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HourRow {
    /// `2026-12-07T10:00Z`.
    pub hour: String,
    pub nginx: SideRow,
    pub cloudfront: SideRow,
    /// CloudFront's error rate minus nginx's, in percentage points (`None` when a side is empty).
    pub error_rate_difference_points: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PathRow {
    pub path: String,
    pub nginx: SideRow,
    pub cloudfront: SideRow,
}

/// A path nginx answered with 2xx that CloudFront answered with 4xx/5xx.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct NotMigrated {
    pub path: String,
    /// The object key it maps to in a bucket holding the document root (the path without its `/`).
    pub key: String,
    pub nginx_ok: u64,
    pub cloudfront_errors: u64,
    /// CloudFront also answered 2xx sometimes (an intermittent failure, not a missing object).
    pub cloudfront_ok: u64,
}

/// A path whose whole GET responses had a different body size on each side.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct SizeDifference {
    pub path: String,
    pub nginx_bytes: u64,
    pub cloudfront_bytes: u64,
    pub nginx_requests: u64,
    pub cloudfront_requests: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SideInput {
    pub files: u64,
    pub bytes_read: u64,
    pub lines: u64,
    pub requests: u64,
    pub out_of_range: u64,
    pub malformed_lines: u64,
    pub malformed_examples: Vec<String>,
    pub unreadable: Vec<String>,
    pub from: Option<String>,
    pub to: Option<String>,
}

impl From<&InputStats> for SideInput {
    fn from(i: &InputStats) -> Self {
        SideInput {
            files: i.files,
            bytes_read: i.bytes_read,
            lines: i.lines,
            requests: i.requests,
            out_of_range: i.out_of_range,
            malformed_lines: i.malformed,
            malformed_examples: i.malformed_examples.iter().map(|(s, l, why)| format!("{s}:{l}: {why}")).collect(),
            unreadable: i.unreadable.clone(),
            from: i.first.map(time_label),
            to: i.last.map(time_label),
        }
    }
}

/// The comparison, ready to render as text, JSON or HTML (`compare_output`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Comparison {
    pub nginx_input: SideInput,
    pub cloudfront_input: SideInput,
    pub nginx: SideRow,
    pub cloudfront: SideRow,
    /// Every hour either side has requests in, in order.
    pub hours: Vec<HourRow>,
    /// The busiest paths (both sides' requests together), at most `top`.
    pub top_paths: Vec<PathRow>,
    /// Every such path, most CloudFront errors first.
    pub not_migrated: Vec<NotMigrated>,
    /// Every such path, most requests first.
    pub size_differences: Vec<SizeDifference>,
    /// Paths only one side saw (counts; the busiest are in `top_paths`).
    pub paths_only_nginx: u64,
    pub paths_only_cloudfront: u64,
}

impl Comparison {
    pub fn build(nginx: &Side, cloudfront: &Side, top: usize) -> Self {
        let empty = Counts::default();
        let mut hours: Vec<i64> = nginx.hours.keys().chain(cloudfront.hours.keys()).copied().collect();
        hours.sort_unstable();
        hours.dedup();
        let hours = hours
            .into_iter()
            .map(|hour| {
                let n = SideRow::from(nginx.hours.get(&hour).unwrap_or(&empty));
                let c = SideRow::from(cloudfront.hours.get(&hour).unwrap_or(&empty));
                let difference = match (n.error_rate, c.error_rate) {
                    (Some(n), Some(c)) => Some(((c - n) * 1000.0).round() / 10.0),
                    _ => None,
                };
                HourRow { hour: hour_label(hour), nginx: n, cloudfront: c, error_rate_difference_points: difference }
            })
            .collect();

        let empty_path = PathCounts::default();
        let mut paths: Vec<(&str, &PathCounts, &PathCounts)> = nginx
            .paths
            .iter()
            .map(|(p, n)| (&**p, n, cloudfront.paths.get(p).unwrap_or(&empty_path)))
            .chain(
                cloudfront
                    .paths
                    .iter()
                    .filter(|(p, _)| !nginx.paths.contains_key(*p))
                    .map(|(p, c)| (&**p, &empty_path, c)),
            )
            .collect();
        paths.sort_unstable_by(|a, b| {
            (b.1.counts.requests + b.2.counts.requests)
                .cmp(&(a.1.counts.requests + a.2.counts.requests))
                .then(a.0.cmp(b.0))
        });
        let paths_only_nginx = paths.iter().filter(|(_, _, c)| c.counts.requests == 0).count() as u64;
        let paths_only_cloudfront = paths.iter().filter(|(_, n, _)| n.counts.requests == 0).count() as u64;

        let mut not_migrated: Vec<NotMigrated> = paths
            .iter()
            .filter(|(_, n, c)| n.counts.classes[2] > 0 && c.counts.errors() > 0)
            .map(|(path, n, c)| NotMigrated {
                path: path.to_string(),
                key: path.trim_start_matches('/').to_string(),
                nginx_ok: n.counts.classes[2],
                cloudfront_errors: c.counts.errors(),
                cloudfront_ok: c.counts.classes[2],
            })
            .collect();
        not_migrated.sort_by(|a, b| b.cloudfront_errors.cmp(&a.cloudfront_errors).then(a.path.cmp(&b.path)));

        let size_differences = paths
            .iter()
            .filter_map(|(path, n, c)| {
                let (nginx_bytes, cloudfront_bytes) = (n.usual_size()?, c.usual_size()?);
                (nginx_bytes != cloudfront_bytes).then(|| SizeDifference {
                    path: path.to_string(),
                    nginx_bytes,
                    cloudfront_bytes,
                    nginx_requests: n.counts.requests,
                    cloudfront_requests: c.counts.requests,
                })
            })
            .collect();

        let top_paths = paths
            .iter()
            .take(top)
            .map(|(path, n, c)| PathRow {
                path: path.to_string(),
                nginx: SideRow::from(&n.counts),
                cloudfront: SideRow::from(&c.counts),
            })
            .collect();
        Comparison {
            nginx_input: SideInput::from(&nginx.input),
            cloudfront_input: SideInput::from(&cloudfront.input),
            nginx: SideRow::from(&nginx.total),
            cloudfront: SideRow::from(&cloudfront.total),
            hours,
            top_paths,
            not_migrated,
            size_differences,
            paths_only_nginx,
            paths_only_cloudfront,
        }
    }

    /// The not-migrated paths as object keys, one per line: what `media-edge backfill
    /// --keys-from` and a copy loop read.
    pub fn not_migrated_keys(&self) -> String {
        self.not_migrated.iter().map(|n| format!("{}\n", n.key)).collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::nginx::parse_nginx_line;
    use crate::parse::{parse_line, Columns};

    fn nginx_side(lines: &[&str]) -> Side {
        let mut side = Side::new(Dialect::Nginx, TimeRange::default());
        for line in lines {
            side.add(&Request::from(&parse_nginx_line(line.as_bytes()).unwrap()));
        }
        side
    }

    const FIELDS: &str = "date time cs-method cs-uri-stem sc-status sc-bytes time-taken sc-content-len";

    fn cloudfront_side(lines: &[&str]) -> Side {
        let columns = Columns::from_header(FIELDS).unwrap();
        let mut side = Side::new(Dialect::CloudFront, TimeRange::default());
        for line in lines {
            side.add(&parse_line(line.as_bytes(), &columns).unwrap());
        }
        side
    }

    #[test]
    fn times_are_bucketed_within_an_eighth_and_quantiles_are_exact_at_the_bounds() {
        for ms in [0, 1, 7, 8, 9, 15, 16, 17, 100, 999, 1000, 123_456, u64::MAX >> 4] {
            let low = Times::lower_bound(Times::bucket(ms));
            assert!(low <= ms && ms - low <= ms / 8, "{ms} -> {low}");
            assert_eq!(Times::bucket(low), Times::bucket(ms), "{ms}");
        }
        let mut t = Times::default();
        assert_eq!(t.quantile(0.5), None);
        for ms in 1..=100 {
            t.add(ms);
        }
        // 50 and 95 are bucket lower bounds (48..56 and 88..96).
        assert_eq!((t.quantile(0.5), t.quantile(0.95), t.quantile(1.0)), (Some(48), Some(88), Some(96)));
        let mut u = Times::default();
        u.merge(&t);
        u.merge(&t);
        assert_eq!(u.quantile(0.5), t.quantile(0.5));
    }

    #[test]
    fn paths_are_the_same_however_each_side_logged_them() {
        assert_eq!(normalise_path(b"/promo/%ED%95%9C.jpg"), "/promo/한.jpg");
        assert_eq!(normalise_path(b"//a///b.jpg"), "/a/b.jpg");
        assert_eq!(normalise_path(b"a.jpg"), "/a.jpg");
        assert_eq!(normalise_path(b"/bad%zz.jpg"), "/bad%zz.jpg");
    }

    #[test]
    fn not_migrated_size_differences_and_error_rates_per_hour() {
        let n = nginx_side(&[
            r#"10.0.0.1 - - [07/Dec/2026:19:00:01 +0900] "GET /a.jpg HTTP/1.1" 200 1000 "-" "ua" rt=0.010 bs=1250 ucs=-"#,
            r#"10.0.0.1 - - [07/Dec/2026:19:00:02 +0900] "GET /b.css HTTP/1.1" 200 500 "-" "ua" rt=0.002 bs=700 ucs=-"#,
            r#"10.0.0.1 - - [07/Dec/2026:19:10:00 +0900] "GET /c.js HTTP/1.1" 200 300 "-" "ua""#,
            r#"10.0.0.1 - - [07/Dec/2026:20:00:00 +0900] "GET /gone.html HTTP/1.1" 404 153 "-" "ua""#,
        ]);
        let c = cloudfront_side(&[
            "2026-12-07\t10:00:03\tGET\t/a.jpg\t200\t1300\t0.004\t1000",
            "2026-12-07\t10:00:04\tGET\t/b.css\t200\t620\t0.001\t480",
            "2026-12-07\t10:10:00\tGET\t/c.js\t404\t400\t0.020\t-",
            "2026-12-07\t10:10:01\tGET\t/c.js\t403\t400\t0.020\t-",
            "2026-12-07\t11:00:00\tGET\t/new.jpg\t200\t900\t0.003\t800",
        ]);
        let report = Comparison::build(&n, &c, 10);
        assert_eq!(report.not_migrated.len(), 1);
        let missing = &report.not_migrated[0];
        assert_eq!((missing.path.as_str(), missing.key.as_str()), ("/c.js", "c.js"));
        assert_eq!((missing.nginx_ok, missing.cloudfront_errors, missing.cloudfront_ok), (1, 2, 0));
        assert_eq!(report.not_migrated_keys(), "c.js\n");
        assert_eq!(
            report.size_differences,
            [SizeDifference {
                path: "/b.css".into(),
                nginx_bytes: 500,
                cloudfront_bytes: 480,
                nginx_requests: 1,
                cloudfront_requests: 1
            }]
        );
        // 10:00 UTC: nginx 0 errors of 3, CloudFront 2 of 4 = +50 points.
        let ten = &report.hours[0];
        assert_eq!(ten.hour, "2026-12-07T10:00Z");
        assert_eq!((ten.nginx.requests, ten.cloudfront.requests, ten.cloudfront.client_errors), (3, 4, 2));
        assert_eq!(ten.error_rate_difference_points, Some(50.0));
        assert_eq!(ten.nginx.bytes, 1250 + 700 + 300);
        // nginx 11:00 UTC: its one 404; CloudFront: /new.jpg.
        assert_eq!(report.hours[1].error_rate_difference_points, Some(-100.0));
        assert_eq!((report.paths_only_nginx, report.paths_only_cloudfront), (1, 1));
        assert_eq!(report.top_paths[0].path, "/c.js", "3 requests in all");
        assert_eq!(report.cloudfront.p50_ms, Some(4));
    }

    #[test]
    fn sides_read_on_several_threads_merge_to_the_same_counts() {
        let lines = [
            r#"1.1.1.1 - - [07/Dec/2026:10:00:00 +0000] "GET /a.jpg HTTP/1.1" 200 10 "-" "-""#,
            r#"1.1.1.1 - - [07/Dec/2026:10:00:01 +0000] "GET /a.jpg HTTP/1.1" 200 11 "-" "-""#,
            r#"1.1.1.1 - - [07/Dec/2026:11:00:00 +0000] "HEAD /a.jpg HTTP/1.1" 200 0 "-" "-""#,
        ];
        let whole = nginx_side(&lines);
        let mut merged = nginx_side(&lines[..1]);
        merged.merge(nginx_side(&lines[1..]));
        assert_eq!(merged.total, whole.total);
        assert_eq!(merged.paths, whole.paths);
        assert_eq!(merged.hours, whole.hours);
        // Two sizes for the same GET 200: no usual size, so never reported as a difference; HEAD
        // is not a whole response.
        assert_eq!(merged.paths["/a.jpg"].usual_size(), None);
        assert_eq!(merged.paths["/a.jpg"].sizes.len(), 2);
    }
}
