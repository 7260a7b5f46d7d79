//! Request in, response out: the whole HTTP behaviour of the router, testable without a network.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use lambda_http::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};
use media_edge_shared::aws::describe_sdk_error;
use media_edge_shared::metrics::{MetricSet, Unit};
use tracing::{error, warn};

use crate::channel::ChannelConfig;
use crate::cohort::{self, ADDRESS_HEADER, COHORT_HEADER, JA3_HEADER, JA4_HEADER};
use crate::config::{channel_key, release_key, RouterConfig};
use crate::path::{self, PathError};

/// A Function URL's buffered response may be at most 6 MB (6,291,456 bytes), and that counts the
/// response as Lambda returns it: JSON, with a binary body base64-encoded (4 bytes per 3) and a
/// text body JSON-escaped. Headers take well under the margin left for them.
const MAX_RESPONSE_BYTES: usize = 6 * 1024 * 1024;
const HEADER_MARGIN_BYTES: usize = 16 * 1024;

/// Text types are returned as text (no base64): a JS bundle may then be up to ~6 MB, not ~4.7 MB.
fn is_text(content_type: &str) -> bool {
    let t = content_type.to_ascii_lowercase();
    t.starts_with("text/")
        || t.starts_with("application/json")
        || t.contains("javascript")
        || t.starts_with("image/svg+xml")
}

/// The body as the Function URL response carries it, or `None` if that would exceed the limit.
fn response_body(bytes: Vec<u8>, content_type: &str) -> Option<Body> {
    let budget = MAX_RESPONSE_BYTES - HEADER_MARGIN_BYTES;
    let bytes = if is_text(content_type) {
        // Checked in place: a body that is not UTF-8 comes back untouched, never copied.
        match String::from_utf8(bytes) {
            Ok(text) => return (json_escaped_len(&text) <= budget).then_some(Body::Text(text)),
            Err(not_utf8) => not_utf8.into_bytes(),
        }
    } else {
        bytes
    };
    (bytes.len().div_ceil(3) * 4 <= budget).then_some(Body::Binary(bytes))
}

/// Length of `text` inside a JSON string (serde_json's escaping).
fn json_escaped_len(text: &str) -> usize {
    text.chars()
        .map(|c| match c {
            '"' | '\\' | '\n' | '\r' | '\t' | '\u{08}' | '\u{0c}' => 2,
            c if (c as u32) < 0x20 => 6,
            c => c.len_utf8(),
        })
        .sum()
}

#[derive(Clone, Debug)]
pub struct Router {
    s3: aws_sdk_s3::Client,
    config: Arc<RouterConfig>,
    channels: Arc<Mutex<HashMap<String, Cached>>>,
}

#[derive(Clone, Debug)]
struct Cached {
    fetched: Instant,
    /// Shared, not cloned, by every request within the TTL.
    config: Arc<ChannelConfig>,
}

impl Router {
    pub fn new(s3: aws_sdk_s3::Client, config: RouterConfig) -> Self {
        Router { s3, config: Arc::new(config), channels: Arc::new(Mutex::new(HashMap::new())) }
    }

