//! Request paths, confined to the release prefix. Anything that could name a different object
//! than it appears to (dot segments, encoded dots or slashes, backslashes, NUL, control
//! characters, absurd lengths) is refused before any S3 read.

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReleasePath {
    /// First segment: which release channel (`sdk`, `app`, …).
    pub channel: String,
    /// The file inside a version, e.g. `v1/sdk.js` (`index.html` for a directory).
    pub file: String,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    #[error("path is too long")]
    TooLong,
    #[error("path is not allowed: {0}")]
    Forbidden(&'static str),
    #[error("no release channel {0:?}")]
    UnknownChannel(String),
}

pub const MAX_PATH_BYTES: usize = 1024;

pub fn parse(raw_path: &str, channels: &[String]) -> Result<ReleasePath, PathError> {
    if raw_path.len() > MAX_PATH_BYTES {
        return Err(PathError::TooLong);
    }
    let Some(rest) = raw_path.strip_prefix('/') else {
        return Err(PathError::Forbidden("must start with /"));
    };
    let lower = rest.to_ascii_lowercase();
    for (needle, why) in [
        ("%2e", "encoded dot"),
        ("%2f", "encoded slash"),
        ("%5c", "encoded backslash"),
        ("%00", "encoded NUL"),
        ("%25", "double encoding"),
        ("\\", "backslash"),
        ("//", "empty segment"),
    ] {
        if lower.contains(needle) {
            return Err(PathError::Forbidden(why));
        }
    }
    let decoded =
        percent_encoding::percent_decode_str(rest).decode_utf8().map_err(|_| PathError::Forbidden("not UTF-8"))?;
    if decoded.chars().any(|c| c.is_control()) {
        return Err(PathError::Forbidden("control character"));
    }
    let mut segments = decoded.split('/');
    let channel = segments.next().unwrap_or_default().to_string();
    if !channels.contains(&channel) {
        return Err(PathError::UnknownChannel(channel));
    }
    let file_segments: Vec<&str> = segments.collect();
    if file_segments.iter().any(|s| *s == "." || *s == "..") {
        return Err(PathError::Forbidden("dot segment"));
    }
    let mut file = file_segments.join("/");
    if file.is_empty() || file.ends_with('/') {
        file.push_str("index.html");
    }
    Ok(ReleasePath { channel, file })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn channels() -> Vec<String> {
        vec!["sdk".into(), "app".into()]
    }

    #[test]
    fn ordinary_paths() {
        assert_eq!(
            parse("/sdk/v1/sdk.js", &channels()).unwrap(),
            ReleasePath { channel: "sdk".into(), file: "v1/sdk.js".into() }
        );
        assert_eq!(parse("/app/", &channels()).unwrap().file, "index.html");
        assert_eq!(parse("/app", &channels()).unwrap().file, "index.html");
        assert_eq!(parse("/app/docs/", &channels()).unwrap().file, "docs/index.html");
        assert_eq!(parse("/app/a%20b.css", &channels()).unwrap().file, "a b.css");
    }

    #[test]
    fn escapes_are_refused() {
        let long = format!("/sdk/{}", "a".repeat(2000));
        for bad in [
            "/sdk/../secrets.json",
            "/sdk/./x.js",
            "/sdk/%2e%2e/x.js",
            "/sdk/%2E%2E/x.js",
            "/sdk/..%2fx.js",
            "/sdk%2f..%2fx.js",
            "/sdk/a\\..\\x.js",
            "/sdk/a%5c..%5cx.js",
            "/sdk/a%00.js",
            "/sdk/a%0a.js",
            "/sdk/%252e%252e/x.js",
            "/sdk//x.js",
            "sdk/x.js",
            long.as_str(),
        ] {
            assert!(parse(bad, &channels()).is_err(), "{bad} must be refused");
        }
        assert_eq!(parse("/other/x.js", &channels()), Err(PathError::UnknownChannel("other".into())));
    }
}
