//! The comparison as text (a terminal), JSON (scripts, the not-migrated list) and one
//! self-contained HTML page in the log report's style. Paths come from logs: hostile input,
//! escaped as the report escapes them.

use std::fmt::Write;

use media_edge_shared::units::{human_bytes, thousands};

use crate::cells::{percent, shorten, visible};
use crate::compare::{Comparison, SideInput, SideRow};
use crate::error::Error;
use crate::html::{table as html_table, Cell, SCRIPT, STYLE};
use crate::markup::escape;
use crate::output::table;

fn ms(value: Option<u64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v} ms"))
}

fn points(value: Option<f64>) -> String {
    value.map_or_else(|| "-".into(), |v| format!("{v:+.1} pt"))
}

fn span(input: &SideInput) -> String {
    match (&input.from, &input.to) {
        (Some(from), Some(to)) => format!("{from} to {to}"),
        _ => "no requests".into(),
    }
}

fn side_line(name: &str, input: &SideInput, row: &SideRow) -> String {
    format!(
        "{name}: {} files ({}), {} lines, {} requests ({}), {} malformed, {} out of range, {} unreadable; \
         errors {}, p50 {}, p95 {}",
        thousands(input.files),
        human_bytes(input.bytes_read),
        thousands(input.lines),
        thousands(input.requests),
        span(input),
        thousands(input.malformed_lines),
        thousands(input.out_of_range),
        input.unreadable.len(),
        percent(row.error_rate),
        ms(row.p50_ms),
        ms(row.p95_ms)
    )
}

impl Comparison {
    pub fn text(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", side_line("nginx", &self.nginx_input, &self.nginx));
        let _ = writeln!(out, "{}", side_line("CloudFront", &self.cloudfront_input, &self.cloudfront));
        for example in self
            .nginx_input
            .malformed_examples
            .iter()
            .chain(&self.nginx_input.unreadable)
            .chain(&self.cloudfront_input.malformed_examples)
            .chain(&self.cloudfront_input.unreadable)
        {
            let _ = writeln!(out, "  {}", visible(example));
        }
        let verdict = if self.not_migrated.is_empty() && self.size_differences.is_empty() {
            "Every path nginx served with 2xx CloudFront also served without error, at the same size."
        } else {
            "Needs a look: the lists below."
        };
        let _ = writeln!(out, "{verdict}");

        let rows = self
            .not_migrated
            .iter()
            .enumerate()
            .map(|(i, n)| {
                vec![
                    (i + 1).to_string(),
                    shorten(&n.path),
                    thousands(n.nginx_ok),
                    thousands(n.cloudfront_errors),
                    thousands(n.cloudfront_ok),
                ]
            })
            .collect();
        table(
            &mut out,
            "Not migrated: nginx answered 2xx, CloudFront 4xx/5xx (--not-migrated FILE writes their keys)",
            &["#", "path", "nginx 2xx", "CloudFront 4xx/5xx", "CloudFront 2xx"],
            rows,
        );
        let rows = self
            .size_differences
            .iter()
            .enumerate()
            .map(|(i, d)| {
                vec![
                    (i + 1).to_string(),
                    shorten(&d.path),
                    thousands(d.nginx_bytes),
                    thousands(d.cloudfront_bytes),
                    thousands(d.nginx_requests),
                    thousands(d.cloudfront_requests),
                ]
            })
            .collect();
        table(
            &mut out,
            "Different size for the same status (GET 200 bodies, bytes)",
            &["#", "path", "nginx", "CloudFront", "nginx requests", "CloudFront requests"],
            rows,
        );
        let rows = self
            .hours
            .iter()
            .map(|h| {
                vec![
                    String::new(),
                    h.hour.clone(),
                    thousands(h.nginx.requests),
                    thousands(h.cloudfront.requests),
                    percent(h.nginx.error_rate),
                    percent(h.cloudfront.error_rate),
                    points(h.error_rate_difference_points),
                    human_bytes(h.nginx.bytes),
                    human_bytes(h.cloudfront.bytes),
                    format!("{} / {}", ms(h.nginx.p50_ms), ms(h.nginx.p95_ms)),
                    format!("{} / {}", ms(h.cloudfront.p50_ms), ms(h.cloudfront.p95_ms)),
                ]
            })
            .collect();
        table(
            &mut out,
            "By hour (UTC)",
            &[
                "",
                "hour",
                "nginx req",
                "CF req",
                "nginx err",
                "CF err",
                "difference",
                "nginx bytes",
                "CF bytes",
                "nginx p50/p95",
                "CF p50/p95",
            ],
            rows,
        );
        let rows = self
            .top_paths
            .iter()
            .enumerate()
            .map(|(i, p)| {
                vec![
                    (i + 1).to_string(),
                    shorten(&p.path),
                    thousands(p.nginx.requests),
                    thousands(p.cloudfront.requests),
                    format!("{}/{}/{}", p.nginx.ok, p.nginx.client_errors, p.nginx.server_errors),
                    format!("{}/{}/{}", p.cloudfront.ok, p.cloudfront.client_errors, p.cloudfront.server_errors),
                    human_bytes(p.nginx.bytes),
                    human_bytes(p.cloudfront.bytes),
                    format!("{} / {}", ms(p.nginx.p50_ms), ms(p.nginx.p95_ms)),
                    format!("{} / {}", ms(p.cloudfront.p50_ms), ms(p.cloudfront.p95_ms)),
                ]
            })
            .collect();
        table(
            &mut out,
            "Busiest paths (both sides' requests)",
            &[
                "#",
                "path",
                "nginx req",
                "CF req",
                "nginx 2xx/4xx/5xx",
                "CF 2xx/4xx/5xx",
                "nginx bytes",
                "CF bytes",
                "nginx p50/p95",
                "CF p50/p95",
            ],
            rows,
        );
        let _ = writeln!(
            out,
            "\nPaths only nginx saw: {}; only CloudFront saw: {}",
            thousands(self.paths_only_nginx),
            thousands(self.paths_only_cloudfront)
        );
        out
    }

