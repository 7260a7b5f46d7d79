//! CloudFront standard (legacy) access log lines: tab-separated, W3C-style `#Version` and
//! `#Fields` headers. Columns are found by name from `#Fields`, never by position, so logs with
//! extra, missing or reordered optional columns still parse.

use crate::error::Error;

/// Where the fields the report reads sit in a line, from the `#Fields` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Columns {
    date: usize,
    time: usize,
    bytes: usize,
    uri: usize,
    status: Option<usize>,
    user_agent: Option<usize>,
    result_type: Option<usize>,
    content_type: Option<usize>,
    /// `viewer-request-log-data` (standard logging v2 in W3C form): what the release function logged.
    log_data: Option<usize>,
    /// Read by `logs compare` only.
    method: Option<usize>,
    time_taken: Option<usize>,
    content_len: Option<usize>,
    /// How many fields a line needs for every column above to be present.
    needed: usize,
}

/// Columns beyond this are never read; CloudFront writes 33.
const MAX_FIELDS: usize = 128;

/// A `#Fields` header without a column the report needs: the lines after it cannot be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("#Fields has no `{0}` column")]
pub struct MissingColumn(pub &'static str);

impl Columns {
    /// From the text after `#Fields:` (space-separated names).
    pub fn from_header(names: &str) -> Result<Self, MissingColumn> {
        let names: Vec<&str> = names.split_ascii_whitespace().collect();
        let find = |name: &str| names.iter().position(|n| n.eq_ignore_ascii_case(name)).filter(|i| *i < MAX_FIELDS);
        let required = |name: &'static str| find(name).ok_or(MissingColumn(name));
        let date = required("date")?;
        let time = required("time")?;
        let bytes = required("sc-bytes")?;
        let uri = required("cs-uri-stem")?;
        let status = find("sc-status");
        let user_agent = find("cs(User-Agent)");
        let result_type = find("x-edge-result-type");
        let content_type = find("sc-content-type");
        let log_data = find("viewer-request-log-data");
        let method = find("cs-method");
        let time_taken = find("time-taken");
        let content_len = find("sc-content-len");
        let needed = [
            Some(date),
            Some(time),
            Some(bytes),
            Some(uri),
            status,
            user_agent,
            result_type,
            content_type,
            log_data,
            method,
            time_taken,
            content_len,
        ]
        .into_iter()
        .flatten()
        .max()
        .unwrap_or(0)
            + 1;
        Ok(Columns {
            date,
            time,
            bytes,
            uri,
            status,
            user_agent,
            result_type,
            content_type,
            log_data,
            method,
            time_taken,
            content_len,
            needed,
        })
    }
}

/// One request, borrowed from its line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request<'a> {
    /// Seconds since the Unix epoch, UTC.
    pub timestamp: i64,
    pub bytes: u64,
    pub uri: &'a [u8],
    /// `None` when the column is absent or `-`.
    pub status: Option<u16>,
    pub user_agent: &'a [u8],
    pub result_type: &'a [u8],
    pub content_type: &'a [u8],
    /// `viewer-request-log-data` as logged (URL-encoded), `-` when absent.
    pub log_data: &'a [u8],
    /// `cs-method`, `-` when absent.
    pub method: &'a [u8],
    /// `time-taken` in milliseconds (CloudFront logs seconds to the millisecond).
    pub time_taken_ms: Option<u64>,
    /// `sc-content-len`: the body's size as the response's Content-Length said (`None` when absent
    /// or `-`, as for a chunked response).
    pub content_len: Option<u64>,
}

