//! The report as aligned text tables (people), JSON or CSV (machines).

use std::borrow::Cow;
use std::fmt::Write;

use media_edge_shared::units::{human_bytes, thousands};

use crate::error::Error;
use crate::report::{Report, Row};

impl Report {
    /// Aligned text tables, for people.
    pub fn text(&self) -> String {
        text(self)
    }

    /// One JSON object with a section per table.
    pub fn json(&self) -> Result<String, Error> {
        json(self)
    }

    /// One long table, `section,rank,key,reason,requests,bytes,hit_ratio`.
    pub fn csv(&self) -> Result<String, Error> {
        csv(self)
    }
}

/// Object names longer than this are shortened in the middle in text tables (JSON/CSV keep them).
const MAX_NAME_CHARS: usize = 72;

pub fn text(report: &Report) -> String {
    let mut out = String::new();
    let input = &report.input;
    let range = match (&input.from, &input.to) {
        (Some(from), Some(to)) => format!(" from {from} to {to}"),
        _ => String::new(),
    };
    let _ = writeln!(
        out,
        "CloudFront logs: {} files ({}), {} lines, {} requests{range}",
        thousands(input.files),
        human_bytes(input.bytes_read),
        thousands(input.lines),
        thousands(input.requests)
    );
    let _ = writeln!(
        out,
        "Skipped: {} outside the time range, {} malformed lines, {} unreadable files",
        thousands(input.out_of_range),
        thousands(input.malformed_lines),
        input.unreadable.len()
    );
    if input.files_outside_range > 0 {
        let _ = writeln!(
            out,
            "Not read: {} files whose names hold hours outside the time range",
            thousands(input.files_outside_range)
        );
    }
    for example in input.malformed_examples.iter().chain(&input.unreadable) {
        let _ = writeln!(out, "  {}", visible(example));
    }
    let cache = &report.cache;
    let _ = writeln!(
        out,
        "Cache hit ratio: {} (hits {}, misses {}, neither {})",
        percent(cache.hit_ratio),
        thousands(cache.hits),
        thousands(cache.misses),
        thousands(cache.other)
    );

    let sections: [(&str, &str, &[Row]); 7] = [
        ("Top objects by bytes served", "object", &report.top_by_bytes),
        ("Top objects by requests", "object", &report.top_by_requests),
        ("Worst cache hit ratio", "object", &report.worst_hit_ratio),
        ("Requests by hour (UTC)", "hour", &report.by_hour),
        ("Bytes by content type", "content type", &report.by_content_type),
        ("Bytes by image format", "format", &report.by_image_format),
        ("Bytes by status", "status", &report.by_status),
    ];
    for (title, key, rows) in sections {
        let cells = rows
            .iter()
            .enumerate()
            .map(|(i, r)| {
                vec![
                    (i + 1).to_string(),
                    shorten(&r.key),
                    thousands(r.requests),
                    human_bytes(r.bytes),
                    percent(r.hit_ratio),
                ]
            })
            .collect();
        table(&mut out, title, &["#", key, "requests", "bytes", "hit ratio"], cells);
    }
    let cells = report
        .top_missed
        .iter()
        .enumerate()
        .map(|(i, m)| {
            vec![
                (i + 1).to_string(),
                shorten(&m.key),
                thousands(m.misses),
                thousands(m.requests),
                human_bytes(m.bytes),
                percent(m.hit_ratio),
            ]
        })
        .collect();
    table(
        &mut out,
        "Top missed objects (fetched from the origin)",
        &["#", "object", "misses", "requests", "bytes", "hit ratio"],
        cells,
    );
    let cells = report
        .optimisation_candidates
        .iter()
        .enumerate()
        .map(|(i, c)| {
            vec![
                (i + 1).to_string(),
                shorten(&c.object),
                c.reason.to_string(),
                thousands(c.requests),
                human_bytes(c.bytes),
                human_bytes(c.average_bytes),
            ]
        })
        .collect();
    table(
        &mut out,
        "Optimisation candidates (served as GIF, or full size to mobile viewers)",
        &["#", "object", "reason", "requests", "bytes", "per request"],
        cells,
    );
    if !report.releases.is_empty() {
        let cells = report
            .releases
            .iter()
            .enumerate()
            .map(|(i, r)| {
                vec![
                    (i + 1).to_string(),
                    visible(&r.channel),
                    r.kind.clone(),
                    visible(&r.version),
                    thousands(r.requests),
                    human_bytes(r.bytes),
                    percent(r.hit_ratio),
                    thousands(r.client_errors),
                    thousands(r.server_errors),
                    percent(r.error_ratio),
                ]
            })
            .collect();
        table(
            &mut out,
            "Release versions (what the release function served, from its log data)",
            &["#", "channel", "kind", "version", "requests", "bytes", "hit ratio", "4xx", "5xx", "errors"],
            cells,
        );
        let cells = report
            .worst_cohorts
            .iter()
            .enumerate()
            .map(|(i, c)| {
                vec![
                    (i + 1).to_string(),
                    visible(&c.channel),
                    c.cohort.to_string(),
                    visible(&c.versions.join(" ")),
                    thousands(c.requests),
                    percent(c.hit_ratio),
                    thousands(c.client_errors),
                    thousands(c.server_errors),
                    percent(c.error_ratio),
                ]
            })
            .collect();
        table(
            &mut out,
            "Cohorts with the most errors",
            &["#", "channel", "cohort", "versions", "requests", "hit ratio", "4xx", "5xx", "errors"],
            cells,
        );
    }
    if let Some(savings) = &report.savings {
        let cells = savings
            .by_format
            .iter()
            .chain([&savings.total])
            .enumerate()
            .map(|(i, r)| {
                let rank = if r.format == "all" { String::new() } else { (i + 1).to_string() };
                vec![
                    rank,
                    r.format.clone(),
                    thousands(r.requests),
                    human_bytes(r.bytes),
                    human_bytes(r.original_bytes),
                    signed_bytes(r.saved_bytes),
                    percent(r.saved_ratio),
                ]
            })
            .collect();
        table(
            &mut out,
            "Saved against serving the originals (whole responses of variants, originals from their manifests)",
            &["#", "format", "requests", "served", "originals", "saved", "saved %"],
            cells,
        );
        let _ = writeln!(
            out,
            "  original unknown: {} requests ({}); {} manifests read, {} unreadable",
            thousands(savings.unknown_original_requests),
            human_bytes(savings.unknown_original_bytes),
            thousands(savings.manifests_read),
            savings.unreadable_manifests
        );
        for unreadable in &savings.unreadable_examples {
            let _ = writeln!(out, "  {}", visible(unreadable));
        }
    }
    if !report.reencodes.is_empty() {
        let cells = report
            .reencodes
            .iter()
            .enumerate()
            .map(|(i, r)| {
                vec![
                    (i + 1).to_string(),
                    shorten(&r.path),
                    crate::hot::effort_change(r.from_effort.as_deref(), r.to_effort.as_deref()),
                    thousands(r.views),
                    human_bytes(r.before_bytes / r.views.max(1)),
                    human_bytes(r.bytes / r.views.max(1)),
                    signed_bytes(r.saved_per_view.round() as i64),
                    signed_bytes(r.saved_bytes),
                    percent(r.saved_ratio),
                ]
            })
            .collect();
        table(
            &mut out,
            "Re-encoded originals: a view of the new version against the same file and format before",
            &["#", "variants", "effort", "views", "per view before", "now", "saved per view", "saved", "saved %"],
            cells,
        );
    }
    out
}

