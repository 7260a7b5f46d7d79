//! Animated originals (GIF, APNG, animated WebP) prepared for ffmpeg: what is in them, read from
//! their structure without decoding pixels ([`Animation`]), checked against the limits, and
//! rewritten so that the MP4 plays the way a browser plays the original (browser timing: see
//! [`browser_delay_ms`]). GIF is walked by `gif_probe`; APNG and animated WebP here.

use std::fs::File;
use std::io::{BufRead, BufReader, Read, Seek, Write};
use std::path::Path;

use crate::error::ImageError;
use crate::limits::{check_dimensions, Limits};
use crate::read::animation::{browser_delay_ms, check_animation_limits, Animation};
use crate::read::gif_probe::{self, GifError};
use crate::source_format::SourceFormat;

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
            let file = File::open(path).map_err(PrepareError::Io)?;
            let length = file.metadata().map_err(PrepareError::Io)?.len();
            match probe_apng(BufReader::new(file), length, limits)? {
                Apng::Still => return Ok(None),
                Apng::DefaultImage => {
                    rewrite_apng(path, None, None, &[]).map_err(PrepareError::Io)?;
                    return Ok(None);
                }
                Apng::Animated { animation, delays, cut_at, plays } => {
                    let mut actl = [0u8; 8];
                    actl[..4].copy_from_slice(&animation.frames.to_be_bytes());
                    actl[4..].copy_from_slice(&plays.to_be_bytes());
                    rewrite_apng(path, Some(actl), cut_at, &delays).map_err(PrepareError::Io)?;
                    animation
                }
            }
        }
        SourceFormat::WebP => {
            let file = File::open(path).map_err(PrepareError::Io)?;
            let length = file.metadata().map_err(PrepareError::Io)?.len();
            match probe_webp(BufReader::new(file), length, limits)? {
                Some((animation, short_delays)) => {
                    set_webp_delays(path, &short_delays).map_err(PrepareError::Io)?;
                    animation
                }
                None => return Ok(None),
            }
        }
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

/// What a browser makes of a PNG's animation chunks.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Apng {
    /// No animation control before the image data: a plain PNG.
    Still,
    /// Animation chunks that do not give two playable frames (out-of-order sequence numbers, a
    /// frame without data, a frame count of 0 or 1): browsers show the default image, and the
    /// copy becomes a plain PNG without the animation chunks.
    DefaultImage,
    /// Plays `animation`. The copy ends before `cut_at` when the file goes on past what browsers
    /// play (more frames than `acTL` declares, or a broken frame after good ones).
    Animated { animation: Animation, delays: Vec<ApngDelay>, cut_at: Option<u64>, plays: u32 },
}

const PNG_SIGNATURE: &[u8; 8] = b"\x89PNG\r\n\x1a\n";
const IEND_CHUNK: [u8; 12] = [0, 0, 0, 0, b'I', b'E', b'N', b'D', 0xAE, 0x42, 0x60, 0x82];

