//! Decoding an untrusted original: sniff the real format, check limits from the headers before
//! allocating pixels, decode once, apply EXIF orientation.

use std::io::Cursor;

use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::codecs::{jpeg_markers, libjpeg, libwebp};
use crate::crop::NeededWidth;
use crate::error::ImageError;
use crate::limits::{check_dimensions, Limits};
use crate::read::{gif_probe, png_decode};
use crate::source_format::SourceFormat;

/// Identifies the content by its magic bytes, and checks it against what the name claims.
///
/// A name without an extension is judged by content alone; a name whose extension is not an image
/// type we accept, or names a different one than the content is, is refused.
pub fn sniff(bytes: &[u8], name: &str) -> Result<SourceFormat, ImageError> {
    let content = match image::guess_format(bytes) {
        Ok(ImageFormat::Jpeg) => SourceFormat::Jpeg,
        Ok(ImageFormat::Png) => SourceFormat::Png,
        Ok(ImageFormat::Gif) => SourceFormat::Gif,
        Ok(ImageFormat::WebP) => SourceFormat::WebP,
        Ok(other) => {
            return Err(ImageError::Unsupported(format!(
                "{} images are not accepted (JPEG, PNG, GIF and WebP are)",
                other.extensions_str().first().copied().unwrap_or("this kind of").to_uppercase()
            )))
        }
        Err(_) => return Err(ImageError::Unsupported("content is not a JPEG, PNG, GIF or WebP image".to_string())),
    };
    if let Some(ext) = extension(name) {
        match SourceFormat::from_extension(ext) {
            Some(claimed) if claimed == content => {}
            Some(claimed) => {
                return Err(ImageError::Mismatch(format!(
                    "name says .{ext} ({}) but the content is {}",
                    claimed.name(),
                    content.name()
                )))
            }
            None => {
                return Err(ImageError::Unsupported(format!(
                    ".{ext} files are not accepted (JPEG, PNG, GIF and WebP are)"
                )))
            }
        }
    }
    Ok(content)
}

fn extension(name: &str) -> Option<&str> {
    let file = name.rsplit('/').next().unwrap_or(name);
    let (stem, ext) = file.rsplit_once('.')?;
    (!stem.is_empty() && !ext.is_empty()).then_some(ext)
}

/// A decoded original, upright, with what is worth carrying into the variants.
pub struct Decoded {
    pub format: SourceFormat,
    pub image: DynamicImage,
    /// Colour profile, kept so colours stay right; everything else (EXIF, GPS, XMP) is dropped.
    pub icc_profile: Option<Vec<u8>>,
    /// Frames in the original (1 for stills; animated GIFs are rendered from their first frame here).
    pub frames: u32,
    /// The original's upright size; `image` may be smaller (a JPEG decoded at a reduced scale).
    pub width: u32,
    pub height: u32,
    /// No EXIF orientation had to be applied: the pixels are the way the file stores them.
    pub upright_as_stored: bool,
    /// What the original holds that the variants do not carry (an HDR gain map, an MPO's further
    /// pictures), in words for the manifest and status event.
    pub not_carried_over: Vec<String>,
}

/// Decodes `bytes` under `limits`. The pixel check uses the header's dimensions, so a decompression
/// bomb is refused before its pixels are allocated.
pub fn decode(bytes: &[u8], name: &str, limits: &Limits) -> Result<Decoded, ImageError> {
    decode_for_width(bytes, name, limits, None)
}

/// Like [`decode`], but a JPEG may come out smaller (DCT scaling, see [`libjpeg`]) as
/// long as its upright width stays at least `needed_width`: the variants never need more.
pub fn decode_for_width(
    bytes: &[u8],
    name: &str,
    limits: &Limits,
    needed_width: Option<u32>,
) -> Result<Decoded, ImageError> {
    decode_needing(bytes, name, limits, needed_width.map(NeededWidth::fixed).as_ref())
}

/// Like [`decode_for_width`], with the width the variants need worked out from the original's
/// upright size (variants with a shape need more of a wide original).
pub fn decode_needing(
    bytes: &[u8],
    name: &str,
    limits: &Limits,
    needed_width: Option<&NeededWidth>,
) -> Result<Decoded, ImageError> {
    limits.check_still_bytes(bytes.len() as u64)?;
    let format = sniff(bytes, name)?;
    if format == SourceFormat::Jpeg {
        jpeg_markers::check_complete(bytes)?;
    }
    decode_from(Cursor::new(bytes), format, limits, needed_width, Some(bytes))
}