    pub async fn route(&self, request: Request) -> Response<Body> {
        let method = request.method().clone();
        if method != Method::GET && method != Method::HEAD {
            let mut response = plain(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD", 0);
            response.headers_mut().insert(header::ALLOW, HeaderValue::from_static("GET, HEAD"));
            return response;
        }
        // The path exactly as the viewer sent it: lambda_http's URI has dot segments already
        // resolved (WHATWG URL parsing), which would hide a traversal attempt instead of refusing it.
        let raw_path = match request.raw_http_path() {
            raw if !raw.is_empty() => raw.to_string(),
            _ => request.uri().path().to_string(),
        };
        let release = match path::parse(&raw_path, &self.config.channels) {
            Ok(release) => release,
            Err(PathError::UnknownChannel(_)) => return plain(StatusCode::NOT_FOUND, "not found", 10),
            Err(e) => return plain(StatusCode::BAD_REQUEST, &e.to_string(), 0),
        };
        let count = self.config.cohort_count;
        let headers = request.headers();
        let cohort = header_str(headers, COHORT_HEADER).and_then(|v| cohort::parse(v, count)).unwrap_or_else(|| {
            cohort::derive(
                header_str(headers, JA4_HEADER),
                header_str(headers, JA3_HEADER),
                header_str(headers, ADDRESS_HEADER).map(cohort::address_ip),
                count,
            )
        });
        let Some(channel) = self.channel(&release.channel).await else {
            let mut response = plain(StatusCode::SERVICE_UNAVAILABLE, "release channel unavailable", 0);
            response.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            return response;
        };
        let choice = channel.choose(cohort, count);
        let key = release_key(&release.channel, choice.version, &release.file);
        let if_none_match = header_str(headers, "if-none-match").map(str::to_string);

        let mut response = self.serve(&key, if_none_match, method == Method::HEAD).await;
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(choice.version) {
            h.insert("x-media-edge-version", v);
        }
        h.insert(
            "x-media-edge-channel-kind",
            HeaderValue::from_static(if choice.canary { "canary" } else { "stable" }),
        );
        if let Ok(v) = HeaderValue::from_str(&cohort.to_string()) {
            h.insert(COHORT_HEADER, v);
        }
        MetricSet::new("edge-router")
            .dimension("ChannelKind", if choice.canary { "canary" } else { "stable" })
            .dimension("Version", choice.version)
            .value("Responses", 1.0, Unit::Count)
            .emit();
        response
    }

    async fn serve(&self, key: &str, if_none_match: Option<String>, head_only: bool) -> Response<Body> {
        let mut request = self.s3.get_object().bucket(&self.config.bucket).key(key);
        if let Some(tag) = &if_none_match {
            request = request.if_none_match(tag);
        }
        let object = match request.send().await {
            Ok(object) => object,
            Err(e) if e.raw_response().is_some_and(|r| r.status().as_u16() == 304) => {
                let mut response = empty(StatusCode::NOT_MODIFIED);
                // The object's own ETag, as S3 sent it with the 304: never the client's header,
                // which may be a list, `*` or a weak tag.
                let etag = e.raw_response().and_then(|r| r.headers().get("etag")).map(str::to_string);
                if let Some(tag) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
                    response.headers_mut().insert(header::ETAG, tag);
                }
                self.cache_headers(&mut response);
                return response;
            }
            Err(e) if e.as_service_error().is_some_and(|s| s.is_no_such_key()) => {
                return plain(StatusCode::NOT_FOUND, "not found", 10);
            }
            Err(e) => {
                error!(key, error = %describe_sdk_error(&e), "reading release file failed");
                return plain(StatusCode::BAD_GATEWAY, "upstream error", 0);
            }
        };
        // Cheap early refusal before reading: even as text the body could not fit.
        if object.content_length().unwrap_or(0) > MAX_RESPONSE_BYTES as i64 {
            return too_large(key, object.content_length());
        }
        // S3 stores a generic type when none was given at upload: name the file's real type then.
        let content_type = object
            .content_type()
            .filter(|t| !matches!(*t, "binary/octet-stream" | "application/octet-stream"))
            .map(str::to_string)
            .unwrap_or_else(|| content_type_for(key));
        let etag = object.e_tag().map(str::to_string);
        let bytes = match object.body.collect().await {
            Ok(data) => data.into_bytes(),
            Err(e) => {
                error!(key, error = %e, "reading release file body failed");
                return plain(StatusCode::BAD_GATEWAY, "upstream error", 0);
            }
        };
        let size = bytes.len();
        let body = match response_body(bytes.to_vec(), &content_type) {
            Some(body) => body,
            None => return too_large(key, Some(size as i64)),
        };
        let mut response = Response::new(if head_only { Body::Empty } else { body });
        let h = response.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&content_type) {
            h.insert(header::CONTENT_TYPE, v);
        }
        if let Some(v) = etag.and_then(|t| HeaderValue::from_str(&t).ok()) {
            h.insert(header::ETAG, v);
        }
        if head_only {
            if let Ok(v) = HeaderValue::from_str(&size.to_string()) {
                h.insert(header::CONTENT_LENGTH, v);
            }
        }
        self.cache_headers(&mut response);
        response
    }

    fn cache_headers(&self, response: &mut Response<Body>) {
        let seconds = self.config.cache_seconds;
        if let Ok(v) = HeaderValue::from_str(&format!("public, max-age={seconds}, s-maxage={seconds}")) {
            response.headers_mut().insert(header::CACHE_CONTROL, v);
        }
    }

    /// The channel config, re-read after the TTL. When it cannot be read or parsed, the last good
    /// one keeps serving (and the failure is logged); with none, there is nothing to serve.
    async fn channel(&self, name: &str) -> Option<Arc<ChannelConfig>> {
        let cached = self.channels.lock().ok().and_then(|c| c.get(name).cloned());
        if let Some(cached) = &cached {
            if cached.fetched.elapsed() < self.config.config_ttl {
                return Some(cached.config.clone());
            }
        }
        match self.load_channel(name).await {
            Ok(config) => {
                let config = Arc::new(config);
                if let Ok(mut channels) = self.channels.lock() {
                    channels.insert(name.to_string(), Cached { fetched: Instant::now(), config: config.clone() });
                }
                Some(config)
            }
            Err(error) => {
                let last_good = cached.map(|c| c.config);
                warn!(channel = name, reason = %error, serving_last_good = last_good.is_some(), "channel config unusable");
                if let (Some(config), Ok(mut channels)) = (&last_good, self.channels.lock()) {
                    // Try again after another TTL, not on every request.
                    channels.insert(name.to_string(), Cached { fetched: Instant::now(), config: config.clone() });
                }
                last_good
            }
        }
    }

    async fn load_channel(&self, name: &str) -> Result<ChannelConfig, LoadError> {
        let object = self
            .s3
            .get_object()
            .bucket(&self.config.bucket)
            .key(channel_key(name))
            .send()
            .await
            .map_err(|e| LoadError::Storage(describe_sdk_error(&e)))?;
        let bytes = object.body.collect().await.map_err(|e| LoadError::Body(Box::new(e)))?.into_bytes();
        let (mut config, problem) = ChannelConfig::parse(&bytes)?;
        if let Some(problem) = problem {
            warn!(channel = name, problem, "serving stable only");
        }
        // Routing never reads the history; don't keep it in memory.
        config.history = Vec::new();
        Ok(config)
    }
}

