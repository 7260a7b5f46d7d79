//! JPEG through libjpeg-turbo (as built by the `mozjpeg` crate).
//!
//! Decoding happens at a reduced DCT scale when the largest variant is
//! at most half the original's width: the inverse DCT then produces 1/2, 1/4 or 1/8 of the
//! pixels directly, which roughly halves the decode and quarters the resize work, with no visible
//! loss once the result is resized further (docs/benchmarks.md, variant benchmark).
//!
//! CMYK/YCCK JPEGs (print files) are left to the `image` crate, which converts them to RGB.

use std::panic::{catch_unwind, AssertUnwindSafe};

use image::{DynamicImage, GrayImage, RgbImage};

use crate::error::ImageError;

/// The DCT scale (numerator over 8) that keeps the decoded width at least `needed_width`:
/// the smallest of 1/8, 1/4, 1/2, else full size.
pub fn scale_for(width: u32, needed_width: u32) -> u8 {
    [1u8, 2, 4].into_iter().find(|n| scaled(width, *n) >= needed_width.max(1)).unwrap_or(8)
}

/// libjpeg's output size for a DCT scale of `numerator / 8` (rounded up).
pub fn scaled(size: u32, numerator: u8) -> u32 {
    (u64::from(size) * u64::from(numerator)).div_ceil(8) as u32
}

/// Decodes `bytes` at `numerator / 8` of its size. `Ok(None)`: a colour model (CMYK, YCCK) the
/// caller should decode another way. Errors from libjpeg arrive as unwinds and become `Corrupt`.
pub fn decode(bytes: &[u8], numerator: u8) -> Result<Option<DynamicImage>, ImageError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Option<DynamicImage>> {
        let mut decompress = mozjpeg::Decompress::with_markers(mozjpeg::NO_MARKERS).from_mem(bytes)?;
        decompress.scale(numerator.clamp(1, 8));
        let gray = match decompress.color_space() {
            mozjpeg::ColorSpace::JCS_GRAYSCALE => true,
            mozjpeg::ColorSpace::JCS_YCbCr | mozjpeg::ColorSpace::JCS_RGB => false,
            _ => return Ok(None),
        };
        let mut started = if gray { decompress.grayscale()? } else { decompress.rgb()? };
        let (width, height) = (dimension(started.width())?, dimension(started.height())?);
        let pixels: Vec<u8> = started.read_scanlines()?;
        started.finish()?;
        let image = if gray {
            GrayImage::from_raw(width, height, pixels).map(DynamicImage::ImageLuma8)
        } else {
            RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8)
        };
        // A short read (truncated data) leaves too few pixels for the buffer.
        image.map(Some).ok_or_else(|| std::io::Error::other("fewer scanlines than the header promised"))
    }));
    match outcome {
        Ok(Ok(image)) => Ok(image),
        Ok(Err(e)) => Err(ImageError::Corrupt(format!("JPEG: {e}"))),
        Err(unwind) => {
            let message = unwind
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| unwind.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "libjpeg failed".into());
            Err(ImageError::Corrupt(message))
        }
    }
}

/// Encodes 8-bit RGB or gray pixels as JPEG the way libjpeg-turbo does by default (its quantisation
/// tables, 4:2:0, optimised Huffman tables, baseline; no MozJPEG trellis, which is slow). Baseline
/// rather than progressive: measured ~25% faster to encode for 1–3% larger files, and what
/// libvips and sharp write by default.
pub fn encode(
    pixels: &[u8],
    width: u32,
    height: u32,
    gray: bool,
    quality: u8,
    icc_profile: Option<&[u8]>,
) -> Result<Vec<u8>, ImageError> {
    let outcome = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<Vec<u8>> {
        let color = if gray { mozjpeg::ColorSpace::JCS_GRAYSCALE } else { mozjpeg::ColorSpace::JCS_RGB };
        let mut compress = mozjpeg::Compress::new(color);
        compress.set_fastest_defaults();
        compress.set_size(width as usize, height as usize);
        compress.set_quality(f32::from(quality));
        compress.set_optimize_coding(true);
        if !gray {
            compress.set_chroma_sampling_pixel_sizes((2, 2), (2, 2));
        }
        let mut started = compress.start_compress(Vec::with_capacity(pixels.len() / 8))?;
        // APP2 chunks are numbered in a byte: a larger profile is dropped, not wrapped.
        if let Some(icc) = icc_profile.filter(|icc| !icc.is_empty() && icc.len() <= 255 * 65_519) {
            started.write_icc_profile(icc);
        }
        started.write_scanlines(pixels)?;
        started.finish()
    }));
    match outcome {
        Ok(Ok(bytes)) => Ok(bytes),
        Ok(Err(e)) => Err(ImageError::Encode(format!("JPEG: {e}"))),
        Err(_) => Err(ImageError::Encode(format!("JPEG: libjpeg could not encode {width}×{height}"))),
    }
}

/// The image's size from its frame header, as libjpeg reads it; `None` if libjpeg cannot read the
/// headers.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let outcome = catch_unwind(AssertUnwindSafe(|| -> std::io::Result<(u32, u32)> {
        let decompress = mozjpeg::Decompress::with_markers(mozjpeg::NO_MARKERS).from_mem(bytes)?;
        Ok((dimension(decompress.width())?, dimension(decompress.height())?))
    }));
    outcome.ok()?.ok()
}

fn dimension(size: usize) -> std::io::Result<u32> {
    u32::try_from(size).map_err(|_| std::io::Error::other("dimension out of range"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_smallest_scale_that_keeps_the_needed_width() {
        assert_eq!(scale_for(6000, 1920), 4); // 3000 px
        assert_eq!(scale_for(3840, 1920), 4);
        assert_eq!(scale_for(3839, 1920), 4); // 1919.5 rounds up to 1920
        assert_eq!(scale_for(3837, 1920), 8);
        assert_eq!(scale_for(8000, 1920), 2); // 2000 px
        assert_eq!(scale_for(16000, 1920), 1);
        assert_eq!(scale_for(100, 0), 1);
        assert_eq!(scaled(4001, 4), 2001);
    }
}
