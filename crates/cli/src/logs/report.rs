//! The report: ranked tables computed from an `Aggregate`. Ties break by name, so the same logs
//! always give the same report.

use serde::Serialize;

use super::aggregate::{Aggregate, Tally};
use super::parse::civil_from_timestamp;

#[derive(Debug, Serialize)]
pub struct Report {
    pub input: InputSummary,
    pub cache: CacheSummary,
    pub top_by_bytes: Vec<Row>,
    pub top_by_requests: Vec<Row>,
    /// Every hour from the first request to the last, empty hours included.
    pub by_hour: Vec<Row>,
    pub worst_hit_ratio: Vec<Row>,
    pub by_content_type: Vec<Row>,
    pub by_status: Vec<Row>,
    pub optimisation_candidates: Vec<Candidate>,
}

#[derive(Debug, Serialize)]
pub struct InputSummary {
    pub files: u64,
    pub bytes_read: u64,
    pub lines: u64,
    pub requests: u64,
    pub bytes_served: u64,
    pub out_of_range: u64,
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

pub fn build(aggregate: &Aggregate, top: usize) -> Report {
    let input = &aggregate.input;
    let row = |key: String, tally: &Tally| Row {
        key,
        requests: tally.requests,
        bytes: tally.bytes,
        hit_ratio: tally.hit_ratio().map(round4),
    };

    let mut objects: Vec<(&str, &Tally)> = aggregate.objects.iter().map(|(k, o)| (&**k, &o.all)).collect();
    let top_rows = |objects: &mut Vec<(&str, &Tally)>, measure: fn(&Tally) -> u64| -> Vec<Row> {
        objects.sort_unstable_by(|a, b| measure(b.1).cmp(&measure(a.1)).then(a.0.cmp(b.0)));
        objects.iter().take(top).map(|(k, t)| row(k.to_string(), t)).collect()
    };
    let top_by_bytes = top_rows(&mut objects, |t| t.bytes);
    let top_by_requests = top_rows(&mut objects, |t| t.requests);

    let min_requests = aggregate.definitions().worst_hit_ratio_min_requests;
    let mut worst: Vec<(&str, &Tally, f64)> = objects
        .iter()
        .filter(|(_, t)| t.requests >= min_requests)
        .filter_map(|(k, t)| t.hit_ratio().map(|r| (*k, *t, r)))
        .collect();
    worst.sort_unstable_by(|a, b| a.2.total_cmp(&b.2).then(b.1.requests.cmp(&a.1.requests)).then(a.0.cmp(b.0)));
    let worst_hit_ratio = worst.iter().take(top).map(|(k, t, _)| row(k.to_string(), t)).collect();

    let mut hours: Vec<(i64, Tally)> = aggregate.hours.iter().map(|(h, t)| (*h, *t)).collect();
    hours.sort_unstable_by_key(|(h, _)| *h);
    // Every hour of the requested range (or from the first request to the last) is listed.
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
    let by_hour = hours.iter().map(|(hour, tally)| row(hour_label(*hour), tally)).collect();

    let by_bytes_then_key = |rows: &mut Vec<Row>| {
        rows.sort_unstable_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.key.cmp(&b.key)));
    };
    let mut by_content_type: Vec<Row> =
        aggregate.by_content_type().into_iter().map(|(k, t)| row(k.into(), &t)).collect();
    by_bytes_then_key(&mut by_content_type);
    let mut by_status: Vec<Row> = aggregate
        .statuses
        .iter()
        .map(|(status, t)| row(status.map_or_else(|| "-".to_string(), |s| format!("{s:03}")), t))
        .collect();
    by_bytes_then_key(&mut by_status);

    let mut optimisation_candidates: Vec<Candidate> = aggregate
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
    optimisation_candidates.sort_unstable_by(|a, b| {
        b.bytes.cmp(&a.bytes).then_with(|| a.object.cmp(&b.object)).then(a.reason.cmp(b.reason))
    });
    optimisation_candidates.truncate(top);

    Report {
        input: InputSummary {
            files: input.files,
            bytes_read: input.bytes_read,
            lines: input.lines,
            requests: input.requests,
            bytes_served: aggregate.total.bytes,
            out_of_range: input.out_of_range,
            malformed_lines: input.malformed,
            malformed_examples: input
                .malformed_examples
                .iter()
                .map(|(source, line, why)| format!("{source}:{line}: {why}"))
                .collect(),
            unreadable: input.unreadable.clone(),
            from: input.first.map(time_label),
            to: input.last.map(time_label),
        },
        cache: CacheSummary {
            hits: aggregate.total.hits,
            misses: aggregate.total.misses,
            other: aggregate.total.requests - aggregate.total.hits - aggregate.total.misses,
            hit_ratio: aggregate.total.hit_ratio().map(round4),
        },
        top_by_bytes,
        top_by_requests,
        by_hour,
        worst_hit_ratio,
        by_content_type,
        by_status,
        optimisation_candidates,
    }
}

/// Ratios to four places: enough for a report, and stable text for golden files.
fn round4(ratio: f64) -> f64 {
    (ratio * 10_000.0).round() / 10_000.0
}

fn hour_label(hour: i64) -> String {
    let (y, mo, d, h, _) = civil_from_timestamp(hour * 3600);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:00Z")
}

fn time_label(timestamp: i64) -> String {
    let (y, mo, d, h, mi) = civil_from_timestamp(timestamp);
    let s = timestamp.rem_euclid(60);
    format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}Z")
}
