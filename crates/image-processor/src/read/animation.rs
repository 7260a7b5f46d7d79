//! What an animated original (GIF, APNG, animated WebP) plays as: the [`Animation`] its structure
//! describes, read before any pixel is decoded, and what it may cost against the limits.
//!
//! Timing follows browsers (Chromium and Firefox, for all three formats): a frame delay of 10 ms
//! or less plays as 100 ms.

use crate::error::ImageError;
use crate::limits::Limits;
use crate::source_format::SourceFormat;

/// What a browser would play.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Animation {
    pub format: SourceFormat,
    /// The canvas every frame is drawn on.
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// Total play time as a browser plays it, in milliseconds.
    pub duration_ms: u64,
    /// Whether any pixel of any frame may be transparent.
    pub has_transparency: bool,
}

impl Animation {
    /// Before any frame has been read.
    pub(crate) fn empty(format: SourceFormat) -> Self {
        Animation { format, width: 0, height: 0, frames: 0, duration_ms: 0, has_transparency: false }
    }

    pub fn is_animated(&self) -> bool {
        self.frames > 1
    }

    /// Average frames per second over the animation.
    pub fn fps(&self) -> f64 {
        if self.duration_ms == 0 {
            0.0
        } else {
            f64::from(self.frames) * 1000.0 / self.duration_ms as f64
        }
    }
}

/// A frame delay as browsers play it.
pub fn browser_delay_ms(delay_ms: u64) -> u64 {
    if delay_ms <= 10 {
        100
    } else {
        delay_ms
    }
}

pub(crate) fn check_animation_limits(animation: &Animation, limits: &Limits) -> Result<(), ImageError> {
    if animation.frames > limits.max_frames {
        return Err(ImageError::TooLarge(format!("animation has more than {} frames", limits.max_frames)));
    }
    if animation.duration_ms > limits.max_duration_ms {
        return Err(ImageError::TooLarge(format!("animation plays longer than {} s", limits.max_duration_ms / 1000)));
    }
    let screen_pixels = u64::from(animation.width) * u64::from(animation.height);
    let work = screen_pixels.saturating_mul(u64::from(animation.frames));
    if work > limits.max_animation_pixels {
        return Err(ImageError::TooLarge(format!(
            "animation has more than {:.1} gigapixels of frames ({} frames of {}×{})",
            limits.max_animation_pixels as f64 / 1e9,
            animation.frames,
            animation.width,
            animation.height
        )));
    }
    Ok(())
}
