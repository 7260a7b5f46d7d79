//! Where outputs are stored.
//!
//! `{output_prefix}{path under input prefix}/{version}/{variant}.{ext}` for variants: `version` is a
//! short hash of the source object's version and the render settings, so a variant key never changes
//! meaning and can be cached for a year; a re-upload gets new keys. The manifest lives at the stable
//! `{output_prefix}{path under input prefix}/manifest.json` and is cached briefly.

use sha2::{Digest, Sha256};

/// Variants are immutable (their key names the source version), so shared caches may keep them a year.
pub const VARIANT_CACHE_CONTROL: &str = "public, max-age=31536000, immutable";
/// The manifest's key is stable and its content changes on re-upload: cache it briefly.
pub const MANIFEST_CACHE_CONTROL: &str = "public, max-age=60";

/// Identifies one version of one original rendered with one set of settings (12 hex digits).
pub fn source_version(
    bucket: &str,
    key: &str,
    etag: &str,
    version_id: Option<&str>,
    settings_fingerprint: &str,
) -> String {
    let mut hasher = Sha256::new();
    for part in [bucket, key, etag, version_id.unwrap_or(""), settings_fingerprint] {
        hasher.update(part.as_bytes());
        hasher.update([0u8]);
    }
    hex::encode(&hasher.finalize()[..6])
}

/// Where processing claims live, under the output prefix.
pub const CLAIMS_PREFIX: &str = ".claims/";

/// The prefixes that separate originals from outputs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputLayout {
    pub input_prefix: String,
    pub output_prefix: String,
}

impl OutputLayout {
    /// The part of `source_key` below the input prefix, if it is under it.
    pub fn relative<'k>(&self, source_key: &'k str) -> Option<&'k str> {
        source_key.strip_prefix(&self.input_prefix).filter(|rest| !rest.is_empty())
    }

    fn base(&self, source_key: &str) -> String {
        let relative = self.relative(source_key).unwrap_or(source_key);
        format!("{}{}", self.output_prefix, relative)
    }

    pub fn variant_key(&self, source_key: &str, version: &str, variant: &str, ext: &str) -> String {
        format!("{}/{version}/{variant}.{ext}", self.base(source_key))
    }

    /// Every file of one rendered version lives under this prefix.
    pub fn version_prefix(&self, source_key: &str, version: &str) -> String {
        format!("{}/{version}/", self.base(source_key))
    }

    pub fn manifest_key(&self, source_key: &str) -> String {
        format!("{}/manifest.json", self.base(source_key))
    }

    /// Held while one delivery renders version `hash` (see `flow::claim`); apart from the
    /// variants, and expired by a lifecycle rule if a claim is ever left behind.
    pub fn claim_key(&self, hash: &str) -> String {
        format!("{}{CLAIMS_PREFIX}{hash}.json", self.output_prefix)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layout() -> OutputLayout {
        OutputLayout { input_prefix: "uploads/".into(), output_prefix: "variants/".into() }
    }

    #[test]
    fn keys_mirror_the_source_path() {
        let l = layout();
        assert_eq!(l.relative("uploads/a/b c.jpg"), Some("a/b c.jpg"));
        assert_eq!(l.relative("other/b.jpg"), None);
        assert_eq!(l.relative("uploads/"), None);
        assert_eq!(
            l.variant_key("uploads/a/b c.jpg", "0123456789ab", "mobile", "jpg"),
            "variants/a/b c.jpg/0123456789ab/mobile.jpg"
        );
        assert_eq!(l.manifest_key("uploads/a/b c.jpg"), "variants/a/b c.jpg/manifest.json");
    }

    #[test]
    fn version_changes_with_every_input() {
        let v = source_version("b", "k", "e1", None, "s");
        assert_eq!(v.len(), 12);
        assert_eq!(v, source_version("b", "k", "e1", None, "s"));
        assert_ne!(v, source_version("b", "k", "e2", None, "s"));
        assert_ne!(v, source_version("b", "k", "e1", Some("v2"), "s"));
        assert_ne!(v, source_version("b", "k", "e1", None, "t"));
        // Separators keep ("ab","c") and ("a","bc") apart.
        assert_ne!(source_version("ab", "c", "", None, ""), source_version("a", "bc", "", None, ""));
    }
}