/// Walks a PNG's chunks, following browsers' (and the APNG spec's) handling of broken animations:
/// sequence numbers must run 0, 1, 2, … over fcTL and fdAT, every frame needs data, and no more
/// frames play than `acTL` declares. Animation ends at the first chunk that breaks a rule.
fn probe_apng<R: BufRead + Seek>(mut reader: R, file_length: u64, limits: &Limits) -> Result<Apng, PrepareError> {
    let truncated = || {
        ImageError::Corrupt(
            "PNG ends in the middle of a chunk: the file is incomplete (was the upload cut short?)".into(),
        )
    };
    let mut signature = [0u8; 8];
    reader.read_exact(&mut signature).map_err(|_| truncated())?;
    if &signature != PNG_SIGNATURE {
        return Err(ImageError::Corrupt("not a PNG (bad signature)".into()).into());
    }
    let mut offset = 8u64;
    let mut animation = Animation::empty(SourceFormat::Png);
    let mut declared_frames: Option<u32> = None;
    let mut plays = 0u32;
    let mut seen_image_data = false;
    let mut ended = false;
    let mut next_sequence = 0u32;
    // The frame whose fcTL was read (its offset and browser delay), and whether data followed it.
    let mut open_frame: Option<(u64, u64)> = None;
    let mut frame_has_data = false;
    let mut delays = Vec::new();
    let mut cut_at = None;
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
        if offset + 12 + u64::from(length) > file_length {
            return Err(truncated().into());
        }
        let wanted: u32 = match &kind {
            b"IHDR" => 13,
            b"acTL" => 8,
            b"fcTL" => 26,
            b"fdAT" => 4,
            _ => 0,
        };
        let mut data = vec![0u8; wanted.min(length) as usize];
        reader.read_exact(&mut data).map_err(|_| truncated())?;
        reader.seek_relative(i64::from(length) - data.len() as i64 + 4).map_err(PrepareError::Io)?;
        let sequence = data.get(..4).map(|d| u32::from_be_bytes([d[0], d[1], d[2], d[3]]));
        match &kind {
            b"IHDR" if data.len() == 13 => {
                animation.width = u32::from_be_bytes([data[0], data[1], data[2], data[3]]);
                animation.height = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
                check_dimensions(animation.width, animation.height, limits)?;
                animation.has_transparency = matches!(data[9], 4 | 6);
            }
            b"tRNS" => animation.has_transparency = true,
            b"acTL" if data.len() == 8 && declared_frames.is_none() => {
                declared_frames = Some(u32::from_be_bytes([data[0], data[1], data[2], data[3]]));
                plays = u32::from_be_bytes([data[4], data[5], data[6], data[7]]);
            }
            b"IDAT" => {
                if declared_frames.is_none() {
                    return Ok(Apng::Still);
                }
                seen_image_data = true;
                frame_has_data |= open_frame.is_some();
            }
            b"fdAT" if cut_at.is_none() => {
                if sequence == Some(next_sequence) && open_frame.is_some() && seen_image_data {
                    frame_has_data = true;
                } else {
                    // The frame this would belong to is broken: the animation ends before it.
                    cut_at = Some(open_frame.map_or(offset, |(at, _)| at));
                    open_frame = None;
                }
                next_sequence = next_sequence.wrapping_add(1);
            }
            b"fcTL" if cut_at.is_none() => {
                // A new frame: the previous one must have had data; this one must be in order,
                // complete and within the declared count.
                match open_frame.take() {
                    Some((_, delay)) if frame_has_data => {
                        animation.frames += 1;
                        animation.duration_ms += delay;
                        check_animation_limits(&animation, limits)?;
                    }
                    // A frame without data ends the animation before that frame.
                    Some((at, _)) => cut_at = Some(at),
                    None => {}
                }
                let within = declared_frames.is_none_or(|n| animation.frames < n);
                if cut_at.is_none() && within && sequence == Some(next_sequence) && length == 26 {
                    let delay_num = u64::from(u16::from_be_bytes([data[20], data[21]]));
                    let delay_den = match u16::from_be_bytes([data[22], data[23]]) {
                        0 => 100,
                        den => u64::from(den),
                    };
                    let written_ms = delay_num * 1000 / delay_den;
                    let played_ms = browser_delay_ms(written_ms);
                    if played_ms != written_ms {
                        // ffmpeg plays a zero delay at 15 fps, and short ones as written.
                        delays.push(ApngDelay { chunk_offset: offset, delay_ms: played_ms.min(65_535) as u16 });
                    }
                    open_frame = Some((offset, played_ms));
                    frame_has_data = false;
                } else {
                    cut_at = cut_at.or(Some(offset));
                }
                next_sequence = next_sequence.wrapping_add(1);
            }
            b"IEND" => {
                ended = true;
                break;
            }
            _ => {}
        }
        offset += 12 + u64::from(length);
    }
    match open_frame {
        Some((_, delay)) if frame_has_data => {
            animation.frames += 1;
            animation.duration_ms += delay;
            check_animation_limits(&animation, limits)?;
        }
        Some((at, _)) => cut_at = Some(cut_at.map_or(at, |cut| cut.min(at))),
        None => {}
    }
    if declared_frames.is_none() {
        return Ok(Apng::Still);
    }
    if !ended {
        return Err(ImageError::Corrupt("the PNG ends before its end chunk: the file is incomplete".into()).into());
    }
    if animation.frames < 2 {
        return Ok(Apng::DefaultImage);
    }
    delays.retain(|d| cut_at.is_none_or(|cut| d.chunk_offset < cut));
    Ok(Apng::Animated { animation, delays, cut_at, plays })
}

/// Rewrites the PNG at `path` for ffmpeg or the still decoder, in one streaming pass. With
/// `animation` (the acTL data to declare): acTL moved right after IHDR (ffmpeg wants it before
/// any fcTL; browsers take it anywhere before the image data), the file ended before `cut_at`,
/// browser delays written into the fcTL chunks. Without: a plain PNG, animation chunks dropped.
fn rewrite_apng(
    path: &Path,
    animation: Option<[u8; 8]>,
    cut_at: Option<u64>,
    delays: &[ApngDelay],
) -> std::io::Result<()> {
    let rewritten = path.with_extension("prepared");
    let mut input = BufReader::new(File::open(path)?);
    let mut out = std::io::BufWriter::new(File::create(&rewritten)?);
    let mut signature = [0u8; 8];
    input.read_exact(&mut signature)?;
    out.write_all(&signature)?;
    let mut offset = 8u64;
    loop {
        if cut_at.is_some_and(|cut| offset >= cut) {
            out.write_all(&IEND_CHUNK)?;
            break;
        }
        let mut head = [0u8; 8];
        match input.read_exact(&mut head) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => break,
            Err(e) => return Err(e),
        }
        let length = u64::from(u32::from_be_bytes([head[0], head[1], head[2], head[3]]));
        let kind = [head[4], head[5], head[6], head[7]];
        let mut chunk = (&mut input).take(length + 4);
        // `delays` is in file order.
        let delay = delays.binary_search_by_key(&offset, |d| d.chunk_offset).ok().map(|i| &delays[i]);
        match (&kind, animation) {
            (b"acTL", _) | (b"fcTL" | b"fdAT", None) => {
                std::io::copy(&mut chunk, &mut std::io::sink())?;
            }
            (b"fcTL", Some(_)) if length == 26 && delay.is_some() => {
                let mut data = [0u8; 30];
                chunk.read_exact(&mut data)?;
                if let Some(delay) = delay {
                    data[20..22].copy_from_slice(&delay.delay_ms.to_be_bytes());
                    data[22..24].copy_from_slice(&1000u16.to_be_bytes());
                }
                write_chunk(&mut out, b"fcTL", &data[..26])?;
            }
            _ => {
                out.write_all(&head)?;
                std::io::copy(&mut chunk, &mut out)?;
            }
        }
        if let (b"IHDR", Some(actl)) = (&kind, animation) {
            write_chunk(&mut out, b"acTL", &actl)?;
        }
        if &kind == b"IEND" {
            break;
        }
        offset += 12 + length;
    }
    out.flush()?;
    drop(out);
    std::fs::rename(rewritten, path)
}

