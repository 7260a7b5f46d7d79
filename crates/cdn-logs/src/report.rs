//! The report: ranked tables computed from an `Aggregate`. Ties break by name, so the same logs
//! always give the same report.

use serde::Serialize;

use crate::aggregate::Aggregate;
use crate::originals::Originals;
use crate::parse::civil_from_timestamp;
use crate::releases::Releases;
use crate::tally::Tally;

#[derive(Debug, Serialize)]
pub struct Report {
    pub input: InputSummary,
    pub cache: CacheSummary,
    pub top_by_bytes: Vec<Row>,
    pub top_by_requests: Vec<Row>,
    /// Every hour from the first request to the last, empty hours included.
    pub by_hour: Vec<Row>,
    pub worst_hit_ratio: Vec<Row>,
    /// The objects CloudFront fetched from the origin most often: what to look at first when the
    /// origin is busy.
    pub top_missed: Vec<Missed>,
    pub by_content_type: Vec<Row>,
    /// The content types of `Definitions::image_formats` by name (AVIF, WebP, JPEG, PNG, GIF,
    /// MP4), every status; formats with no request are left out.
    pub by_image_format: Vec<Row>,
    pub by_status: Vec<Row>,
    pub optimisation_candidates: Vec<Candidate>,
    /// Requests, errors and cache hits per release version, from the release function's log data
    /// (standard logging v2); empty for logs without it.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub releases: Vec<ReleaseRow>,
    /// The cohorts with the most errors (4xx and 5xx), then the highest error ratio.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub worst_cohorts: Vec<CohortRow>,
    /// What the formats served saved against serving the originals ([`Report::add_savings`]).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub savings: Option<Savings>,
    /// Originals re-encoded (same content, other effort or settings) with both versions in the
    /// logs: what a view weighs now against before ([`crate::hot::reencodes`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub reencodes: Vec<crate::hot::Reencode>,
}

/// One release version's traffic.
#[derive(Debug, Serialize)]
pub struct ReleaseRow {
    pub channel: String,
    /// `canary` or `stable`, as the function chose it.
    pub kind: String,
    pub version: String,
    pub requests: u64,
    pub bytes: u64,
    pub hit_ratio: Option<f64>,
    pub client_errors: u64,
    pub server_errors: u64,
    pub error_ratio: Option<f64>,
}

/// One cohort's traffic, and the versions it was served.
#[derive(Debug, Serialize)]
pub struct CohortRow {
    pub channel: String,
    pub cohort: u32,
    pub versions: Vec<String>,
    pub requests: u64,
    pub hit_ratio: Option<f64>,
    pub client_errors: u64,
    pub server_errors: u64,
    pub error_ratio: Option<f64>,
}

/// Whole (status 200) responses of variant URLs whose original is known, against what the
/// originals would have been: each request of a variant counted at its original's size.
#[derive(Debug, Serialize)]
pub struct Savings {
    /// By format, in the definitions' order (best first); formats with no such response left out.
    pub by_format: Vec<SavingsRow>,
    /// Every format together (`format` is `all`).
    pub total: SavingsRow,
    /// Whole responses in an image format whose original is not known (not a variant URL, no
    /// manifest, or a manifest of a newer version).
    pub unknown_original_requests: u64,
    pub unknown_original_bytes: u64,
    pub manifests_read: u64,
    pub unreadable_manifests: u64,
    /// The first few unreadable manifests, as `location: why`.
    pub unreadable_examples: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct SavingsRow {
    pub format: String,
    pub requests: u64,
    /// Bytes served.
    pub bytes: u64,
    /// Bytes the originals would have been.
    pub original_bytes: u64,
    /// `original_bytes - bytes`.
    pub saved_bytes: i64,
    /// `saved_bytes / original_bytes`.
    pub saved_ratio: Option<f64>,
}

impl SavingsRow {
    fn new(format: &str) -> Self {
        SavingsRow {
            format: format.into(),
            requests: 0,
            bytes: 0,
            original_bytes: 0,
            saved_bytes: 0,
            saved_ratio: None,
        }
    }

