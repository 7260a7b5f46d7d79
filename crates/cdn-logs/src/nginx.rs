//! Nginx access log lines, for comparing an old web server's traffic with CloudFront's while a
//! site moves (docs/migration.md). Two formats: nginx's default `combined`, and `media_edge`, the
//! same with three fields the comparison uses appended as `key=value` (so their order and any
//! further fields do not matter):
//!
//! ```text
//! log_format media_edge '$remote_addr - $remote_user [$time_local] "$request" $status '
//!                       '$body_bytes_sent "$http_referer" "$http_user_agent" '
//!                       'rt=$request_time bs=$bytes_sent ucs=$upstream_cache_status';
//! ```
//!
//! Lines come from the server's clients and are hostile input: anything that does not parse is
//! an error with the reason, never a panic.

use crate::parse::{parse_timestamp, parse_u64 as number, seconds_as_ms, Request};

/// One request, borrowed from its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NginxRequest<'a> {
    /// Seconds since the Unix epoch, UTC (`$time_local` with its offset applied).
    pub timestamp: i64,
    pub method: &'a [u8],
    /// The path as requested, without the query string.
    pub path: &'a [u8],
    pub status: u16,
    /// `$body_bytes_sent`: the body alone (CloudFront's `sc-content-len` is the comparable field).
    pub body_bytes: u64,
    /// `bs=$bytes_sent`: headers and body, as CloudFront's `sc-bytes` counts them.
    pub bytes_sent: Option<u64>,
    /// `rt=$request_time` in milliseconds.
    pub request_time_ms: Option<u64>,
    /// `ucs=$upstream_cache_status` (`-` when nginx had no cache in front of an upstream).
    pub cache_status: Option<&'a [u8]>,
}

/// As the readers hand requests on: sizes as CloudFront counts them (`sc-bytes` is headers and
/// body, as `$bytes_sent`; `sc-content-len` the body), the cache status where CloudFront has its
/// result type.
impl<'a> From<&NginxRequest<'a>> for Request<'a> {
    fn from(r: &NginxRequest<'a>) -> Self {
        Request {
            timestamp: r.timestamp,
            bytes: r.bytes_sent.unwrap_or(r.body_bytes),
            uri: r.path,
            status: Some(r.status),
            user_agent: b"-",
            result_type: r.cache_status.unwrap_or(b"-"),
            content_type: b"-",
            log_data: b"-",
            method: r.method,
            time_taken_ms: r.request_time_ms,
            content_len: Some(r.body_bytes),
        }
    }
}

/// Splits one access log line into a request, or says why it cannot.
pub fn parse_nginx_line(line: &[u8]) -> Result<NginxRequest<'_>, &'static str> {
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    let open = memchr::memchr(b'[', line).ok_or("no [time]")?;
    let close = open + memchr::memchr(b']', &line[open..]).ok_or("no [time]")?;
    let timestamp = time_local(&line[open + 1..close]).ok_or("the time is not nginx's $time_local")?;
    let rest = &line[close + 1..];
    let (request, rest) = quoted(rest).ok_or("no \"request\"")?;
    let mut parts = request.split(|b| *b == b' ').filter(|p| !p.is_empty());
    let method = parts.next().ok_or("an empty request line")?;
    let target = parts.next().ok_or("a request line without a path")?;
    let path = target.split(|b| *b == b'?').next().unwrap_or(target);
    let mut fields = rest.split(|b| *b == b' ').filter(|p| !p.is_empty());
    let status = fields
        .next()
        .and_then(number)
        .and_then(|s| u16::try_from(s).ok())
        .filter(|s| (100..600).contains(s))
        .ok_or("no status")?;
    let body_bytes = fields.next().and_then(number).ok_or("no $body_bytes_sent")?;
    let mut request = NginxRequest {
        timestamp,
        method,
        path,
        status,
        body_bytes,
        bytes_sent: None,
        request_time_ms: None,
        cache_status: None,
    };
    // The extended format's key=value fields follow the quoted referer and user agent.
    let tail =
        quoted(rest).map_or(&[][..], |(_, after_referer)| quoted(after_referer).map_or(&[][..], |(_, after)| after));
    for field in tail.split(|b| *b == b' ').filter(|p| !p.is_empty()) {
        if let Some(value) = field.strip_prefix(b"rt=") {
            request.request_time_ms = seconds_as_ms(value);
        } else if let Some(value) = field.strip_prefix(b"bs=") {
            request.bytes_sent = number(value);
        } else if let Some(value) = field.strip_prefix(b"ucs=") {
            request.cache_status = Some(value);
        }
    }
    Ok(request)
}

/// The text between the next pair of quotes (nginx escapes a quote inside as `\x22`), and what
/// follows it.
fn quoted(text: &[u8]) -> Option<(&[u8], &[u8])> {
    let open = memchr::memchr(b'"', text)?;
    let close = open + 1 + memchr::memchr(b'"', &text[open + 1..])?;
    Some((&text[open + 1..close], &text[close + 1..]))
}

