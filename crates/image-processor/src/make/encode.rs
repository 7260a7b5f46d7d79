//! The output formats and their encoders: AVIF (libaom through the layer's ffmpeg), WebP
//! (libwebp), baseline JPEG (libjpeg-turbo) and PNG. Pixels in, file bytes out; no resizing and no choosing here.

use crate::codecs::libjpeg;
use crate::error::ImageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum OutputFormat {
    Avif,
    WebP,
    Jpeg,
    Png,
}

impl OutputFormat {
    pub fn content_type(self) -> &'static str {
        match self {
            OutputFormat::Avif => "image/avif",
            OutputFormat::WebP => "image/webp",
            OutputFormat::Jpeg => "image/jpeg",
            OutputFormat::Png => "image/png",
        }
    }

    pub fn extension(self) -> &'static str {
        match self {
            OutputFormat::Avif => "avif",
            OutputFormat::WebP => "webp",
            OutputFormat::Jpeg => "jpg",
            OutputFormat::Png => "png",
        }
    }

    /// The name used in manifests: `avif`, `webp`, `jpeg`, `png`.
    pub fn name(self) -> &'static str {
        match self {
            OutputFormat::Avif => "avif",
            OutputFormat::WebP => "webp",
            OutputFormat::Jpeg => "jpeg",
            OutputFormat::Png => "png",
        }
    }

    /// JPEG and PNG: what every browser takes.
    pub fn is_fallback(self) -> bool {
        matches!(self, OutputFormat::Jpeg | OutputFormat::Png)
    }
}

/// Encoder settings. Every field changes output bytes, so all are in the render fingerprint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EncodeSettings {
    /// Which formats besides the fallback are made (`OUTPUT_FORMATS`, default both).
    pub avif: bool,
    pub webp: bool,
    /// 1–100 (libjpeg scale). 80 is what sharp and libvips users typically ship.
    pub jpeg_quality: u8,
    /// 1–100 (libwebp scale).
    pub webp_quality: u8,
    /// libwebp's `method`, 0 (fastest) – 6 (smallest).
    pub webp_effort: u8,
    /// libaom's cq-level, 0 (best) – 63 (`AVIF_CQ`).
    pub avif_cq: u8,
    /// How hard libaom works (`AVIF_EFFORT`).
    pub avif_effort: AvifEffort,
    /// The ffmpeg libaom runs in (the layer's); not part of the fingerprint.
    pub ffmpeg_path: std::path::PathBuf,
}

/// libaom's effort tiers: speed against bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AvifEffort {
    Fast,
    Default,
    Max,
}

impl AvifEffort {
    pub fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "fast" => Some(AvifEffort::Fast),
            "default" => Some(AvifEffort::Default),
            "max" => Some(AvifEffort::Max),
            _ => None,
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            AvifEffort::Fast => "fast",
            AvifEffort::Default => "default",
            AvifEffort::Max => "max",
        }
    }

    /// libaom's settings for this tier at `cq_level` (docs/benchmarks.md, "AVIF"): bytes at the
    /// score of sharp's default AVIF over the bench corpus, default 1.077× sharp's; max at
    /// cpu-used 4 was 0.958× (floor 0.95), at cpu-used 3 0.936× (2.3% fewer bytes) for twice the
    /// time: fine for the hot originals `max` is meant for.
    pub fn aom(self, cq_level: u8) -> crate::codecs::libaom::AomSettings {
        let (cpu_used, ten_bit) = match self {
            AvifEffort::Fast => (8, false),
            AvifEffort::Default => (6, true),
            AvifEffort::Max => (3, true),
        };
        crate::codecs::libaom::AomSettings { cq_level, cpu_used, ten_bit }
    }
}

