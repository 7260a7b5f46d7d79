//! The report as aligned text tables (people), JSON or CSV (machines).

use std::fmt::Write;

use media_edge_shared::units::{human_bytes, thousands};

use crate::cells::{csv_writer, inert, percent, shorten, signed_bytes, visible};
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

/// One titled table; the second column is left-aligned, numbers right-aligned.
pub(crate) fn table(out: &mut String, title: &str, header: &[&str], rows: Vec<Vec<String>>) {
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