    fn finish(mut self) -> Self {
        self.saved_bytes =
            i64::try_from(self.original_bytes).unwrap_or(i64::MAX) - i64::try_from(self.bytes).unwrap_or(i64::MAX);
        self.saved_ratio =
            (self.original_bytes > 0).then(|| round4(self.saved_bytes as f64 / self.original_bytes as f64));
        self
    }
}

#[derive(Debug, Serialize)]
pub struct InputSummary {
    pub files: u64,
    pub bytes_read: u64,
    pub lines: u64,
    pub requests: u64,
    pub bytes_served: u64,
    pub out_of_range: u64,
    /// Files not read because their names say they hold hours outside the time range.
    pub files_outside_range: u64,
    pub malformed_lines: u64,
    pub malformed_examples: Vec<String>,
    pub unreadable: Vec<String>,
    /// First and last request in the report, UTC.
    pub from: Option<String>,
    pub to: Option<String>,
}

#[derive(Debug, Serialize)]
pub struct CacheSummary {
    pub hits: u64,
    pub misses: u64,
    /// Requests that were neither (errors, redirects, throttled).
    pub other: u64,
    pub hit_ratio: Option<f64>,
}

/// One line of a ranked table: an object, an hour, a content type or a status.
#[derive(Debug, Serialize)]
pub struct Row {
    pub key: String,
    pub requests: u64,
    pub bytes: u64,
    pub hit_ratio: Option<f64>,
}

/// An object by its cache misses.
#[derive(Debug, Serialize)]
pub struct Missed {
    pub key: String,
    pub misses: u64,
    pub requests: u64,
    pub bytes: u64,
    pub hit_ratio: Option<f64>,
}

/// A large object served in a costly form.
#[derive(Debug, Serialize)]
pub struct Candidate {
    pub object: String,
    /// `gif` (serve the MP4 instead) or `full-size-to-mobile` (serve a smaller variant).
    pub reason: &'static str,
    pub requests: u64,
    pub bytes: u64,
    pub average_bytes: u64,
}

/// Empty hours are filled in over at most this span (a stray date in 1970 must not produce half a
/// million empty rows); over a longer span only hours with requests are listed.
const MAX_FILLED_HOURS: i64 = 24 * 366;

impl Report {
    /// The report over everything aggregated, ranked tables cut to `top` rows.
    pub fn build(aggregate: &Aggregate, top: usize) -> Report {
        let mut objects: Vec<(&str, &Tally)> = aggregate.objects.iter().map(|(k, o)| (&**k, &o.all)).collect();
        let top_by_bytes = top_objects(&mut objects, top, |t| t.bytes);
        let top_by_requests = top_objects(&mut objects, top, |t| t.requests);
        let min_requests = aggregate.definitions().worst_hit_ratio_min_requests;
        Report {
            input: input_summary(aggregate),
            cache: cache_summary(&aggregate.total),
            top_by_bytes,
            top_by_requests,
            by_hour: by_hour(aggregate),
            worst_hit_ratio: worst_hit_ratio(&objects, min_requests, top),
            top_missed: top_missed(&mut objects, top),
            by_content_type: by_bytes_then_key(
                aggregate.by_content_type().into_iter().map(|(k, t)| row(k.into(), &t)).collect(),
            ),
            by_status: by_bytes_then_key(
                aggregate
                    .statuses
                    .iter()
                    .map(|(status, t)| row(status.map_or_else(|| "-".to_string(), |s| format!("{s:03}")), t))
                    .collect(),
            ),
            by_image_format: by_bytes_then_key(
                aggregate
                    .by_image_format()
                    .into_iter()
                    .filter(|(_, t)| t.requests > 0)
                    .map(|(i, t)| row(aggregate.definitions().image_formats[i].1.clone(), &t))
                    .collect(),
            ),
            optimisation_candidates: optimisation_candidates(aggregate, top),
            releases: releases(&aggregate.releases),
            worst_cohorts: worst_cohorts(&aggregate.releases, top),
            savings: None,
            reencodes: Vec::new(),
        }
    }