/// Splits a data line into a `Request`, or says why it cannot.
pub fn parse_line<'a>(line: &'a [u8], columns: &Columns) -> Result<Request<'a>, &'static str> {
    let mut fields: [&[u8]; MAX_FIELDS] = [&[]; MAX_FIELDS];
    let mut count = 0;
    let mut start = 0;
    for tab in memchr::memchr_iter(b'\t', line) {
        fields[count] = &line[start..tab];
        count += 1;
        start = tab + 1;
        if count == columns.needed {
            break;
        }
    }
    if count < columns.needed && start <= line.len() {
        fields[count] = &line[start..];
        count += 1;
    }
    if count < columns.needed {
        return Err("fewer fields than #Fields names");
    }
    let optional = |index: Option<usize>| index.map_or(&b"-"[..], |i| fields[i]);
    let timestamp = parse_timestamp(fields[columns.date], fields[columns.time]).ok_or("bad date or time")?;
    // Above 1 PiB a response size is corruption, and sums of such values could overflow.
    let bytes = parse_u64(fields[columns.bytes]).filter(|b| *b < 1 << 50).ok_or("bad sc-bytes")?;
    let status = match optional(columns.status) {
        b"-" => None,
        raw => Some(parse_u64(raw).and_then(|s| u16::try_from(s).ok()).filter(|s| *s <= 999).ok_or("bad sc-status")?),
    };
    let uri = fields[columns.uri];
    if uri.is_empty() {
        return Err("empty cs-uri-stem");
    }
    Ok(Request {
        timestamp,
        bytes,
        uri,
        status,
        user_agent: optional(columns.user_agent),
        result_type: optional(columns.result_type),
        content_type: optional(columns.content_type),
        log_data: optional(columns.log_data),
        method: optional(columns.method),
        time_taken_ms: seconds_as_ms(optional(columns.time_taken)),
        content_len: parse_u64(optional(columns.content_len)).filter(|b| *b < 1 << 50),
    })
}

/// `0.003` (seconds, to the millisecond at most) → 3; `None` for anything else (`-` too).
pub(crate) fn seconds_as_ms(text: &[u8]) -> Option<u64> {
    let (whole, fraction) = match memchr::memchr(b'.', text) {
        Some(dot) => (&text[..dot], &text[dot + 1..]),
        None => (text, &[][..]),
    };
    if fraction.len() > 3 || !fraction.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let mut millis = parse_u64(whole)?.checked_mul(1000)?;
    for (i, digit) in fraction.iter().enumerate() {
        millis += u64::from(digit - b'0') * [100, 10, 1][i];
    }
    Some(millis)
}

/// Percent-decoding, as CloudFront escapes URIs and log data in its logs (`+` stays `+`);
/// borrowed when there is nothing to decode, `None` for a broken escape.
pub(crate) fn percent_decoded(raw: &[u8]) -> Option<std::borrow::Cow<'_, [u8]>> {
    if !raw.contains(&b'%') {
        return Some(std::borrow::Cow::Borrowed(raw));
    }
    let mut out = Vec::with_capacity(raw.len());
    let mut i = 0;
    while i < raw.len() {
        if raw[i] == b'%' {
            let hex = raw.get(i + 1..i + 3)?;
            let high = char::from(hex[0]).to_digit(16)?;
            let low = char::from(hex[1]).to_digit(16)?;
            out.push((high * 16 + low) as u8);
            i += 3;
        } else {
            out.push(raw[i]);
            i += 1;
        }
    }
    Some(std::borrow::Cow::Owned(out))
}

pub(crate) fn parse_u64(digits: &[u8]) -> Option<u64> {
    if digits.is_empty() || digits.len() > 19 {
        return None;
    }
    digits.iter().try_fold(0u64, |n, d| d.is_ascii_digit().then(|| n * 10 + u64::from(d - b'0')))
}

fn two_digits(raw: &[u8]) -> Option<u32> {
    match raw {
        [a, b] if a.is_ascii_digit() && b.is_ascii_digit() => Some(u32::from(a - b'0') * 10 + u32::from(b - b'0')),
        _ => None,
    }
}

/// `2026-11-21` + `13:05:09` (UTC) → seconds since the epoch.
pub fn parse_timestamp(date: &[u8], time: &[u8]) -> Option<i64> {
    if date.len() != 10 || date[4] != b'-' || date[7] != b'-' || time.len() != 8 || time[2] != b':' || time[5] != b':' {
        return None;
    }
    let year = i64::try_from(parse_u64(&date[..4])?).ok()?;
    let month = two_digits(&date[5..7]).filter(|m| (1..=12).contains(m))?;
    let day = two_digits(&date[8..10]).filter(|d| (1..=days_in_month(year, month)).contains(d))?;
    let hour = two_digits(&time[..2]).filter(|h| *h < 24)?;
    let minute = two_digits(&time[3..5]).filter(|m| *m < 60)?;
    let second = two_digits(&time[6..8]).filter(|s| *s < 61)?;
    let days = days_from_civil(year, month, day);
    Some(days * 86_400 + i64::from(hour * 3600 + minute * 60 + second))
}

