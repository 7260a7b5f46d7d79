//! Reads a GIF's block structure without decoding any pixels, and writes the copy the encoders
//! read: the same frames, laid out so that every decoder shows what browsers show. Streams through
//! the file in constant memory, so a 200 MB animation is checked against the limits before
//! anything is decoded or encoded.
//!
//! Browsers (Chromium's and Firefox's GIF decoders) are more forgiving than the GIF spec, and than
//! ffmpeg or the `gif` crate; the copy applies their rules, checked against headless Chromium
//! (`tests/conformance`):
//! - a byte where a block should start that is not one (a stray 0x00, padding, garbage) ends the
//!   image there, as a trailer would; anything after the trailer is ignored;
//! - a first frame reaching past the logical screen (or a screen of 0×0) enlarges the screen to
//!   hold it; later frames are clipped to the screen, and a frame wholly outside it shows nothing
//!   but still takes its time (the copy holds a 1×1 transparent frame in its place);
//! - a frame with neither a local nor a global palette is drawn in opaque black;
//! - extensions other than frame timing and looping (comments, plain text, XMP, unknown labels)
//!   are not drawn, and are left out of the copy;
//! - a frame delay of 0 or 1 hundredths of a second plays as 100 ms (ffmpeg only does that for 0).
//!
//! A file that ends inside a block (a truncated upload) is refused: browsers show the part that
//! arrived, but that is a fragment of the picture, not what was meant.

use std::io::{BufRead, Read, Seek, SeekFrom, Write};

use crate::error::ImageError;
use crate::limits::{check_dimensions, Limits};
use crate::read::animation::{check_animation_limits, Animation};
use crate::source_format::SourceFormat;

/// Delays at or below this (in 1/100 s) play as [`BROWSER_DEFAULT_DELAY`] in browsers.
const BROWSER_MIN_DELAY: u16 = 1;
const BROWSER_DEFAULT_DELAY: u16 = 10;

/// What the copy says in place of a frame that lies wholly outside the screen: one transparent
/// pixel (a 2-colour local palette, then LZW data for index 0).
const EMPTY_FRAME: [u8; 16] = [0x2C, 0, 0, 0, 0, 1, 0, 1, 0, 0x80, 0, 0, 0, 0, 0, 0];
const EMPTY_FRAME_DATA: [u8; 5] = [0x02, 0x02, 0x44, 0x01, 0x00];
/// A 256-colour all-black palette, for frames that have none.
const BLACK_PALETTE_FLAGS: u8 = 0x80 | 0x07;

/// Why a GIF could not be prepared: the file's fault, or the local disk's.
#[derive(Debug)]
pub enum GifError {
    Image(ImageError),
    Io(std::io::Error),
}

impl From<ImageError> for GifError {
    fn from(e: ImageError) -> Self {
        GifError::Image(e)
    }
}

/// Walks the GIF in `reader` (positioned at its start) and checks it against `limits`.
pub fn probe<R: BufRead>(reader: R, limits: &Limits) -> Result<Animation, ImageError> {
    normalize(reader, None::<&mut std::io::Cursor<Vec<u8>>>, limits).map_err(|e| match e {
        GifError::Image(e) => e,
        GifError::Io(e) => ImageError::Corrupt(format!("reading GIF: {e}")),
    })
}

