//! Bounds on what one original may cost, checked from headers before any pixel buffer exists.

use crate::error::ImageError;

/// Bounds on what one original may cost. Checked before any pixel buffer is allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Largest original accepted, in bytes.
    pub max_input_bytes: u64,
    /// Largest width × height accepted.
    pub max_pixels: u64,
    /// Largest width or height accepted (guards against 1 × 100 000 000 strips).
    pub max_dimension: u32,
    /// Most frames an animated GIF may have.
    pub max_frames: u32,
    /// Longest an animation may play, in milliseconds.
    pub max_duration_ms: u64,
    /// Most frame pixels (frames × width × height) an animation may have: bounds encoding time.
    pub max_animation_pixels: u64,
    /// Largest still image read into memory, in bytes (animations stream through `/tmp`).
    pub max_still_bytes: u64,
}

impl Limits {
    /// Largest still image held in memory: the still limit, never above the input limit.
    pub fn still_byte_limit(&self) -> u64 {
        self.max_still_bytes.min(self.max_input_bytes)
    }

    /// Refuses a still image of `size` bytes before it is read or decoded.
    pub fn check_still_bytes(&self, size: u64) -> Result<(), ImageError> {
        let limit = self.still_byte_limit();
        if size > limit {
            return Err(ImageError::TooLarge(format!("{size} bytes exceeds the {limit} byte limit for images")));
        }
        Ok(())
    }
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            // Promotional GIFs reach 200 MB; they are streamed to /tmp, never held in memory.
            max_input_bytes: 512 * 1024 * 1024,
            max_still_bytes: 64 * 1024 * 1024,
            // 100 MP covers full-resolution 48/61/100 MP camera and phone sensors; decoded as RGB it is
            // 300 MB, which the processor's memory setting accommodates. imgproxy's 16.8 MP is too few.
            max_pixels: 100_000_000,
            max_dimension: 30_000,
            max_frames: 20_000,
            max_duration_ms: 10 * 60 * 1000,
            // About 3 minutes of 1080p at 25 fps, or 4 000 frames of 1280×720.
            max_animation_pixels: 5_000_000_000,
        }
    }
}

pub fn check_dimensions(width: u32, height: u32, limits: &Limits) -> Result<(), ImageError> {
    if width == 0 || height == 0 {
        return Err(ImageError::Corrupt(format!("the image is {width}×{height}: it has no pixels to show")));
    }
    let pixels = u64::from(width) * u64::from(height);
    if width > limits.max_dimension || height > limits.max_dimension || pixels > limits.max_pixels {
        return Err(ImageError::TooLarge(format!(
            "{width}×{height} ({:.1} MP) exceeds the limit of {:.1} MP and {} px per side",
            pixels as f64 / 1e6,
            limits.max_pixels as f64 / 1e6,
            limits.max_dimension
        )));
    }
    Ok(())
}
