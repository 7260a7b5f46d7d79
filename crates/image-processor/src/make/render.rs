//! Variant rendering: one decode per original, a resize cascade (largest variant first, each
//! smaller one from the previous result), then every size in every format (AVIF, WebP and the
//! JPEG or PNG fallback), encoded in parallel, and only the representations worth storing kept.
//!
//! No AWS here: bytes in, encoded variants out, so the CLI, the Lambda and the benchmarks share it.

use fast_image_resize::{images::Image, FilterType, MulDiv, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;
use rayon::prelude::*;

use crate::crop::{crop_box, cropped_size, Aspect, CropBox, Focus, FocusSource, NeededWidth};
use crate::error::ImageError;
use crate::limits::Limits;
use crate::make::encode::{self, PixelsRef};
pub use crate::make::encode::{EncodeSettings, OutputFormat};
use crate::make::placeholder::{self, Placeholder};
use crate::make::strip;
use crate::make::video::VideoSettings;
use crate::make::{faces, saliency};
use crate::read::decode::{self, Decoded};
use crate::source_format::SourceFormat;

/// A named output width, e.g. `mobile` at 640 px, with a shape when art-directed (`mobile:640:4x5`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantSpec {
    pub name: String,
    /// Width of the variant; the original's (or its box's) width when that is narrower (never upscaled).
    pub max_width: u32,
    /// The variant's own shape: the largest box of it around the focus ([`crate::crop`]). `None`:
    /// the original's shape.
    pub aspect: Option<Aspect>,
}

impl VariantSpec {
    pub fn new(name: &str, max_width: u32) -> Self {
        VariantSpec { name: name.to_string(), max_width, aspect: None }
    }

    pub fn shaped(name: &str, max_width: u32, aspect: Aspect) -> Self {
        VariantSpec { name: name.to_string(), max_width, aspect: Some(aspect) }
    }

    /// `mobile:640` or `mobile:640:4x5`, as VARIANTS names it.
    pub fn describe(&self) -> String {
        match self.aspect {
            Some(aspect) => format!("{}:{}:{aspect}", self.name, self.max_width),
            None => format!("{}:{}", self.name, self.max_width),
        }
    }
}

/// `thumbnail` 200, `mobile` 640, `tablet` 1024, `pc` 1920.
pub fn default_variants() -> Vec<VariantSpec> {
    vec![
        VariantSpec::new("thumbnail", 200),
        VariantSpec::new("mobile", 640),
        VariantSpec::new("tablet", 1024),
        VariantSpec::new("pc", 1920),
    ]
}

/// Everything that changes the bytes of a variant. Its [`fingerprint`](RenderSettings::fingerprint)
/// is part of every variant key, so changing settings never serves stale cached variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RenderSettings {
    pub variants: Vec<VariantSpec>,
    pub encode: EncodeSettings,
    pub limits: Limits,
    /// Animated GIF → MP4.
    pub video: VideoSettings,
    /// The uploader's focus for variants with a shape (`x-amz-meta-focus`, `--focus`); without
    /// it the faces found decide (with `faces`), then the picture's saliency.
    pub focus: Option<Focus>,
    /// `FACES=on`: look for faces before the saliency (docs/pipeline.md, "Faces"): every face
    /// kept in the measured photos, for up to 8% more CPU per original with a shaped variant.
    pub faces: bool,
    /// `PICTURE_MEDIA`: which variants with a shape the manifest's `<picture>` shows at which
    /// media query (the files do not change with it).
    pub picture_media: Vec<(String, String)>,
}

/// Where the crops of variants with a shape are placed: around `given` (the uploader's), else
/// around every face (when `faces`), else the saliency's peak, else the centre.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FocusRule {
    pub given: Option<Focus>,
    pub faces: bool,
}

/// `mobile` up to 767 px wide, `tablet` up to 1,199 px: common breakpoints (a variant without a
/// shape, or not named here, is not art-directed in the `<picture>`).
pub fn default_picture_media() -> Vec<(String, String)> {
    vec![
        ("mobile".to_string(), "(max-width: 767px)".to_string()),
        ("tablet".to_string(), "(max-width: 1199px)".to_string()),
    ]
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderSettings {
            variants: default_variants(),
            encode: EncodeSettings::default(),
            limits: Limits::default(),
            video: VideoSettings::default(),
            focus: None,
            faces: false,
            picture_media: default_picture_media(),
        }
    }
}

