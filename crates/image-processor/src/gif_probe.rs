//! Reads a GIF's block structure without decoding any pixels: screen size, frame count, timing, and
//! whether the file is complete. Streams through the file in constant memory, so a 200 MB
//! animation is checked against the limits before anything is decoded or encoded.
//!
//! Timing follows browsers: a frame delay of 0 or 1 hundredths of a second plays as 100 ms.
//! ffmpeg's GIF demuxer only does that for 0, so [`normalize_short_delays`] rewrites such delays in
//! the local copy before encoding, and the MP4 plays at the speed the GIF does in a browser.

use std::fs::OpenOptions;
use std::io::{BufRead, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::error::ImageError;
use crate::limits::{check_dimensions, Limits};

/// Delays at or below this (in 1/100 s) play as [`BROWSER_DEFAULT_DELAY`] in browsers.
pub const BROWSER_MIN_DELAY: u16 = 1;
pub const BROWSER_DEFAULT_DELAY: u16 = 10;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GifProbe {
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    /// Total play time as a browser plays it, in milliseconds.
    pub duration_ms: u64,
    /// Whether any pixel of any frame may be transparent (a transparency index is set).
    pub has_transparency: bool,
    /// File offsets of frame delays a browser would play as 100 ms.
    pub short_delay_offsets: Vec<u64>,
}

impl GifProbe {
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

/// Walks the GIF in `reader` (positioned at its start) and checks it against `limits`.
pub fn probe<R: BufRead + Seek>(mut reader: R, limits: &Limits) -> Result<GifProbe, ImageError> {
    let mut walker = Walker { reader: &mut reader, pos: 0 };
    let mut header = [0u8; 13];
    walker.read_exact(&mut header)?;
    if &header[..3] != b"GIF" {
        return Err(ImageError::Corrupt("not a GIF (bad signature)".into()));
    }
    let width = u32::from(u16::from_le_bytes([header[6], header[7]]));
    let height = u32::from(u16::from_le_bytes([header[8], header[9]]));
    check_dimensions(width, height, limits)?;
    if header[10] & 0x80 != 0 {
        walker.skip(color_table_len(header[10]))?;
    }

    let screen_pixels = u64::from(width) * u64::from(height);
    let mut probe =
        GifProbe { width, height, frames: 0, duration_ms: 0, has_transparency: false, short_delay_offsets: Vec::new() };
    let mut pending_delay = 0u16;
    // A file ending between blocks without a trailer still holds complete frames, as browsers show.
    while let Some(introducer) = walker.read_byte_or_eof()? {
        match introducer {
            0x3B => break,
            0x21 => {
                let label = walker.read_byte()?;
                if label == 0xF9 {
                    let size = walker.read_byte()?;
                    if size < 4 {
                        return Err(ImageError::Corrupt("GIF graphic control block is too short".into()));
                    }
                    let delay_offset = walker.pos + 1;
                    let mut gce = [0u8; 4];
                    walker.read_exact(&mut gce)?;
                    walker.skip(u64::from(size) - 4)?;
                    pending_delay = u16::from_le_bytes([gce[1], gce[2]]);
                    if gce[0] & 0x01 != 0 {
                        probe.has_transparency = true;
                    }
                    if pending_delay <= BROWSER_MIN_DELAY {
                        probe.short_delay_offsets.push(delay_offset);
                    }
                }
                walker.skip_sub_blocks()?;
            }
            0x2C => {
                let mut descriptor = [0u8; 9];
                walker.read_exact(&mut descriptor)?;
                let frame_w = u32::from(u16::from_le_bytes([descriptor[4], descriptor[5]]));
                let frame_h = u32::from(u16::from_le_bytes([descriptor[6], descriptor[7]]));
                if frame_w > limits.max_dimension || frame_h > limits.max_dimension {
                    return Err(ImageError::TooLarge(format!("GIF frame of {frame_w}×{frame_h}")));
                }
                if descriptor[8] & 0x80 != 0 {
                    walker.skip(color_table_len(descriptor[8]))?;
                }
                walker.read_byte()?; // LZW minimum code size
                walker.skip_sub_blocks()?;

                probe.frames += 1;
                let delay = if pending_delay <= BROWSER_MIN_DELAY { BROWSER_DEFAULT_DELAY } else { pending_delay };
                probe.duration_ms += u64::from(delay) * 10;
                pending_delay = 0;
                check_animation_limits(&probe, screen_pixels, limits)?;
            }
            other => {
                return Err(ImageError::Corrupt(format!(
                    "GIF has an unknown block 0x{other:02X} at byte {}",
                    walker.pos - 1
                )))
            }
        }
    }
    if probe.frames == 0 {
        return Err(ImageError::Corrupt("GIF has no frames".into()));
    }
    Ok(probe)
}

fn check_animation_limits(probe: &GifProbe, screen_pixels: u64, limits: &Limits) -> Result<(), ImageError> {
    if probe.frames > limits.max_frames {
        return Err(ImageError::TooLarge(format!("animation has more than {} frames", limits.max_frames)));
    }
    if probe.duration_ms > limits.max_duration_ms {
        return Err(ImageError::TooLarge(format!("animation plays longer than {} s", limits.max_duration_ms / 1000)));
    }
    let work = screen_pixels.saturating_mul(u64::from(probe.frames));
    if work > limits.max_animation_pixels {
        return Err(ImageError::TooLarge(format!(
            "animation has more than {:.1} gigapixels of frames ({} frames of {}×{})",
            limits.max_animation_pixels as f64 / 1e9,
            probe.frames,
            probe.width,
            probe.height
        )));
    }
    Ok(())
}

/// Rewrites the delays `probe` found too short to the value browsers play them at.
pub fn normalize_short_delays(path: &Path, probe: &GifProbe) -> std::io::Result<()> {
    if probe.short_delay_offsets.is_empty() {
        return Ok(());
    }
    let mut file = OpenOptions::new().write(true).open(path)?;
    for &offset in &probe.short_delay_offsets {
        file.seek(SeekFrom::Start(offset))?;
        file.write_all(&BROWSER_DEFAULT_DELAY.to_le_bytes())?;
    }
    file.flush()
}

fn color_table_len(packed: u8) -> u64 {
    3 * (1u64 << ((packed & 0x07) + 1))
}

struct Walker<'r, R> {
    reader: &'r mut R,
    pos: u64,
}

impl<R: BufRead + Seek> Walker<'_, R> {
    fn truncated() -> ImageError {
        ImageError::Corrupt("GIF ends in the middle of a block (truncated upload?)".into())
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), ImageError> {
        self.reader.read_exact(buf).map_err(|_| Self::truncated())?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn read_byte(&mut self) -> Result<u8, ImageError> {
        self.read_byte_or_eof()?.ok_or_else(Self::truncated)
    }

    fn read_byte_or_eof(&mut self) -> Result<Option<u8>, ImageError> {
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => Ok(None),
            Ok(_) => {
                self.pos += 1;
                Ok(Some(byte[0]))
            }
            Err(e) => Err(ImageError::Corrupt(format!("reading GIF: {e}"))),
        }
    }

    /// Skips `n` bytes, failing if the file ends first.
    fn skip(&mut self, n: u64) -> Result<(), ImageError> {
        let copied = std::io::copy(&mut self.reader.by_ref().take(n), &mut std::io::sink())
            .map_err(|e| ImageError::Corrupt(format!("reading GIF: {e}")))?;
        self.pos += copied;
        if copied < n {
            return Err(Self::truncated());
        }
        Ok(())
    }

    /// Skips a chain of data sub-blocks up to and including its zero-length terminator.
    fn skip_sub_blocks(&mut self) -> Result<(), ImageError> {
        loop {
            let len = self.read_byte()?;
            if len == 0 {
                return Ok(());
            }
            self.skip(u64::from(len))?;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    /// A 4×2 GIF with the given frame delays; the first frame has a transparent index.
    pub(crate) fn animated_gif(delays: &[u16]) -> Vec<u8> {
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&[4, 0, 2, 0, 0x80, 0, 0]); // 4×2, global table of 2 colours
        gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
        for (i, delay) in delays.iter().enumerate() {
            let flags = if i == 0 { 0x01 } else { 0x00 };
            gif.extend_from_slice(&[0x21, 0xF9, 4, flags]);
            gif.extend_from_slice(&delay.to_le_bytes());
            gif.extend_from_slice(&[0, 0]);
            gif.extend_from_slice(&[0x2C, 0, 0, 0, 0, 4, 0, 2, 0, 0]);
            gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]); // LZW data (content irrelevant here)
        }
        gif.push(0x3B);
        gif
    }

    #[test]
    fn frames_and_browser_timing() {
        let gif = animated_gif(&[0, 1, 5, 10, 50]);
        let probe = probe(Cursor::new(&gif), &Limits::default()).unwrap();
        assert_eq!((probe.width, probe.height, probe.frames), (4, 2, 5));
        // 0 and 1 play as 100 ms: 100 + 100 + 50 + 100 + 500.
        assert_eq!(probe.duration_ms, 850);
        assert!(probe.has_transparency);
        assert_eq!(probe.short_delay_offsets.len(), 2);
        for &offset in &probe.short_delay_offsets {
            assert!(gif[offset as usize] <= 1 && gif[offset as usize + 1] == 0);
        }
    }

    #[test]
    fn normalizing_rewrites_only_short_delays() {
        let dir = std::env::temp_dir().join(format!("gif-probe-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.gif");
        std::fs::write(&path, animated_gif(&[0, 1, 7])).unwrap();
        let before = probe(std::io::BufReader::new(std::fs::File::open(&path).unwrap()), &Limits::default()).unwrap();
        normalize_short_delays(&path, &before).unwrap();
        let after = probe(std::io::BufReader::new(std::fs::File::open(&path).unwrap()), &Limits::default()).unwrap();
        assert!(after.short_delay_offsets.is_empty());
        assert_eq!(after.duration_ms, before.duration_ms);
        assert_eq!(std::fs::read(&path).unwrap(), animated_gif(&[10, 10, 7]));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn truncation_and_limits() {
        let gif = animated_gif(&[10; 6]);
        // Cut inside a block: refused. (Cut exactly between frames is a shorter, valid animation.)
        for cut in [5, 12, 20, gif.len() - 3] {
            assert!(
                matches!(probe(Cursor::new(&gif[..cut]), &Limits::default()), Err(ImageError::Corrupt(_))),
                "cut at {cut}"
            );
        }
        let few_frames = Limits { max_frames: 5, ..Limits::default() };
        assert!(matches!(probe(Cursor::new(&gif), &few_frames), Err(ImageError::TooLarge(_))));
        let short = Limits { max_duration_ms: 500, ..Limits::default() };
        assert!(matches!(probe(Cursor::new(&gif), &short), Err(ImageError::TooLarge(_))));
        let little_work = Limits { max_animation_pixels: 8 * 5, ..Limits::default() };
        assert!(matches!(probe(Cursor::new(&gif), &little_work), Err(ImageError::TooLarge(_))));
    }
}
