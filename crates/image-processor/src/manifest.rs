//! `manifest.json`: one per original, listing every stored variant. Written last, so its presence
//! for a source version means that version is fully processed (the duplicate check relies on it).

use media_edge_shared::status::{SourceObject, VariantReport};
use serde::{Deserialize, Serialize};

pub const MANIFEST_SCHEMA: &str = "media-edge.manifest";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Manifest {
    pub schema: String,
    pub version: u32,
    pub source: SourceObject,
    /// The version hash that is part of every variant key.
    pub source_version: String,
    /// `JPEG`, `PNG`, `GIF`, `WebP`.
    pub source_format: String,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub source_bytes: u64,
    pub variants: Vec<VariantReport>,
    pub created_at: String,
}

impl Manifest {
    pub fn output_bytes(&self) -> u64 {
        self.variants.iter().map(|v| v.bytes).sum()
    }
}