    pub fn json(&self) -> Result<String, Error> {
        serde_json::to_string_pretty(self).map(|s| s + "\n").map_err(Error::Json)
    }

    /// One self-contained page (no network requests), sortable tables, as the log report's.
    pub fn html(&self) -> String {
        let mut out = String::new();
        let _ = write!(
            out,
            "<!doctype html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
             <meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n\
             <title>nginx against CloudFront: {}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n\
             <header><h1>nginx against CloudFront</h1><p>nginx {} · CloudFront {}</p></header>\n<main>\n",
            escape(&span(&self.cloudfront_input)),
            escape(&span(&self.nginx_input)),
            escape(&span(&self.cloudfront_input))
        );
        out.push_str("<div class=\"cards\">\n");
        for (value, label) in [
            (thousands(self.nginx.requests), "nginx requests".to_string()),
            (thousands(self.cloudfront.requests), "CloudFront requests".to_string()),
            (percent(self.nginx.error_rate), "nginx 4xx/5xx".to_string()),
            (percent(self.cloudfront.error_rate), "CloudFront 4xx/5xx".to_string()),
            (thousands(self.not_migrated.len() as u64), "paths not migrated".to_string()),
            (thousands(self.size_differences.len() as u64), "paths with a different size".to_string()),
        ] {
            let _ = writeln!(out, "<div class=\"card\"><b>{}</b><span>{}</span></div>", escape(&value), escape(&label));
        }
        out.push_str("</div>\n");
        let rows = self
            .not_migrated
            .iter()
            .map(|n| {
                vec![
                    Cell::Name(&n.path),
                    Cell::Count(n.nginx_ok),
                    Cell::Count(n.cloudfront_errors),
                    Cell::Count(n.cloudfront_ok),
                ]
            })
            .collect();
        html_table(
            &mut out,
            "Not migrated: nginx answered 2xx, CloudFront 4xx/5xx",
            &["path", "nginx 2xx", "CloudFront 4xx/5xx", "CloudFront 2xx"],
            rows,
        );
        let rows = self
            .size_differences
            .iter()
            .map(|d| {
                vec![
                    Cell::Name(&d.path),
                    Cell::Bytes(d.nginx_bytes),
                    Cell::Bytes(d.cloudfront_bytes),
                    Cell::Count(d.nginx_requests),
                    Cell::Count(d.cloudfront_requests),
                ]
            })
            .collect();
        html_table(
            &mut out,
            "Different size for the same status (GET 200 bodies)",
            &["path", "nginx", "CloudFront", "nginx requests", "CloudFront requests"],
            rows,
        );
        let times: Vec<[String; 4]> = self
            .hours
            .iter()
            .map(|h| [ms(h.nginx.p50_ms), ms(h.nginx.p95_ms), ms(h.cloudfront.p50_ms), ms(h.cloudfront.p95_ms)])
            .collect();
        let differences: Vec<String> = self.hours.iter().map(|h| points(h.error_rate_difference_points)).collect();
        let rows = self
            .hours
            .iter()
            .zip(times.iter().zip(&differences))
            .map(|(h, (t, d))| {
                vec![
                    Cell::Name(&h.hour),
                    Cell::Count(h.nginx.requests),
                    Cell::Count(h.cloudfront.requests),
                    Cell::Ratio(h.nginx.error_rate),
                    Cell::Ratio(h.cloudfront.error_rate),
                    Cell::Text(d),
                    Cell::Bytes(h.nginx.bytes),
                    Cell::Bytes(h.cloudfront.bytes),
                    Cell::Text(&t[0]),
                    Cell::Text(&t[1]),
                    Cell::Text(&t[2]),
                    Cell::Text(&t[3]),
                ]
            })
            .collect();
        html_table(
            &mut out,
            "By hour (UTC)",
            &[
                "hour",
                "nginx requests",
                "CloudFront requests",
                "nginx errors",
                "CloudFront errors",
                "difference",
                "nginx bytes",
                "CloudFront bytes",
                "nginx p50",
                "nginx p95",
                "CloudFront p50",
                "CloudFront p95",
            ],
            rows,
        );
        let rows = self
            .top_paths
            .iter()
            .map(|p| {
                vec![
                    Cell::Name(&p.path),
                    Cell::Count(p.nginx.requests),
                    Cell::Count(p.cloudfront.requests),
                    Cell::Count(p.nginx.client_errors + p.nginx.server_errors),
                    Cell::Count(p.cloudfront.client_errors + p.cloudfront.server_errors),
                    Cell::Bytes(p.nginx.bytes),
                    Cell::Bytes(p.cloudfront.bytes),
                ]
            })
            .collect();
        html_table(
            &mut out,
            "Busiest paths",
            &[
                "path",
                "nginx requests",
                "CloudFront requests",
                "nginx 4xx/5xx",
                "CloudFront 4xx/5xx",
                "nginx bytes",
                "CloudFront bytes",
            ],
            rows,
        );
        let skipped: Vec<&String> = self
            .nginx_input
            .malformed_examples
            .iter()
            .chain(&self.nginx_input.unreadable)
            .chain(&self.cloudfront_input.malformed_examples)
            .chain(&self.cloudfront_input.unreadable)
            .collect();
        if !skipped.is_empty() {
            out.push_str("<section><h2>Skipped input</h2><ul class=\"note\">\n");
            for line in skipped {
                let _ = writeln!(out, "<li>{}</li>", escape(line));
            }
            out.push_str("</ul></section>\n");
        }
        let _ = write!(
            out,
            "<p class=\"note\">Made by <code>media-edge logs compare --format html</code>. Paths only nginx saw: {}; only CloudFront saw: {}. Click a column to sort.</p>\n</main>\n<script>{SCRIPT}</script>\n</body>\n</html>\n",
            thousands(self.paths_only_nginx),
            thousands(self.paths_only_cloudfront)
        );
        out
    }
}

