//! CloudFront standard logging (v2) records in its JSON output: one object per line, fields by
//! their log names (`sc-bytes`, `cs-uri-stem`, ...). Values may be JSON strings or numbers, and a
//! missing one is `"-"` or `null`; keys the report does not read are ignored, so any field
//! selection works that has a time (`timestamp`, `timestamp(ms)`, or `date` and `time`),
//! `sc-bytes` and `cs-uri-stem`. Without `sc-status`, `x-edge-result-type`, `sc-content-type` and
//! `cs(User-Agent)` those parts of the report say "unknown" (docs/cdn-logs.md).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::parse::{parse_timestamp, Request};

/// A field's value as v2 writes it, borrowed from the line where JSON escaping allows.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value<'a> {
    Text(Cow<'a, str>),
    Integer(u64),
    Number(f64),
    Missing,
}

impl<'de: 'a, 'a> Deserialize<'de> for Value<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ValueVisitor<'a>(std::marker::PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for ValueVisitor<'a> {
            type Value = Value<'a>;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string, a number or null")
            }
            fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(if v == "-" { Value::Missing } else { Value::Text(Cow::Borrowed(v)) })
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(if v == "-" { Value::Missing } else { Value::Text(Cow::Owned(v.to_string())) })
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
                Ok(Value::Integer(v))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
                u64::try_from(v).map(Value::Integer).map_err(|_| E::custom("a negative number"))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
                Ok(Value::Number(v))
            }
            fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Value::Missing)
            }
            fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
                Ok(Value::Missing)
            }
        }
        deserializer.deserialize_any(ValueVisitor(std::marker::PhantomData))
    }
}

impl Value<'_> {
    fn text(&self) -> Option<&str> {
        match self {
            Value::Text(text) => Some(text),
            _ => None,
        }
    }

    /// A whole number, written as a number or as decimal text.
    fn integer(&self) -> Option<u64> {
        match self {
            Value::Integer(n) => Some(*n),
            Value::Text(text) if !text.is_empty() && text.len() <= 19 && text.bytes().all(|b| b.is_ascii_digit()) => {
                text.parse().ok()
            }
            _ => None,
        }
    }

    /// Seconds with up to millisecond precision (`time-taken`: `0.003`, or the number 0.003) as ms.
    fn millis(&self) -> Option<u64> {
        match self {
            Value::Integer(n) => n.checked_mul(1000),
            Value::Number(n) if n.is_finite() && (0.0..1e12).contains(n) => Some((n * 1000.0).round() as u64),
            Value::Text(text) => crate::parse::seconds_as_ms(text.as_bytes()),
            _ => None,
        }
    }

    /// Seconds, possibly with a fraction (`1795266309` or `1795266309.123`), truncated.
    fn seconds(&self) -> Option<i64> {
        let seconds = match self {
            Value::Integer(n) => *n as f64,
            Value::Number(n) => *n,
            Value::Text(text) => text.parse::<f64>().ok()?,
            Value::Missing => return None,
        };
        (seconds.is_finite() && (0.0..1e13).contains(&seconds)).then(|| seconds.trunc() as i64)
    }
}

/// The fields the report reads; the names are CloudFront's.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct Record<'a> {
    #[serde(borrow, default)]
    pub(crate) timestamp: Option<Value<'a>>,
    #[serde(rename = "timestamp(ms)", borrow, default)]
    pub(crate) timestamp_ms: Option<Value<'a>>,
    #[serde(borrow, default)]
    pub(crate) date: Option<Value<'a>>,
    #[serde(borrow, default)]
    pub(crate) time: Option<Value<'a>>,
    #[serde(rename = "sc-bytes", borrow, default)]
    pub(crate) bytes: Option<Value<'a>>,
    #[serde(rename = "cs-uri-stem", borrow, default)]
    pub(crate) uri: Option<Value<'a>>,
    #[serde(rename = "sc-status", borrow, default)]
    pub(crate) status: Option<Value<'a>>,
    #[serde(rename = "cs(User-Agent)", borrow, default)]
    pub(crate) user_agent: Option<Value<'a>>,
    #[serde(rename = "x-edge-result-type", borrow, default)]
    pub(crate) result_type: Option<Value<'a>>,
    #[serde(rename = "sc-content-type", borrow, default)]
    pub(crate) content_type: Option<Value<'a>>,
    #[serde(rename = "viewer-request-log-data", borrow, default)]
    pub(crate) log_data: Option<Value<'a>>,
    #[serde(rename = "cs-method", borrow, default)]
    pub(crate) method: Option<Value<'a>>,
    #[serde(rename = "time-taken", borrow, default)]
    pub(crate) time_taken: Option<Value<'a>>,
    #[serde(rename = "sc-content-len", borrow, default)]
    pub(crate) content_len: Option<Value<'a>>,
}

