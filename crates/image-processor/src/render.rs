//! Variant rendering: one decode per original, then a resize cascade (largest variant first, each
//! smaller one from the previous result) and one encode per variant.
//!
//! No AWS here: bytes in, encoded variants out, so the CLI, the Lambda and the benchmarks share it.

use fast_image_resize::{images::Image, FilterType, MulDiv, PixelType, ResizeAlg, ResizeOptions, Resizer};
use image::DynamicImage;

use crate::decode::{self, Decoded, SourceFormat};
use crate::error::ImageError;
use crate::limits::Limits;
use crate::video::VideoSettings;

/// A named output width, e.g. `mobile` at 640 px.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VariantSpec {
    pub name: String,
    /// Width of the variant; the original's width when it is narrower (never upscaled).
    pub max_width: u32,
}

impl VariantSpec {
    pub fn new(name: &str, max_width: u32) -> Self {
        VariantSpec { name: name.to_string(), max_width }
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
    /// 1–100; 80 matches what sharp and libvips users typically ship.
    pub jpeg_quality: u8,
    pub limits: Limits,
    /// Animated GIF → MP4.
    pub video: VideoSettings,
}

impl Default for RenderSettings {
    fn default() -> Self {
        RenderSettings {
            variants: default_variants(),
            jpeg_quality: 80,
            limits: Limits::default(),
            video: VideoSettings::default(),
        }
    }
}

impl RenderSettings {
    /// A stable text naming the output-affecting settings (limits do not change output bytes).
    /// `RENDERER` names the code's own output: bump it when a change alters variant bytes, so an
    /// immutable key never gets different bytes when an original is processed again.
    pub fn fingerprint(&self) -> String {
        const RENDERER: &str = "r2"; // r2: thumbnails with Catmull-Rom, alpha premultiplied once
        let variants: Vec<String> = self.variants.iter().map(|v| format!("{}:{}", v.name, v.max_width)).collect();
        format!("{RENDERER};q{};{};{}", self.jpeg_quality, variants.join(","), self.video.fingerprint())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Jpeg,
    Png,
}

impl OutputFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
        }
    }
}

#[derive(Debug, Clone)]
pub struct RenderedVariant {
    pub name: String,
    pub width: u32,
    pub height: u32,
    pub format: OutputFormat,
    pub bytes: Vec<u8>,
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
}

/// Decodes `bytes` (named `name`, used to check the claimed type) and renders every variant.
pub fn render(bytes: &[u8], name: &str, settings: &RenderSettings) -> Result<Rendered, ImageError> {
    let largest = settings.variants.iter().map(|v| v.max_width).max();
    let decoded = decode::decode_for_width(bytes, name, &settings.limits, largest)?;
    render_decoded(decoded, &settings.variants, settings.jpeg_quality)
}

/// Like [`render`], reading the original from a file (see [`decode::decode_file`]).
pub fn render_file(path: &std::path::Path, name: &str, settings: &RenderSettings) -> Result<Rendered, ImageError> {
    let largest = settings.variants.iter().map(|v| v.max_width).max();
    let decoded = decode::decode_file(path, name, &settings.limits, largest)?;
    render_decoded(decoded, &settings.variants, settings.jpeg_quality)
}

