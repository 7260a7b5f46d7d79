//! Where more encoding effort pays most: the originals whose variants served the most bytes
//! (`media-edge logs --hot N`), and what re-encoding them saved per view (the report's
//! "Re-encoded originals", from the manifests' `rerender_of`).
//!
//! A variant URL is `/<path>/<version>/<file>`: every version and file of one `<path>` is one
//! original. A re-encode keeps the content and changes the version, so the same `<file>` in the
//! same format is compared across the two versions, per view.

use std::collections::HashMap;
use std::fmt::Write;

use media_edge_shared::units::{human_bytes, thousands};
use serde::Serialize;

use crate::aggregate::{Aggregate, ObjectTally};
use crate::cells::{csv_writer, inert, shorten};
use crate::error::Error;
use crate::originals::{variant_parts, Originals};
use crate::tally::Tally;

/// The originals whose variants served the most bytes.
#[derive(Debug, Serialize)]
pub struct HotList {
    pub hot: Vec<HotOriginal>,
    /// Every variant URL in the logs together: what the shares are of.
    pub variant_requests: u64,
    pub variant_bytes: u64,
}

#[derive(Debug, Serialize)]
pub struct HotOriginal {
    /// Its variants' path in the variants bucket (decoded, no version): the output prefix and the
    /// original's path below the input prefix.
    pub path: String,
    /// The original's key, from its manifest (`--manifests`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    pub requests: u64,
    pub bytes: u64,
    /// Of all variant bytes served.
    pub share: f64,
    /// Versions of its variants served in the logs (a re-upload or re-encode adds one).
    pub versions: usize,
    /// The AVIF effort of its current version, from its manifest.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avif_effort: Option<String>,
}

/// What a re-encoded original's views weigh now against before, format by format.
#[derive(Debug, Clone, Serialize)]
pub struct Reencode {
    pub path: String,
    pub from_version: String,
    pub to_version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from_effort: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to_effort: Option<String>,
    /// Whole responses of the new version in a file and format the old version also served.
    pub views: u64,
    /// Bytes those views took.
    pub bytes: u64,
    /// What they would have taken at the old version's bytes per view of the same file and format.
    pub before_bytes: u64,
    /// `before_bytes - bytes`.
    pub saved_bytes: i64,
    pub saved_per_view: f64,
    pub saved_ratio: Option<f64>,
}

/// Variant tallies by `<path>`, then by (version, file).
fn by_original(aggregate: &Aggregate) -> HashMap<String, HashMap<(String, String), &ObjectTally>> {
    let mut originals: HashMap<String, HashMap<(String, String), &ObjectTally>> = HashMap::new();
    for (uri, object) in &aggregate.objects {
        if let Some((path, version, file)) = variant_parts(uri) {
            originals.entry(path).or_default().insert((version, file), object);
        }
    }
    originals
}

/// The `n` originals whose variants served the most bytes (ties by path). With `originals`
/// (the manifests), each names its original's key and current AVIF effort.
pub fn hot(aggregate: &Aggregate, n: usize, originals: Option<&Originals>) -> HotList {
    let mut rows = Vec::new();
    let (mut variant_requests, mut variant_bytes) = (0u64, 0u64);
    for (path, files) in by_original(aggregate) {
        let mut total = Tally::default();
        let mut versions: Vec<&str> = Vec::new();
        for ((version, _), object) in &files {
            total.merge(&object.all);
            if !versions.contains(&version.as_str()) {
                versions.push(version);
            }
        }
        variant_requests += total.requests;
        variant_bytes = variant_bytes.saturating_add(total.bytes);
        let facts = originals.and_then(|o| o.manifests.get(&format!("{path}/manifest.json")));
        rows.push(HotOriginal {
            original: facts.and_then(|f| f.source_key.clone()),
            avif_effort: facts.and_then(|f| f.avif_effort.clone()),
            versions: versions.len(),
            requests: total.requests,
            bytes: total.bytes,
            share: 0.0,
            path,
        });
    }
    rows.sort_by(|a, b| b.bytes.cmp(&a.bytes).then_with(|| a.path.cmp(&b.path)));
    rows.truncate(n);
    for row in &mut rows {
        row.share = if variant_bytes > 0 { round4(row.bytes as f64 / variant_bytes as f64) } else { 0.0 };
    }
    HotList { hot: rows, variant_requests, variant_bytes }
}

