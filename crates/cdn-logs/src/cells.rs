//! How one value becomes a cell of a text table or a CSV row: every output (the report, the hot
//! list, the HTML page) writes names and numbers from the logs, which are hostile input.

use std::borrow::Cow;

use media_edge_shared::units::human_bytes;

/// Object names longer than this are shortened in the middle in text tables (JSON/CSV keep them).
const MAX_NAME_CHARS: usize = 72;

/// Bytes that may be negative (a variant larger than its original).
pub(crate) fn signed_bytes(bytes: i64) -> String {
    let magnitude = human_bytes(bytes.unsigned_abs());
    if bytes < 0 {
        format!("-{magnitude}")
    } else {
        magnitude
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
