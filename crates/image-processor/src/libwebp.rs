//! Still WebP through libwebp (as sharp does), with its SIMD decoder.
//!
//! An opaque WebP is decoded at a reduced size when the largest variant is at most half the
//! original's width: libwebp's rescaler averages the decoded rows before they are converted to
//! RGB, so the full-size RGB image never exists, and our resize starts from a quarter of the
//! pixels, as with JPEG's DCT scaling (libvips shrinks WebP on load the same way). Images with
//! alpha are decoded at full size: our resize premultiplies them first, so transparent pixels'
//! colours never bleed into their neighbours.

use image::{DynamicImage, RgbImage, RgbaImage};
use libwebp_sys as sys;

use crate::error::ImageError;

/// The shrink factor (8, 4, 2, else 1) that keeps the decoded width at least `needed_width`:
/// the same steps as JPEG's DCT scaling, so the last step is always our own Lanczos resize.
pub fn shrink_for(width: u32, needed_width: u32) -> u32 {
    [8u32, 4, 2].into_iter().find(|s| width.div_ceil(*s) >= needed_width.max(1)).unwrap_or(1)
}

fn corrupt() -> ImageError {
    ImageError::Corrupt("WebP data is damaged or ends early: the file is incomplete (was the upload cut short?)".into())
}

/// Decodes a still WebP, opaque ones shrunk by `shrink` (rounded up; 1 = full size).
pub fn decode(bytes: &[u8], shrink: u32) -> Result<DynamicImage, ImageError> {
    // SAFETY: an all-zero WebPDecoderConfig is a valid plain C struct; WebPInitDecoderConfig
    // then sets its fields (and checks the library's ABI version).
    let mut config: sys::WebPDecoderConfig = unsafe { std::mem::zeroed() };
    if !unsafe { sys::WebPInitDecoderConfig(&mut config) } {
        return Err(ImageError::Corrupt("WebP: libwebp version mismatch".into()));
    }
    // SAFETY: `bytes` is valid for its length; the features are written into `config.input`.
    let status = unsafe { sys::WebPGetFeatures(bytes.as_ptr(), bytes.len(), &mut config.input) };
    let (width, height) = (u32::try_from(config.input.width), u32::try_from(config.input.height));
    let (Ok(width), Ok(height)) = (width, height) else { return Err(corrupt()) };
    if status != sys::VP8StatusCode::VP8_STATUS_OK || width == 0 || height == 0 {
        return Err(corrupt());
    }
    let alpha = config.input.has_alpha != 0;
    let shrink = if alpha { 1 } else { shrink.clamp(1, 8) };
    let (out_w, out_h) = (width.div_ceil(shrink), height.div_ceil(shrink));
    let channels = if alpha { 4 } else { 3 };
    let stride = out_w as usize * channels;
    // The caller checked the dimensions against the limits, so this allocation is bounded.
    let mut pixels = vec![0u8; stride * out_h as usize];
    config.output.colorspace = if alpha { sys::WEBP_CSP_MODE::MODE_RGBA } else { sys::WEBP_CSP_MODE::MODE_RGB };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = sys::WebPRGBABuffer { rgba: pixels.as_mut_ptr(), stride: stride as i32, size: pixels.len() };
    if shrink > 1 {
        config.options.use_scaling = 1;
        config.options.scaled_width = out_w as i32;
        config.options.scaled_height = out_h as i32;
    }
    // SAFETY: libwebp writes at most `size` bytes at `rgba`, rows `stride` apart, into `pixels`,
    // which outlives the call; the input is read within `bytes`.
    let status = unsafe { sys::WebPDecode(bytes.as_ptr(), bytes.len(), &mut config) };
    // SAFETY: frees only what libwebp allocated itself (nothing, with external memory).
    unsafe { sys::WebPFreeDecBuffer(&mut config.output) };
    if status != sys::VP8StatusCode::VP8_STATUS_OK {
        return Err(corrupt());
    }
    let image = if alpha {
        RgbaImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(out_w, out_h, pixels).map(DynamicImage::ImageRgb8)
    };
    image.ok_or_else(corrupt)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn picks_the_largest_shrink_that_keeps_the_needed_width() {
        assert_eq!(shrink_for(4224, 1920), 2); // 2112 px
        assert_eq!(shrink_for(3840, 1920), 2);
        assert_eq!(shrink_for(3839, 1920), 2); // 1919.5 rounds up to 1920
        assert_eq!(shrink_for(3837, 1920), 1);
        assert_eq!(shrink_for(16000, 1920), 8);
        assert_eq!(shrink_for(100, 0), 8);
    }

    fn webp(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let channels = if alpha { 4 } else { 3 };
        let pixels: Vec<u8> = (0..width * height * channels).map(|i| (i % 199) as u8).collect();
        let layout = if alpha { webp::PixelLayout::Rgba } else { webp::PixelLayout::Rgb };
        webp::Encoder::new(&pixels, layout, width, height).encode(90.0).to_vec()
    }

    #[test]
    fn opaque_images_shrink_on_load_and_alpha_ones_do_not() {
        let image = decode(&webp(401, 203, false), 2).unwrap();
        assert_eq!((image.width(), image.height(), image.color()), (201, 102, image::ColorType::Rgb8));
        let image = decode(&webp(401, 203, false), 1).unwrap();
        assert_eq!((image.width(), image.height()), (401, 203));
        let image = decode(&webp(401, 203, true), 4).unwrap();
        assert_eq!((image.width(), image.height(), image.color()), (401, 203, image::ColorType::Rgba8));
    }

    #[test]
    fn truncated_or_foreign_data_is_a_clear_error() {
        let file = webp(64, 64, false);
        for bad in [&file[..file.len() / 2], &file[..20], b"RIFF\0\0\0\0WEBPVP8 ".as_slice(), b"not a webp"] {
            let error = decode(bad, 2).unwrap_err();
            assert!(error.to_string().contains("incomplete"), "{error}");
        }
    }
}