/// `0.123` (nginx's `$request_time`: seconds with millisecond resolution) → 123.
const MONTHS: [&[u8; 3]; 12] =
    [b"Jan", b"Feb", b"Mar", b"Apr", b"May", b"Jun", b"Jul", b"Aug", b"Sep", b"Oct", b"Nov", b"Dec"];

/// `07/Dec/2026:10:00:00 +0900` → seconds since the epoch, UTC.
fn time_local(text: &[u8]) -> Option<i64> {
    // dd/Mon/yyyy:hh:mm:ss ±hhmm
    if text.len() != 26 || text[2] != b'/' || text[6] != b'/' || text[11] != b':' || text[20] != b' ' {
        return None;
    }
    let month = MONTHS.iter().position(|m| &text[3..6] == *m)? + 1;
    let date =
        format!("{}-{:02}-{}", std::str::from_utf8(&text[7..11]).ok()?, month, std::str::from_utf8(&text[..2]).ok()?);
    let utc_as_local = parse_timestamp(date.as_bytes(), &text[12..20])?;
    let sign = match text[21] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let hours = i64::try_from(number(&text[22..24])?).ok()?;
    let minutes = i64::try_from(number(&text[24..26])?).ok()?;
    if hours > 23 || minutes > 59 {
        return None;
    }
    Some(utc_as_local - sign * (hours * 3600 + minutes * 60))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_combined_line() {
        let line = br#"203.0.113.9 - - [07/Dec/2026:10:00:00 +0900] "GET /promo/a%20b.jpg?v=2 HTTP/1.1" 200 5120 "https://example.com/" "Mozilla/5.0 (X11; Linux) \x22quoted\x22""#;
        let r = parse_nginx_line(line).unwrap();
        // 10:00 at +09:00 is 01:00 UTC.
        assert_eq!(r.timestamp, parse_timestamp(b"2026-12-07", b"01:00:00").unwrap());
        assert_eq!((r.method, r.path, r.status, r.body_bytes), (&b"GET"[..], &b"/promo/a%20b.jpg"[..], 200, 5120));
        assert_eq!((r.bytes_sent, r.request_time_ms, r.cache_status), (None, None, None));
    }

    #[test]
    fn the_extended_format_in_any_order_and_negative_offsets() {
        let line = br#"::1 - alice [31/Dec/2026:23:30:00 -0130] "HEAD /x HTTP/2.0" 304 0 "-" "curl/8" ucs=HIT rt=1.005 bs=312 extra=1"#;
        let r = parse_nginx_line(line).unwrap();
        assert_eq!(r.timestamp, parse_timestamp(b"2027-01-01", b"01:00:00").unwrap());
        assert_eq!((r.status, r.body_bytes, r.bytes_sent, r.request_time_ms), (304, 0, Some(312), Some(1005)));
        assert_eq!(r.cache_status, Some(&b"HIT"[..]));
    }

    #[test]
    fn hostile_lines_are_errors_with_a_reason() {
        for (line, why) in [
            (&b""[..], "no [time]"),
            (br#"x - - [07/Dec/2026:10:00:00 +0900 "GET / HTTP/1.1" 200 1"#, "no [time]"),
            (
                br#"x - - [07/Foo/2026:10:00:00 +0900] "GET / HTTP/1.1" 200 1 "-" "-""#,
                "the time is not nginx's $time_local",
            ),
            (
                br#"x - - [31/Feb/2026:10:00:00 +0900] "GET / HTTP/1.1" 200 1 "-" "-""#,
                "the time is not nginx's $time_local",
            ),
            (br#"x - - [07/Dec/2026:10:00:00 +0900] "" 400 0 "-" "-""#, "an empty request line"),
            (br#"x - - [07/Dec/2026:10:00:00 +0900] "\x16\x03" 400 0 "-" "-""#, "a request line without a path"),
            (br#"x - - [07/Dec/2026:10:00:00 +0900] "GET / HTTP/1.1" 999 1 "-" "-""#, "no status"),
            (br#"x - - [07/Dec/2026:10:00:00 +0900] "GET / HTTP/1.1" 200 -1 "-" "-""#, "no $body_bytes_sent"),
        ] {
            assert_eq!(parse_nginx_line(line), Err(why), "{}", String::from_utf8_lossy(line));
        }
        // A bad extended field is left out, not a failed line.
        let r = parse_nginx_line(br#"x - - [07/Dec/2026:10:00:00 +0000] "GET / HTTP/1.1" 200 1 "-" "-" rt=abc bs=12x"#)
            .unwrap();
        assert_eq!((r.request_time_ms, r.bytes_sent), (None, None));
    }
}