impl RenderSettings {
    /// A stable text naming the output-affecting settings (limits do not change output bytes).
    /// `RENDERER` names the code's own output: bump it when a change alters variant bytes, so an
    /// immutable key never gets different bytes when an original is processed again.
    pub fn fingerprint(&self) -> String {
        // r2: thumbnails with Catmull-Rom, alpha premultiplied once. r3: AVIF and WebP beside the
        // fallback, originals passed through where smaller.
        const RENDERER: &str = "r3";
        let variants: Vec<String> = self.variants.iter().map(VariantSpec::describe).collect();
        let mut text =
            format!("{RENDERER};{};{};{}", self.encode.fingerprint(), variants.join(","), self.video.fingerprint());
        // A focus moves only the crops of variants with a shape (the saliency's follows the pixels).
        let shaped = self.variants.iter().any(|v| v.aspect.is_some());
        if let Some(focus) = self.focus.filter(|_| shaped) {
            text.push_str(&format!(";focus={focus}"));
        } else if self.faces && shaped {
            // Faces move the crops of pictures of people.
            text.push_str(";faces");
        }
        text
    }

    /// How the crops of variants with a shape find their focus.
    pub fn focus_rule(&self) -> FocusRule {
        FocusRule { given: self.focus, faces: self.faces }
    }

    /// How wide a decode these variants need ([`NeededWidth`]).
    pub fn needed_width(&self) -> NeededWidth {
        NeededWidth::of(self.variants.iter().map(|v| (v.max_width, v.aspect)))
    }
}

/// One stored representation of a variant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Representation {
    pub format: OutputFormat,
    pub bytes: Vec<u8>,
    /// The original's own bytes without metadata (smaller than our encode at the same size).
    pub from_original: bool,
}

/// A format not stored for a variant, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedFormat {
    pub format: OutputFormat,
    pub reason: String,
}

#[derive(Debug, Clone)]
pub struct RenderedVariant {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// For a variant with a shape: the shape, and the box of the upright original it shows.
    pub aspect: Option<Aspect>,
    pub crop: Option<CropBox>,
    /// Best first: AVIF, WebP, then the fallback (JPEG, or PNG for transparency), which is always
    /// there. A format is left out when a smaller one the same viewers accept exists.
    pub formats: Vec<Representation>,
    pub skipped: Vec<SkippedFormat>,
}

impl RenderedVariant {
    /// The JPEG or PNG every browser shows.
    pub fn fallback(&self) -> Option<&Representation> {
        self.formats.iter().find(|r| r.format.is_fallback())
    }

    /// What a viewer that accepts `format` (AVIF or WebP; anything else means "neither") should
    /// get: the smallest stored representation it can show.
    pub fn for_viewer_accepting(&self, format: OutputFormat) -> Option<&Representation> {
        let accepts = |r: &&Representation| match format {
            OutputFormat::Avif => true,
            OutputFormat::WebP => r.format != OutputFormat::Avif,
            _ => r.format.is_fallback(),
        };
        self.formats.iter().filter(accepts).min_by_key(|r| r.bytes.len())
    }
}

#[derive(Debug, Clone)]
pub struct Rendered {
    pub source_format: SourceFormat,
    /// Upright dimensions of the original (after EXIF orientation).
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// In the order of [`RenderSettings::variants`].
    pub variants: Vec<RenderedVariant>,
    pub placeholder: Option<Placeholder>,
    /// See [`decode::Decoded::not_carried_over`].
    pub not_carried_over: Vec<String>,
    /// The focus the shaped variants' boxes were placed around, and where it came from (`None`
    /// when no variant has a shape).
    pub focus: Option<(Focus, FocusSource)>,
}

/// Decodes `bytes` (named `name`, used to check the claimed type) and renders every variant.
pub fn render(bytes: &[u8], name: &str, settings: &RenderSettings) -> Result<Rendered, ImageError> {
    let decoded = decode::decode_needing(bytes, name, &settings.limits, Some(&settings.needed_width()))?;
    render_decoded(decoded, &settings.variants, &settings.encode, Some(bytes), settings.focus_rule())
}

/// Like [`render`], reading the original from a file (see [`decode::decode_file`]).
pub fn render_file(path: &std::path::Path, name: &str, settings: &RenderSettings) -> Result<Rendered, ImageError> {
    let decoded = decode::decode_file(path, name, &settings.limits, Some(&settings.needed_width()))?;
    // The original's bytes are a candidate only for a variant at its own size.
    let at_original_size = settings.variants.iter().any(|v| v.aspect.is_none() && v.max_width >= decoded.width);
    let original = if at_original_size { std::fs::read(path).ok() } else { None };
    render_decoded(decoded, &settings.variants, &settings.encode, original.as_deref(), settings.focus_rule())
}