impl Default for EncodeSettings {
    /// Chosen by `make bench` (docs/benchmarks.md, "Formats"): the AVIF and WebP qualities reach
    /// the SSIMULACRA2 score of sharp's defaults, at the speeds that met the time targets.
    fn default() -> Self {
        EncodeSettings {
            avif: true,
            webp: true,
            jpeg_quality: 80,
            webp_quality: 80,
            webp_effort: 3,
            avif_cq: 37,
            avif_effort: AvifEffort::Default,
            // The layer's, unless FFMPEG_PATH says (as for the video: a local run, the tests).
            ffmpeg_path: std::env::var_os("FFMPEG_PATH")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| std::path::PathBuf::from("/opt/bin/ffmpeg")),
        }
    }
}

impl EncodeSettings {
    pub fn fingerprint(&self) -> String {
        let webp = if self.webp { format!("webp{}m{}", self.webp_quality, self.webp_effort) } else { "-".into() };
        let avif = if self.avif { format!("aom{}{}", self.avif_cq, self.avif_effort.name()) } else { "-".into() };
        format!("q{};{webp};{avif}", self.jpeg_quality)
    }

    /// The formats made besides the fallback, best first.
    pub fn modern_formats(&self) -> Vec<OutputFormat> {
        [(self.avif, OutputFormat::Avif), (self.webp, OutputFormat::WebP)]
            .into_iter()
            .filter_map(|(on, format)| on.then_some(format))
            .collect()
    }
}

/// Interleaved 8-bit pixels: 1 (gray), 3 (RGB) or 4 (RGBA, straight alpha) channels per pixel.
#[derive(Debug, Clone, Copy)]
pub struct PixelsRef<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub channels: u8,
}

impl PixelsRef<'_> {
    fn check(&self) -> Result<(), ImageError> {
        let expected = u64::from(self.width) * u64::from(self.height) * u64::from(self.channels);
        if self.width == 0 || self.height == 0 || self.data.len() as u64 != expected {
            return Err(ImageError::Encode(format!(
                "{}×{}×{} pixels do not match a {}-byte buffer",
                self.width,
                self.height,
                self.channels,
                self.data.len()
            )));
        }
        Ok(())
    }
}

/// Encodes `pixels` as `format`. `icc_profile` is embedded where the format carries one.
pub fn encode(
    format: OutputFormat,
    pixels: PixelsRef<'_>,
    icc_profile: Option<&[u8]>,
    settings: &EncodeSettings,
) -> Result<Vec<u8>, ImageError> {
    pixels.check()?;
    match format {
        OutputFormat::Jpeg => encode_jpeg(pixels, icc_profile, settings.jpeg_quality),
        OutputFormat::Png => encode_png(pixels, icc_profile),
        OutputFormat::WebP => encode_webp(pixels, icc_profile, settings),
        OutputFormat::Avif => encode_avif(pixels, settings),
    }
}

fn encode_jpeg(pixels: PixelsRef<'_>, icc_profile: Option<&[u8]>, quality: u8) -> Result<Vec<u8>, ImageError> {
    let gray = match pixels.channels {
        1 => true,
        3 => false,
        n => return Err(ImageError::Encode(format!("JPEG cannot carry {n} channels"))),
    };
    libjpeg::encode(pixels.data, pixels.width, pixels.height, gray, quality.clamp(1, 100), icc_profile)
}

fn encode_png(pixels: PixelsRef<'_>, icc_profile: Option<&[u8]>) -> Result<Vec<u8>, ImageError> {
    use image::ImageEncoder;
    let color = match pixels.channels {
        1 => image::ExtendedColorType::L8,
        3 => image::ExtendedColorType::Rgb8,
        _ => image::ExtendedColorType::Rgba8,
    };
    let mut out = Vec::with_capacity(pixels.data.len() / 4);
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
        .write_image(pixels.data, pixels.width, pixels.height, color)
        .map_err(|e| ImageError::Encode(format!("PNG: {e}")))?;
    Ok(out)
}