    /// Adds what the served formats saved against the originals, with their sizes from the
    /// pipeline's manifests ([`crate::originals::load`]).
    pub fn add_savings(&mut self, aggregate: &Aggregate, originals: &Originals) {
        let formats = &aggregate.definitions().image_formats;
        let mut rows: Vec<SavingsRow> = formats.iter().map(|(_, name)| SavingsRow::new(name)).collect();
        let (mut unknown_requests, mut unknown_bytes) = (0u64, 0u64);
        for (uri, object) in &aggregate.objects {
            let original = originals.by_uri.get(&**uri);
            for (format, tally) in &object.whole_by_format {
                match (original, rows.get_mut(*format)) {
                    (Some(original), Some(row)) => {
                        row.requests += tally.requests;
                        row.bytes = row.bytes.saturating_add(tally.bytes);
                        row.original_bytes = row.original_bytes.saturating_add(original.saturating_mul(tally.requests));
                    }
                    _ => {
                        unknown_requests += tally.requests;
                        unknown_bytes = unknown_bytes.saturating_add(tally.bytes);
                    }
                }
            }
        }
        let mut total = SavingsRow::new("all");
        for row in &rows {
            total.requests += row.requests;
            total.bytes = total.bytes.saturating_add(row.bytes);
            total.original_bytes = total.original_bytes.saturating_add(row.original_bytes);
        }
        self.savings = Some(Savings {
            by_format: rows.into_iter().filter(|r| r.requests > 0).map(SavingsRow::finish).collect(),
            total: total.finish(),
            unknown_original_requests: unknown_requests,
            unknown_original_bytes: unknown_bytes,
            manifests_read: originals.manifests_read,
            unreadable_manifests: originals.unreadable_count,
            unreadable_examples: originals.unreadable.clone(),
        });
        self.reencodes = crate::hot::reencodes(aggregate, originals);
    }
}

fn row(key: String, tally: &Tally) -> Row {
    Row { key, requests: tally.requests, bytes: tally.bytes, hit_ratio: tally.hit_ratio().map(round4) }
}

fn input_summary(aggregate: &Aggregate) -> InputSummary {
    let input = &aggregate.input;
    InputSummary {
        files: input.files,
        bytes_read: input.bytes_read,
        lines: input.lines,
        requests: input.requests,
        bytes_served: aggregate.total.bytes,
        out_of_range: input.out_of_range,
        files_outside_range: input.files_outside_range,
        malformed_lines: input.malformed,
        malformed_examples: input
            .malformed_examples
            .iter()
            .map(|(source, line, why)| format!("{source}:{line}: {why}"))
            .collect(),
        unreadable: input.unreadable.clone(),
        from: input.first.map(time_label),
        to: input.last.map(time_label),
    }
}

fn cache_summary(total: &Tally) -> CacheSummary {
    CacheSummary {
        hits: total.hits,
        misses: total.misses,
        other: total.requests - total.hits - total.misses,
        hit_ratio: total.hit_ratio().map(round4),
    }
}

/// The `top` objects by `measure`, largest first (sorts `objects` so).
fn top_objects(objects: &mut [(&str, &Tally)], top: usize, measure: fn(&Tally) -> u64) -> Vec<Row> {
    objects.sort_unstable_by(|a, b| measure(b.1).cmp(&measure(a.1)).then(a.0.cmp(b.0)));
    objects.iter().take(top).map(|(k, t)| row(k.to_string(), t)).collect()
}

/// The `top` objects by misses (those with any), most first.
fn top_missed(objects: &mut [(&str, &Tally)], top: usize) -> Vec<Missed> {
    objects.sort_unstable_by(|a, b| b.1.misses.cmp(&a.1.misses).then(a.0.cmp(b.0)));
    objects
        .iter()
        .filter(|(_, t)| t.misses > 0)
        .take(top)
        .map(|(k, t)| Missed {
            key: k.to_string(),
            misses: t.misses,
            requests: t.requests,
            bytes: t.bytes,
            hit_ratio: t.hit_ratio().map(round4),
        })
        .collect()
}

/// Objects with at least `min_requests` requests, lowest hit ratio first; busier first on a tie.
fn worst_hit_ratio(objects: &[(&str, &Tally)], min_requests: u64, top: usize) -> Vec<Row> {
    let mut worst: Vec<(&str, &Tally, f64)> = objects
        .iter()
        .filter(|(_, t)| t.requests >= min_requests)
        .filter_map(|(k, t)| t.hit_ratio().map(|r| (*k, *t, r)))
        .collect();
    worst.sort_unstable_by(|a, b| a.2.total_cmp(&b.2).then(b.1.requests.cmp(&a.1.requests)).then(a.0.cmp(b.0)));
    worst.iter().take(top).map(|(k, t, _)| row(k.to_string(), t)).collect()
}

/// Every hour of the requested range (or from the first request to the last), empty ones included.
fn by_hour(aggregate: &Aggregate) -> Vec<Row> {
    let mut hours: Vec<(i64, Tally)> = aggregate.hours.iter().map(|(h, t)| (*h, *t)).collect();
    hours.sort_unstable_by_key(|(h, _)| *h);
    let range = aggregate.range();
    let first = range.since.map(|s| s.div_euclid(3600)).or(hours.first().map(|h| h.0));
    let last = range.until.map(|u| (u - 1).div_euclid(3600)).or(hours.last().map(|h| h.0));
    if let (Some(first), Some(last)) = (first, last) {
        if (0..MAX_FILLED_HOURS).contains(&(last - first)) {
            let mut filled: Vec<(i64, Tally)> = (first..=last).map(|h| (h, Tally::default())).collect();
            for (hour, tally) in &hours {
                if let Some(slot) = usize::try_from(hour - first).ok().and_then(|i| filled.get_mut(i)) {
                    slot.1 = *tally;
                }
            }
            hours = filled;
        }
    }
    hours.iter().map(|(hour, tally)| row(hour_label(*hour), tally)).collect()
}

fn by_bytes_then_key(mut rows: Vec<Row>) -> Vec<Row> {
    rows.sort_unstable_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.key.cmp(&b.key)));
    rows
}