/// Reads one JSON line and hands the request to `add`, or says why it cannot.
pub fn read_line(line: &[u8], add: impl FnOnce(&Request<'_>)) -> Result<(), String> {
    let record: Record = serde_json::from_slice(line).map_err(|e| format!("not a v2 JSON record: {e}"))?;
    add_record(&record, add)
}

/// Hands a v2 record (from JSON or Parquet) to `add` as a request, or says why it cannot.
pub(crate) fn add_record(record: &Record<'_>, add: impl FnOnce(&Request<'_>)) -> Result<(), String> {
    let timestamp = timestamp(record)?;
    let bytes = record.bytes.as_ref().ok_or("no `sc-bytes` field (select it in the log delivery)")?;
    // Above 1 PiB a response size is corruption, and sums of such values could overflow.
    let bytes = bytes.integer().filter(|b| *b < 1 << 50).ok_or("bad sc-bytes")?;
    let uri = match &record.uri {
        Some(Value::Text(uri)) if !uri.is_empty() => uri.as_bytes(),
        Some(_) => return Err("empty cs-uri-stem".into()),
        None => return Err("no `cs-uri-stem` field (select it in the log delivery)".into()),
    };
    let status = match &record.status {
        None | Some(Value::Missing) => None,
        Some(value) => {
            Some(value.integer().and_then(|s| u16::try_from(s).ok()).filter(|s| *s <= 999).ok_or("bad sc-status")?)
        }
    };
    add(&Request {
        timestamp,
        bytes,
        uri,
        status,
        user_agent: optional(&record.user_agent),
        result_type: optional(&record.result_type),
        content_type: optional(&record.content_type),
        log_data: optional(&record.log_data),
        method: optional(&record.method),
        time_taken_ms: record.time_taken.as_ref().and_then(Value::millis),
        content_len: record.content_len.as_ref().and_then(Value::integer).filter(|b| *b < 1 << 50),
    });
    Ok(())
}

/// An optional text field's bytes; `-` (as in the legacy format) when absent.
fn optional<'r>(value: &'r Option<Value<'_>>) -> &'r [u8] {
    value.as_ref().and_then(Value::text).map_or(&b"-"[..], str::as_bytes)
}