/// Walks the GIF in `reader` like [`probe`], writing the browser-faithful copy to `out`.
pub fn normalize<R: BufRead, W: Write + Seek>(
    reader: R,
    mut out: Option<&mut W>,
    limits: &Limits,
) -> Result<Animation, GifError> {
    let mut walker = Walker { reader, pos: 0 };
    let mut header = [0u8; 13];
    walker.read_exact(&mut header)?;
    if &header[..3] != b"GIF" {
        return Err(ImageError::Corrupt("not a GIF (bad signature)".into()).into());
    }
    // Browsers decode only these two versions.
    if &header[3..6] != b"87a" && &header[3..6] != b"89a" {
        let version = String::from_utf8_lossy(&header[3..6]).into_owned();
        return Err(ImageError::Corrupt(format!("GIF version {version:?} is neither 87a nor 89a")).into());
    }
    let mut width = u32::from(u16::from_le_bytes([header[6], header[7]]));
    let mut height = u32::from(u16::from_le_bytes([header[8], header[9]]));
    let has_global_palette = header[10] & 0x80 != 0;
    if width > limits.max_dimension || height > limits.max_dimension {
        check_dimensions(width, height, limits)?;
    }
    emit(&mut out, &header)?;
    if has_global_palette {
        walker.copy(color_table_len(header[10]), &mut out)?;
    }

    let mut animation = Animation { width, height, ..Animation::empty(SourceFormat::Gif) };
    // The graphic control block for the next frame: written with it, or not at all.
    let mut pending_control: Option<[u8; 4]> = None;
    // A file ending between blocks without a trailer: its frames are complete.
    while let Some(introducer) = walker.read_byte_or_eof()? {
        match introducer {
            0x21 => {
                let label = walker.read_byte()?;
                match label {
                    0xF9 => {
                        let size = walker.read_byte()?;
                        if size < 4 {
                            return Err(ImageError::Corrupt("GIF frame timing block is too short".into()).into());
                        }
                        let mut control = [0u8; 4];
                        walker.read_exact(&mut control)?;
                        walker.skip(u64::from(size) - 4)?;
                        walker.skip_sub_blocks()?;
                        pending_control = Some(control);
                    }
                    0xFF => {
                        // Application extension: only NETSCAPE2.0/ANIMEXTS1.0 (looping) is kept.
                        let size = walker.read_byte()?;
                        let mut id = vec![0u8; usize::from(size)];
                        walker.read_exact(&mut id)?;
                        if size == 11 && (&id[..] == b"NETSCAPE2.0" || &id[..] == b"ANIMEXTS1.0") {
                            emit(&mut out, &[0x21, 0xFF, size])?;
                            emit(&mut out, &id)?;
                            walker.copy_sub_blocks(&mut out)?;
                        } else {
                            walker.skip_sub_blocks()?;
                        }
                    }
                    _ => walker.skip_sub_blocks()?,
                }
            }
            0x2C => {
                let mut descriptor = [0u8; 9];
                walker.read_exact(&mut descriptor)?;
                let field = |i: usize| u32::from(u16::from_le_bytes([descriptor[i], descriptor[i + 1]]));
                let (left, top, frame_w, frame_h) = (field(0), field(2), field(4), field(6));
                if frame_w > limits.max_dimension
                    || frame_h > limits.max_dimension
                    || u64::from(frame_w) * u64::from(frame_h) > limits.max_pixels
                {
                    return Err(ImageError::TooLarge(format!(
                        "a GIF frame of {frame_w}×{frame_h} is larger than the {} px per side allowed",
                        limits.max_dimension
                    ))
                    .into());
                }
                if animation.frames == 0 {
                    // Browsers enlarge the screen to hold the first frame.
                    width = width.max(left + frame_w);
                    height = height.max(top + frame_h);
                    check_dimensions(width, height, limits)?;
                    animation.width = width;
                    animation.height = height;
                    rewrite_screen(&mut out, width, height)?;
                }
                let mut control = pending_control.take().unwrap_or([0; 4]);
                let delay = u16::from_le_bytes([control[1], control[2]]);
                let delay = if delay <= BROWSER_MIN_DELAY { BROWSER_DEFAULT_DELAY } else { delay };
                control[1..3].copy_from_slice(&delay.to_le_bytes());
                let has_local_palette = descriptor[8] & 0x80 != 0;
                let visible = left < width && top < height && frame_w > 0 && frame_h > 0;
                if visible {
                    // A later frame reaching past the screen: browsers clip it; ffmpeg would unpack
                    // it at the clipped width and garble it. The copy holds the clipped frame.
                    let clip = (left + frame_w > width || top + frame_h > height)
                        .then(|| (frame_w.min(width - left), frame_h.min(height - top)));
                    let interlaced = descriptor[8] & 0x40 != 0;
                    if let Some((clip_w, clip_h)) = clip {
                        // Both fit in u16: they are at most the frame's own size.
                        descriptor[4..6].copy_from_slice(&(clip_w as u16).to_le_bytes());
                        descriptor[6..8].copy_from_slice(&(clip_h as u16).to_le_bytes());
                        descriptor[8] &= !0x40; // written in row order
                    }
                    let mut palette = Vec::new();
                    if has_local_palette {
                        palette.resize(color_table_len(descriptor[8]) as usize, 0);
                        walker.read_exact(&mut palette)?;
                    } else if !has_global_palette {
                        descriptor[8] = (descriptor[8] & !0x07) | BLACK_PALETTE_FLAGS;
                        palette.resize(3 * 256, 0);
                    }
                    let code_size = walker.read_byte()?;
                    // Where the first frame leaves the screen uncovered, browsers show nothing
                    // (the page); ffmpeg would paint the GIF's background colour. Giving the frame
                    // a transparent index its data cannot hold (1 << code size) makes ffmpeg leave
                    // it transparent too, so the MP4 flattens it like the poster.
                    let covers_screen = left == 0 && top == 0 && frame_w >= width && frame_h >= height;
                    if animation.frames == 0 && !covers_screen && control[0] & 0x01 == 0 && code_size < 8 {
                        control[0] |= 0x01;
                        control[3] = 1 << code_size;
                    }
                    animation.has_transparency |= control[0] & 0x01 != 0;
                    emit(&mut out, &[0x21, 0xF9, 4])?;
                    emit(&mut out, &control)?;
                    emit(&mut out, &[0])?;
                    emit(&mut out, &[0x2C])?;
                    emit(&mut out, &descriptor)?;
                    emit(&mut out, &palette)?;
                    emit(&mut out, &[code_size])?;
                    match clip {
                        None => walker.copy_sub_blocks(&mut out)?,
                        Some(clip) => {
                            let fill = if control[0] & 0x01 != 0 { control[3] } else { 0 };
                            let pixels =
                                clip_frame(&mut walker, code_size, (frame_w, frame_h), interlaced, clip, fill)?;
                            for block in pixels.chunks(255) {
                                emit(&mut out, &[block.len() as u8])?;
                                emit(&mut out, block)?;
                            }
                            emit(&mut out, &[0])?;
                        }
                    }
                } else {
                    // Shows nothing, and keeps its time: one transparent pixel, left in place.
                    control[0] = (1 << 2) | 0x01;
                    control[3] = 0;
                    emit(&mut out, &[0x21, 0xF9, 4])?;
                    emit(&mut out, &control)?;
                    emit(&mut out, &[0])?;
                    emit(&mut out, &EMPTY_FRAME)?;
                    emit(&mut out, &EMPTY_FRAME_DATA)?;
                    if has_local_palette {
                        walker.skip(color_table_len(descriptor[8]))?;
                    }
                    walker.read_byte()?; // LZW minimum code size
                    walker.skip_sub_blocks()?;
                }
                animation.frames += 1;
                animation.duration_ms += u64::from(delay) * 10;
                check_animation_limits(&animation, limits)?;
            }
            // The trailer, or a byte that starts no block: browsers end the image there too.
            _ => break,
        }
    }
    if animation.frames == 0 {
        return Err(ImageError::Corrupt("GIF has no frames".into()).into());
    }
    emit(&mut out, &[0x3B])?;
    if let Some(out) = out {
        out.flush().map_err(GifError::Io)?;
    }
    Ok(animation)
}