/// Bytes that may be negative (a variant larger than its original).
pub(crate) fn signed_bytes(bytes: i64) -> String {
    let magnitude = human_bytes(bytes.unsigned_abs());
    if bytes < 0 {
        format!("-{magnitude}")
    } else {
        magnitude
    }
}

/// One titled table; the second column is left-aligned, numbers right-aligned.
fn table(out: &mut String, title: &str, header: &[&str], rows: Vec<Vec<String>>) {
    let _ = writeln!(out, "\n{title}");
    if rows.is_empty() {
        let _ = writeln!(out, "  (none)");
        return;
    }
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::from(" ");
        for (column, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            let pad = width - cell.chars().count();
            text.push(' ');
            if column == 1 || (column == 2 && header.get(2) == Some(&"reason")) {
                text.push_str(cell);
                text.push_str(&" ".repeat(pad));
            } else {
                text.push_str(&" ".repeat(pad));
                text.push_str(cell);
            }
        }
        text.trim_end().to_string()
    };
    let _ = writeln!(out, "{}", line(header.to_vec()));
    for row in &rows {
        let _ = writeln!(out, "{}", line(row.iter().map(String::as_str).collect()));
    }
}

pub(crate) fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

/// Names come from logs: control characters (a terminal escape in a logged URI) are shown
/// escaped rather than sent to the terminal.
pub(crate) fn visible(text: &str) -> String {
    text.chars().flat_map(|c| if c.is_control() { c.escape_default().collect() } else { vec![c] }).collect()
}