/// Renders `specs` from an already decoded image. `original` (the file's bytes, if at hand) may
/// serve, without its metadata, as a variant at the original's size when it is the smaller file.
/// `focus` places the boxes of variants with a shape ([`FocusRule`]).
pub fn render_decoded(
    decoded: Decoded,
    specs: &[VariantSpec],
    settings: &EncodeSettings,
    original: Option<&[u8]>,
    focus: FocusRule,
) -> Result<Rendered, ImageError> {
    let (width, height) = (decoded.width, decoded.height);
    // Passing the original through keeps its pixels exactly as stored: only when no EXIF rotation
    // had to be applied, and only in formats browsers show (strip::strip_metadata decides).
    let original = original
        .filter(|_| decoded.upright_as_stored && (decoded.image.width(), decoded.image.height()) == (width, height))
        .map(|bytes| (bytes, decoded.format));
    let source = Pixels::from_image(decoded.image);
    // An sRGB profile says what an untagged image already means on the web: dropping it saves its
    // 3–9 KB in every variant (much of a thumbnail). Other profiles (Display P3, Adobe RGB) stay.
    let icc_profile = decoded.icc_profile.as_deref().filter(|icc| !is_srgb_profile(icc));
    let focus = specs.iter().any(|s| s.aspect.is_some()).then(|| match focus.given {
        Some(given) => (given, FocusSource::Uploader),
        None => found_focus(&source, focus.faces),
    });
    let (variants, placeholder) =
        render_variants(source, (width, height), icc_profile, specs, settings, original, focus.map(|f| f.0))?;
    Ok(Rendered {
        source_format: decoded.format,
        width,
        height,
        frames: decoded.frames,
        variants,
        placeholder,
        not_carried_over: decoded.not_carried_over,
        focus,
    })
}

/// The focus of a picture the uploader gave none for: every face found (with `faces`), else the
/// saliency's peak, else the centre (a flat picture).
fn found_focus(source: &Pixels, faces: bool) -> (Focus, FocusSource) {
    faces
        .then(|| faces_focus(source))
        .flatten()
        .map(|found| (found, FocusSource::Faces))
        .or_else(|| salient_point(source).map(|found| (found, FocusSource::Saliency)))
        .unwrap_or((Focus::Point { x: 0.5, y: 0.5 }, FocusSource::Centre))
}

/// What [`render`] takes as the focus of `image` when the uploader gave none (for the labelled
/// set and the examples that measure it).
pub fn automatic_focus(image: DynamicImage, faces: bool) -> (Focus, FocusSource) {
    found_focus(&Pixels::from_image(image), faces)
}

/// The saliency's focus, from a copy [`saliency::WORK_WIDTH`] wide (a few milliseconds).
fn salient_point(source: &Pixels) -> Option<Focus> {
    let width = saliency::WORK_WIDTH.min(source.image.width());
    let (small, height) = small_copy(source, width)?;
    saliency::focus(small.buffer(), width, height, source.layout.channels())
}

/// Every face's rectangle, from a grey copy of [`faces::work_size`].
fn faces_focus(source: &Pixels) -> Option<Focus> {
    let (width, _) = faces::work_size(source.image.width(), source.image.height());
    let (small, height) = small_copy(source, width)?;
    let channels = usize::from(source.layout.channels());
    let grey: Vec<u8> = small
        .buffer()
        .chunks_exact(channels)
        .map(|p| match p {
            [r, g, b, ..] => ((299 * u32::from(*r) + 587 * u32::from(*g) + 114 * u32::from(*b)) / 1000) as u8,
            [l, ..] => *l,
            [] => 0,
        })
        .collect();
    faces::focus(&faces::find(&grey, width, height))
}

/// `source` shrunk to `width` (box filter: these copies are looked at, not shown), and its height.
fn small_copy(source: &Pixels, width: u32) -> Option<(Image<'static>, u32)> {
    let (w, h) = (source.image.width(), source.image.height());
    let height = scaled_height(w, h, width);
    let mut small = Image::new(width, height, source.layout.pixel_type());
    let options = ResizeOptions::new().use_alpha(false).resize_alg(ResizeAlg::Convolution(FilterType::Box));
    Resizer::new().resize(&source.image, &mut small, &options).ok()?;
    Some((small, height))
}