/// `timestamp` (seconds), else `timestamp(ms)`, else `date` and `time`.
fn timestamp(record: &Record<'_>) -> Result<i64, String> {
    if let Some(value) = &record.timestamp {
        return value.seconds().ok_or_else(|| "bad timestamp".into());
    }
    if let Some(value) = &record.timestamp_ms {
        return value.seconds().map(|ms| ms / 1000).ok_or_else(|| "bad timestamp(ms)".into());
    }
    match (record.date.as_ref().and_then(Value::text), record.time.as_ref().and_then(Value::text)) {
        (Some(date), Some(time)) => {
            parse_timestamp(date.as_bytes(), time.as_bytes()).ok_or_else(|| "bad date or time".into())
        }
        _ => Err("no `timestamp` field, nor `date` and `time` (select one in the log delivery)".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A record as CloudFront's JSON output writes it (every value a string).
    const RECORD: &str = r#"{"timestamp":"1795266309","DistributionId":"E1EXAMPLE","date":"2026-11-21","time":"13:05:09","x-edge-location":"ICN57-P1","sc-bytes":"48213","c-ip":"203.0.113.7","cs-method":"GET","cs(Host)":"d111111abcdef8.cloudfront.net","cs-uri-stem":"/variants/promo/a.jpg/0123456789ab/mobile.avif","sc-status":"200","cs(Referer)":"-","cs(User-Agent)":"Mozilla/5.0%20(iPhone)%20Mobile","x-edge-result-type":"Hit","sc-content-type":"image/avif","sc-content-len":"48000"}"#;

    /// timestamp, bytes, uri, status, result type, content type, user agent
    type Seen = (i64, u64, String, Option<u16>, String, String, String);

    fn read(line: &str) -> Result<Seen, String> {
        let mut seen = None;
        read_line(line.as_bytes(), |r| {
            let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
            seen = Some((
                r.timestamp,
                r.bytes,
                text(r.uri),
                r.status,
                text(r.result_type),
                text(r.content_type),
                text(r.user_agent),
            ));
        })?;
        seen.ok_or_else(|| "nothing added".into())
    }

    #[test]
    fn reads_a_v2_record_by_field_name() {
        let (timestamp, bytes, uri, status, result, content_type, agent) = read(RECORD).unwrap();
        assert_eq!((timestamp, bytes, status), (1_795_266_309, 48213, Some(200)));
        assert_eq!(uri, "/variants/promo/a.jpg/0123456789ab/mobile.avif");
        assert_eq!((result.as_str(), content_type.as_str()), ("Hit", "image/avif"));
        assert_eq!(agent, "Mozilla/5.0%20(iPhone)%20Mobile");
    }

    #[test]
    fn numbers_nulls_dashes_and_other_time_fields() {
        let numbers = r#"{"timestamp(ms)":1795266309123,"sc-bytes":10,"cs-uri-stem":"/a\u002ejs","sc-status":null,"x-edge-result-type":"-"}"#;
        let (timestamp, bytes, uri, status, result, ..) = read(numbers).unwrap();
        assert_eq!((timestamp, bytes, uri.as_str(), status, result.as_str()), (1_795_266_309, 10, "/a.js", None, "-"));
        let dated = r#"{"date":"2026-11-21","time":"13:05:09","sc-bytes":"1","cs-uri-stem":"/"}"#;
        assert_eq!(read(dated).unwrap().0, 1_795_266_309);
        let fraction = r#"{"timestamp":"1795266309.987","sc-bytes":"1","cs-uri-stem":"/"}"#;
        assert_eq!(read(fraction).unwrap().0, 1_795_266_309);
    }

    #[test]
    fn what_cannot_be_read_says_why() {
        let cases = [
            (r#"{"sc-bytes":"1","cs-uri-stem":"/"}"#, "no `timestamp` field"),
            (r#"{"timestamp":"1","cs-uri-stem":"/"}"#, "no `sc-bytes` field"),
            (r#"{"timestamp":"1","sc-bytes":"1"}"#, "no `cs-uri-stem` field"),
            (r#"{"timestamp":"1","sc-bytes":"1k","cs-uri-stem":"/"}"#, "bad sc-bytes"),
            (r#"{"timestamp":"1","sc-bytes":-1,"cs-uri-stem":"/"}"#, "not a v2 JSON record"),
            (r#"{"timestamp":"soon","sc-bytes":"1","cs-uri-stem":"/"}"#, "bad timestamp"),
            (r#"{"timestamp":"1","sc-bytes":"1","cs-uri-stem":"/","sc-status":"OK"}"#, "bad sc-status"),
            (r#"{"timestamp":"1","sc-bytes":"1","cs-uri-stem":""}"#, "empty cs-uri-stem"),
            (r#"{"timestamp":"1","sc-bytes":"1","cs-uri-stem":"/""#, "not a v2 JSON record"),
            (r#"{"timestamp":"1","sc-bytes":"1","cs-uri-stem":["/"]}"#, "not a v2 JSON record"),
        ];
        for (line, why) in cases {
            let error = read(line).unwrap_err();
            assert!(error.starts_with(why), "{line}: {error}");
        }
    }
}
