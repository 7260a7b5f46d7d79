//! Animated originals (GIF, APNG, animated WebP): what is in them, read from their structure
//! without decoding pixels, checked against the limits, and prepared for ffmpeg so that the MP4
//! plays the way a browser plays the original.
//!
//! Timing follows browsers (Chromium and Firefox, for all three formats): a frame delay of 10 ms
//! or less plays as 100 ms.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Read, Seek, SeekFrom, Write};
use std::path::Path;

use crate::decode::SourceFormat;
use crate::error::ImageError;
use crate::gif_probe::{self, GifError};
use crate::limits::{check_dimensions, Limits};

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

/// Why an animation could not be prepared: the file's fault (permanent) or the local disk's.
#[derive(Debug)]
pub enum PrepareError {
    Image(ImageError),
    Io(std::io::Error),
}

impl From<ImageError> for PrepareError {
    fn from(e: ImageError) -> Self {
        PrepareError::Image(e)
    }
}

impl From<GifError> for PrepareError {
    fn from(e: GifError) -> Self {
        match e {
            GifError::Image(e) => PrepareError::Image(e),
            GifError::Io(e) => PrepareError::Io(e),
        }
    }
}

/// Reads the file at `path` (whose content is `format`) and, if it is an animation, rewrites it
/// in place into what ffmpeg should read (see [`gif_probe`] for GIF; APNG gets browser frame
/// delays). `Ok(None)`: a still image (a one-frame GIF is prepared all the same: its copy is what
/// every decoder reads).
pub fn prepare(path: &Path, format: SourceFormat, limits: &Limits) -> Result<Option<Animation>, PrepareError> {
    let animation = match format {
        SourceFormat::Gif => {
            let prepared = path.with_extension("prepared");
            let mut out = std::io::BufWriter::new(File::create(&prepared).map_err(PrepareError::Io)?);
            let input = BufReader::new(File::open(path).map_err(PrepareError::Io)?);
            let animation = gif_probe::normalize(input, Some(&mut out), limits);
            drop(out);
            match animation {
                Ok(animation) => {
                    std::fs::rename(&prepared, path).map_err(PrepareError::Io)?;
                    animation
                }
                Err(e) => {
                    let _ = std::fs::remove_file(&prepared);
                    return Err(e.into());
                }
            }
        }
        SourceFormat::Png => {
            let Some((animation, delays)) =
                probe_apng(BufReader::new(File::open(path).map_err(PrepareError::Io)?), limits)?
            else {
                return Ok(None);
            };
            set_apng_delays(path, &delays).map_err(PrepareError::Io)?;
            animation
        }
        SourceFormat::WebP => match probe_webp(BufReader::new(File::open(path).map_err(PrepareError::Io)?), limits)? {
            Some(animation) => animation,
            None => return Ok(None),
        },
        SourceFormat::Jpeg => return Ok(None),
    };
    Ok(Some(animation).filter(Animation::is_animated))
}

/// An APNG frame-control chunk whose delay browsers would not play as written: its offset in the
/// file and the delay to write (milliseconds over 1000).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct ApngDelay {
    chunk_offset: u64,
    delay_ms: u16,
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";

/// Walks a PNG's chunks. `None` for a PNG that is not animated (no `acTL` before the image data).
fn probe_apng<R: BufRead + Seek>(
    mut reader: R,
    limits: &Limits,
) -> Result<Option<(Animation, Vec<ApngDelay>)>, PrepareError> {
    let truncated = || ImageError::Corrupt("PNG ends in the middle of a chunk (truncated upload?)".into());
    let mut signature = [0u8; 8];
    reader.read_exact(&mut signature).map_err(|_| truncated())?;
    if &signature != PNG_SIGNATURE {
        return Err(ImageError::Corrupt("not a PNG (bad signature)".into()).into());
    }
    let mut offset = 8u64;
    let mut animation = Animation {
        format: SourceFormat::Png,
        width: 0,
        height: 0,
        frames: 0,
        duration_ms: 0,
        has_transparency: false,
    };
    let mut animated = false;
    let mut delays = Vec::new();
    loop {
        let mut head = [0u8; 8];
        match reader.read_exact(&mut head) {
            Ok(()) => {}
            // The image decoder reports a missing IEND; here it only ends the walk.
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(PrepareError::Io(e)),
        }
        let length = u32::from_be_bytes([head[0], head[1], head[2], head[3]]);
        let kind = [head[4], head[5], head[6], head[7]];
        let mut data = Vec::new();
        let keep = matches!(&kind, b"IHDR" | b"acTL" | b"fcTL" | b"tRNS") && length <= 64;
        if keep {
            data.resize(length as usize, 0);
            reader.read_exact(&mut data).map_err(|_| truncated())?;
            reader.seek_relative(4).map_err(PrepareError::Io)?; // CRC (checked by the decoder)
        } else {
            reader.seek_relative(i64::from(length) + 4).map_err(PrepareError::Io)?;
        }
        match &kind {
            b"IHDR" if data.len() >= 13 => {
                animation.width = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                animation.height = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                check_dimensions(animation.width, animation.height, limits)?;
                animation.has_transparency = matches!(data[9], 4 | 6);
            }
            b"tRNS" => animation.has_transparency = true,
            b"acTL" => animated = true,
            b"IDAT" if !animated => return Ok(None),
            b"fcTL" if animated && data.len() >= 26 => {
                let delay_num = u64::from(u16::from_be_bytes([data[20], data[21]]));
                let delay_den = match u16::from_be_bytes([data[22], data[23]]) {
                    0 => 100,
                    den => u64::from(den),
                };
                let written_ms = delay_num * 1000 / delay_den;
                let played_ms = browser_delay_ms(written_ms);
                if played_ms != written_ms {
                    // ffmpeg plays a zero delay at 15 fps and short ones as written.
                    delays.push(ApngDelay { chunk_offset: offset, delay_ms: played_ms.min(65_535) as u16 });
                }
                animation.frames += 1;
                animation.duration_ms += played_ms;
                check_animation_limits(&animation, limits)?;
            }
            b"IEND" => break,
            _ => {}
        }
        offset += 12 + u64::from(length);
    }
    if !animated {
        return Ok(None);
    }
    if animation.frames == 0 {
        return Err(ImageError::Corrupt("animated PNG has no frames".into()).into());
    }
    Ok(Some((animation, delays)))
}