/// Pixels in one of the three layouts we resize and encode.
pub(crate) struct Pixels {
    image: Image<'static>,
    layout: Layout,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Layout {
    Gray,
    Rgb,
    /// Only when some pixel is not fully opaque.
    Rgba,
}

impl Pixels {
    pub(crate) fn from_image(image: DynamicImage) -> Self {
        let (w, h) = (image.width(), image.height());
        let (buffer, layout) = match image {
            DynamicImage::ImageLuma8(buf) => (buf.into_raw(), Layout::Gray),
            DynamicImage::ImageLuma16(_) => (image.to_luma8().into_raw(), Layout::Gray),
            DynamicImage::ImageRgb8(buf) => (buf.into_raw(), Layout::Rgb),
            DynamicImage::ImageRgba8(buf) => {
                if has_transparency(buf.as_raw()) {
                    (buf.into_raw(), Layout::Rgba)
                } else {
                    (DynamicImage::ImageRgba8(buf).to_rgb8().into_raw(), Layout::Rgb)
                }
            }
            other if other.color().has_alpha() => {
                let rgba = other.to_rgba8();
                if has_transparency(rgba.as_raw()) {
                    (rgba.into_raw(), Layout::Rgba)
                } else if other.color().has_color() {
                    (other.to_rgb8().into_raw(), Layout::Rgb)
                } else {
                    (other.to_luma8().into_raw(), Layout::Gray)
                }
            }
            other if other.color().has_color() => (other.to_rgb8().into_raw(), Layout::Rgb),
            other => (other.to_luma8().into_raw(), Layout::Gray),
        };
        let pixel_type = layout.pixel_type();
        // The buffer length always matches w × h × channels, as the `image` crate made it.
        let image = Image::from_vec_u8(w, h, buffer, pixel_type).unwrap_or_else(|_| Image::new(w, h, pixel_type));
        Pixels { image, layout }
    }
}

impl Layout {
    fn channels(self) -> u8 {
        match self {
            Layout::Gray => 1,
            Layout::Rgb => 3,
            Layout::Rgba => 4,
        }
    }

    fn pixel_type(self) -> PixelType {
        match self {
            Layout::Gray => PixelType::U8,
            Layout::Rgb => PixelType::U8x3,
            Layout::Rgba => PixelType::U8x4,
        }
    }
}

fn has_transparency(rgba: &[u8]) -> bool {
    rgba.chunks_exact(4).any(|px| px[3] != u8::MAX)
}

/// Whether an ICC profile describes sRGB, by its description tag (`desc`, ASCII in v2 profiles,
/// UTF-16 in v4 `mluc`): "sRGB IEC61966-2.1", "sRGB built-in", "sRGB-elle-V2-srgbtrc.icc"…
pub fn is_srgb_profile(icc: &[u8]) -> bool {
    let be32 = |at: usize| icc.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize);
    let Some(tags) = be32(128) else { return false };
    (0..tags.min(256)).any(|i| {
        let entry = 132 + i * 12;
        if icc.get(entry..entry + 4) != Some(b"desc") {
            return false;
        }
        let (Some(offset), Some(size)) = (be32(entry + 4), be32(entry + 8)) else { return false };
        let Some(data) = icc.get(offset..offset.saturating_add(size.min(4096))) else { return false };
        let ascii: Vec<u8> = data.iter().copied().filter(|b| *b != 0).collect();
        ascii.windows(4).any(|w| w.eq_ignore_ascii_case(b"srgb"))
    })
}

/// Height for `width`, keeping the original's aspect ratio (at least 1 px).
pub fn scaled_height(src_w: u32, src_h: u32, width: u32) -> u32 {
    let h = (u64::from(src_h) * u64::from(width) + u64::from(src_w) / 2) / u64::from(src_w.max(1));
    (h as u32).max(1)
}

/// What one image of the render is: a size, and for a variant with a shape the box of the
/// decoded picture it shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Target {
    width: u32,
    height: u32,
    crop: Option<CropBox>,
}