/// GIF responses and full-size images to mobile viewers, by object, largest bytes first.
fn optimisation_candidates(aggregate: &Aggregate, top: usize) -> Vec<Candidate> {
    let mut candidates: Vec<Candidate> = aggregate
        .objects
        .iter()
        .flat_map(|(object, tally)| {
            [("gif", &tally.gif), ("full-size-to-mobile", &tally.full_size_to_mobile)]
                .into_iter()
                .filter(|(_, t)| t.requests > 0)
                .map(move |(reason, t)| Candidate {
                    object: object.to_string(),
                    reason,
                    requests: t.requests,
                    bytes: t.bytes,
                    average_bytes: t.bytes / t.requests,
                })
        })
        .collect();
    candidates.sort_unstable_by(|a, b| {
        b.bytes.cmp(&a.bytes).then_with(|| a.object.cmp(&b.object)).then(a.reason.cmp(b.reason))
    });
    candidates.truncate(top);
    candidates
}

/// Every version, by channel, canary first, then by version.
fn releases(releases: &Releases) -> Vec<ReleaseRow> {
    let mut rows: Vec<ReleaseRow> = releases
        .versions()
        .map(|(channel, kind, version, h)| ReleaseRow {
            channel: channel.to_string(),
            kind: kind.to_string(),
            version: version.to_string(),
            requests: h.all.requests,
            bytes: h.all.bytes,
            hit_ratio: h.all.hit_ratio().map(round4),
            client_errors: h.client_errors,
            server_errors: h.server_errors,
            error_ratio: h.error_ratio().map(round4),
        })
        .collect();
    rows.sort_unstable_by(|a, b| {
        (a.channel.as_str(), a.kind.as_str(), a.version.as_str()).cmp(&(
            b.channel.as_str(),
            b.kind.as_str(),
            b.version.as_str(),
        ))
    });
    rows
}

/// The `top` cohorts by errors (4xx and 5xx), then error ratio.
fn worst_cohorts(releases: &Releases, top: usize) -> Vec<CohortRow> {
    let mut rows: Vec<CohortRow> = releases
        .cohorts()
        .map(|(channel, cohort, c)| CohortRow {
            channel: channel.to_string(),
            cohort,
            versions: c.versions.iter().map(|v| v.to_string()).collect(),
            requests: c.health.all.requests,
            hit_ratio: c.health.all.hit_ratio().map(round4),
            client_errors: c.health.client_errors,
            server_errors: c.health.server_errors,
            error_ratio: c.health.error_ratio().map(round4),
        })
        .collect();
    // Cohorts are equal shares of viewers, so error counts compare them fairly; a ratio would put
    // a cohort with one failed request of two first.
    rows.sort_unstable_by(|a, b| {
        let errors = |r: &CohortRow| r.client_errors + r.server_errors;
        let ratio = |r: &CohortRow| r.error_ratio.unwrap_or(0.0);
        errors(b)
            .cmp(&errors(a))
            .then(ratio(b).total_cmp(&ratio(a)))
            .then_with(|| (a.channel.as_str(), a.cohort).cmp(&(b.channel.as_str(), b.cohort)))
    });
    rows.truncate(top);
    rows
}

/// Ratios to four places: enough for a report, and stable text for golden files.
fn round4(ratio: f64) -> f64 {
    (ratio * 10_000.0).round() / 10_000.0
}

pub(crate) fn hour_label(hour: i64) -> String {
    let (y, mo, d, h, _) = civil_from_timestamp(hour * 3600);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:00Z")
}

pub(crate) fn time_label(timestamp: i64) -> String {
    let (y, mo, d, h, mi) = civil_from_timestamp(timestamp);
    let s = timestamp.rem_euclid(60);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}
