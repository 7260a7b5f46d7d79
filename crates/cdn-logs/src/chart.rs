//! The hourly traffic curve as a self-contained SVG: bars for bytes served (what the bill
//! follows), a line for requests, each on its own scale.

use std::fmt::Write;

use media_edge_shared::units::{human_bytes, thousands};

use crate::report::{Report, Row};

impl Report {
    /// The hourly traffic curve as an SVG chart, titled with the report's time span.
    pub fn hourly_svg(&self) -> String {
        let title = match (&self.input.from, &self.input.to) {
            (Some(from), Some(to)) => format!("Traffic by hour, {from} to {to}"),
            _ => "Traffic by hour".to_string(),
        };
        hourly_svg(&self.by_hour, &title)
    }
}

const WIDTH: f64 = 960.0;
const HEIGHT: f64 = 360.0;
const LEFT: f64 = 80.0;
const RIGHT: f64 = 80.0;
const TOP: f64 = 48.0;
const BOTTOM: f64 = 56.0;

pub fn hourly_svg(hours: &[Row], title: &str) -> String {
    let plot = Plot::new(hours);
    let mut svg = String::new();
    heading(&mut svg, title);
    gridlines(&mut svg, &plot);
    let label_every = label_every(hours.len());
    for (i, hour) in hours.iter().enumerate() {
        bar(&mut svg, &plot, i, hour);
        hour_labels(&mut svg, &plot, i, hour, label_every);
    }
    requests_line(&mut svg, &plot, hours);
    if hours.is_empty() {
        let _ = writeln!(
            svg,
            r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">no requests</text>"#,
            WIDTH / 2.0,
            TOP + plot.height / 2.0
        );
    }
    let _ = writeln!(
        svg,
        r##"<line x1="{LEFT}" y1="{:.1}" x2="{:.1}" y2="{:.1}" stroke="#333"/>"##,
        plot.bottom,
        LEFT + plot.width,
        plot.bottom
    );
    svg.push_str("</svg>\n");
    svg
}

/// The plot area and the two scales, from the busiest hour.
struct Plot {
    width: f64,
    height: f64,
    /// `y` of the time axis.
    bottom: f64,
    /// Width given to each hour.
    slot: f64,
    max_bytes: u64,
    max_requests: u64,
}

impl Plot {
    fn new(hours: &[Row]) -> Self {
        let width = WIDTH - LEFT - RIGHT;
        let height = HEIGHT - TOP - BOTTOM;
        Plot {
            width,
            height,
            bottom: TOP + height,
            slot: width / hours.len().max(1) as f64,
            max_bytes: hours.iter().map(|h| h.bytes).max().unwrap_or(0).max(1),
            max_requests: hours.iter().map(|h| h.requests).max().unwrap_or(0).max(1),
        }
    }

    /// Left edge of hour `i`'s slot.
    fn x(&self, i: usize) -> f64 {
        LEFT + i as f64 * self.slot
    }
}

/// The opening tag, a white background, the title and the legend.
fn heading(svg: &mut String, title: &str) {
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
}

/// Five gridlines, labelled in bytes on the left and requests on the right.
fn gridlines(svg: &mut String, plot: &Plot) {
    for step in 0..=4 {
        let fraction = f64::from(step) / 4.0;
        let y = plot.bottom - fraction * plot.height;
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" y1="{y:.1}" x2="{:.1}" y2="{y:.1}" stroke="#ddd"/>"##,
            LEFT + plot.width
        );
        let bytes_label = human_bytes((plot.max_bytes as f64 * fraction).round() as u64);
        let requests_label = thousands((plot.max_requests as f64 * fraction).round() as u64);
        let _ =
            writeln!(svg, r#"<text x="{:.1}" y="{:.1}" text-anchor="end">{bytes_label}</text>"#, LEFT - 6.0, y + 4.0);
        let _ = writeln!(svg, r#"<text x="{:.1}" y="{:.1}">{requests_label}</text>"#, LEFT + plot.width + 6.0, y + 4.0);
    }
}

/// Hours between time labels: at most about twelve labels, on round steps.
fn label_every(hours: usize) -> usize {
    [1, 2, 3, 6, 12, 24, 48, 72, 168, 336, 720]
        .into_iter()
        .find(|step| hours.div_ceil(*step) <= 12)
        .unwrap_or(hours.div_ceil(12).max(1))
}

/// Hour `i`'s bar of bytes, with its figures as a tooltip.
fn bar(svg: &mut String, plot: &Plot, i: usize, hour: &Row) {
    let height = hour.bytes as f64 / plot.max_bytes as f64 * plot.height;
    let _ = writeln!(
        svg,
        r##"<rect x="{:.1}" y="{:.1}" width="{:.1}" height="{height:.1}" fill="#4e79a7"><title>{}: {} in {} requests</title></rect>"##,
        plot.x(i) + plot.slot * 0.1,
        plot.bottom - height,
        plot.slot * 0.8,
        escape(&hour.key),
        human_bytes(hour.bytes),
        thousands(hour.requests)
    );
}

/// `2026-11-21T13:00Z` → `13:00` under every `label_every`th hour; the date under the first hour
/// and under midnights.
fn hour_labels(svg: &mut String, plot: &Plot, i: usize, hour: &Row, label_every: usize) {
    let time = hour.key.get(11..16).unwrap_or(&hour.key);
    let centre = plot.x(i) + plot.slot / 2.0;
    if i % label_every == 0 {
        let _ = writeln!(
            svg,
            r#"<text x="{centre:.1}" y="{:.1}" text-anchor="middle">{}</text>"#,
            plot.bottom + 16.0,
            escape(time)
        );
    }
    if i == 0 || (time == "00:00" && (label_every < 24 || i % label_every == 0)) {
        let date = hour.key.get(..10).unwrap_or("");
        let _ = writeln!(
            svg,
            r##"<text x="{centre:.1}" y="{:.1}" text-anchor="middle" fill="#555">{}</text>"##,
            plot.bottom + 32.0,
            escape(date)
        );
    }
}

/// Requests per hour as a line through the slots' centres, on the right-hand scale.
fn requests_line(svg: &mut String, plot: &Plot, hours: &[Row]) {
    if hours.is_empty() {
        return;
    }
    let points: Vec<String> = hours
        .iter()
        .enumerate()
        .map(|(i, hour)| {
            let y = plot.bottom - hour.requests as f64 / plot.max_requests as f64 * plot.height;
            format!("{:.1},{y:.1}", plot.x(i) + plot.slot / 2.0)
        })
        .collect();
    let _ =
        writeln!(svg, r##"<polyline points="{}" fill="none" stroke="#e15759" stroke-width="2"/>"##, points.join(" "));
}

use crate::markup::escape;

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