#[allow(clippy::too_many_arguments)]
fn render_variants(
    source: Pixels,
    upright: (u32, u32),
    icc_profile: Option<&[u8]>,
    specs: &[VariantSpec],
    settings: &EncodeSettings,
    original: Option<(&[u8], SourceFormat)>,
    focus: Option<Focus>,
) -> Result<(Vec<RenderedVariant>, Option<Placeholder>), ImageError> {
    let (src_w, src_h) = (source.image.width(), source.image.height());
    let layout = source.layout;
    let target_of = |spec: &VariantSpec| match (spec.aspect, focus) {
        (Some(aspect), Some(focus)) => {
            let crop = crop_box(src_w, src_h, aspect, focus);
            let (width, height) = cropped_size(crop, aspect, spec.max_width);
            Target { width, height, crop: Some(crop) }
        }
        _ => {
            let width = spec.max_width.clamp(1, src_w);
            Target { width, height: scaled_height(src_w, src_h, width), crop: None }
        }
    };
    let sizes = distinct_sizes(src_w, src_h, specs);
    let mut shaped: Vec<Target> = specs.iter().map(target_of).filter(|t| t.crop.is_some()).collect();
    shaped.sort_unstable_by_key(|t| std::cmp::Reverse((t.width, t.height)));
    shaped.dedup();
    // The images, in the order of `targets`: the cascade's sizes, then the boxes.
    let targets: Vec<Target> = sizes
        .iter()
        .map(|&(width, height)| Target { width, height, crop: None })
        .chain(shaped.iter().copied())
        .collect();
    let images = resize_all(source, &sizes, &shaped)?;
    let channels = layout.channels();
    fn pixels<'a>(image: &'a Image<'static>, channels: u8) -> PixelsRef<'a> {
        PixelsRef { data: image.buffer(), width: image.width(), height: image.height(), channels }
    }
    let smallest = images.iter().min_by_key(|i| u64::from(i.width()) * u64::from(i.height()));
    let placeholder = smallest.and_then(|smallest| placeholder::placeholder(pixels(smallest, channels)));

    // Every size in every format, on all the cores the pool has (the largest AVIF first: it is the
    // longest task; each AVIF is an ffmpeg child, waited for on a pool thread, that may use as many
    // threads as the pool has once the other tasks are done).
    let fallback = if layout == Layout::Rgba { OutputFormat::Png } else { OutputFormat::Jpeg };
    let mut tasks: Vec<(usize, OutputFormat)> = Vec::with_capacity(images.len() * 3);
    for format in settings.modern_formats().into_iter().chain([fallback]) {
        tasks.extend((0..images.len()).map(|i| (i, format)));
    }
    let encoded: Vec<(usize, OutputFormat, Result<Vec<u8>, ImageError>)> = tasks
        .into_par_iter()
        .map(|(i, format)| (i, format, encode::encode(format, pixels(&images[i], channels), icc_profile, settings)))
        .collect();
    drop(images);

    let mut per_size: Vec<(Vec<Representation>, Vec<SkippedFormat>)> = vec![(Vec::new(), Vec::new()); targets.len()];
    for (i, format, result) in encoded {
        match result {
            Ok(bytes) => per_size[i].0.push(Representation { format, bytes, from_original: false }),
            // The fallback must exist; a newer format that failed is reported and left out.
            Err(e) if format.is_fallback() => return Err(e),
            Err(e) => {
                tracing::warn!(format = format.name(), error = %e, "encoder failed; format left out");
                per_size[i].1.push(SkippedFormat { format, reason: format!("encoder failed: {e}") });
            }
        }
    }
    // The original's own bytes compete at its own size (not for a box of it).
    if let Some((bytes, format)) = original {
        if let (Some(index), Some(stripped)) = (
            targets.iter().position(|t| t.crop.is_none() && (t.width, t.height) == (src_w, src_h)),
            strip::strip_metadata(bytes, format),
        ) {
            let as_format = match format {
                SourceFormat::Jpeg => Some(OutputFormat::Jpeg),
                SourceFormat::Png => Some(OutputFormat::Png),
                SourceFormat::WebP => Some(OutputFormat::WebP),
                SourceFormat::Gif => None,
            };
            if let Some(format) = as_format {
                per_size[index].0.push(Representation { format, bytes: stripped, from_original: true });
            }
        }
    }
    let chosen: Vec<(Vec<Representation>, Vec<SkippedFormat>)> =
        per_size.into_iter().map(|(candidates, skipped)| choose(candidates, skipped)).collect::<Result<_, _>>()?;

    let variants = specs
        .iter()
        .map(|spec| {
            let target = target_of(spec);
            let index = targets.iter().position(|t| *t == target).unwrap_or(0);
            let (formats, skipped) = chosen[index].clone();
            // The box in the upright original's pixels (the decode may be smaller), for the manifest.
            let crop = spec.aspect.zip(focus).map(|(aspect, focus)| crop_box(upright.0, upright.1, aspect, focus));
            RenderedVariant {
                name: spec.name.clone(),
                width: target.width,
                height: target.height,
                aspect: spec.aspect.filter(|_| crop.is_some()),
                crop,
                formats,
                skipped,
            }
        })
        .collect();
    Ok((variants, placeholder))
}

/// Distinct sizes, largest first: each is resized from the next larger one, so the small ones
/// cost little, and variants of the same size (a small original) share their files.
fn distinct_sizes(src_w: u32, src_h: u32, specs: &[VariantSpec]) -> Vec<(u32, u32)> {
    let mut sizes: Vec<(u32, u32)> = specs
        .iter()
        .filter(|spec| spec.aspect.is_none())
        .map(|spec| {
            let width = spec.max_width.clamp(1, src_w);
            (width, scaled_height(src_w, src_h, width))
        })
        .collect();
    sizes.sort_unstable_by(|a, b| b.cmp(a));
    sizes.dedup();
    sizes
}

