//! `manifest.json`: one per original, listing every stored variant in every format, ready for
//! `<picture>` and `srcset`. Written last, so its presence for a source version means that version
//! is fully processed (the duplicate check relies on it).

use media_edge_shared::status::{SourceObject, VariantReport};
use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};
use serde::{Deserialize, Serialize};

use crate::make::placeholder::Placeholder;

pub const MANIFEST_SCHEMA: &str = "media-edge.manifest";
/// 2: variants in several formats, placeholder and HTML snippets.
pub const MANIFEST_VERSION: u32 = 2;

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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub placeholder: Option<Placeholder>,
    pub variants: Vec<ManifestVariant>,
    /// A `<picture>` element for the image (the poster of an animation) with every size in every
    /// format, `width`/`height` against layout shift and the dominant colour behind it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub picture: Option<String>,
    /// A `<video>` element for an animation: the MP4s of the original's shape, its poster and size.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub video: Option<String>,
    /// Art-directed animations: each MP4 cropped to a shape (`video-mobile` of a
    /// `mobile:640:4x5`) in a `<video>` of its own, for the media query `PICTURE_MEDIA` gives its
    /// still (one `<video>` cannot change its box by source). Pages show it at that media query
    /// and `video` otherwise.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub video_media: Vec<MediaVideo>,
    /// What the original holds that the variants do not carry, e.g. an HDR gain map.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub not_carried_over: Vec<String>,
    /// The libaom effort tier the AVIF files were made at (`fast`, `default`, `max`), when any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avif_effort: Option<String>,
    /// The effort asked for this original (its upload's `media-edge-effort` metadata, or
    /// `media-edge backfill --effort`) over the function's `AVIF_EFFORT`: a backfill keeps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avif_effort_asked: Option<String>,
    /// The rendering of the same content this one replaced (other settings or effort).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rerender_of: Option<Rerender>,
    /// What the boxes of the variants with a shape were placed around (absent without any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub focus: Option<ManifestFocus>,
    pub created_at: String,
}

/// A focus in fractions of the upright original (`x,y`, or `x,y,width,height`) and its source:
/// `uploader` (metadata `focus`, `--focus`), `saliency`, or `centre` (nothing stood out).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestFocus {
    pub at: String,
    pub source: String,
}

/// A replaced rendering of the same content: its version (the keys its files had) and effort.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rerender {
    pub source_version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub avif_effort: Option<String>,
}

/// What a manifest records about how its files came to be, besides the files.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RenderNotes {
    pub avif_effort: Option<String>,
    pub avif_effort_asked: Option<String>,
    pub rerender_of: Option<Rerender>,
    /// Which art-directed variants the `<picture>` shows at which media query.
    pub picture_media: Vec<(String, String)>,
}

/// One variant (`pc`, `mobile`, …, `poster`, `video`) and the files it is stored as.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestVariant {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// A variant with a shape (`4x5`): its own crop of the picture.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aspect: Option<String>,
    /// That crop's box in the upright original's pixels: x, y, width, height.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub crop: Option<[u32; 4]>,
    /// The variant's one URL (as a key): for images the fallback's key, which the CDN answers with
    /// the best format the viewer's `Accept` allows. Absent if nothing was stored.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    /// Best first.
    pub formats: Vec<ManifestFile>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<ManifestSkip>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub duration_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fps: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestFile {
    /// `avif`, `webp`, `jpeg`, `png`, `mp4`.
    pub format: String,
    pub key: String,
    pub bytes: u64,
    pub content_type: String,
    /// The original's own bytes with metadata removed (smaller than any re-encode).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub from_original: bool,
}

/// A format not stored for a variant.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ManifestSkip {
    pub format: String,
    pub reason: String,
    /// For negotiated images: the key named for this format still exists and holds what its
    /// viewers get instead (`serves`), so URLs built from a format name never break.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serves: Option<String>,
}

impl Manifest {
    /// Bytes of the distinct representations (copies under skipped formats' keys not counted).
    pub fn output_bytes(&self) -> u64 {
        self.variants.iter().flat_map(|v| &v.formats).map(|f| f.bytes).sum()
    }

    /// Every stored representation, as status events list them.
    pub fn reports(&self) -> Vec<VariantReport> {
        self.variants
            .iter()
            .flat_map(|v| {
                v.formats.iter().map(move |f| VariantReport {
                    name: v.name.clone(),
                    key: f.key.clone(),
                    width: v.width,
                    height: v.height,
                    bytes: f.bytes,
                    content_type: f.content_type.clone(),
                    duration_ms: v.duration_ms,
                    fps: v.fps,
                })
            })
            .collect()
    }
}