/// A file this origin cannot return (Function URL response limit). A clear, uncached 502 that
/// names the limit, rather than the runtime's opaque 502 after the fact.
fn too_large(key: &str, bytes: Option<i64>) -> Response<Body> {
    warn!(key, bytes, "file too large for the router's Function URL response limit");
    plain(StatusCode::BAD_GATEWAY, "file too large for this origin (Function URL responses are limited to 6 MB)", 0)
}

/// Why a channel config could not be loaded (the last good one keeps serving).
#[derive(Debug, thiserror::Error)]
enum LoadError {
    #[error("reading the channel config: {0}")]
    Storage(String),
    #[error("reading the channel config's body: {0}")]
    Body(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error(transparent)]
    Config(#[from] crate::channel::ChannelConfigError),
}

fn header_str<'h>(headers: &'h HeaderMap, name: &str) -> Option<&'h str> {
    headers.get(name).and_then(|v| v.to_str().ok())
}

fn empty(status: StatusCode) -> Response<Body> {
    let mut response = Response::new(Body::Empty);
    *response.status_mut() = status;
    response
}

/// A short text response; `cache_seconds` 0 means not cacheable.
fn plain(status: StatusCode, text: &str, cache_seconds: u32) -> Response<Body> {
    let mut response = Response::new(Body::Text(format!("{text}\n")));
    *response.status_mut() = status;
    let h = response.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    let cache = if cache_seconds == 0 { "no-store".to_string() } else { format!("public, max-age={cache_seconds}") };
    if let Ok(v) = HeaderValue::from_str(&cache) {
        h.insert(header::CACHE_CONTROL, v);
    }
    response
}

/// Content type by extension, for files published without one; text types say UTF-8.
pub fn content_type_for(path: &str) -> String {
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let essence = mime.essence_str();
    if mime.type_() == mime_guess::mime::TEXT || essence == "application/javascript" {
        format!("{essence}; charset=utf-8")
    } else {
        essence.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_are_measured_as_the_function_url_returns_them() {
        let budget = MAX_RESPONSE_BYTES - HEADER_MARGIN_BYTES;
        // Binary: base64 makes 3 bytes into 4, so the raw limit is about 4.7 MB, not 5.5 MB.
        let raw_limit = budget / 4 * 3;
        assert!(matches!(response_body(vec![0; raw_limit], "image/png"), Some(Body::Binary(_))));
        assert!(response_body(vec![0; raw_limit + 3], "image/png").is_none());
        assert!(response_body(vec![0; 5_000_000], "application/octet-stream").is_none(), "4.4–5.5 MB used to pass");
        // Text goes out as text: a 5.9 MB script fits.
        let script = "x".repeat(5_900_000).into_bytes();
        assert!(matches!(response_body(script, "text/javascript; charset=utf-8"), Some(Body::Text(_))));
        // ... unless escaping inflates it past the limit (quotes become \").
        let quoted = "\"".repeat(3_200_000).into_bytes();
        assert!(response_body(quoted, "text/javascript").is_none());
        // Text that is not UTF-8 is sent as binary.
        assert!(matches!(response_body(vec![0xff, 0xfe], "text/css"), Some(Body::Binary(_))));
    }

    #[test]
    fn escaped_length_matches_serde_json() {
        for text in ["plain", "q\"uote\\", "line\nbreak\ttab", "\u{1}\u{1f}ctl", "한국어 ✓"] {
            let json = serde_json::to_string(text).unwrap();
            assert_eq!(json_escaped_len(text), json.len() - 2, "{text:?}");
        }
    }
}