fn encode_webp(
    pixels: PixelsRef<'_>,
    icc_profile: Option<&[u8]>,
    settings: &EncodeSettings,
) -> Result<Vec<u8>, ImageError> {
    let expanded;
    let (data, layout) = match pixels.channels {
        1 => {
            expanded = gray_to_rgb(pixels.data);
            (expanded.as_slice(), webp::PixelLayout::Rgb)
        }
        3 => (pixels.data, webp::PixelLayout::Rgb),
        _ => (pixels.data, webp::PixelLayout::Rgba),
    };
    let mut config =
        webp::WebPConfig::new().map_err(|()| ImageError::Encode("WebP: libwebp version mismatch".into()))?;
    config.quality = f32::from(settings.webp_quality.clamp(1, 100));
    config.method = i32::from(settings.webp_effort.min(6));
    // Lossy alpha at full quality, as sharp does by default: edges of stickers and logos stay clean.
    config.alpha_quality = 100;
    config.alpha_compression = 1;
    let encoded = webp::Encoder::new(data, layout, pixels.width, pixels.height)
        .encode_advanced(&config)
        .map_err(|e| ImageError::Encode(format!("WebP: {e:?}")))?;
    let bytes = encoded.to_vec();
    match icc_profile {
        Some(icc) if !icc.is_empty() => add_webp_icc(bytes, icc, pixels.width, pixels.height, pixels.channels == 4),
        _ => Ok(bytes),
    }
}

/// Adds an ICCP chunk, so wide-gamut originals keep their colours (libwebp's encoder writes no
/// profile): a simple (VP8/VP8L) file becomes the extended format; an extended one (lossy with
/// alpha) gets the chunk after its VP8X header and the ICC flag.
fn add_webp_icc(file: Vec<u8>, icc: &[u8], width: u32, height: u32, alpha: bool) -> Result<Vec<u8>, ImageError> {
    let body = file.get(12..).ok_or_else(|| ImageError::Encode("WebP: short output".into()))?;
    fn chunk(out: &mut Vec<u8>, fourcc: &[u8; 4], data: &[u8]) {
        out.extend_from_slice(fourcc);
        out.extend_from_slice(&(data.len() as u32).to_le_bytes());
        out.extend_from_slice(data);
        if data.len() % 2 == 1 {
            out.push(0);
        }
    }
    let mut out = Vec::with_capacity(file.len() + icc.len() + 32);
    out.extend_from_slice(b"RIFF\0\0\0\0WEBP");
    if body.starts_with(b"VP8X") && body.len() >= 18 {
        let mut vp8x = body[..18].to_vec();
        vp8x[8] |= 0x20;
        out.extend_from_slice(&vp8x);
        chunk(&mut out, b"ICCP", icc);
        out.extend_from_slice(&body[18..]);
    } else {
        let mut vp8x = [0u8; 10];
        vp8x[0] = 0x20 | if alpha { 0x10 } else { 0 }; // ICC, alpha
        vp8x[4..7].copy_from_slice(&(width - 1).to_le_bytes()[..3]);
        vp8x[7..10].copy_from_slice(&(height - 1).to_le_bytes()[..3]);
        chunk(&mut out, b"VP8X", &vp8x);
        chunk(&mut out, b"ICCP", icc);
        out.extend_from_slice(body);
    }
    let riff_size = (out.len() - 8) as u32;
    out[4..8].copy_from_slice(&riff_size.to_le_bytes());
    Ok(out)
}

/// Longest one AVIF encode may take: a 1920 px libaom encode at `max` takes seconds.
const AVIF_ENCODE_LIMIT: std::time::Duration = std::time::Duration::from_secs(120);

