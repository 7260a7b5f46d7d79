//! Escaping for what the HTML page and the SVG chart both write: both draw text from the logs,
//! which is hostile input.

/// Text for HTML or SVG element content and quoted attributes. Control characters (a terminal
/// escape in a logged URI) are shown escaped.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c if c.is_control() => out.extend(c.escape_default()),
            c => out.push(c),
        }
    }
    out
}