/// Decodes a frame's LZW data (read from `walker`), keeps the top-left `clip` of its pixels (in
/// row order), and encodes them again: LZW data for the clipped frame. Damaged or short data
/// gives what decoded, the rest `fill`, as browsers show it.
fn clip_frame<R: BufRead>(
    walker: &mut Walker<R>,
    code_size: u8,
    (frame_w, frame_h): (u32, u32),
    interlaced: bool,
    (clip_w, clip_h): (u32, u32),
    fill: u8,
) -> Result<Vec<u8>, GifError> {
    if !(2..=8).contains(&code_size) {
        return Err(ImageError::Corrupt(format!("a GIF frame's data is damaged (LZW code size {code_size})")).into());
    }
    // Which image row each row of data is: interlaced frames store rows 0, 8, 16, …; 4, 12, …;
    // 2, 6, …; then the odd ones.
    let rows: Vec<u32> = if interlaced {
        [(0, 8), (4, 8), (2, 4), (1, 2)].iter().flat_map(|&(start, step)| (start..frame_h).step_by(step)).collect()
    } else {
        (0..frame_h).collect()
    };
    let mut clipper =
        Clipper { frame_w, rows, clip_w, clip_h, next: 0, pixels: vec![fill; (clip_w * clip_h) as usize] };
    let mut blocks = SubBlocks { walker, left_in_block: 0, done: false, error: None };
    let mut decoder = weezl::decode::Decoder::new(weezl::BitOrder::Lsb, code_size);
    // Errors in the LZW data are the picture's damage, shown as far as it decodes.
    let _ = decoder.into_stream(&mut clipper).decode(std::io::BufReader::new(&mut blocks));
    if let Some(error) = blocks.error.take() {
        return Err(error);
    }
    blocks.skip_rest()?;
    let mut encoder = weezl::encode::Encoder::new(weezl::BitOrder::Lsb, code_size);
    encoder
        .encode(&clipper.pixels)
        .map_err(|e| ImageError::Corrupt(format!("a GIF frame could not be clipped to the screen: {e}")).into())
}