/// Like [`decode_for_width`], reading the file at `path`: PNG and GIF are decoded as the file is
/// read, so the compressed file is never in memory beside its pixels (a 20 MP PNG is ~25 MB).
/// JPEG and WebP are read whole: libjpeg-turbo and libwebp decode from memory, and they are smaller.
pub fn decode_file(
    path: &std::path::Path,
    name: &str,
    limits: &Limits,
    needed_width: Option<&NeededWidth>,
) -> Result<Decoded, ImageError> {
    let read_error = |e: std::io::Error| ImageError::Corrupt(format!("reading the original: {e}"));
    let file = std::fs::File::open(path).map_err(read_error)?;
    let size = file.metadata().map_err(read_error)?.len();
    limits.check_still_bytes(size)?;
    let mut reader = std::io::BufReader::new(file);
    let format = sniff(std::io::BufRead::fill_buf(&mut reader).map_err(read_error)?, name)?;
    if matches!(format, SourceFormat::Jpeg | SourceFormat::WebP) {
        // The rest of the file after what the sniff already buffered (bounded by the check above).
        let mut bytes = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        std::io::Read::read_to_end(&mut reader, &mut bytes).map_err(read_error)?;
        return decode_needing(&bytes, name, limits, needed_width);
    }
    decode_from(reader, format, limits, needed_width, None)
}

/// The decode itself, from any seekable reader; `bytes` holds a JPEG's or WebP's bytes for
/// libjpeg-turbo or libwebp.
fn decode_from<R: std::io::BufRead + std::io::Seek>(
    mut source: R,
    format: SourceFormat,
    limits: &Limits,
    needed_width: Option<&NeededWidth>,
    bytes: Option<&[u8]>,
) -> Result<Decoded, ImageError> {
    if format == SourceFormat::Png {
        let png = png_decode::decode(source, limits)?;
        return Ok(upright(format, png.image, png.icc_profile, png.orientation, 1));
    }
    let mut frames = 1;
    if format == SourceFormat::Gif {
        let probe = gif_probe::probe(&mut source, limits)?;
        frames = probe.frames;
        source.rewind().map_err(|e| ImageError::Corrupt(format!("reading the original: {e}")))?;
    }

    let mut reader = ImageReader::with_format(source, format.image_format());
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_dimension);
    image_limits.max_image_height = Some(limits.max_dimension);
    // 16-bit RGBA is the widest buffer a decoder makes; allow for it plus working space.
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    reader.limits(image_limits);

    let mut decoder = match (reader.into_decoder(), format, bytes) {
        (Ok(decoder), _, _) => decoder,
        // The `image` crate's JPEG header parser refuses some files libjpeg, and so every browser,
        // reads (an Adobe APP14 segment shorter than usual): then libjpeg and the marker walk read
        // them alone.
        (Err(e), SourceFormat::Jpeg, Some(bytes)) => {
            return decode_jpeg_without_image_crate(bytes, limits, needed_width)
                .ok_or_else(|| ImageError::from_decode(e))?
        }
        (Err(e), _, _) => return Err(ImageError::from_decode(e)),
    };
    let (width, height) = decoder.dimensions();
    check_dimensions(width, height, limits)?;
    let orientation = decoder.orientation().unwrap_or(image::metadata::Orientation::NoTransforms);
    let icc_profile = decoder.icc_profile().ok().flatten();
    let quarter_turn = {
        use image::metadata::Orientation::{Rotate270, Rotate270FlipH, Rotate90, Rotate90FlipH};
        matches!(orientation, Rotate90 | Rotate270 | Rotate90FlipH | Rotate270FlipH)
    };
    let (upright_width, upright_height) = if quarter_turn { (height, width) } else { (width, height) };
    let image = match (format, bytes) {
        // Headers and metadata came from the `image` crate; the pixels from libjpeg-turbo.
        (SourceFormat::Jpeg, Some(bytes)) => {
            let numerator = scale_for(needed_width, upright_width, upright_height);
            match libjpeg::decode(bytes, numerator)? {
                Some(image) => image,
                None => DynamicImage::from_decoder(decoder).map_err(ImageError::from_decode)?,
            }
        }
        // A still WebP through libwebp, with its SIMD decoder, as sharp does; animations stay with
        // the `image` crate, which gives the first frame.
        (SourceFormat::WebP, Some(bytes))
            if webp::BitstreamFeatures::new(bytes).is_some_and(|f| !f.has_animation()) =>
        {
            let numerator = scale_for(needed_width, upright_width, upright_height);
            libwebp::decode(bytes, numerator)?
        }
        _ => DynamicImage::from_decoder(decoder).map_err(ImageError::from_decode)?,
    };
    let mut decoded = upright(format, image, icc_profile, orientation, frames);
    // A JPEG or WebP decoded at a reduced scale: the original's upright size.
    (decoded.width, decoded.height) = (upright_width, upright_height);
    if let (SourceFormat::Jpeg, Some(bytes)) = (format, bytes) {
        decoded.not_carried_over = jpeg_markers::not_carried_over(bytes);
    }
    Ok(decoded)
}

