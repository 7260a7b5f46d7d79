//! The hourly traffic curve as a self-contained SVG: bars for bytes served (what the bill
//! follows), a line for requests, each on its own scale.

use std::fmt::Write;

use media_edge_shared::units::{human_bytes, thousands};

use super::report::Row;

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 80.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 56.0;

pub fn hourly_svg(hours: &[Row], title: &str) -> String {
    let plot_width = WIDTH - LEFT - RIGHT;
    let plot_height = HEIGHT - TOP - BOTTOM;
    let max_bytes = hours.iter().map(|h| h.bytes).max().unwrap_or(0).max(1);
    let max_requests = hours.iter().map(|h| h.requests).max().unwrap_or(0).max(1);
    let slot = plot_width / hours.len().max(1) as f64;
    let bottom = TOP + plot_height;

    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="24" font-size="16">{}</text>"#, escape(title));
    let _ = writeln!(
        svg,
        r##"<text x="{LEFT}" y="40" fill="#555">bars: bytes served per hour (left) · line: requests per hour (right) · UTC</text>"##
    );
    // Axes and a few gridlines with labels on both scales.
    for step in 0..=4 {
        let fraction = f64::from(step) / 4.0;
        let y = bottom - fraction * plot_height;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            LEFT + plot_width
        );
        let bytes_label = human_bytes((max_bytes as f64 * fraction).round() as u64);
        let requests_label = thousands((max_requests as f64 * fraction).round() as u64);
        let _ =
            writeln!(svg, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{bytes_label}</text>"#, LEFT - 6.0, y + 4.0);
        let _ = writeln!(svg, r#"<text x="{:.1}" y="{:.1}">{requests_label}</text>"#, LEFT + plot_width + 6.0, y + 4.0);
    }
    // At most about twelve time labels, on round steps.
    let label_every = [1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720]
        .into_iter()
        .find(|step| hours.len().div_ceil(*step) <= 12)
        .unwrap_or(hours.len().div_ceil(12).max(1));
    let mut points = Vec::with_capacity(hours.len());
    for (i, hour) in hours.iter().enumerate() {
        let x = LEFT + i as f64 * slot;
        let bar = hour.bytes as f64 / max_bytes as f64 * plot_height;
        let _ = writeln!(
            svg,
            r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{bar:.1}" fill="#4e79a7"><title>{}: {} in {} requests</title></rect>"##,
            x + slot * 0.1,
            bottom - bar,
            slot * 0.8,
            escape(&hour.key),
            human_bytes(hour.bytes),
            thousands(hour.requests)
        );
        let y = bottom - hour.requests as f64 / max_requests as f64 * plot_height;
        points.push(format!("{:.1},{y:.1}", x + slot / 2.0));
        // `2026-11-21T13:00Z` → `13:00` every few hours; the date under midnight and the first hour.
        let time = hour.key.get(11..16).unwrap_or(&hour.key);
        let centre = x + slot / 2.0;
        if i % label_every == 0 {
            let _ = writeln!(
                svg,
                r#"<text x="{centre:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
                bottom + 16.0,
                escape(time)
            );
        }
        if i == 0 || (time == "00:00" && (label_every < 24 || i % label_every == 0)) {
            let date = hour.key.get(..10).unwrap_or("");
            let _ = writeln!(
                svg,
                r##"<text x="{centre:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
                bottom + 32.0,
                escape(date)
            );
        }
    }
    if !points.is_empty() {
        let _ = writeln!(
            svg,
            r##"<polyline points="{}" fill="none" stroke="#e15759" stroke-width="2"/>"##,
            points.join(" ")
        );
    }
    if hours.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no requests</text>"#,
            WIDTH / 2.0,
            TOP + plot_height / 2.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{bottom:.1}" x2="{:.1}" y2="{bottom:.1}" stroke="#333"/>"##,
        LEFT + plot_width
    );
    svg.push_str("</svg>\n");
    svg
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hour(key: &str, requests: u64, bytes: u64) -> Row {
        Row { key: key.into(), requests, bytes, hit_ratio: None }
    }

    #[test]
    fn one_bar_per_hour_scaled_to_the_busiest() {
        let hours = [hour("2026-11-21T23:00Z", 10, 500), hour("2026-11-22T00:00Z", 20, 1000)];
        let svg = hourly_svg(&hours, "a <title> & more");
        assert_eq!(svg.matches("<rect x=").count(), 2);
        let plot_height = HEIGHT - TOP - BOTTOM;
        assert!(svg.contains(&format!(r#"height="{plot_height:.1}""#)), "the busiest hour fills the plot");
        assert!(svg.contains(&format!(r#"height="{:.1}""#, plot_height / 2.0)));
        assert!(svg.contains("a &lt;title&gt; &amp; more"));
        assert!(svg.contains(">2026-11-22<"), "midnight is dated");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>\n"));
    }

    #[test]
    fn no_hours_is_still_a_picture() {
        let svg = hourly_svg(&[], "empty");
        assert!(svg.contains("no requests") && !svg.contains("<polyline"));
    }
}