/// Keeps the pixels of a frame that fall inside the clip, as decoded pixels arrive.
struct Clipper {
    frame_w: u32,
    rows: Vec<u32>,
    clip_w: u32,
    clip_h: u32,
    /// Index of the next decoded pixel.
    next: u64,
    pixels: Vec<u8>,
}

impl Write for Clipper {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let width = u64::from(self.frame_w.max(1));
        for &index in buf {
            let (data_row, x) = (self.next / width, (self.next % width) as u32);
            self.next += 1;
            // Data past the frame's end is ignored, as browsers do.
            let Some(&y) = self.rows.get(data_row as usize) else { break };
            if x < self.clip_w && y < self.clip_h {
                self.pixels[(y * self.clip_w + x) as usize] = index;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A frame's data sub-blocks as one stream (up to the terminator).
struct SubBlocks<'w, R> {
    walker: &'w mut Walker<R>,
    left_in_block: u8,
    done: bool,
    /// What went wrong reading the file, kept to report after the LZW decoder returns.
    error: Option<GifError>,
}

impl<R: BufRead> Read for SubBlocks<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.done || buf.is_empty() {
            return Ok(0);
        }
        if self.left_in_block == 0 {
            match self.walker.read_byte() {
                Ok(0) => {
                    self.done = true;
                    return Ok(0);
                }
                Ok(len) => self.left_in_block = len,
                Err(e) => {
                    self.error = Some(e);
                    self.done = true;
                    return Ok(0);
                }
            }
        }
        let n = buf.len().min(usize::from(self.left_in_block));
        if let Err(e) = self.walker.read_exact(&mut buf[..n]) {
            self.error = Some(e);
            self.done = true;
            return Ok(0);
        }
        self.left_in_block -= n as u8;
        Ok(n)
    }
}

impl<R: BufRead> SubBlocks<'_, R> {
    /// Reads past whatever the decoder left, through the terminator.
    fn skip_rest(&mut self) -> Result<(), GifError> {
        if self.done {
            return Ok(());
        }
        self.walker.skip(u64::from(self.left_in_block))?;
        self.walker.skip_sub_blocks()
    }
}

fn emit<W: Write>(out: &mut Option<&mut W>, bytes: &[u8]) -> Result<(), GifError> {
    match out {
        Some(out) => out.write_all(bytes).map_err(GifError::Io),
        None => Ok(()),
    }
}