/// Characters escaped in URL paths built from keys (`/` stays: it separates the key's parts).
/// `+` too: S3 (directly or behind CloudFront) reads a `+` in a path as a space, so a literal one
/// would name another key (`logo+alpha.png` would be `logo alpha.png`).
const PATH: &AsciiSet = &CONTROLS
    .add(b'+')
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'\'')
    .add(b'&');

/// The root-relative URL of a key on the CDN (keys are paths of the variants bucket).
pub fn url_for(key: &str) -> String {
    format!("/{}", utf8_percent_encode(key, PATH))
}

/// Builds the `<picture>` element from the still image variants (`exclude` names left out, such
/// as an animation's full-size poster). `None` if there is no image variant.
///
/// Art direction: a variant with a shape named in `media` (`("mobile", "(max-width: 767px)")`) is
/// shown at that media query, before everything else (a `<picture>` takes its first matching
/// source), with its own `width` and `height` so the box is right before it loads. Variants with
/// a shape are never in the srcset of the original's shape.
pub fn picture_html(
    variants: &[ManifestVariant],
    exclude: &[&str],
    placeholder: Option<&Placeholder>,
    media: &[(String, String)],
) -> Option<String> {
    let still = |v: &&ManifestVariant| {
        v.key.is_some()
            && !exclude.contains(&v.name.as_str())
            && v.formats.iter().any(|f| f.content_type.starts_with("image/"))
            && v.duration_ms.is_none()
    };
    let mut images: Vec<&ManifestVariant> = variants.iter().filter(still).filter(|v| v.aspect.is_none()).collect();
    images.sort_by_key(|v| v.width);
    images.dedup_by_key(|v| v.width);
    let largest = *images.last()?;
    // The key a viewer of `format` is sent to: the file itself, or a skipped format's copy.
    let key_for = |v: &ManifestVariant, format: &str| -> Option<String> {
        v.formats
            .iter()
            .find(|f| f.format == format)
            .map(|f| f.key.clone())
            .or_else(|| v.skipped.iter().find(|s| s.format == format).and_then(|s| s.key.clone()))
    };
    let srcset = |format: Option<&str>| -> String {
        images
            .iter()
            .filter_map(|v| {
                let key = match format {
                    Some(format) => key_for(v, format)?,
                    None => v.key.clone()?,
                };
                Some(format!("{} {}w", url_for(&key), v.width))
            })
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut html = String::from("<picture>");
    for (name, query) in media {
        let Some(v) = variants.iter().filter(still).find(|v| v.aspect.is_some() && &v.name == name) else { continue };
        let query = query.replace('"', "&quot;");
        for (format, content_type) in [("avif", "image/avif"), ("webp", "image/webp")] {
            if v.formats.iter().any(|f| f.format == format) {
                if let Some(key) = key_for(v, format) {
                    html.push_str(&format!(
                        "<source media=\"{query}\" type=\"{content_type}\" srcset=\"{}\" width=\"{}\" height=\"{}\">",
                        url_for(&key),
                        v.width,
                        v.height
                    ));
                }
            }
        }
        html.push_str(&format!(
            "<source media=\"{query}\" srcset=\"{}\" width=\"{}\" height=\"{}\">",
            url_for(v.key.as_deref().unwrap_or_default()),
            v.width,
            v.height
        ));
    }
    for (format, content_type) in [("avif", "image/avif"), ("webp", "image/webp")] {
        // Only when at least one size really is in this format.
        if images.iter().any(|v| v.formats.iter().any(|f| f.format == format)) {
            html.push_str(&format!(
                "<source type=\"{content_type}\" srcset=\"{}\" sizes=\"100vw\">",
                srcset(Some(format))
            ));
        }
    }
    // The dominant colour fills the box while the image loads; not behind an image with
    // transparency (PNG fallback), where it would stay visible through it.
    let transparent = largest.formats.iter().any(|f| f.format == "png");
    let style = placeholder
        .filter(|_| !transparent)
        .map(|p| format!(" style=\"background-color:{}\"", p.dominant_color))
        .unwrap_or_default();
    html.push_str(&format!(
        "<img src=\"{}\" srcset=\"{}\" sizes=\"100vw\" width=\"{}\" height=\"{}\" alt=\"\" loading=\"lazy\" decoding=\"async\"{style}>",
        url_for(largest.key.as_deref().unwrap_or_default()),
        srcset(None),
        largest.width,
        largest.height,
    ));
    html.push_str("</picture>");
    Some(html)
}

/// A `<video>` element for an animation: autoplaying, muted and looping like the GIF it replaces.
pub fn video_html(variants: &[ManifestVariant], poster: Option<&ManifestVariant>) -> Option<String> {
    // A cropped MP4 has another box: it gets its own element (`video_media_html`).
    let mut videos: Vec<&ManifestVariant> = variants.iter().filter(|v| is_video(v) && v.crop.is_none()).collect();
    videos.sort_by_key(|v| v.width);
    let full = *videos.last()?;
    let mut html = video_open(full, poster);
    // Smaller renditions first, for narrow screens.
    for v in &videos {
        let Some(file) = v.formats.first() else { continue };
        let media = if v.width < full.width { format!(" media=\"(max-width: {}px)\"", v.width) } else { String::new() };
        html.push_str(&format!("<source src=\"{}\" type=\"video/mp4\"{media}>", url_for(&file.key)));
    }
    html.push_str("</video>");
    Some(html)
}

/// An art-directed `<video>` and the media query it is for.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaVideo {
    pub media: String,
    pub video: String,
}