/// The set in one format alone, for benchmarks: the distinct sizes of `specs` (largest first),
/// each encoded as `format` with no fallback beside it and no choice between formats. This is
/// the work one `sharp(...).resize(...).webp()` set does, so a benchmark can compare equal work;
/// the pipeline always renders through [`render_decoded`].
pub fn encode_set_in_one_format(
    decoded: Decoded,
    specs: &[VariantSpec],
    format: OutputFormat,
    settings: &EncodeSettings,
) -> Result<Vec<Vec<u8>>, ImageError> {
    let icc_profile = decoded.icc_profile.as_deref().filter(|icc| !is_srgb_profile(icc));
    let source = Pixels::from_image(decoded.image);
    let (src_w, src_h, layout) = (source.image.width(), source.image.height(), source.layout);
    let cascade = resize_all(source, &distinct_sizes(src_w, src_h, specs), &[])?;
    cascade
        .par_iter()
        .map(|image| {
            let pixels = PixelsRef {
                data: image.buffer(),
                width: image.width(),
                height: image.height(),
                channels: layout.channels(),
            };
            encode::encode(format, pixels, icc_profile, settings)
        })
        .collect()
}

/// Every size in `sizes` (distinct, largest first), each resized from the next larger one, then
/// every box of `shaped` from the source itself, in `source`'s layout (alpha straight again at
/// the end).
fn resize_all(mut source: Pixels, sizes: &[(u32, u32)], shaped: &[Target]) -> Result<Vec<Image<'static>>, ImageError> {
    let (src_w, src_h) = (source.image.width(), source.image.height());
    let layout = source.layout;
    // Transparent pixels must not bleed their colour into their neighbours: resize premultiplied.
    // Premultiplying the original in place (rather than letting the resizer premultiply into a copy
    // it keeps) saves a buffer the size of the original.
    let mul_div = MulDiv::default();
    let alpha_error = |e: fast_image_resize::MulDivImagesError| ImageError::Encode(format!("alpha: {e}"));
    if layout == Layout::Rgba {
        mul_div.multiply_alpha_inplace(&mut source.image).map_err(|e| ImageError::Encode(format!("alpha: {e}")))?;
    }
    let mut resizer = Resizer::new();
    let options = ResizeOptions::new().use_alpha(false);
    // The boxes first, while the source is whole: each from the full decode, so its detail is kept.
    let mut boxes: Vec<Image<'static>> = Vec::with_capacity(shaped.len());
    for target in shaped {
        let Some(crop) = target.crop else { continue };
        let mut dst = Image::new(target.width, target.height, layout.pixel_type());
        let options = options
            .clone()
            .crop(f64::from(crop.x), f64::from(crop.y), f64::from(crop.width), f64::from(crop.height))
            .resize_alg(ResizeAlg::Convolution(filter_for(target.width)));
        resizer.resize(&source.image, &mut dst, &options).map_err(|e| {
            ImageError::Encode(format!(
                "resize of the {}×{} box to {}×{}: {e}",
                crop.width, crop.height, target.width, target.height
            ))
        })?;
        boxes.push(dst);
    }
    let mut source_image = Some(source.image);
    let mut cascade: Vec<Image<'static>> = Vec::with_capacity(sizes.len() + boxes.len());
    for &(width, height) in sizes {
        if cascade.is_empty() && (src_w, src_h) == (width, height) {
            cascade.extend(source_image.take());
            continue;
        }
        let from = cascade.last().or(source_image.as_ref()).ok_or_else(|| ImageError::Encode("no source".into()))?;
        let mut dst = Image::new(width, height, layout.pixel_type());
        let options = options.clone().resize_alg(ResizeAlg::Convolution(filter_for(width)));
        resizer
            .resize(from, &mut dst, &options)
            .map_err(|e| ImageError::Encode(format!("resize to {width}×{height}: {e}")))?;
        cascade.push(dst);
    }
    drop(source_image); // the decoded original is not needed past the cascade
    cascade.extend(boxes);
    if layout == Layout::Rgba {
        for image in &mut cascade {
            let mut straight = Image::new(image.width(), image.height(), PixelType::U8x4);
            mul_div.divide_alpha(image, &mut straight).map_err(alpha_error)?;
            *image = straight;
        }
    }
    Ok(cascade)
}

/// Keeps, for one size, the smallest candidate of each kind, and of those only the ones smaller
/// than every representation the same viewers also accept: a WebP must beat the fallback, an
/// AVIF both. Returns them best first (AVIF, WebP, fallback) with the reasons for the rest.
pub(crate) fn choose(
    candidates: Vec<Representation>,
    mut skipped: Vec<SkippedFormat>,
) -> Result<(Vec<Representation>, Vec<SkippedFormat>), ImageError> {
    let smallest = |pick: &dyn Fn(OutputFormat) -> bool| {
        candidates.iter().filter(|c| pick(c.format)).min_by_key(|c| c.bytes.len()).cloned()
    };
    let fallback = smallest(&|f| f.is_fallback()).ok_or_else(|| ImageError::Encode("no fallback image".into()))?;
    let describe = |r: &Representation| format!("{} ({} bytes)", r.format.name().to_uppercase(), r.bytes.len());
    let mut kept = vec![fallback];
    for format in [OutputFormat::WebP, OutputFormat::Avif] {
        let Some(candidate) = smallest(&|f| f == format) else { continue };
        // `kept` holds exactly what this format's viewers also accept (WebP: the fallback;
        // AVIF: the fallback and any WebP kept).
        match kept.iter().filter(|k| k.bytes.len() <= candidate.bytes.len()).min_by_key(|k| k.bytes.len()) {
            None => kept.push(candidate),
            Some(smaller) => skipped.push(SkippedFormat {
                format,
                reason: format!("{} was no smaller than the {}", describe(&candidate), describe(smaller)),
            }),
        }
    }
    kept.reverse();
    skipped.sort_by_key(|s| s.format);
    Ok((kept, skipped))
}

