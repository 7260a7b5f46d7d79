//! What counts as a hit, a miss, an image, a mobile viewer: one definition, in
//! `infra/log-definitions.json`, shared with the Athena named queries the template renders from it.

use serde::Deserialize;

use crate::error::Error;

const DEFINITIONS_JSON: &str = include_str!("../../../infra/log-definitions.json");

#[derive(Debug, Clone, Deserialize)]
pub struct Definitions {
    /// `x-edge-result-type` values served from the edge cache.
    pub hit_result_types: Vec<String>,
    /// `x-edge-result-type` values that went to the origin. Other types (Error, Redirect,
    /// LimitExceeded, CapacityExceeded) are neither and stay out of hit ratios.
    pub miss_result_types: Vec<String>,
    /// An image is a response whose content type (media type before any `;`, lowercased) starts so.
    pub image_content_type_prefix: String,
    pub gif_content_type: String,
    /// A mobile viewer's User-Agent contains this token (MDN's advice for mobile detection).
    pub mobile_user_agent_token: String,
    /// Variant names small enough for phones; other images served to a mobile viewer are full size.
    /// The name is the last path segment up to its first `.` (`…/mobile.jpg` → `mobile`).
    pub small_variant_names: Vec<String>,
    /// Objects with fewer requests are left out of "worst cache hit ratio".
    pub worst_hit_ratio_min_requests: u64,
    /// (normalized content type, format name) of the formats the pipeline serves, best first:
    /// the rows of "bytes by image format".
    pub image_formats: Vec<(String, String)>,
}

impl Definitions {
    /// The definitions built into the crate.
    pub fn load() -> Result<Self, Error> {
        serde_json::from_str(DEFINITIONS_JSON).map_err(Error::Definitions)
    }

    pub fn is_hit(&self, result_type: &[u8]) -> bool {
        self.hit_result_types.iter().any(|t| t.as_bytes() == result_type)
    }

    pub fn is_miss(&self, result_type: &[u8]) -> bool {
        self.miss_result_types.iter().any(|t| t.as_bytes() == result_type)
    }

    pub fn is_image(&self, content_type: &str) -> bool {
        content_type.starts_with(&self.image_content_type_prefix)
    }

    pub fn is_gif(&self, content_type: &str) -> bool {
        content_type == self.gif_content_type
    }

    /// The index in `image_formats` of a normalized content type, if it is one of them.
    pub fn image_format(&self, content_type: &str) -> Option<usize> {
        self.image_formats.iter().position(|(t, _)| t == content_type)
    }

    /// An image that is not one of the small variants (by its name, see `small_variant_names`).
    pub fn is_full_size(&self, uri: &str) -> bool {
        let last = uri.rsplit('/').next().unwrap_or(uri);
        let name = last.split('.').next().unwrap_or(last);
        !self.small_variant_names.iter().any(|small| small == name)
    }
}

/// The content type as the report groups it: the media type before any parameters, lowercased.
/// Logs URL-encode the field (`text/html;%20charset=utf-8`); `-` means none was sent.
pub fn normalize_content_type(raw: &str) -> String {
    raw.split(';').next().unwrap_or(raw).trim().to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definitions() -> Definitions {
        Definitions::load().unwrap()
    }

    #[test]
    fn hits_and_misses_follow_cloudfront_result_types() {
        let d = definitions();
        assert!(d.is_hit(b"Hit") && d.is_hit(b"RefreshHit"));
        assert!(d.is_miss(b"Miss"));
        for neither in ["Error", "Redirect", "LimitExceeded", "CapacityExceeded", "hit", "-"] {
            assert!(!d.is_hit(neither.as_bytes()) && !d.is_miss(neither.as_bytes()), "{neither}");
        }
    }

    #[test]
    fn images_gifs_and_content_type_parameters() {
        let d = definitions();
        assert_eq!(normalize_content_type("Text/HTML;%20charset=utf-8"), "text/html");
        assert_eq!(normalize_content_type("-"), "-");
        assert!(d.is_image(&normalize_content_type("image/jpeg")));
        assert!(!d.is_image(&normalize_content_type("video/mp4")));
        assert!(d.is_gif(&normalize_content_type("IMAGE/GIF")));
    }

    #[test]
    fn image_formats_by_content_type() {
        let d = definitions();
        let name = |t: &str| d.image_format(&normalize_content_type(t)).map(|i| d.image_formats[i].1.as_str());
        assert_eq!(name("image/avif"), Some("AVIF"));
        assert_eq!(name("IMAGE/WEBP"), Some("WebP"));
        assert_eq!(name("video/mp4;%20codecs=avc1"), Some("MP4"));
        assert_eq!(name("image/svg+xml"), None);
        assert_eq!(name("-"), None);
    }

    #[test]
    fn full_size_images() {
        let d = definitions();
        assert!(!d.is_full_size("/variants/a/b/0123456789ab/mobile.jpg"));
        assert!(!d.is_full_size("/variants/a/b/0123456789ab/thumbnail.jpg"));
        assert!(d.is_full_size("/variants/a/b/0123456789ab/pc.jpg"));
        assert!(d.is_full_size("/legacy/banner.gif"));
        assert!(!d.is_full_size("mobile.v2.png"));
    }
}