/// Very long names keep both ends.
pub(crate) fn shorten(name: &str) -> String {
    let name = visible(name);
    let chars: Vec<char> = name.chars().collect();
    if chars.len() <= MAX_NAME_CHARS {
        return name;
    }
    let head_chars = (MAX_NAME_CHARS - 1) / 2;
    let tail_chars = MAX_NAME_CHARS - 1 - head_chars;
    let head: String = chars[..head_chars].iter().collect();
    let tail: String = chars[chars.len() - tail_chars..].iter().collect();
    format!("{head}…{tail}")
}

pub fn json(report: &Report) -> Result<String, Error> {
    serde_json::to_string_pretty(report).map(|s| s + "\n").map_err(Error::Json)
}

/// One long-format table for spreadsheets and scripts: every section's rows, named by `section`.
pub fn csv(report: &Report) -> Result<String, Error> {
    let mut out = csv_writer();
    out.write_record(["section", "rank", "key", "reason", "requests", "bytes", "hit_ratio"])?;
    let ratio = |r: Option<f64>| r.map_or_else(String::new, |r| r.to_string());
    let (requests, bytes) = (report.input.requests.to_string(), report.input.bytes_served.to_string());
    out.write_record(["cache", "1", "all", "", &requests, &bytes, &ratio(report.cache.hit_ratio)])?;
    let sections: [(&str, &[Row]); 7] = [
        ("top_by_bytes", &report.top_by_bytes),
        ("top_by_requests", &report.top_by_requests),
        ("worst_hit_ratio", &report.worst_hit_ratio),
        ("by_hour", &report.by_hour),
        ("by_content_type", &report.by_content_type),
        ("by_image_format", &report.by_image_format),
        ("by_status", &report.by_status),
    ];
    for (section, rows) in sections {
        for (i, row) in rows.iter().enumerate() {
            let (rank, requests, bytes) = ((i + 1).to_string(), row.requests.to_string(), row.bytes.to_string());
            out.write_record([section, &rank, &inert(&row.key), "", &requests, &bytes, &ratio(row.hit_ratio)])?;
        }
    }
    for (i, m) in report.top_missed.iter().enumerate() {
        let (rank, requests, bytes) = ((i + 1).to_string(), m.requests.to_string(), m.bytes.to_string());
        let reason = format!("{} misses", m.misses);
        out.write_record(["top_missed", &rank, &inert(&m.key), &reason, &requests, &bytes, &ratio(m.hit_ratio)])?;
    }
    for (i, c) in report.optimisation_candidates.iter().enumerate() {
        let (rank, requests, bytes) = ((i + 1).to_string(), c.requests.to_string(), c.bytes.to_string());
        out.write_record(["optimisation_candidates", &rank, &inert(&c.object), c.reason, &requests, &bytes, ""])?;
    }
    // Releases: `key` is channel/version, `reason` the kind and the errors.
    for (i, r) in report.releases.iter().enumerate() {
        let (rank, requests, bytes) = ((i + 1).to_string(), r.requests.to_string(), r.bytes.to_string());
        let key = format!("{}/{}", r.channel, r.version);
        let reason = format!("{} 4xx {} 5xx {}", r.kind, r.client_errors, r.server_errors);
        out.write_record(["releases", &rank, &inert(&key), &reason, &requests, &bytes, &ratio(r.hit_ratio)])?;
    }
    for (i, c) in report.worst_cohorts.iter().enumerate() {
        let (rank, requests) = ((i + 1).to_string(), c.requests.to_string());
        let key = format!("{}/{}", c.channel, c.cohort);
        let reason = format!("{} 4xx {} 5xx {}", c.versions.join(" "), c.client_errors, c.server_errors);
        out.write_record(["worst_cohorts", &rank, &inert(&key), &inert(&reason), &requests, "", &ratio(c.hit_ratio)])?;
    }
    // Savings: `reason` carries what the originals would have been and the bytes saved.
    if let Some(savings) = &report.savings {
        for (i, r) in savings.by_format.iter().chain([&savings.total]).enumerate() {
            let (rank, requests, bytes) = ((i + 1).to_string(), r.requests.to_string(), r.bytes.to_string());
            let reason = format!("originals {} saved {}", r.original_bytes, r.saved_bytes);
            out.write_record(["savings", &rank, &r.format, &reason, &requests, &bytes, ""])?;
        }
    }
    let bytes = out.into_inner().map_err(|e| Error::Csv(e.into_error().into()))?;
    // Every cell is a `str`, so the output is UTF-8.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// RFC 4180: fields quoted only when they hold a comma, a quote or a line break; `\n` after rows.
pub(crate) fn csv_writer() -> csv::Writer<Vec<u8>> {
    csv::Writer::from_writer(Vec::new())
}

/// A cell from the logs that a spreadsheet would run as a formula (a leading `=`, `+`, `-` or `@`,
/// or a tab or carriage return) gets a leading `'`; a lone `-` (none logged) is left as it is.
/// The CSV writer then quotes as RFC 4180 says.
pub(crate) fn inert(value: &str) -> Cow<'_, str> {
    if value.starts_with(['\t', '\r']) || (value.len() > 1 && value.starts_with(['=', '+', '-', '@'])) {
        Cow::Owned(format!("'{value}"))
    } else {
        Cow::Borrowed(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A cell as `csv` writes it.
    fn csv_field(value: &str) -> String {
        let mut out = csv_writer();
        out.write_record([&*inert(value), "end"]).unwrap();
        let line = String::from_utf8(out.into_inner().unwrap()).unwrap();
        line.strip_suffix(",end\n").unwrap().to_string()
    }

    #[test]
    fn csv_fields_are_quoted_and_inert() {
        assert_eq!(csv_field("/a.jpg"), "/a.jpg");
        assert_eq!(csv_field("/a,b\"c"), "\"/a,b\"\"c\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("-"), "-");
        assert_eq!(csv_field("-1+1"), "'-1+1");
        assert_eq!(csv_field("@SUM(A1)"), "'@SUM(A1)");
        assert_eq!(csv_field("\tx"), "'\tx");
        assert_eq!(csv_field("\r=1"), "\"'\r=1\"");
        assert_eq!(csv_field("/a\nb"), "\"/a\nb\"");
    }

    #[test]
    fn long_names_keep_both_ends() {
        assert_eq!(shorten("/a\u{1b}[2J\r.jpg"), "/a\\u{1b}[2J\\r.jpg");
        let long = format!("/variants/{}/pc.jpg", "a".repeat(100));
        let short = shorten(&long);
        assert_eq!(short.chars().count(), MAX_NAME_CHARS);
        assert!(short.starts_with("/variants/") && short.ends_with("/pc.jpg") && short.contains('…'));
    }
}