#[cfg(test)]
mod tests {
    use crate::aggregate::TimeRange;
    use crate::compare::{Comparison, Side};
    use crate::nginx::parse_nginx_line;
    use crate::parse::Request;
    use crate::sink::{Dialect, Sink};

    #[test]
    fn hostile_paths_stay_text_in_every_output() {
        let mut nginx = Side::new(Dialect::Nginx, TimeRange::default());
        let line = "1.1.1.1 - - [07/Dec/2026:10:00:00 +0000] \"GET /x<script>alert(1)</script>%1b[2J.jpg HTTP/1.1\" 200 10 \"-\" \"-\"";
        nginx.add(&Request::from(&parse_nginx_line(line.as_bytes()).unwrap()));
        let cloudfront = Side::new(Dialect::CloudFront, TimeRange::default());
        let report = Comparison::build(&nginx, &cloudfront, 5);
        let html = report.html();
        assert!(!html.contains("<script>alert") && html.contains("&lt;script&gt;alert"), "{html}");
        let text = report.text();
        assert!(!text.contains('\u{1b}') && text.contains("\\u{1b}"), "{text}");
        let json: serde_json::Value = serde_json::from_str(&report.json().unwrap()).unwrap();
        assert_eq!(json["top_paths"][0]["path"], "/x<script>alert(1)</script>\u{1b}[2J.jpg");
        assert_eq!(json["paths_only_nginx"], 1);
    }
}