/// Sets the logical screen size in the copy's header (written before the first frame was seen).
fn rewrite_screen<W: Write + Seek>(out: &mut Option<&mut W>, width: u32, height: u32) -> Result<(), GifError> {
    let Some(out) = out else { return Ok(()) };
    // check_dimensions bounds both well below 65 536.
    let (w, h) = (width as u16, height as u16);
    let end = out.stream_position().map_err(GifError::Io)?;
    out.seek(SeekFrom::Start(6)).map_err(GifError::Io)?;
    out.write_all(&w.to_le_bytes()).map_err(GifError::Io)?;
    out.write_all(&h.to_le_bytes()).map_err(GifError::Io)?;
    out.seek(SeekFrom::Start(end)).map_err(GifError::Io)?;
    Ok(())
}

fn color_table_len(packed: u8) -> u64 {
    3 * (1u64 << ((packed & 0x07) + 1))
}

struct Walker<R> {
    reader: R,
    pos: u64,
}

impl<R: BufRead> Walker<R> {
    fn truncated() -> GifError {
        GifError::Image(ImageError::Corrupt(
            "GIF ends in the middle of a block: the file is incomplete (was the upload cut short?)".into(),
        ))
    }

    fn read_exact(&mut self, buf: &mut [u8]) -> Result<(), GifError> {
        self.reader.read_exact(buf).map_err(|e| match e.kind() {
            std::io::ErrorKind::UnexpectedEof => Self::truncated(),
            _ => GifError::Io(e),
        })?;
        self.pos += buf.len() as u64;
        Ok(())
    }

    fn read_byte(&mut self) -> Result<u8, GifError> {
        self.read_byte_or_eof()?.ok_or_else(Self::truncated)
    }

    fn read_byte_or_eof(&mut self) -> Result<Option<u8>, GifError> {
        let mut byte = [0u8; 1];
        match self.reader.read(&mut byte) {
            Ok(0) => Ok(None),
            Ok(_) => {
                self.pos += 1;
                Ok(Some(byte[0]))
            }
            Err(e) => Err(GifError::Io(e)),
        }
    }

    /// Copies `n` bytes to `out` (or skips them), failing if the file ends first.
    fn copy<W: Write>(&mut self, n: u64, out: &mut Option<&mut W>) -> Result<(), GifError> {
        let mut limited = self.reader.by_ref().take(n);
        let copied = match out {
            Some(out) => std::io::copy(&mut limited, out),
            None => std::io::copy(&mut limited, &mut std::io::sink()),
        }
        .map_err(GifError::Io)?;
        self.pos += copied;
        if copied < n {
            return Err(Self::truncated());
        }
        Ok(())
    }

    fn skip(&mut self, n: u64) -> Result<(), GifError> {
        self.copy(n, &mut None::<&mut std::io::Sink>)
    }

    /// Copies a chain of data sub-blocks up to and including its zero-length terminator.
    fn copy_sub_blocks<W: Write>(&mut self, out: &mut Option<&mut W>) -> Result<(), GifError> {
        loop {
            let len = self.read_byte()?;
            emit(out, &[len])?;
            if len == 0 {
                return Ok(());
            }
            self.copy(u64::from(len), out)?;
        }
    }