/// Renders `specs` from an already decoded image.
pub fn render_decoded(decoded: Decoded, specs: &[VariantSpec], jpeg_quality: u8) -> Result<Rendered, ImageError> {
    let (width, height) = (decoded.width, decoded.height);
    let source = Pixels::from_image(decoded.image);
    // An sRGB profile says what an untagged image already means on the web: dropping it saves its
    // 3–9 KB in every variant (much of a thumbnail). Other profiles (Display P3, Adobe RGB) stay.
    let icc_profile = decoded.icc_profile.as_deref().filter(|icc| !is_srgb_profile(icc));
    let variants = render_variants(source, icc_profile, specs, jpeg_quality)?;
    Ok(Rendered { source_format: decoded.format, width, height, frames: decoded.frames, variants })
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

fn render_variants(
    mut source: Pixels,
    icc_profile: Option<&[u8]>,
    specs: &[VariantSpec],
    jpeg_quality: u8,
) -> Result<Vec<RenderedVariant>, ImageError> {
    let (src_w, src_h) = (source.image.width(), source.image.height());
    // Largest first, so each variant is resized from the next larger one: the small ones cost little.
    let mut order: Vec<usize> = (0..specs.len()).collect();
    order.sort_by_key(|&i| std::cmp::Reverse(specs[i].max_width));

    // Transparent pixels must not bleed their colour into their neighbours: resize premultiplied.
    // Premultiplying the original in place (rather than letting the resizer premultiply into a copy
    // it keeps) saves a buffer the size of the original; the cascade stays premultiplied and each
    // variant is divided back just before it is encoded.
    let mul_div = MulDiv::default();
    if source.layout == Layout::Rgba {
        mul_div.multiply_alpha_inplace(&mut source.image).map_err(|e| ImageError::Encode(format!("alpha: {e}")))?;
    }
    let mut resizer = Resizer::new();
    let options = ResizeOptions::new().use_alpha(false);
    let mut outputs: Vec<Option<RenderedVariant>> = vec![None; specs.len()];
    let mut previous: Option<Image<'static>> = None;
    // The last encoded size and bytes: variants of the same size (a small original) share them.
    let mut last_encoded: Option<(u32, u32, OutputFormat, Vec<u8>)> = None;

    for index in order {
        let spec = &specs[index];
        let width = spec.max_width.clamp(1, src_w);
        let height = scaled_height(src_w, src_h, width);
        let (format, bytes) = match &last_encoded {
            Some((w, h, format, bytes)) if (*w, *h) == (width, height) => (*format, bytes.clone()),
            _ => {
                let from = previous.as_ref().unwrap_or(&source.image);
                if (from.width(), from.height()) != (width, height) {
                    let mut dst = Image::new(width, height, source.layout.pixel_type());
                    let options = options.clone().resize_alg(ResizeAlg::Convolution(filter_for(width)));
                    resizer
                        .resize(from, &mut dst, &options)
                        .map_err(|e| ImageError::Encode(format!("resize to {width}×{height}: {e}")))?;
                    previous = Some(dst);
                }
                let pixels = previous.as_ref().unwrap_or(&source.image);
                let encoded = if source.layout == Layout::Rgba {
                    // Into a new buffer: `pixels` stays premultiplied for the next, smaller variant.
                    let mut straight = Image::new(width, height, PixelType::U8x4);
                    mul_div
                        .divide_alpha(pixels, &mut straight)
                        .map_err(|e| ImageError::Encode(format!("alpha: {e}")))?;
                    encode(&straight, source.layout, icc_profile, jpeg_quality)?
                } else {
                    encode(pixels, source.layout, icc_profile, jpeg_quality)?
                };
                last_encoded = Some((width, height, encoded.0, encoded.1.clone()));
                encoded
            }
        };
        outputs[index] = Some(RenderedVariant { name: spec.name.clone(), width, height, format, bytes });
    }
    Ok(outputs.into_iter().flatten().collect())
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

fn encode(
    image: &Image<'_>,
    layout: Layout,
    icc_profile: Option<&[u8]>,
    quality: u8,
) -> Result<(OutputFormat, Vec<u8>), ImageError> {
    let (w, h) = (image.width(), image.height());
    let mut out = Vec::with_capacity(image.buffer().len() / 8);
    match layout {
        Layout::Gray | Layout::Rgb => {
            let gray = layout == Layout::Gray;
            let bytes = crate::libjpeg::encode(image.buffer(), w, h, gray, quality.clamp(1, 100), icc_profile)?;
            Ok((OutputFormat::Jpeg, bytes))
        }
        Layout::Rgba => {
            use image::ImageEncoder;
            let mut encoder = image::codecs::png::PngEncoder::new_with_quality(
                &mut out,
                // Fast (fdeflate) rather than Default: several times quicker on photo-sized RGBA.
                image::codecs::png::CompressionType::Fast,
                image::codecs::png::FilterType::Adaptive,
            );
            if let Some(icc) = icc_profile {
                let _ = encoder.set_icc_profile(icc.to_vec());
            }
            encoder
                .write_image(image.buffer(), w, h, image::ExtendedColorType::Rgba8)
                .map_err(|e| ImageError::Encode(format!("PNG: {e}")))?;
            Ok((OutputFormat::Png, out))
        }
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
        other.jpeg_quality = 90;
        assert_ne!(base.fingerprint(), other.fingerprint());
    }
}