/// Every original whose manifest says it re-encoded the same content, with both versions in the
/// logs: most bytes saved first.
pub fn reencodes(aggregate: &Aggregate, originals: &Originals) -> Vec<Reencode> {
    let mut rows = Vec::new();
    for (path, files) in by_original(aggregate) {
        let Some(facts) = originals.manifests.get(&format!("{path}/manifest.json")) else { continue };
        let Some((old, old_effort)) = &facts.rerender_of else { continue };
        let (mut views, mut bytes, mut before) = (0u64, 0u64, 0f64);
        for ((version, file), object) in &files {
            if *version != facts.source_version {
                continue;
            }
            let Some(previous) = files.get(&(old.clone(), file.clone())) else { continue };
            for (format, now) in &object.whole_by_format {
                let then = previous.whole_by_format.iter().find(|(f, _)| f == format).map(|(_, t)| t);
                if let Some(then) = then.filter(|t| t.requests > 0 && now.requests > 0) {
                    views += now.requests;
                    bytes = bytes.saturating_add(now.bytes);
                    before += then.bytes as f64 / then.requests as f64 * now.requests as f64;
                }
            }
        }
        if views == 0 {
            continue;
        }
        let before_bytes = before.round() as u64;
        let saved_bytes = before_bytes as i64 - bytes as i64;
        rows.push(Reencode {
            path,
            from_version: old.clone(),
            to_version: facts.source_version.clone(),
            from_effort: old_effort.clone(),
            to_effort: facts.avif_effort.clone(),
            views,
            bytes,
            before_bytes,
            saved_bytes,
            saved_per_view: (saved_bytes as f64 / views as f64 * 10.0).round() / 10.0,
            saved_ratio: (before_bytes > 0).then(|| round4(saved_bytes as f64 / before_bytes as f64)),
        });
    }
    rows.sort_by(|a, b| b.saved_bytes.cmp(&a.saved_bytes).then_with(|| a.path.cmp(&b.path)));
    rows
}

fn round4(x: f64) -> f64 {
    (x * 10_000.0).round() / 10_000.0
}

/// `default → max`, or what is known of it.
pub(crate) fn effort_change(from: Option<&str>, to: Option<&str>) -> String {
    format!("{} → {}", from.unwrap_or("?"), to.unwrap_or("?"))
}

impl HotList {
    /// A ranked table, for people.
    pub fn text(&self) -> String {
        let mut out = format!(
            "Originals whose variants served the most bytes (of {} in {} requests)\n",
            human_bytes(self.variant_bytes),
            thousands(self.variant_requests)
        );
        let _ = writeln!(
            out,
            "{:>4}  {:>10}  {:>7}  {:>10}  {:>8}  {:>7}  original",
            "#", "bytes", "share", "requests", "versions", "effort"
        );
        for (i, row) in self.hot.iter().enumerate() {
            let _ = writeln!(
                out,
                "{:>4}  {:>10}  {:>6.1}%  {:>10}  {:>8}  {:>7}  {}",
                i + 1,
                human_bytes(row.bytes),
                row.share * 100.0,
                thousands(row.requests),
                row.versions,
                shorten(row.avif_effort.as_deref().unwrap_or("-")),
                shorten(row.original.as_deref().unwrap_or(&row.path))
            );
        }
        if self.hot.iter().any(|r| r.original.is_none()) {
            out.push_str("(paths are the variants'; --manifests names each original's key)\n");
        }
        out.push_str(
            "Re-render them at the most effort: media-edge logs … --hot N --format json > hot.json; \
                      media-edge backfill s3://<originals> --effort max --keys-from hot.json\n",
        );
        out
    }

    /// `{"hot": [...], ...}`: what `media-edge backfill --keys-from` reads.
    pub fn json(&self) -> Result<String, Error> {
        serde_json::to_string_pretty(self).map(|s| s + "\n").map_err(Error::Json)
    }

    /// `rank,path,original,requests,bytes,share,versions,avif_effort`.
    pub fn csv(&self) -> Result<String, Error> {
        let mut out = csv_writer();
        out.write_record(["rank", "path", "original", "requests", "bytes", "share", "versions", "avif_effort"])?;
        for (i, r) in self.hot.iter().enumerate() {
            let original = r.original.as_deref().unwrap_or_default();
            out.write_record([
                &(i + 1).to_string(),
                &*inert(&r.path),
                &*inert(original),
                &r.requests.to_string(),
                &r.bytes.to_string(),
                &r.share.to_string(),
                &r.versions.to_string(),
                r.avif_effort.as_deref().unwrap_or_default(),
            ])?;
        }
        let bytes = out.into_inner().map_err(|e| Error::Csv(e.into_error().into()))?;
        Ok(String::from_utf8_lossy(&bytes).into_owned())
    }
}