/// For each MP4 cropped to a shape, its own `<video>` at the media query `media` gives the still
/// variant it shares its box with (`video-mobile` and `mobile`), that still as its poster.
pub fn video_media_html(variants: &[ManifestVariant], media: &[(String, String)]) -> Vec<MediaVideo> {
    media
        .iter()
        .filter_map(|(still_name, query)| {
            let video =
                variants.iter().find(|v| is_video(v) && v.crop.is_some() && v.name == format!("video-{still_name}"))?;
            let still = variants.iter().find(|v| &v.name == still_name && v.crop == video.crop);
            let file = video.formats.first()?;
            let mut html = video_open(video, still);
            html.push_str(&format!("<source src=\"{}\" type=\"video/mp4\"></video>", url_for(&file.key)));
            Some(MediaVideo { media: query.clone(), video: html })
        })
        .collect()
}

fn is_video(v: &ManifestVariant) -> bool {
    v.formats.iter().any(|f| f.content_type == "video/mp4")
}

/// `<video …>` at `video`'s size, with `poster`'s fallback file as its poster.
fn video_open(video: &ManifestVariant, poster: Option<&ManifestVariant>) -> String {
    let poster =
        poster.and_then(|p| p.key.as_deref()).map(|key| format!(" poster=\"{}\"", url_for(key))).unwrap_or_default();
    format!("<video autoplay muted loop playsinline width=\"{}\" height=\"{}\"{poster}>", video.width, video.height)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn file(format: &str, key: &str, bytes: u64) -> ManifestFile {
        let content_type = match format {
            "jpeg" => "image/jpeg".to_string(),
            "mp4" => "video/mp4".to_string(),
            other => format!("image/{other}"),
        };
        ManifestFile { format: format.into(), key: key.into(), bytes, content_type, from_original: false }
    }

    fn variant(name: &str, width: u32, formats: Vec<ManifestFile>, skipped: Vec<ManifestSkip>) -> ManifestVariant {
        let key = formats.last().map(|f| f.key.clone());
        ManifestVariant {
            name: name.into(),
            width,
            height: width / 2,
            aspect: None,
            crop: None,
            key,
            formats,
            skipped,
            duration_ms: None,
            fps: None,
        }
    }

    #[test]
    fn picture_lists_every_size_per_format_and_uses_copies_for_skipped_ones() {
        let variants = vec![
            variant(
                "thumbnail",
                200,
                vec![file("webp", "a b.jpg/v/thumbnail.webp", 5), file("jpeg", "a b.jpg/v/thumbnail.jpg", 6)],
                vec![ManifestSkip {
                    format: "avif".into(),
                    reason: "larger".into(),
                    key: Some("a b.jpg/v/thumbnail.avif".into()),
                    serves: Some("webp".into()),
                }],
            ),
            variant(
                "pc",
                1920,
                vec![
                    file("avif", "a b.jpg/v/pc.avif", 10),
                    file("webp", "a b.jpg/v/pc.webp", 20),
                    file("jpeg", "a b.jpg/v/pc.jpg", 30),
                ],
                vec![],
            ),
        ];
        let placeholder = Placeholder { thumbhash: "x".into(), dominant_color: "#102030".into() };
        let html = picture_html(&variants, &[], Some(&placeholder), &[]).unwrap();
        assert_eq!(
            html,
            "<picture>\
             <source type=\"image/avif\" srcset=\"/a%20b.jpg/v/thumbnail.avif 200w, /a%20b.jpg/v/pc.avif 1920w\" sizes=\"100vw\">\
             <source type=\"image/webp\" srcset=\"/a%20b.jpg/v/thumbnail.webp 200w, /a%20b.jpg/v/pc.webp 1920w\" sizes=\"100vw\">\
             <img src=\"/a%20b.jpg/v/pc.jpg\" srcset=\"/a%20b.jpg/v/thumbnail.jpg 200w, /a%20b.jpg/v/pc.jpg 1920w\" sizes=\"100vw\" \
             width=\"1920\" height=\"960\" alt=\"\" loading=\"lazy\" decoding=\"async\" style=\"background-color:#102030\">\
             </picture>"
        );
        // No size in AVIF at all: no AVIF source. A transparent image gets no background colour.
        let only_fallback = vec![variant("pc", 100, vec![file("png", "l.png/v/pc.png", 3)], vec![])];
        let html = picture_html(&only_fallback, &[], Some(&placeholder), &[]).unwrap();
        assert!(!html.contains("<source"), "{html}");
        assert!(!html.contains("background-color"), "{html}");
        assert!(picture_html(&[], &[], None, &[]).is_none());
    }

    #[test]
    fn art_directed_variants_come_first_at_their_media_query_with_their_own_size() {
        let mut mobile = variant(
            "mobile",
            640,
            vec![file("avif", "b.jpg/v/mobile.avif", 4), file("jpeg", "b.jpg/v/mobile.jpg", 9)],
            vec![],
        );
        (mobile.aspect, mobile.crop, mobile.height) = (Some("4x5".into()), Some([700, 0, 480, 600]), 800);
        let mut thumbnail = variant("thumbnail", 200, vec![file("jpeg", "b.jpg/v/thumbnail.jpg", 2)], vec![]);
        (thumbnail.aspect, thumbnail.height) = (Some("1x1".into()), 200);
        let pc = variant("pc", 1920, vec![file("jpeg", "b.jpg/v/pc.jpg", 30)], vec![]);
        let media = vec![("mobile".to_string(), "(max-width: 767px)".to_string())];
        let html = picture_html(&[thumbnail, mobile, pc], &[], None, &media).unwrap();
        assert_eq!(
            html,
            "<picture>\
             <source media=\"(max-width: 767px)\" type=\"image/avif\" srcset=\"/b.jpg/v/mobile.avif\" width=\"640\" height=\"800\">\
             <source media=\"(max-width: 767px)\" srcset=\"/b.jpg/v/mobile.jpg\" width=\"640\" height=\"800\">\
             <img src=\"/b.jpg/v/pc.jpg\" srcset=\"/b.jpg/v/pc.jpg 1920w\" sizes=\"100vw\" width=\"1920\" height=\"960\" \
             alt=\"\" loading=\"lazy\" decoding=\"async\">\
             </picture>",
            "the square thumbnail has no breakpoint: it is not in the picture"
        );
    }

    #[test]
    fn a_cropped_mp4_gets_its_own_video_at_its_stills_media_query() {
        let mut mobile = variant("mobile", 160, vec![file("jpeg", "g.gif/v/mobile.jpg", 3)], vec![]);
        (mobile.crop, mobile.height) = (Some([120, 0, 160, 200]), 200);
        let mut video_mobile = variant("video-mobile", 160, vec![file("mp4", "g.gif/v/video-mobile.mp4", 5)], vec![]);
        (video_mobile.crop, video_mobile.height) = (mobile.crop, 200);
        let video = variant("video", 400, vec![file("mp4", "g.gif/v/video.mp4", 9)], vec![]);
        let poster = variant("poster", 400, vec![file("jpeg", "g.gif/v/poster.jpg", 4)], vec![]);
        let all = [mobile, video_mobile, video, poster.clone()];
        let media = vec![("mobile".to_string(), "(max-width: 767px)".to_string())];
        assert_eq!(
            video_html(&all, Some(&poster)).unwrap(),
            "<video autoplay muted loop playsinline width=\"400\" height=\"200\" poster=\"/g.gif/v/poster.jpg\">\
             <source src=\"/g.gif/v/video.mp4\" type=\"video/mp4\"></video>",
            "the cropped MP4 is not a source of the full one's element"
        );
        assert_eq!(
            video_media_html(&all, &media),
            vec![MediaVideo {
                media: "(max-width: 767px)".into(),
                video: "<video autoplay muted loop playsinline width=\"160\" height=\"200\" poster=\"/g.gif/v/mobile.jpg\">\
                        <source src=\"/g.gif/v/video-mobile.mp4\" type=\"video/mp4\"></video>"
                    .into(),
            }]
        );
        assert!(video_media_html(&all, &[]).is_empty(), "not named in PICTURE_MEDIA: no element");
    }

    #[test]
    fn urls_escape_what_html_and_urls_need() {
        assert_eq!(url_for("a/b c#1?&\"<x>.jpg"), "/a/b%20c%231%3F%26%22%3Cx%3E.jpg");
        assert_eq!(url_for("캠페인/배너.jpg"), "/%EC%BA%A0%ED%8E%98%EC%9D%B8/%EB%B0%B0%EB%84%88.jpg");
        // S3 reads `+` in a path as a space: a literal `+` would name another key.
        assert_eq!(url_for("logo+alpha.png/0123456789ab/pc.png"), "/logo%2Balpha.png/0123456789ab/pc.png");
        assert_eq!(url_for("C++ logo.png/v/pc.png"), "/C%2B%2B%20logo.png/v/pc.png");
    }
}