    fn skip_sub_blocks(&mut self) -> Result<(), GifError> {
        self.copy_sub_blocks(&mut None::<&mut std::io::Sink>)
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
        gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]); // 13..19
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

    fn normalized(gif: &[u8]) -> (Animation, Vec<u8>) {
        let mut out = Cursor::new(Vec::new());
        let animation = normalize(Cursor::new(gif), Some(&mut out), &Limits::default()).unwrap();
        (animation, out.into_inner())
    }

    #[test]
    fn frames_and_browser_timing() {
        let gif = animated_gif(&[0, 1, 5, 10, 50]);
        let probe = probe(Cursor::new(&gif), &Limits::default()).unwrap();
        assert_eq!((probe.width, probe.height, probe.frames), (4, 2, 5));
        // 0 and 1 play as 100 ms: 100 + 100 + 50 + 100 + 500.
        assert_eq!(probe.duration_ms, 850);
        assert!(probe.has_transparency);
    }

    #[test]
    fn the_copy_of_a_well_formed_gif_differs_only_in_short_delays() {
        let (animation, copy) = normalized(&animated_gif(&[0, 1, 7]));
        assert_eq!(copy, animated_gif(&[10, 10, 7]));
        assert_eq!(animation.duration_ms, 270);
        // Preparing the copy again changes nothing.
        assert_eq!(normalized(&copy).1, copy);
    }

    #[test]
    fn a_stray_byte_ends_the_image_as_in_browsers() {
        let two = animated_gif(&[10, 10]);
        let mut gif = two[..two.len() - 1].to_vec(); // without its trailer
        gif.push(0x00); // where a block should start
        gif.extend_from_slice(&animated_gif(&[10])[13 + 6..]); // a third frame browsers never reach
        let (animation, copy) = normalized(&gif);
        assert_eq!(animation.frames, 2);
        assert_eq!(copy, two);
        // Garbage after the trailer is ignored.
        let mut padded = two.clone();
        padded.extend_from_slice(&[0; 100]);
        assert_eq!(normalized(&padded).1, two);
    }

    #[test]
    fn the_screen_grows_to_hold_the_first_frame_and_later_frames_outside_it_keep_their_time() {
        let mut gif = animated_gif(&[10, 20, 30]);
        // Screen 2×1: the 4×2 first frame enlarges it back to 4×2.
        gif[6..10].copy_from_slice(&[2, 0, 1, 0]);
        // Third frame moved to x = 9: wholly outside, replaced by one transparent pixel.
        let third_descriptor = 13 + 6 + 2 * 23 + 8;
        assert_eq!(gif[third_descriptor], 0x2C);
        gif[third_descriptor + 1] = 9;
        let (animation, copy) = normalized(&gif);
        assert_eq!((animation.width, animation.height, animation.frames, animation.duration_ms), (4, 2, 3, 600));
        assert_eq!(&copy[6..10], &[4, 0, 2, 0]);
        let third = &copy[third_descriptor - 8..];
        assert_eq!(&third[..8], &[0x21, 0xF9, 4, 0x05, 30, 0, 0, 0], "transparent, left in place, same delay");
        assert_eq!(&third[8..8 + 16], &EMPTY_FRAME);
        assert_eq!(normalized(&copy).0, animation);
    }

    /// One frame: left, top, width, height, interlaced, palette index at (x, y).
    type TestFrame = (u16, u16, u16, u16, bool, fn(u32, u32) -> u8);

    /// A GIF of `screen` with `frames`.
    fn gif_with_frames(screen: (u16, u16), frames: &[TestFrame]) -> Vec<u8> {
        let mut gif = b"GIF89a".to_vec();
        gif.extend_from_slice(&screen.0.to_le_bytes());
        gif.extend_from_slice(&screen.1.to_le_bytes());
        gif.extend_from_slice(&[0x81, 0, 0]); // global palette of 4
        gif.extend_from_slice(&[255, 0, 0, 0, 255, 0, 0, 0, 255, 255, 255, 255]);
        for &(left, top, w, h, interlaced, index) in frames {
            gif.extend_from_slice(&[0x21, 0xF9, 4, 0, 10, 0, 0, 0, 0x2C]);
            for v in [left, top, w, h] {
                gif.extend_from_slice(&v.to_le_bytes());
            }
            gif.push(if interlaced { 0x40 } else { 0 });
            let order: Vec<u32> = if interlaced {
                [(0, 8), (4, 8), (2, 4), (1, 2)].iter().flat_map(|&(s, step)| (s..u32::from(h)).step_by(step)).collect()
            } else {
                (0..u32::from(h)).collect()
            };
            let pixels: Vec<u8> = order.iter().flat_map(|&y| (0..u32::from(w)).map(move |x| index(x, y))).collect();
            let data = weezl::encode::Encoder::new(weezl::BitOrder::Lsb, 2).encode(&pixels).unwrap();
            gif.push(2);
            for block in data.chunks(255) {
                gif.push(block.len() as u8);
                gif.extend_from_slice(block);
            }
            gif.push(0);
        }
        gif.push(0x3B);
        gif
    }

    /// Every frame of `gif` as the `gif` crate composes it (RGBA rows).
    fn composed(gif: &[u8]) -> Vec<image::RgbaImage> {
        use image::AnimationDecoder;
        let decoder = image::codecs::gif::GifDecoder::new(Cursor::new(gif)).unwrap();
        decoder.into_frames().map(|f| f.unwrap().into_buffer()).collect()
    }

    #[test]
    fn later_frames_past_the_screen_are_clipped_in_the_copy() {
        // Screen 4×2 (red); frame 2 is 8×2, green on its left half, blue on its right; frame 3 is
        // an interlaced 1×8 column of white and blue rows starting at the top.
        let gif = gif_with_frames(
            (4, 2),
            &[
                (0, 0, 4, 2, false, |_, _| 0),
                (0, 0, 8, 2, false, |x, _| if x < 4 { 1 } else { 2 }),
                (3, 0, 1, 8, true, |_, y| if y % 2 == 0 { 3 } else { 2 }),
            ],
        );
        let (animation, copy) = normalized(&gif);
        assert_eq!((animation.width, animation.height, animation.frames), (4, 2, 3));
        // The copy's own frame descriptors (after each 8-byte graphic control block).
        let sizes: Vec<(u16, u16, bool)> = (0..copy.len() - 18)
            .filter(|&i| copy[i..i + 3] == [0x21, 0xF9, 4] && copy[i + 8] == 0x2C)
            .map(|i| {
                let d = &copy[i + 9..i + 18];
                (u16::from_le_bytes([d[4], d[5]]), u16::from_le_bytes([d[6], d[7]]), d[8] & 0x40 != 0)
            })
            .collect();
        assert_eq!(sizes, [(4, 2, false), (4, 2, false), (1, 2, false)]);
        let frames = composed(&copy);
        assert_eq!(frames.len(), 3);
        assert!(frames[1].pixels().all(|p| p.0 == [0, 255, 0, 255]), "the left half of frame 2, as browsers clip it");
        let column: Vec<[u8; 4]> = (0..2).map(|y| frames[2].get_pixel(3, y).0).collect();
        assert_eq!(column, [[255, 255, 255, 255], [0, 0, 255, 255]], "rows 0 and 1 of the interlaced frame");
        assert_eq!(frames[2].get_pixel(0, 0).0, [0, 255, 0, 255], "the rest stays as frame 2 left it");
    }

    #[test]
    fn a_first_frame_that_leaves_the_screen_uncovered_is_given_transparency() {
        // Screen 4×2, first frame 2×2 without a transparent index: browsers show the rest empty.
        let gif = gif_with_frames((4, 2), &[(0, 0, 2, 2, false, |_, _| 1), (0, 0, 4, 2, false, |_, _| 2)]);
        let (animation, copy) = normalized(&gif);
        assert!(animation.has_transparency);
        let first_control = 13 + 12;
        assert_eq!(&copy[first_control..first_control + 8], &[0x21, 0xF9, 4, 0x01, 10, 0, 4, 0]);
        let second_control = copy.windows(3).rposition(|w| w == [0x21, 0xF9, 4]).unwrap();
        assert_eq!(copy[second_control + 3] & 0x01, 0, "later frames keep their own");
        // A first frame covering the screen is left as it is.
        let full = gif_with_frames((4, 2), &[(0, 0, 4, 2, false, |_, _| 1), (0, 0, 4, 2, false, |_, _| 2)]);
        assert!(!normalized(&full).0.has_transparency);
    }

    #[test]
    fn frames_without_any_palette_get_a_black_one_and_other_extensions_are_left_out() {
        let mut gif = animated_gif(&[10]);
        gif[10] = 0; // no global palette
        gif.drain(13..19);
        let comment = [0x21, 0xFE, 3, b'h', b'i', b'!', 0];
        gif.splice(13..13, comment);
        let (animation, copy) = normalized(&gif);
        assert_eq!(animation.frames, 1);
        let descriptor = 13 + 8;
        assert_eq!(copy[descriptor], 0x2C);
        assert_eq!(copy[descriptor + 9], 0x87, "a 256-colour local palette");
        assert!(copy[descriptor + 10..descriptor + 10 + 768].iter().all(|&b| b == 0));
        assert!(!copy.windows(3).any(|w| w == b"hi!"));
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
