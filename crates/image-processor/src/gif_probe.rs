//! Reads a GIF's structure (screen size, frame count, total duration) without decoding pixels, so
//! over-limit animations are refused before any frame is decompressed.

use std::io::Read;

use crate::decode::{check_dimensions, Limits};
use crate::error::ImageError;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GifProbe {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// Sum of the frame delays as written (GIF delays are in 1/100 s).
    pub duration_ms: u64,
}

impl GifProbe {
    pub fn is_animated(&self) -> bool {
        self.frames > 1
    }
}

pub fn probe(reader: impl Read, limits: &Limits) -> Result<GifProbe, ImageError> {
    let mut options = gif::DecodeOptions::new();
    options.skip_frame_decoding(true);
    let mut decoder = options.read_info(reader).map_err(from_gif)?;
    let (width, height) = (u32::from(decoder.width()), u32::from(decoder.height()));
    check_dimensions(width, height, limits)?;

    let mut frames = 0u32;
    let mut duration_ms = 0u64;
    while let Some(frame) = decoder.next_frame_info().map_err(from_gif)? {
        frames += 1;
        if frames > limits.max_frames {
            return Err(ImageError::TooLarge(format!(
                "animation has more than {} frames",
                limits.max_frames
            )));
        }
        duration_ms += u64::from(frame.delay) * 10;
    }
    if frames == 0 {
        return Err(ImageError::Corrupt("GIF has no frames".into()));
    }
    Ok(GifProbe {
        width,
        height,
        frames,
        duration_ms,
    })
}

fn from_gif(err: gif::DecodingError) -> ImageError {
    match err {
        gif::DecodingError::Io(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => {
            ImageError::Corrupt("GIF ends before its last frame does (truncated upload?)".into())
        }
        other => ImageError::Corrupt(format!("GIF: {other}")),
    }
}
