//! Still WebP through libwebp (as sharp does), with its SIMD decoder.
//!
//! An opaque WebP is decoded at a reduced size when the largest variant is at most half the
//! original's width, in the same steps as JPEG's DCT scaling ([`crate::codecs::libjpeg::scale_for`]):
//! libwebp's rescaler averages the decoded rows before they are converted to RGB, so the
//! full-size RGB image never exists (libvips shrinks WebP on load the same way). Time is about
//! the same; peak memory for a 13 MP WebP falls from 112 to 43 MB (docs/benchmarks.md). Images
//! with alpha are decoded at full size: our resize premultiplies them first, so transparent
//! pixels' colours never bleed into their neighbours.

use image::{DynamicImage, RgbImage, RgbaImage};
use libwebp_sys as sys;

use crate::codecs::libjpeg::scaled;
use crate::error::ImageError;

fn corrupt() -> ImageError {
    ImageError::Corrupt("WebP data is damaged or ends early: the file is incomplete (was the upload cut short?)".into())
}

/// Decodes a still WebP, opaque ones at `numerator / 8` of its size (1, 2, 4 or 8, as libjpeg's
/// scale; rounded up), so both formats share [`crate::codecs::libjpeg::scale_for`] and [`scaled`].
pub fn decode(bytes: &[u8], numerator: u8) -> Result<DynamicImage, ImageError> {
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
    let numerator = if alpha { 8 } else { numerator.clamp(1, 8) };
    let (out_w, out_h) = (scaled(width, numerator), scaled(height, numerator));
    let channels = if alpha { 4 } else { 3 };
    let stride = out_w as usize * channels;
    // The caller checked the dimensions against the limits, so this allocation is bounded.
    let mut pixels = vec![0u8; stride * out_h as usize];
    config.output.colorspace = if alpha { sys::WEBP_CSP_MODE::MODE_RGBA } else { sys::WEBP_CSP_MODE::MODE_RGB };
    config.output.is_external_memory = 1;
    config.output.u.RGBA = sys::WebPRGBABuffer { rgba: pixels.as_mut_ptr(), stride: stride as i32, size: pixels.len() };
    if numerator < 8 {
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

    fn webp(width: u32, height: u32, alpha: bool) -> Vec<u8> {
        let channels = if alpha { 4 } else { 3 };
        let pixels: Vec<u8> = (0..width * height * channels).map(|i| (i % 199) as u8).collect();
        let layout = if alpha { webp::PixelLayout::Rgba } else { webp::PixelLayout::Rgb };
        webp::Encoder::new(&pixels, layout, width, height).encode(90.0).to_vec()
    }

    #[test]
    fn opaque_images_shrink_on_load_and_alpha_ones_do_not() {
        let image = decode(&webp(401, 203, false), 4).unwrap();
        assert_eq!((image.width(), image.height(), image.color()), (201, 102, image::ColorType::Rgb8));
        let image = decode(&webp(401, 203, false), 8).unwrap();
        assert_eq!((image.width(), image.height()), (401, 203));
        let image = decode(&webp(401, 203, false), 1).unwrap();
        assert_eq!((image.width(), image.height()), (51, 26));
        let image = decode(&webp(401, 203, true), 2).unwrap();
        assert_eq!((image.width(), image.height(), image.color()), (401, 203, image::ColorType::Rgba8));
    }

    #[test]
    fn truncated_or_foreign_data_is_a_clear_error() {
        let file = webp(64, 64, false);
        for bad in [&file[..file.len() / 2], &file[..20], b"RIFF\0\0\0\0WEBPVP8 ".as_slice(), b"not a webp"] {
            let error = decode(bad, 4).unwrap_err();
            assert!(error.to_string().contains("incomplete"), "{error}");
        }
    }
}
