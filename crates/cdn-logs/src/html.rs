//! The report as one self-contained HTML page: inline CSS, the hourly chart as inline SVG, and a
//! few lines of inline JavaScript that make every table sortable. It loads nothing (works offline,
//! attached to a ticket). Everything from the logs is escaped: an object name is hostile input.

use std::fmt::Write;

use media_edge_shared::units::{human_bytes, thousands};

use crate::cells::signed_bytes;
use crate::markup::escape;
use crate::report::Report;

impl Report {
    /// One self-contained HTML page (no network requests): summary, hourly chart, sortable tables.
    pub fn html(&self) -> String {
        page(self)
    }
}

pub(crate) const STYLE: &str = r#"
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; margin: 0; color: #1d2330; background: #f5f6f8; }
header { background: #1d2330; color: #fff; padding: 18px 28px; }
header h1 { margin: 0 0 4px; font-size: 20px; }
header p { margin: 0; color: #c9cfdb; }
main { padding: 20px 28px 40px; max-width: 1280px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin-bottom: 20px; }
.card { background: #fff; border-radius: 8px; padding: 12px 16px; min-width: 170px; box-shadow: 0 1px 2px rgba(0,0,0,.08); }
.card b { display: block; font-size: 22px; }
.card span { color: #5b6475; }
section { background: #fff; border-radius: 8px; padding: 14px 18px; margin-bottom: 18px; box-shadow: 0 1px 2px rgba(0,0,0,.08); overflow-x: auto; }
h2 { font-size: 16px; margin: 0 0 10px; }
table { border-collapse: collapse; width: 100%; }
th, td { padding: 5px 8px; border-bottom: 1px solid #e6e8ee; text-align: right; white-space: nowrap; }
th { cursor: pointer; user-select: none; background: #f0f2f6; position: sticky; top: 0; }
th[aria-sort="ascending"]::after { content: " ▲"; }
th[aria-sort="descending"]::after { content: " ▼"; }
td.name, th.name { text-align: left; max-width: 760px; overflow: hidden; text-overflow: ellipsis; }
td.empty { text-align: left; color: #5b6475; }
svg { max-width: 100%; height: auto; }
.note { color: #5b6475; }
"#;

/// Sorts a table by the clicked column: numbers by their `data-v`, text by locale; clicking again
/// reverses. Marks the page once ready, for the browser test.
pub(crate) const SCRIPT: &str = r##"
(function () {
  var tables = document.querySelectorAll("table.sortable");
  tables.forEach(function (table) {
    var heads = table.querySelectorAll("th");
    heads.forEach(function (th, column) {
      th.addEventListener("click", function () {
        var body = table.tBodies[0];
        var rows = Array.prototype.slice.call(body.rows).filter(function (r) { return r.cells.length > column; });
        var ascending = th.getAttribute("aria-sort") !== "ascending";
        heads.forEach(function (h) { h.removeAttribute("aria-sort"); });
        th.setAttribute("aria-sort", ascending ? "ascending" : "descending");
        rows.sort(function (a, b) {
          var x = a.cells[column], y = b.cells[column];
          var nx = x.getAttribute("data-v"), ny = y.getAttribute("data-v");
          var order = (nx !== null && ny !== null) ? Number(nx) - Number(ny) : x.textContent.localeCompare(y.textContent);
          return ascending ? order : -order;
        });
        rows.forEach(function (r) { body.appendChild(r); });
      });
    });
  });
  // #sort-check (scripts/report-browser-check.py): click the first table's second column twice
  // and record its first value after each click.
  if (location.hash === "#sort-check" && tables.length) {
    var th = tables[0].querySelectorAll("th")[1], seen = [];
    for (var i = 0; i < 2; i++) {
      th.click();
      var first = tables[0].tBodies[0].rows[0].cells[1];
      seen.push(th.getAttribute("aria-sort") + ":" + first.getAttribute("data-v"));
    }
    document.documentElement.setAttribute("data-sort-check", seen.join(","));
  }
  document.documentElement.setAttribute("data-ready", "sortable:" + tables.length);
})();
"##;

pub fn page(report: &Report) -> String {
    let input = &report.input;
    let span = match (&input.from, &input.to) {
        (Some(from), Some(to)) => format!("{from} to {to} (UTC)"),
        _ => "no requests".to_string(),
    };
    let mut out = String::new();
    let _ = write!(
        out,
        "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
         <title>CDN log report: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n",
        escape(&span)
    );
    let _ = write!(
        out,
        "<header><h1>CloudFront log report</h1><p>{} · {} files ({}) · {} lines</p></header>\n<main>\n",
        escape(&span),
        thousands(input.files),
        human_bytes(input.bytes_read),
        thousands(input.lines)
    );
    let cache = &report.cache;
    out.push_str("<div class=\"cards\">\n");
    for (value, label) in [
        (thousands(input.requests), "requests".to_string()),
        (human_bytes(input.bytes_served), "served".to_string()),
        (
            percent(cache.hit_ratio),
            format!("cache hits ({} hits, {} misses)", thousands(cache.hits), thousands(cache.misses)),
        ),
        (thousands(input.malformed_lines), "malformed lines (skipped)".to_string()),
    ]
    .into_iter()
    .chain(report.savings.as_ref().map(|s| {
        (percent(s.total.saved_ratio), format!("saved against the originals ({})", signed_bytes(s.total.saved_bytes)))
    })) {
        let _ = writeln!(out, "<div class=\"card\"><b>{}</b><span>{}</span></div>", escape(&value), escape(&label));
    }
    out.push_str("</div>\n");

    // The chart is our own SVG (its text escaped when it was drawn).
    let _ = write!(out, "<section><h2>Traffic by hour</h2>\n{}</section>\n", report.hourly_svg());

    let missed: Vec<Vec<Cell>> = report
        .top_missed
        .iter()
        .map(|m| {
            vec![
                Cell::Name(&m.key),
                Cell::Count(m.misses),
                Cell::Count(m.requests),
                Cell::Bytes(m.bytes),
                Cell::Ratio(m.hit_ratio),
            ]
        })
        .collect();
    table(
        &mut out,
        "Top missed objects (fetched from the origin)",
        &["object", "misses", "requests", "bytes", "hit ratio"],
        missed,
    );
    for (title, key, rows) in [
        ("Worst cache hit ratio", "object", &report.worst_hit_ratio),
        ("Top objects by bytes served", "object", &report.top_by_bytes),
        ("Top objects by requests", "object", &report.top_by_requests),
        ("Bytes by content type", "content type", &report.by_content_type),
        ("Bytes by image format", "format", &report.by_image_format),
        ("Bytes by status", "status", &report.by_status),
    ] {
        let cells = rows
            .iter()
            .map(|r| vec![Cell::Name(&r.key), Cell::Count(r.requests), Cell::Bytes(r.bytes), Cell::Ratio(r.hit_ratio)])
            .collect();
        table(&mut out, title, &[key, "requests", "bytes", "hit ratio"], cells);
    }
    let candidates = report
        .optimisation_candidates
        .iter()
        .map(|c| {
            vec![
                Cell::Name(&c.object),
                Cell::Text(c.reason),
                Cell::Count(c.requests),
                Cell::Bytes(c.bytes),
                Cell::Bytes(c.average_bytes),
            ]
        })
        .collect();
    table(
        &mut out,
        "Optimisation candidates (served as GIF, or full size to mobile viewers)",
        &["object", "reason", "requests", "bytes", "per request"],
        candidates,
    );
    if !report.releases.is_empty() {
        let rows = report
            .releases
            .iter()
            .map(|r| {
                vec![
                    Cell::Name(&r.channel),
                    Cell::Text(&r.kind),
                    Cell::Text(&r.version),
                    Cell::Count(r.requests),
                    Cell::Bytes(r.bytes),
                    Cell::Ratio(r.hit_ratio),
                    Cell::Count(r.client_errors),
                    Cell::Count(r.server_errors),
                    Cell::Ratio(r.error_ratio),
                ]
            })
            .collect();
        table(
            &mut out,
            "Release versions (what the release function served)",
            &["channel", "kind", "version", "requests", "bytes", "hit ratio", "4xx", "5xx", "errors"],
            rows,
        );
        let versions: Vec<String> = report.worst_cohorts.iter().map(|c| c.versions.join(" ")).collect();
        let cohorts: Vec<String> = report.worst_cohorts.iter().map(|c| c.cohort.to_string()).collect();
        let rows = report
            .worst_cohorts
            .iter()
            .zip(versions.iter().zip(&cohorts))
            .map(|(c, (versions, cohort))| {
                vec![
                    Cell::Name(&c.channel),
                    Cell::Text(cohort),
                    Cell::Text(versions),
                    Cell::Count(c.requests),
                    Cell::Ratio(c.hit_ratio),
                    Cell::Count(c.client_errors),
                    Cell::Count(c.server_errors),
                    Cell::Ratio(c.error_ratio),
                ]
            })
            .collect();
        table(
            &mut out,
            "Cohorts with the most errors",
            &["channel", "cohort", "versions", "requests", "hit ratio", "4xx", "5xx", "errors"],
            rows,
        );
    }
    if let Some(savings) = &report.savings {
        let rows = savings
            .by_format
            .iter()
            .chain([&savings.total])
            .map(|r| {
                vec![
                    Cell::Name(&r.format),
                    Cell::Count(r.requests),
                    Cell::Bytes(r.bytes),
                    Cell::Bytes(r.original_bytes),
                    Cell::Saved(r.saved_bytes),
                    Cell::Ratio(r.saved_ratio),
                ]
            })
            .collect();
        table(
            &mut out,
            "Saved against serving the originals (whole responses of variants)",
            &["format", "requests", "served", "originals", "saved", "saved %"],
            rows,
        );
        let _ = writeln!(
            out,
            "<p class=\"note\">Original unknown (no manifest, or a newer version): {} requests, {}. {} manifests read, {} unreadable.</p>",
            thousands(savings.unknown_original_requests),
            escape(&human_bytes(savings.unknown_original_bytes)),
            thousands(savings.manifests_read),
            savings.unreadable_manifests
        );
    }
    if !report.reencodes.is_empty() {
        let efforts: Vec<String> = report
            .reencodes
            .iter()
            .map(|r| crate::hot::effort_change(r.from_effort.as_deref(), r.to_effort.as_deref()))
            .collect();
        let rows = report
            .reencodes
            .iter()
            .zip(&efforts)
            .map(|(r, effort)| {
                vec![
                    Cell::Name(&r.path),
                    Cell::Name(effort),
                    Cell::Count(r.views),
                    Cell::Bytes(r.before_bytes / r.views.max(1)),
                    Cell::Bytes(r.bytes / r.views.max(1)),
                    Cell::Saved(r.saved_bytes),
                    Cell::Ratio(r.saved_ratio),
                ]
            })
            .collect();
        table(
            &mut out,
            "Re-encoded originals: a view of the new version against the same file and format before",
            &["variants", "effort", "views", "per view before", "now", "saved", "saved %"],
            rows,
        );
    }
    let hours = report
        .by_hour
        .iter()
        .map(|r| vec![Cell::Name(&r.key), Cell::Count(r.requests), Cell::Bytes(r.bytes), Cell::Ratio(r.hit_ratio)])
        .collect();
    table(&mut out, "Requests by hour (UTC)", &["hour", "requests", "bytes", "hit ratio"], hours);

    if !input.malformed_examples.is_empty() || !input.unreadable.is_empty() {
        out.push_str("<section><h2>Skipped input</h2><ul class=\"note\">\n");
        for line in input.malformed_examples.iter().chain(&input.unreadable) {
            let _ = writeln!(out, "<li>{}</li>", escape(line));
        }
        out.push_str("</ul></section>\n");
    }
    let _ = write!(
        out,
        "<p class=\"note\">Made by <code>media-edge logs --format html</code>. Click a column to sort.</p>\n</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n"
    );
    out
}

pub(crate) enum Cell<'a> {
    Name(&'a str),
    Text(&'a str),
    Count(u64),
    Bytes(u64),
    /// Bytes saved, negative when more was served.
    Saved(i64),
    Ratio(Option<f64>),
}

pub(crate) fn table(out: &mut String, title: &str, header: &[&str], rows: Vec<Vec<Cell>>) {
    let _ = write!(out, "<section><h2>{}</h2>\n<table class=\"sortable\"><thead><tr>", escape(title));
    for (i, h) in header.iter().enumerate() {
        let class = if i == 0 { " class=\"name\"" } else { "" };
        let _ = write!(out, "<th{class}>{}</th>", escape(h));
    }
    out.push_str("</tr></thead><tbody>\n");
    if rows.is_empty() {
        let _ = writeln!(out, "<tr><td class=\"empty\" colspan=\"{}\">none</td></tr>", header.len());
    }
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            match cell {
                Cell::Name(name) => {
                    let _ = write!(out, "<td class=\"name\" title=\"{0}\">{0}</td>", escape(name));
                }
                Cell::Text(text) => {
                    let _ = write!(out, "<td>{}</td>", escape(text));
                }
                Cell::Count(n) => {
                    let _ = write!(out, "<td data-v=\"{n}\">{}</td>", thousands(n));
                }
                Cell::Bytes(n) => {
                    let _ = write!(out, "<td data-v=\"{n}\">{}</td>", escape(&human_bytes(n)));
                }
                Cell::Saved(n) => {
                    let _ = write!(out, "<td data-v=\"{n}\">{}</td>", escape(&signed_bytes(n)));
                }
                Cell::Ratio(r) => {
                    let v = r.map_or(-1.0, |r| r);
                    let _ = write!(out, "<td data-v=\"{v}\">{}</td>", percent(r));
                }
            }
        }
        out.push_str("</tr>\n");
    }
    out.push_str("</tbody></table></section>\n");
}

fn percent(ratio: Option<f64>) -> String {
    ratio.map_or_else(|| "-".to_string(), |r| format!("{:.1}%", r * 100.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_from_the_logs_cannot_become_markup() {
        let hostile = "/a.jpg\"><script>alert(1)</script><img src=x onerror=alert(2)>\u{1b}[2J";
        let escaped = escape(hostile);
        assert!(!escaped.contains('<') && !escaped.contains('>') && !escaped.contains('"'), "{escaped}");
        assert!(escaped.contains("&lt;script&gt;") && escaped.contains("\\u{1b}"));
    }
}
