//! What a page shows before a variant arrives: a ThumbHash (about 25 bytes, decoded in the page
//! into a blurred preview with the image's colours, alpha and aspect ratio) and a dominant colour
//! for a plain background.

use base64::Engine as _;
use fast_image_resize::{images::Image, PixelType, ResizeOptions, Resizer};
use serde::{Deserialize, Serialize};

use crate::make::encode::PixelsRef;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placeholder {
    /// ThumbHash (evanw/thumbhash), standard base64.
    pub thumbhash: String,
    /// `#rrggbb`: the most common colour of the visible pixels.
    pub dominant_color: String,
}

/// ThumbHash works on images of at most this many pixels a side.
const MAX_SIDE: u32 = 100;

/// Computes the placeholder from a small rendering of the image (the smallest variant).
pub fn placeholder(pixels: PixelsRef<'_>) -> Option<Placeholder> {
    let rgba = to_rgba(pixels)?;
    let (w, h) = fit(pixels.width, pixels.height);
    let small = if (w, h) == (pixels.width, pixels.height) {
        rgba
    } else {
        let src = Image::from_vec_u8(pixels.width, pixels.height, rgba, PixelType::U8x4).ok()?;
        let mut dst = Image::new(w, h, PixelType::U8x4);
        // Premultiplied, so transparent pixels do not tint the blur.
        Resizer::new().resize(&src, &mut dst, &ResizeOptions::new().use_alpha(true)).ok()?;
        dst.into_vec()
    };
    let hash = thumbhash::rgba_to_thumb_hash(w as usize, h as usize, &small);
    Some(Placeholder {
        thumbhash: base64::engine::general_purpose::STANDARD.encode(hash),
        dominant_color: dominant_color(&small)?,
    })
}

fn fit(width: u32, height: u32) -> (u32, u32) {
    if width <= MAX_SIDE && height <= MAX_SIDE {
        return (width.max(1), height.max(1));
    }
    let scale = f64::from(MAX_SIDE) / f64::from(width.max(height));
    let side = |v: u32| ((f64::from(v) * scale).round() as u32).clamp(1, MAX_SIDE);
    (side(width), side(height))
}

fn to_rgba(pixels: PixelsRef<'_>) -> Option<Vec<u8>> {
    let rgba: Vec<u8> = match pixels.channels {
        1 => pixels.data.iter().flat_map(|&v| [v, v, v, u8::MAX]).collect(),
        3 => pixels.data.chunks_exact(3).flat_map(|p| [p[0], p[1], p[2], u8::MAX]).collect(),
        4 => pixels.data.to_vec(),
        _ => return None,
    };
    (rgba.len() == pixels.width as usize * pixels.height as usize * 4).then_some(rgba)
}

/// The mean colour of the fullest bin of a 16-level-per-channel histogram of visible pixels: the
/// colour that covers the most of the image, not the average that may appear nowhere in it.
fn dominant_color(rgba: &[u8]) -> Option<String> {
    let mut bins = vec![[0u64; 4]; 4096];
    for p in rgba.chunks_exact(4).filter(|p| p[3] >= 128) {
        let bin = &mut bins[(usize::from(p[0] >> 4) << 8) | (usize::from(p[1] >> 4) << 4) | usize::from(p[2] >> 4)];
        bin[0] += 1;
        for c in 0..3 {
            bin[c + 1] += u64::from(p[c]);
        }
    }
    let fullest = bins.iter().max_by_key(|b| b[0]).filter(|b| b[0] > 0)?;
    let mean = |c: usize| (fullest[c] + fullest[0] / 2) / fullest[0];
    Some(format!("#{:02x}{:02x}{:02x}", mean(1), mean(2), mean(3)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dominant_colour_is_the_largest_area_not_the_average() {
        // 70% red, 30% blue: the average (purple) appears nowhere.
        let mut rgb = Vec::new();
        for i in 0..200 * 100 {
            rgb.extend_from_slice(if i % 200 < 140 { &[200, 10, 10] } else { &[10, 10, 200] });
        }
        let found = placeholder(PixelsRef { data: &rgb, width: 200, height: 100, channels: 3 }).unwrap();
        assert_eq!(found.dominant_color, "#c80a0a");
        let hash = base64::engine::general_purpose::STANDARD.decode(&found.thumbhash).unwrap();
        let ratio = thumbhash::thumb_hash_to_approximate_aspect_ratio(&hash).unwrap();
        assert!((ratio - 2.0).abs() < 0.3, "approximate aspect ratio {ratio}");
    }

    #[test]
    fn transparent_pixels_do_not_count() {
        let mut rgba = vec![0u8; 50 * 50 * 4]; // transparent black
        rgba[..4 * 10].copy_from_slice(&[0, 255, 0, 255].repeat(10)); // a few green pixels
        let found = placeholder(PixelsRef { data: &rgba, width: 50, height: 50, channels: 4 }).unwrap();
        assert_eq!(found.dominant_color, "#00ff00");
        assert!(placeholder(PixelsRef { data: &[0; 16], width: 2, height: 2, channels: 4 }).is_none());
    }

    #[test]
    fn fits_thumbhash_limits() {
        assert_eq!(fit(4000, 3000), (100, 75));
        assert_eq!(fit(10, 5000), (1, 100));
        assert_eq!(fit(60, 40), (60, 40));
    }
}
