//! PNG stills through the `png` crate, with the zlib stream's checksum checked.
//!
//! Browsers (Chromium, checked in `tests/conformance`) show a PNG whose image data decodes
//! completely but fails its Adler-32 checksum, and so does the `image` crate, silently. Here the
//! checksum is checked: such a file is still accepted, as browsers show it, but logged. Image data
//! that is damaged (does not inflate, ends early) or a chunk whose CRC does not match is refused.

use std::io::{BufRead, Seek};

use image::metadata::Orientation;
use image::DynamicImage;

use crate::error::ImageError;
use crate::limits::{check_dimensions, Limits};

pub struct PngImage {
    pub image: DynamicImage,
    pub icc_profile: Option<Vec<u8>>,
    pub orientation: Orientation,
}

/// Decodes the PNG in `source` (at its start) within `limits`.
pub fn decode<R: BufRead + Seek>(mut source: R, limits: &Limits) -> Result<PngImage, ImageError> {
    match read(&mut source, limits, false) {
        Err(ReadError::Png(e)) if is_checksum_mismatch(&e) => {
            tracing::warn!("PNG image data fails its zlib checksum; shown anyway, as browsers show it");
            source.rewind().map_err(|e| ImageError::Corrupt(format!("reading the original: {e}")))?;
            read(&mut source, limits, true).map_err(ReadError::into_image_error)
        }
        other => other.map_err(ReadError::into_image_error),
    }
}

enum ReadError {
    Png(png::DecodingError),
    Image(ImageError),
}

impl From<png::DecodingError> for ReadError {
    fn from(e: png::DecodingError) -> Self {
        ReadError::Png(e)
    }
}

impl ReadError {
    fn into_image_error(self) -> ImageError {
        match self {
            ReadError::Png(e) => describe(e),
            ReadError::Image(e) => e,
        }
    }
}

fn is_checksum_mismatch(e: &png::DecodingError) -> bool {
    matches!(e, png::DecodingError::Format(_)) && e.to_string().contains("WrongChecksum")
}

fn read<R: BufRead + Seek>(source: &mut R, limits: &Limits, ignore_adler32: bool) -> Result<PngImage, ReadError> {
    let mut options = png::DecodeOptions::default();
    options.set_ignore_adler32(ignore_adler32);
    let mut decoder = png::Decoder::new_with_options(source, options);
    // 16-bit RGBA is the widest buffer; allow for it plus working space.
    let max_bytes = limits.max_pixels.saturating_mul(8).saturating_add(64 << 20);
    decoder.set_limits(png::Limits { bytes: usize::try_from(max_bytes).unwrap_or(usize::MAX) });
    // Palette and low bit depths expand to 8 bits, tRNS to alpha; 16 bits stay 16.
    decoder.set_transformations(png::Transformations::EXPAND);
    let header = decoder.read_header_info()?;
    check_dimensions(header.width, header.height, limits).map_err(ReadError::Image)?;
    let mut reader = decoder.read_info()?;
    let icc_profile = reader.info().icc_profile.as_ref().map(|p| p.to_vec());
    let orientation = reader
        .info()
        .exif_metadata
        .as_ref()
        .and_then(|exif| Orientation::from_exif_chunk(exif))
        .unwrap_or(Orientation::NoTransforms);
    let size = reader.output_buffer_size().ok_or(png::DecodingError::LimitsExceeded)?;
    let mut pixels = vec![0u8; size];
    let frame = reader.next_frame(&mut pixels)?;
    pixels.truncate(frame.buffer_size());
    let (width, height) = (frame.width, frame.height);
    let image = match reader.output_color_type() {
        (color, png::BitDepth::Sixteen) => {
            // PNG stores 16-bit samples big-endian.
            let samples: Vec<u16> = pixels.chunks_exact(2).map(|s| u16::from_be_bytes([s[0], s[1]])).collect();
            drop(pixels);
            match color {
                png::ColorType::Grayscale => {
                    image::ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageLuma16)
                }
                png::ColorType::GrayscaleAlpha => {
                    image::ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageLumaA16)
                }
                png::ColorType::Rgb => {
                    image::ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageRgb16)
                }
                png::ColorType::Rgba => {
                    image::ImageBuffer::from_raw(width, height, samples).map(DynamicImage::ImageRgba16)
                }
                png::ColorType::Indexed => None,
            }
        }
        (png::ColorType::Grayscale, _) => {
            image::ImageBuffer::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        }
        (png::ColorType::GrayscaleAlpha, _) => {
            image::ImageBuffer::from_raw(width, height, pixels).map(DynamicImage::ImageLumaA8)
        }
        (png::ColorType::Rgb, _) => image::ImageBuffer::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
        (png::ColorType::Rgba, _) => image::ImageBuffer::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8),
        (png::ColorType::Indexed, _) => None,
    };
    let image =
        image.ok_or_else(|| ReadError::Image(ImageError::Corrupt("the PNG's pixels do not fit its size".into())))?;
    Ok(PngImage { image, icc_profile, orientation })
}

/// What went wrong, in words for the person who uploaded the file.
fn describe(e: png::DecodingError) -> ImageError {
    let detail = e.to_string();
    match e {
        png::DecodingError::LimitsExceeded => {
            ImageError::TooLarge("the PNG is larger than the limits allow (pixels or memory)".into())
        }
        png::DecodingError::IoError(io) if io.kind() == std::io::ErrorKind::UnexpectedEof => ImageError::Corrupt(
            "the PNG ends before its image does: the file is incomplete (was the upload cut short?)".into(),
        ),
        png::DecodingError::IoError(io) => ImageError::Corrupt(format!("reading the PNG: {io}")),
        png::DecodingError::Parameter(_) => ImageError::Corrupt(format!("the PNG could not be read ({detail})")),
        png::DecodingError::Format(_) => {
            let reason = if detail.contains("CRC error") {
                "part of the PNG does not match its checksum: the file was damaged after it was saved"
            } else if detail.contains("deflate") || detail.contains("not have enough data") {
                "the PNG's image data is damaged or cut short"
            } else if detail.contains("signature") {
                "the file starts like a PNG but is not one"
            } else {
                "the PNG's structure is damaged"
            };
            ImageError::Corrupt(format!("{reason}; save or export it again ({detail})"))
        }
    }
}