/// Variants at most this wide are thumbnails, resized with a shorter filter.
const THUMBNAIL_MAX_WIDTH: u32 = 320;

/// Lanczos3 keeps the most detail. At thumbnail size its outer lobes mostly add ringing that costs
/// bytes (200 px variants were up to 1.05× libvips'); Catmull-Rom measured 0.98–1.03× libvips'
/// bytes at an SSIM within 0.0002 of libvips' or higher (`make bench`). On the 1920 px variant it
/// would save 1–2% of the bytes but lose up to 0.0012 SSIM, so larger variants keep Lanczos3.
fn filter_for(width: u32) -> FilterType {
    if width <= THUMBNAIL_MAX_WIDTH {
        FilterType::CatmullRom
    } else {
        FilterType::Lanczos3
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn srgb_profiles_are_recognised_by_description() {
        fn profile(desc: &[u8]) -> Vec<u8> {
            let mut icc = vec![0u8; 128];
            icc.extend(1u32.to_be_bytes()); // one tag
            icc.extend(b"desc");
            icc.extend(144u32.to_be_bytes());
            icc.extend((desc.len() as u32).to_be_bytes());
            icc.extend(desc);
            icc
        }
        assert!(is_srgb_profile(&profile(b"desc\0\0\0\0\0\0\0\x12sRGB IEC61966-2.1\0")));
        // v4 `mluc`: UTF-16BE text.
        let utf16: Vec<u8> = "sRGB built-in".encode_utf16().flat_map(u16::to_be_bytes).collect();
        assert!(is_srgb_profile(&profile(&[b"mluc".as_slice(), &[0; 24], &utf16].concat())));
        assert!(!is_srgb_profile(&profile(b"desc\0\0\0\0\0\0\0\x0bDisplay P3\0")));
        assert!(!is_srgb_profile(&profile(b"desc\0\0\0\0\0\0\0\x0bAdobe RGB\0")));
        assert!(!is_srgb_profile(&[0u8; 10]));
        let mut lying = profile(b"sRGB");
        lying[136..140].copy_from_slice(&u32::MAX.to_be_bytes()); // offset out of range
        assert!(!is_srgb_profile(&lying));
    }

    #[test]
    fn heights_keep_aspect_ratio() {
        assert_eq!(scaled_height(4000, 3000, 200), 150);
        assert_eq!(scaled_height(1000, 1, 200), 1);
        assert_eq!(scaled_height(3, 2, 2), 1);
    }

    #[test]
    fn fingerprint_changes_with_output_settings_only() {
        let base = RenderSettings::default();
        let mut other = base.clone();
        other.limits.max_pixels = 1;
        assert_eq!(base.fingerprint(), other.fingerprint());
        other.encode.jpeg_quality = 90;
        assert_ne!(base.fingerprint(), other.fingerprint());
        // libaom's settings; the ffmpeg that runs it is where it runs, not what it makes.
        for change in [
            |e: &mut EncodeSettings| e.avif_cq += 2,
            |e: &mut EncodeSettings| e.avif_effort = crate::make::encode::AvifEffort::Max,
            |e: &mut EncodeSettings| e.avif = false,
        ] {
            let mut other = base.clone();
            change(&mut other.encode);
            assert_ne!(base.fingerprint(), other.fingerprint());
        }
        let mut elsewhere = base.clone();
        elsewhere.encode.ffmpeg_path = "/usr/bin/ffmpeg".into();
        assert_eq!(base.fingerprint(), elsewhere.fingerprint());
    }

    #[test]
    fn a_set_in_one_format_has_one_file_per_distinct_size_and_no_fallback() {
        let (w, h) = (300, 200);
        let gradient = image::RgbImage::from_fn(w, h, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        let mut png = Vec::new();
        image::DynamicImage::ImageRgb8(gradient)
            .write_to(&mut std::io::Cursor::new(&mut png), image::ImageFormat::Png)
            .unwrap();
        // 640 and 5000 both clamp to the original's 300 px: one file for both.
        let specs = [VariantSpec::new("a", 200), VariantSpec::new("b", 640), VariantSpec::new("c", 5000)];
        let decoded = decode::decode_for_width(&png, "g.png", &Limits::default(), Some(5000)).unwrap();
        let files = encode_set_in_one_format(decoded, &specs, OutputFormat::WebP, &EncodeSettings::default()).unwrap();
        let sizes: Vec<(u32, u32)> = files
            .iter()
            .map(|file| {
                assert_eq!((&file[..4], &file[8..12]), (b"RIFF".as_slice(), b"WEBP".as_slice()));
                let image = image::load_from_memory_with_format(file, image::ImageFormat::WebP).unwrap();
                (image.width(), image.height())
            })
            .collect();
        assert_eq!(sizes, [(300, 200), (200, 133)]);
    }

    #[test]
    fn a_large_opaque_webp_decoded_at_half_size_still_gives_full_size_variants() {
        // 4000 px: libwebp decodes it at 2000 px (1/2), our resize makes the 1920 px variant.
        let (w, h) = (4000, 300);
        let pixels: Vec<u8> = (0..w * h * 3).map(|i| (i % 251) as u8).collect();
        let file = webp::Encoder::new(&pixels, webp::PixelLayout::Rgb, w, h).encode(80.0).to_vec();
        let decoded = decode::decode_for_width(&file, "wide.webp", &Limits::default(), Some(1920)).unwrap();
        assert_eq!((decoded.image.width(), decoded.width, decoded.height), (2000, 4000, 300));
        let rendered = render(&file, "wide.webp", &RenderSettings::default()).unwrap();
        let sizes: Vec<(&str, u32, u32)> =
            rendered.variants.iter().map(|v| (v.name.as_str(), v.width, v.height)).collect();
        assert_eq!(sizes, [("thumbnail", 200, 15), ("mobile", 640, 48), ("tablet", 1024, 77), ("pc", 1920, 144)]);
        assert_eq!((rendered.width, rendered.height), (4000, 300));
        let pc = rendered.variants[3].fallback().unwrap();
        let pc = image::load_from_memory(&pc.bytes).unwrap();
        assert_eq!((pc.width(), pc.height()), (1920, 144));
    }

    fn candidate(format: OutputFormat, len: usize) -> Representation {
        Representation { format, bytes: vec![0; len], from_original: false }
    }

    fn kept(chosen: &(Vec<Representation>, Vec<SkippedFormat>)) -> Vec<(OutputFormat, usize)> {
        chosen.0.iter().map(|r| (r.format, r.bytes.len())).collect()
    }

    #[test]
    fn a_format_is_kept_only_when_smaller_than_what_its_viewers_also_accept() {
        use OutputFormat::{Avif, Jpeg, Png, WebP};
        let all = |a, w, j| vec![candidate(Avif, a), candidate(WebP, w), candidate(Jpeg, j)];
        // Photo: each newer format smaller.
        assert_eq!(kept(&choose(all(30, 60, 100), vec![]).unwrap()), [(Avif, 30), (WebP, 60), (Jpeg, 100)]);
        // AVIF beats the JPEG but not the WebP: AVIF viewers get the WebP.
        let chosen = choose(all(70, 60, 100), vec![]).unwrap();
        assert_eq!(kept(&chosen), [(WebP, 60), (Jpeg, 100)]);
        assert_eq!(chosen.1[0].format, Avif);
        assert!(
            chosen.1[0].reason.contains("AVIF (70 bytes) was no smaller than the WEBP (60 bytes)"),
            "{:?}",
            chosen.1
        );
        // WebP larger than the fallback, AVIF between them.
        assert_eq!(kept(&choose(all(90, 120, 100), vec![]).unwrap()), [(Avif, 90), (Jpeg, 100)]);
        // A small logo: the fallback wins everything.
        let chosen = choose(vec![candidate(Avif, 900), candidate(WebP, 800), candidate(Png, 500)], vec![]).unwrap();
        assert_eq!(kept(&chosen), [(Png, 500)]);
        assert_eq!(chosen.1.len(), 2);
        // Equal size: the older format is kept (every viewer can use it).
        assert_eq!(kept(&choose(all(100, 100, 100), vec![]).unwrap()), [(Jpeg, 100)]);
        // The original's stripped bytes compete with our encode of the same kind.
        let mut candidates = all(300, 200, 150);
        candidates.push(Representation { format: Png, bytes: vec![1; 120], from_original: true });
        let chosen = choose(candidates, vec![]).unwrap();
        assert_eq!(kept(&chosen), [(Png, 120)]);
        assert!(chosen.0[0].from_original);
        // No fallback is an error, never an empty variant.
        assert!(choose(vec![candidate(Avif, 1)], vec![]).is_err());
    }
}