/// A JPEG read by libjpeg (size, pixels) and the marker walk (EXIF orientation, ICC profile).
/// `None` if libjpeg cannot read it or needs another colour conversion (CMYK).
fn decode_jpeg_without_image_crate(
    bytes: &[u8],
    limits: &Limits,
    needed_width: Option<&NeededWidth>,
) -> Option<Result<Decoded, ImageError>> {
    use image::metadata::Orientation;
    let (width, height) = libjpeg::dimensions(bytes)?;
    if let Err(e) = check_dimensions(width, height, limits) {
        return Some(Err(e));
    }
    let orientation =
        jpeg_markers::exif(bytes).and_then(Orientation::from_exif_chunk).unwrap_or(Orientation::NoTransforms);
    let quarter_turn = matches!(
        orientation,
        Orientation::Rotate90 | Orientation::Rotate270 | Orientation::Rotate90FlipH | Orientation::Rotate270FlipH
    );
    let (upright_width, upright_height) = if quarter_turn { (height, width) } else { (width, height) };
    let numerator = scale_for(needed_width, upright_width, upright_height);
    let image = match libjpeg::decode(bytes, numerator) {
        Ok(Some(image)) => image,
        Ok(None) => return None,
        Err(e) => return Some(Err(e)),
    };
    let mut decoded = upright(SourceFormat::Jpeg, image, jpeg_markers::icc_profile(bytes), orientation, 1);
    (decoded.width, decoded.height) = (upright_width, upright_height);
    decoded.not_carried_over = jpeg_markers::not_carried_over(bytes);
    Some(Ok(decoded))
}

/// The DCT scale (numerator of 8) that keeps the upright width at least what the variants need.
fn scale_for(needed: Option<&NeededWidth>, upright_width: u32, upright_height: u32) -> u8 {
    needed
        .and_then(|n| n.for_upright(upright_width, upright_height))
        .map_or(8, |width| libjpeg::scale_for(upright_width, width))
}

/// Applies the orientation the file asks for.
fn upright(
    format: SourceFormat,
    mut image: DynamicImage,
    icc_profile: Option<Vec<u8>>,
    orientation: image::metadata::Orientation,
    frames: u32,
) -> Decoded {
    image.apply_orientation(orientation);
    let (width, height) = (image.width(), image.height());
    let upright_as_stored = orientation == image::metadata::Orientation::NoTransforms;
    Decoded { format, image, icc_profile, frames, width, height, upright_as_stored, not_carried_over: Vec::new() }
}