fn days_in_month(year: i64, month: u32) -> u32 {
    match month {
        2 if (year % 4 == 0 && year % 100 != 0) || year % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 1970-01-01 (Howard Hinnant's algorithm).
fn days_from_civil(year: i64, month: u32, day: u32) -> i64 {
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// Seconds since the epoch → (year, month, day, hour, minute), UTC.
pub fn civil_from_timestamp(timestamp: i64) -> (i64, u32, u32, u32, u32) {
    let days = timestamp.div_euclid(86_400);
    let seconds = timestamp.rem_euclid(86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let month = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day, (seconds / 3600) as u32, ((seconds % 3600) / 60) as u32)
}

/// The hour a log file holds, from its name or path: CloudFront names files by the hour their
/// requests were made in (late entries included), `<distribution>.2026-11-21-13.<id>.gz`, and the
/// stack's v2 delivery puts them under `…/2026/11/21/13/`. Seconds since the epoch of the hour's
/// start; `None` for a name without either.
pub fn hour_of_file(name: &str) -> Option<i64> {
    let bytes = name.as_bytes();
    let digits = |range: std::ops::Range<usize>| bytes.get(range).filter(|d| d.iter().all(u8::is_ascii_digit));
    // `.YYYY-MM-DD-HH.` in the file name, else `/YYYY/MM/DD/HH/` in the path; the last one wins.
    let file = name.rsplit('/').next().unwrap_or(name);
    let file_start = name.len() - file.len();
    let candidates = (0..bytes.len().saturating_sub(14)).rev().filter(|&i| {
        let (dot, dash, slash) = (b'.', b'-', b'/');
        let shape = |sep: u8, edge: u8| {
            bytes[i] == edge
                && bytes.get(i + 14) == Some(&edge)
                && bytes[i + 5] == sep
                && bytes[i + 8] == sep
                && bytes[i + 11] == sep
                && digits(i + 1..i + 5).is_some()
                && digits(i + 6..i + 8).is_some()
                && digits(i + 9..i + 11).is_some()
                && digits(i + 12..i + 14).is_some()
        };
        let named = i >= file_start && shape(dash, dot);
        named || shape(slash, slash)
    });
    for i in candidates {
        let text = |r: std::ops::Range<usize>| std::str::from_utf8(&bytes[r]).ok();
        let date = format!("{}-{}-{}", text(i + 1..i + 5)?, text(i + 6..i + 8)?, text(i + 9..i + 11)?);
        let time = format!("{}:00:00", text(i + 12..i + 14)?);
        if let Some(t) = parse_timestamp(date.as_bytes(), time.as_bytes()) {
            return Some(t);
        }
    }
    None
}

/// `2026-11-21`, `2026-11-21T13`, `2026-11-21T13:05` or `2026-11-21T13:05:09` (UTC; a trailing
/// `Z` is allowed) → seconds since the epoch. For `--since`/`--until`.
pub fn parse_instant(text: &str) -> Result<i64, Error> {
    let bad = || Error::BadTime { text: text.to_string() };
    let text = text.strip_suffix('Z').unwrap_or(text);
    let (date, time) = text.split_once(['T', ' ']).unwrap_or((text, ""));
    let time = match time.len() {
        0 => "00:00:00".to_string(),
        2 => format!("{time}:00:00"),
        5 => format!("{time}:00"),
        _ => time.to_string(),
    };
    parse_timestamp(date.as_bytes(), time.as_bytes()).ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    const FIELDS: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status \
        cs(Referer) cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header \
        cs-protocol cs-bytes time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type \
        cs-protocol-version fle-status fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type \
        sc-content-type sc-content-len sc-range-start sc-range-end";

    const LINE: &str = "2026-11-21\t13:05:09\tICN57-P1\t48213\t203.0.113.7\tGET\td111111abcdef8.cloudfront.net\t\
        /variants/promo/a.jpg/0123456789ab/mobile.jpg\t200\t-\tMozilla/5.0%20(iPhone)%20Mobile\t-\t-\tHit\t\
        SOX4xwn4XV6Q4rgb7XiVGOHms_BGlTAC4KyHmureZmBNrjGdRLiNIQ==\tcdn.example.com\thttps\t312\t0.002\t-\t\
        TLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\tHTTP/2.0\t-\t-\t51234\t0.002\tHit\timage/jpeg\t48000\t-\t-";

    #[test]
    fn reads_cloudfront_columns_by_name() {
        let columns = Columns::from_header(FIELDS).unwrap();
        let request = parse_line(LINE.as_bytes(), &columns).unwrap();
        assert_eq!(request.timestamp, 1_795_266_309);
        assert_eq!(request.bytes, 48213);
        assert_eq!(request.uri, b"/variants/promo/a.jpg/0123456789ab/mobile.jpg");
        assert_eq!(request.status, Some(200));
        assert_eq!(request.result_type, b"Hit");
        assert_eq!(request.content_type, b"image/jpeg");
        assert_eq!(request.user_agent, b"Mozilla/5.0%20(iPhone)%20Mobile");
    }

    #[test]
    fn reordered_and_missing_optional_columns() {
        let columns = Columns::from_header("cs-uri-stem sc-bytes extra time date").unwrap();
        let request = parse_line(b"/a.css\t10\twhatever\t00:00:00\t2026-01-01", &columns).unwrap();
        assert_eq!((request.uri, request.bytes, request.status), (&b"/a.css"[..], 10, None));
        assert_eq!((request.result_type, request.content_type), (&b"-"[..], &b"-"[..]));
        assert_eq!(Columns::from_header("date time sc-bytes"), Err(MissingColumn("cs-uri-stem")));
    }

    #[test]
    fn malformed_lines_say_why() {
        let columns = Columns::from_header(FIELDS).unwrap();
        assert_eq!(parse_line(b"2026-11-21\t13:05:09\tICN57", &columns), Err("fewer fields than #Fields names"));
        let broken = |from: &str, to: &str| LINE.replacen(from, to, 1);
        let cases = [
            (broken("2026-11-21", "2026-02-30"), "bad date or time"),
            (broken("13:05:09", "25:05:09"), "bad date or time"),
            (broken("48213", "48k"), "bad sc-bytes"),
            (broken("\t200\t", "\tOK\t"), "bad sc-status"),
        ];
        for (line, why) in cases {
            assert_eq!(parse_line(line.as_bytes(), &columns).map(|_| ()), Err(why), "{line}");
        }
    }

    #[test]
    fn the_hour_a_log_file_holds_from_its_name_or_path() {
        let hour = 1_795_219_200 + 13 * 3600; // 2026-11-21T13:00Z
        for name in [
            "logs/E2QWRUHAPOMQZL.2026-11-21-13.26226334.gz",
            "E2QWRUHAPOMQZL.2026-11-21-13.26226334",
            "cloudfront-v2/E2QWRUHAPOMQZL/2026/11/21/13/E2QWRUHAPOMQZL.2026-11-21-13.98319990.gz",
            "cloudfront-v2/E2QWRUHAPOMQZL/2026/11/21/13/part-0.parquet",
        ] {
            assert_eq!(hour_of_file(name), Some(hour), "{name}");
        }
        for name in
            ["access.log", "2026-11-21-13.gz", "x/2026/11/21/13.gz", "E.2026-13-21-13.a.gz", "E.2026-11-21-24.a", ""]
        {
            assert_eq!(hour_of_file(name), None, "{name}");
        }
    }

    #[test]
    fn timestamps_round_trip() {
        for (date, time) in [("1970-01-01", "00:00:00"), ("2000-02-29", "23:59:59"), ("2026-11-21", "13:05:09")] {
            let t = parse_timestamp(date.as_bytes(), time.as_bytes()).unwrap();
            let (y, mo, d, h, mi) = civil_from_timestamp(t);
            assert_eq!(format!("{y:04}-{mo:02}-{d:02} {h:02}:{mi:02}"), format!("{date} {}", &time[..5]));
        }
        assert_eq!(parse_instant("2026-11-21").unwrap(), 1_795_219_200);
        assert_eq!(parse_instant("2026-11-21T13").unwrap(), 1_795_219_200 + 13 * 3600);
        assert_eq!(parse_instant("2026-11-21T13:05Z").unwrap(), 1_795_219_200 + 13 * 3600 + 300);
        assert!(parse_instant("yesterday").is_err());
    }
}