/// libaom with tune=iq through the layer's ffmpeg: sharp's encoder, at sharp's bytes or fewer
/// (docs/benchmarks.md, "AVIF"). crates.io's libaom stops before tune=iq; rav1e needed 1.28×.
fn encode_avif(pixels: PixelsRef<'_>, settings: &EncodeSettings) -> Result<Vec<u8>, ImageError> {
    let aom = crate::codecs::libaom::Pixels {
        data: pixels.data,
        width: pixels.width,
        height: pixels.height,
        channels: pixels.channels,
    };
    crate::codecs::libaom::encode(
        &settings.ffmpeg_path,
        &aom,
        settings.avif_effort.aom(settings.avif_cq),
        // The pool's threads, so the 1920 px encode (the longest task of a set) takes the cores the
        // other tasks free: -4% for a three-format set on two cores (docs/benchmarks.md).
        rayon::current_num_threads(),
        &std::env::temp_dir(),
        AVIF_ENCODE_LIMIT,
    )
    .map_err(|e| ImageError::Encode(format!("AVIF: {e}")))
}

fn gray_to_rgb(gray: &[u8]) -> Vec<u8> {
    gray.iter().flat_map(|&v| [v, v, v]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::DynamicImage;

    fn gradient(w: u32, h: u32, channels: u8) -> Vec<u8> {
        let mut out = Vec::new();
        for y in 0..h {
            for x in 0..w {
                let v = [(x * 255 / w) as u8, (y * 255 / h) as u8, 128, if x < w / 2 { 255 } else { 100 }];
                out.extend_from_slice(&v[..usize::from(channels)]);
            }
        }
        out
    }

    #[test]
    fn every_format_encodes_what_its_decoder_reads_back() {
        let settings = EncodeSettings::default();
        for channels in [1u8, 3, 4] {
            let data = gradient(64, 48, channels);
            let pixels = PixelsRef { data: &data, width: 64, height: 48, channels };
            for format in [OutputFormat::Avif, OutputFormat::WebP, OutputFormat::Jpeg, OutputFormat::Png] {
                if format == OutputFormat::Jpeg && channels == 4 {
                    assert!(encode(format, pixels, None, &settings).is_err());
                    continue;
                }
                let bytes = encode(format, pixels, None, &settings).unwrap();
                match format {
                    OutputFormat::Avif => {
                        assert_eq!(&bytes[4..12], b"ftypavif");
                    }
                    _ => {
                        let image = image::load_from_memory(&bytes).unwrap();
                        assert_eq!((image.width(), image.height()), (64, 48), "{format:?}");
                        assert_eq!(
                            image.color().has_alpha(),
                            channels == 4 && format != OutputFormat::Jpeg,
                            "{format:?}"
                        );
                    }
                }
            }
        }
    }

    #[test]
    fn webp_keeps_a_colour_profile() {
        use image::ImageDecoder;
        for channels in [3u8, 4] {
            let data = gradient(16, 16, channels);
            let pixels = PixelsRef { data: &data, width: 16, height: 16, channels };
            let icc = vec![7u8; 301];
            let bytes = encode(OutputFormat::WebP, pixels, Some(&icc), &EncodeSettings::default()).unwrap();
            assert_eq!(&bytes[12..16], b"VP8X");
            assert_eq!(u32::from_le_bytes(bytes[4..8].try_into().unwrap()) as usize, bytes.len() - 8);
            let mut decoder = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&bytes)).unwrap();
            assert_eq!(decoder.icc_profile().unwrap(), Some(icc));
            assert_eq!(decoder.dimensions(), (16, 16));
            assert_eq!(decoder.color_type().has_alpha(), channels == 4);
            let image = DynamicImage::from_decoder(decoder).unwrap();
            assert_eq!(image.width(), 16);
        }
    }

    #[test]
    fn a_buffer_of_the_wrong_size_is_an_error_not_a_crash() {
        let pixels = PixelsRef { data: &[0; 10], width: 4, height: 4, channels: 3 };
        for format in [OutputFormat::Avif, OutputFormat::WebP, OutputFormat::Jpeg, OutputFormat::Png] {
            assert!(matches!(encode(format, pixels, None, &EncodeSettings::default()), Err(ImageError::Encode(_))));
        }
    }
}