fn write_chunk(out: &mut impl Write, kind: &[u8; 4], data: &[u8]) -> std::io::Result<()> {
    let length = u32::try_from(data.len()).map_err(|_| std::io::Error::other("PNG chunk too long"))?;
    let mut hasher = crc32fast::Hasher::new();
    hasher.update(kind);
    hasher.update(data);
    out.write_all(&length.to_be_bytes())?;
    out.write_all(kind)?;
    out.write_all(data)?;
    out.write_all(&hasher.finalize().to_be_bytes())
}

/// Walks a WebP's RIFF chunks. `None` for a still WebP.
fn probe_webp<R: BufRead + Seek>(
    mut reader: R,
    file_length: u64,
    limits: &Limits,
) -> Result<Option<(Animation, Vec<u64>)>, PrepareError> {
    let truncated = || {
        ImageError::Corrupt(
            "WebP ends in the middle of a chunk: the file is incomplete (was the upload cut short?)".into(),
        )
    };
    let mut header = [0u8; 12];
    reader.read_exact(&mut header).map_err(|_| truncated())?;
    if &header[..4] != b"RIFF" || &header[8..12] != b"WEBP" {
        return Err(ImageError::Corrupt("not a WebP (bad signature)".into()).into());
    }
    // Browsers read chunks up to the RIFF size; bytes after it are not part of the image.
    let riff_end = 8 + u64::from(u32::from_le_bytes([header[4], header[5], header[6], header[7]]));
    let mut offset = 12u64;
    let mut animation = Animation::empty(SourceFormat::WebP);
    let mut animated = false;
    // Offsets of ANMF durations browsers play as 100 ms (ffmpeg's reader keeps them for the last frame).
    let mut short_delays = Vec::new();
    while offset + 8 <= riff_end {
        let mut head = [0u8; 8];
        reader.read_exact(&mut head).map_err(|_| truncated())?;
        let kind = [head[0], head[1], head[2], head[3]];
        let length = u64::from(u32::from_le_bytes([head[4], head[5], head[6], head[7]]));
        let padded = length + (length & 1);
        // The last chunk's padding byte may be missing; its data may not.
        if offset + 8 + length > file_length.min(riff_end) {
            return Err(truncated().into());
        }
        let chunk_start = offset;
        offset += 8 + padded;
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
                let written = u64::from(u24(&data, 12));
                if browser_delay_ms(written) != written {
                    short_delays.push(chunk_start + 8 + 12);
                }
                animation.duration_ms += browser_delay_ms(written);
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
    Ok(Some((animation, short_delays)))
}

/// Writes 100 ms into the ANMF duration fields at `offsets` (RIFF has no checksums).
fn set_webp_delays(path: &Path, offsets: &[u64]) -> std::io::Result<()> {
    if offsets.is_empty() {
        return Ok(());
    }
    let mut file = std::fs::OpenOptions::new().write(true).open(path)?;
    for &offset in offsets {
        file.seek(std::io::SeekFrom::Start(offset))?;
        file.write_all(&[100, 0, 0])?;
    }
    file.flush()
}

/// The arguments that make ffmpeg read the prepared original as `format`, with browser timing.
pub fn ffmpeg_input_format(format: SourceFormat) -> &'static [&'static str] {
    match format {
        // Delays are already browser delays in the prepared copy.
        SourceFormat::Gif => &["-f", "gif"],
        SourceFormat::Png => &["-f", "apng"],
        // Delays of 10 ms or less are 100 ms in the prepared copy already.
        SourceFormat::WebP => &["-f", "webp_anim"],
        SourceFormat::Jpeg => &["-f", "jpeg_pipe"],
    }
}