/// Decodes only the first frame of an animated GIF (one frame's memory, however long the
/// animation) as browsers compose it on the canvas, or a still PNG (the first frame ffmpeg wrote
/// for an APNG or animated WebP), flattened onto `background` so it matches the MP4's first frame.
pub fn decode_first_frame(
    path: &std::path::Path,
    format: SourceFormat,
    limits: &Limits,
    background: [u8; 3],
) -> Result<Decoded, ImageError> {
    use image::AnimationDecoder;
    let file = std::fs::File::open(path).map_err(|e| ImageError::Corrupt(format!("reading the original: {e}")))?;
    let reader = std::io::BufReader::new(file);
    let mut image_limits = image::Limits::default();
    image_limits.max_image_width = Some(limits.max_dimension);
    image_limits.max_image_height = Some(limits.max_dimension);
    image_limits.max_alloc = Some(limits.max_pixels.saturating_mul(8).saturating_add(64 << 20));
    let first = |frames: image::Frames<'_>| -> Result<image::RgbaImage, ImageError> {
        match frames.take(1).next() {
            Some(frame) => Ok(frame.map_err(ImageError::from_decode)?.into_buffer()),
            None => Err(ImageError::Corrupt("animation has no frames".into())),
        }
    };
    let frame = match format {
        SourceFormat::Gif => {
            let mut decoder = image::codecs::gif::GifDecoder::new(reader).map_err(ImageError::from_decode)?;
            decoder.set_limits(image_limits).map_err(ImageError::from_decode)?;
            let (width, height) = decoder.dimensions();
            check_dimensions(width, height, limits)?;
            first(decoder.into_frames())?
        }
        // A still PNG: the first frame ffmpeg wrote for an APNG (the poster of an animation).
        SourceFormat::Png => png_decode::decode(reader, limits)?.image.into_rgba8(),
        // An animated WebP's first frame also comes from ffmpeg, as a PNG.
        SourceFormat::WebP | SourceFormat::Jpeg => {
            return Err(ImageError::Unsupported(format!("no first frame is decoded here from {}", format.name())))
        }
    };
    let (width, height) = frame.dimensions();
    let [br, bg, bb] = background.map(u32::from);
    let flattened = image::RgbImage::from_fn(width, height, |x, y| {
        let [r, g, b, a] = frame.get_pixel(x, y).0.map(u32::from);
        let mix = |c: u32, back: u32| ((c * a + back * (255 - a) + 127) / 255) as u8;
        image::Rgb([mix(r, br), mix(g, bg), mix(b, bb)])
    });
    let image = DynamicImage::ImageRgb8(flattened);
    Ok(Decoded {
        format,
        image,
        icc_profile: None,
        frames: 1,
        width,
        height,
        upright_as_stored: true,
        not_carried_over: Vec::new(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG_MAGIC: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG_MAGIC: &[u8] = b"\xff\xd8\xff\xe0\0\x10JFIF\0";

    #[test]
    fn content_decides_and_must_match_the_extension() {
        assert_eq!(sniff(PNG_MAGIC, "a/b.PNG").unwrap(), SourceFormat::Png);
        assert_eq!(sniff(JPEG_MAGIC, "a/photo.jpeg").unwrap(), SourceFormat::Jpeg);
        assert_eq!(sniff(JPEG_MAGIC, "a/no-extension").unwrap(), SourceFormat::Jpeg);
        assert!(matches!(sniff(JPEG_MAGIC, "a/b.png"), Err(ImageError::Mismatch(_))));
        assert!(matches!(sniff(JPEG_MAGIC, "a/b.heic"), Err(ImageError::Unsupported(_))));
        assert!(matches!(sniff(b"hello world", "a/b.jpg"), Err(ImageError::Unsupported(_))));
        assert!(matches!(sniff(b"BM\0\0\0\0\0\0", "a/b.bmp"), Err(ImageError::Unsupported(_))));
    }

    #[test]
    fn a_jpeg_the_image_crate_refuses_is_read_by_libjpeg_with_its_orientation() {
        // The orientation fixture (stored 2400×1600, EXIF orientation 6) with an Adobe APP14
        // segment too short for the image crate's parser, which libjpeg skips.
        let fixture = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/oriented.jpg");
        let original = std::fs::read(fixture).unwrap();
        let mut jpeg = original[..2].to_vec();
        jpeg.extend_from_slice(b"\xFF\xEE\x00\x07Adobe");
        jpeg.extend_from_slice(&original[2..]);
        let mut reader = ImageReader::with_format(Cursor::new(&jpeg), ImageFormat::Jpeg);
        reader.no_limits();
        assert!(reader.into_decoder().is_err(), "the image crate refuses it");
        let decoded = decode(&jpeg, "a.jpg", &Limits::default()).unwrap();
        assert_eq!((decoded.width, decoded.height), (1600, 2400), "turned upright");
        assert_eq!((decoded.image.width(), decoded.image.height()), (1600, 2400));
        assert!(!decoded.upright_as_stored);
    }

    #[test]
    fn dimension_limits() {
        let limits = Limits { max_pixels: 100, max_dimension: 50, ..Limits::default() };
        assert!(check_dimensions(10, 10, &limits).is_ok());
        assert!(matches!(check_dimensions(11, 10, &limits), Err(ImageError::TooLarge(_))));
        assert!(matches!(check_dimensions(51, 1, &limits), Err(ImageError::TooLarge(_))));
        assert!(matches!(check_dimensions(0, 1, &limits), Err(ImageError::Corrupt(_))));
    }
}