/// Writes browser delays into the fcTL chunks at the given offsets, with their checksums.
fn set_apng_delays(path: &Path, delays: &[ApngDelay]) -> std::io::Result<()> {
    if delays.is_empty() {
        return Ok(());
    }
    let mut file = OpenOptions::new().read(true).write(true).open(path)?;
    for delay in delays {
        // Length (4), "fcTL" (4), 26 bytes of data, CRC (4); delay_num/den at data offset 20.
        let mut chunk = [0u8; 38];
        file.seek(SeekFrom::Start(delay.chunk_offset))?;
        file.read_exact(&mut chunk)?;
        chunk[28..30].copy_from_slice(&delay.delay_ms.to_be_bytes());
        chunk[30..32].copy_from_slice(&1000u16.to_be_bytes());
        let crc = crc32fast::hash(&chunk[4..34]);
        chunk[34..38].copy_from_slice(&crc.to_be_bytes());
        file.seek(SeekFrom::Start(delay.chunk_offset))?;
        file.write_all(&chunk)?;
    }
    file.flush()
}

/// Walks a WebP's RIFF chunks. `None` for a still WebP.
fn probe_webp<R: BufRead + Seek>(mut reader: R, limits: &Limits) -> Result<Option<Animation>, PrepareError> {
    let truncated = || ImageError::Corrupt("WebP ends in the middle of a chunk (truncated upload?)".into());
    let mut header = [0u8; 12];
    reader.read_exact(&mut header).map_err(|_| truncated())?;
    if &header[..4] != b"RIFF" || &header[8..12] != b"WEBP" {
        return Err(ImageError::Corrupt("not a WebP (bad signature)".into()).into());
    }
    let mut animation = Animation {
        format: SourceFormat::WebP,
        width: 0,
        height: 0,
        frames: 0,
        duration_ms: 0,
        has_transparency: false,
    };
    let mut animated = false;
    loop {
        let mut head = [0u8; 8];
        match reader.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(PrepareError::Io(e)),
        }
        let kind = [head[0], head[1], head[2], head[3]];
        let length = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        let padded = length + (length & 1);
        let wanted: u64 = match &kind {
            b"VP8X" => 10,
            b"ANMF" => 16,
            _ => 0,
        };
        let mut data = vec![0u8; wanted.min(length) as usize];
        reader.read_exact(&mut data).map_err(|_| truncated())?;
        reader.seek_relative((padded - data.len() as u64) as i64).map_err(PrepareError::Io)?;
        let u24 = |d: &[u8], at: usize| u32::from(d[at]) | u32::from(d[at + 1]) << 8 | u32::from(d[at + 2]) << 16;
        match &kind {
            b"VP8X" if data.len() == 10 => {
                animated = data[0] & 0x02 != 0;
                animation.has_transparency = data[0] & 0x10 != 0;
                animation.width = u24(&data, 4) + 1;
                animation.height = u24(&data, 7) + 1;
                check_dimensions(animation.width, animation.height, limits)?;
                if !animated {
                    return Ok(None);
                }
            }
            b"VP8 " | b"VP8L" if !animated => return Ok(None),
            b"ANMF" if animated && data.len() == 16 => {
                animation.frames += 1;
                animation.duration_ms += browser_delay_ms(u64::from(u24(&data, 12)));
                check_animation_limits(&animation, limits)?;
            }
            _ => {}
        }
    }
    if !animated {
        return Ok(None);
    }
    if animation.frames == 0 {
        return Err(ImageError::Corrupt("animated WebP has no frames".into()).into());
    }
    Ok(Some(animation))
}

/// The arguments that make ffmpeg read the prepared original as `format`, with browser timing.
pub fn ffmpeg_input_format(format: SourceFormat) -> &'static [&'static str] {
    match format {
        // Delays are already browser delays in the prepared copy.
        SourceFormat::Gif => &["-f", "gif"],
        SourceFormat::Png => &["-f", "apng"],
        // Delays of 10 ms or less play as 100 ms, as in browsers.
        SourceFormat::WebP => &["-min_delay", "11", "-default_delay", "100", "-f", "webp_anim"],
        SourceFormat::Jpeg => &["-f", "jpeg_pipe"],
    }
}
