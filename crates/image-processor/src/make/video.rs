//! Animations (GIF, APNG, animated WebP) → H.264 MP4 with ffmpeg.
//!
//! ffmpeg parses hostile input, so it runs as a plain child process (no shell) with arguments that
//! let it read exactly one local file, only in its sniffed format (`-f gif`, no probing) and only through the
//! `file` protocol; it gets no stdin, and only the tail of its stderr is kept. It is killed when
//! its time is up.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::io::AsyncReadExt;

use crate::crop::CropBox;
use crate::deadline::Deadline;
use crate::read::prepare::ffmpeg_input_format;
use crate::source_format::SourceFormat;

/// How MP4s are encoded. Everything but the binary's path and the time limit changes output bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VideoSettings {
    /// `FFMPEG_PATH`; the layer puts it at `/opt/bin/ffmpeg`.
    pub ffmpeg_path: PathBuf,
    /// x264 constant rate factor (lower is better quality, larger files).
    pub crf: u8,
    /// x264 preset (`veryfast` … `veryslow`).
    pub preset: String,
    /// x264 tune, if any (`animation`, `film`, …).
    pub tune: Option<String>,
    /// Colour transparent GIF pixels are flattened onto.
    pub background: [u8; 3],
    /// Also make a smaller rendition this wide when the GIF is wider (`None`: don't).
    pub mobile_width: Option<u32>,
    /// Longest one ffmpeg run may take (further capped by the Lambda's remaining time).
    pub timeout: Duration,
}

impl Default for VideoSettings {
    fn default() -> Self {
        VideoSettings {
            ffmpeg_path: PathBuf::from("/opt/bin/ffmpeg"),
            // Chosen with `make bench` (docs/benchmarks.md): same CRF as ffmpeg's default, slower preset:
            // equal bytes at higher SSIM, so fewer bytes at equal SSIM.
            crf: 23,
            preset: "slow".into(),
            tune: None,
            background: [255, 255, 255],
            mobile_width: Some(640),
            timeout: Duration::from_secs(600),
        }
    }
}

impl VideoSettings {
    pub fn fingerprint(&self) -> String {
        let [r, g, b] = self.background;
        format!(
            "v2;crf{};{};{};#{r:02x}{g:02x}{b:02x};m{};awebp{ANIMATED_WEBP_QUALITY}",
            self.crf,
            self.preset,
            self.tune.as_deref().unwrap_or("-"),
            self.mobile_width.unwrap_or(0)
        )
    }
}

/// Parses `#rrggbb` / `rrggbb`.
pub fn parse_color(text: &str) -> Option<[u8; 3]> {
    let hex = text.trim().trim_start_matches('#');
    if hex.len() != 6 || !hex.chars().all(|c| c.is_ascii_hexdigit()) {
        return None;
    }
    let byte = |i: usize| u8::from_str_radix(&hex[i..i + 2], 16).ok();
    Some([byte(0)?, byte(2)?, byte(4)?])
}

/// Output size for a GIF of `width`×`height`, optionally scaled to `target_width`: H.264 in
/// yuv420p needs even dimensions.
pub fn output_size(width: u32, height: u32, target_width: Option<u32>) -> (u32, u32) {
    match target_width {
        Some(target) if target < width => {
            let w = (target / 2 * 2).max(2);
            let h = ((u64::from(height) * u64::from(w) + u64::from(width) / 2) / u64::from(width)) as u32;
            (w, (h / 2 * 2).max(2))
        }
        _ => (width.div_ceil(2) * 2, height.div_ceil(2) * 2),
    }
}

/// What of each frame a rendition shows: a box of it (a variant with a shape), and the size it is
/// scaled to (`None`: its own, padded to even sides as H.264 needs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Geometry {
    pub crop: Option<CropBox>,
    pub scaled_to: Option<(u32, u32)>,
}

/// The complete ffmpeg command line (without the program). `input` is a prepared animation
/// ([`crate::read::prepare::prepare`]) in `format`.
pub fn ffmpeg_args(
    input: &Path,
    format: SourceFormat,
    output: &Path,
    settings: &VideoSettings,
    flatten_transparency: bool,
    geometry: Geometry,
    b_frames: bool,
) -> Vec<OsString> {
    let Geometry { crop, scaled_to } = geometry;
    let [r, g, b] = settings.background;
    let color = format!("0x{r:02X}{g:02X}{b:02X}");
    let mut graph = String::from("[0:v]");
    if flatten_transparency {
        // Over a filled copy of each frame: the background gets the GIF's own timestamps, so
        // variable frame timing survives (a `color` source would impose its own frame rate).
        graph.push_str(&format!("split[fg][bg];[bg]drawbox=c={color}:t=fill[base];[base][fg]overlay=format=auto,"));
    }
    // A rendition of a variant with a shape: the poster variant's box, every frame.
    if let Some(c) = crop {
        graph.push_str(&format!("crop={}:{}:{}:{},", c.width, c.height, c.x, c.y));
    }
    match scaled_to {
        Some((w, h)) => graph.push_str(&format!("scale={w}:{h}:flags=lanczos,")),
        None => graph.push_str(&format!("pad=ceil(iw/2)*2:ceil(ih/2)*2:color={color},")),
    }
    graph.push_str("format=yuv420p[v]");

    let mut args = input_args(input, format);
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-filter_complex", &graph, "-map", "[v]", "-an", "-sn", "-dn", "-map_metadata", "-1"]);
    push(&["-c:v", "libx264", "-preset", &settings.preset, "-crf", &settings.crf.to_string()]);
    if !b_frames {
        push(&["-bf", "0"]);
    }
    if let Some(tune) = &settings.tune {
        push(&["-tune", tune]);
    }
    // Frame delays become exact MP4 timestamps (variable frame rate, the input's time base).
    push(&["-fps_mode", "passthrough", "-enc_time_base", "demux"]);
    push(&["-profile:v", "high", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", "-y"]);
    args.push(output.as_os_str().to_owned());
    args
}

/// Quiet ffmpeg reading `input`: this file only, only as `format`, only through the file protocol.
fn input_args(input: &Path, format: SourceFormat) -> Vec<OsString> {
    let mut args: Vec<OsString> = ["-nostdin", "-hide_banner", "-nostats", "-loglevel", "error"]
        .into_iter()
        .chain(["-protocol_whitelist", "file"])
        .chain(ffmpeg_input_format(format).iter().copied())
        .chain(["-i"])
        .map(OsString::from)
        .collect();
    args.push(input.as_os_str().to_owned());
    args
}

/// libwebp's quality for animated WebP (stickers): sharp's default for WebP.
pub const ANIMATED_WEBP_QUALITY: u8 = 75;

/// Arguments that make an animated WebP with alpha from a transparent animation (MP4 cannot carry
/// transparency). Frame timing is kept as in the MP4; the WebP loops forever, as promotions do.
pub fn animated_webp_args(input: &Path, format: SourceFormat, output: &Path) -> Vec<OsString> {
    let mut args = input_args(input, format);
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-map", "0:v", "-an", "-sn", "-dn", "-map_metadata", "-1"]);
    push(&["-c:v", "libwebp_anim", "-lossless", "0", "-quality", &ANIMATED_WEBP_QUALITY.to_string()]);
    push(&["-compression_level", "4", "-pix_fmt", "yuva420p", "-fps_mode", "passthrough"]);
    push(&["-loop", "0", "-f", "webp", "-y"]);
    args.push(output.as_os_str().to_owned());
    args
}

/// Arguments that write the first frame of an animation, as ffmpeg composes it (the MP4's first
/// frame), to an 8-bit RGBA PNG: the poster of an APNG or animated WebP.
pub fn first_frame_args(input: &Path, format: SourceFormat, output: &Path) -> Vec<OsString> {
    let mut args = input_args(input, format);
    let mut push = |items: &[&str]| args.extend(items.iter().map(OsString::from));
    push(&["-map", "0:v", "-an", "-sn", "-dn", "-map_metadata", "-1", "-frames:v", "1"]);
    push(&["-pix_fmt", "rgba", "-c:v", "png", "-f", "image2", "-update", "1", "-y"]);
    args.push(output.as_os_str().to_owned());
    args
}

/// How long the video track of an MP4 really is (its media header's duration), in milliseconds.
/// `None` if the file has no readable `mdhd` near its start (`+faststart` puts it there).
///
/// Why it is checked: with variable frame timing and B-frames, ffmpeg's MP4 muxer can make the
/// track shorter than the frames' timestamps when the frame delays are uneven near the start
/// (the edit list then asks for more than the track holds, and the last frames are cut short).
/// The encode is redone without B-frames when that happens.
pub fn mp4_track_duration_ms(path: &Path) -> Option<u64> {
    use std::io::Read;
    let mut head = Vec::new();
    std::fs::File::open(path).ok()?.take(4 << 20).read_to_end(&mut head).ok()?;
    let at = head.windows(4).position(|w| w == b"mdhd")? + 4;
    let field = |offset: usize, len: usize| -> Option<u64> {
        let bytes = head.get(at + offset..at + offset + len)?;
        Some(bytes.iter().fold(0u64, |acc, &b| acc << 8 | u64::from(b)))
    };
    let (timescale, duration) = match head.get(at)? {
        0 => (field(12, 4)?, field(16, 4)?),
        1 => (field(20, 4)?, field(24, 8)?),
        _ => return None,
    };
    (timescale > 0).then(|| duration.saturating_mul(1000) / timescale)
}

/// Keeps this much of ffmpeg's stderr (the end, where the reason is).
const STDERR_TAIL: usize = 4096;

#[derive(Debug, thiserror::Error)]
pub enum VideoError {
    /// ffmpeg could not be started (missing binary, no permission): a deployment problem.
    #[error("could not run ffmpeg at {path}: {source}")]
    Spawn { path: String, source: std::io::Error },
    /// ffmpeg ran out of time. `cut_by` says which limit stopped it, and so whether a retry in a
    /// fresh invocation could succeed.
    #[error("{}", timed_out_message(*seconds, *cut_by))]
    TimedOut { seconds: u64, cut_by: TimeLimit },
    /// ffmpeg failed on this input.
    #[error("ffmpeg failed: {0}")]
    Failed(String),
    /// ffmpeg failed for a reason outside the input (disk full, out of memory, killed).
    #[error("ffmpeg failed for lack of resources: {0}")]
    Resources(String),
}

/// Which limit stopped an ffmpeg run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeLimit {
    /// `FFMPEG_TIMEOUT_SECONDS`: the same on every try.
    Configured,
    /// The end of the Lambda invocation. `full_invocation`: the job had the whole invocation, as
    /// any retry would, so a retry cannot finish either.
    Invocation { full_invocation: bool },
}

fn timed_out_message(seconds: u64, cut_by: TimeLimit) -> String {
    match cut_by {
        TimeLimit::Configured => {
            format!("the animation could not be converted within the {seconds} s allowed (FFMPEG_TIMEOUT_SECONDS)")
        }
        TimeLimit::Invocation { full_invocation: true } => format!(
            "the animation could not be converted within the function's time limit \
             (stopped after {seconds} s, with the whole invocation to itself): too long or too large to convert"
        ),
        TimeLimit::Invocation { full_invocation: false } => {
            format!("ffmpeg was stopped after {seconds} s at the end of the invocation; it will be retried")
        }
    }
}

/// Runs ffmpeg with `args`, killing it after `settings.timeout` or at `deadline`, whichever is first.
pub async fn run_ffmpeg(
    settings: &VideoSettings,
    args: &[OsString],
    deadline: Option<Deadline>,
) -> Result<(), VideoError> {
    let (limit, cut_by) = match deadline.map(|d| (d.at.saturating_duration_since(Instant::now()), d.full_invocation)) {
        Some((remaining, full_invocation)) if remaining < settings.timeout => {
            (remaining, TimeLimit::Invocation { full_invocation })
        }
        _ => (settings.timeout, TimeLimit::Configured),
    };
    let mut child = tokio::process::Command::new(&settings.ffmpeg_path)
        .args(args)
        .env_clear()
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|source| VideoError::Spawn { path: settings.ffmpeg_path.display().to_string(), source })?;
    let mut stderr = child.stderr.take();
    let run = async {
        let mut tail = Vec::new();
        if let Some(pipe) = stderr.as_mut() {
            let mut chunk = [0u8; 4096];
            while let Ok(n) = pipe.read(&mut chunk).await {
                if n == 0 {
                    break;
                }
                tail.extend_from_slice(&chunk[..n]);
                if tail.len() > 2 * STDERR_TAIL {
                    tail.drain(..tail.len() - STDERR_TAIL);
                }
            }
        }
        let status = child.wait().await;
        (status, tail)
    };
    let (status, tail) = match tokio::time::timeout(limit, run).await {
        Ok(finished) => finished,
        // Dropping the future drops the child: kill_on_drop ends ffmpeg.
        Err(_) => return Err(VideoError::TimedOut { seconds: limit.as_secs(), cut_by }),
    };
    let message = stderr_summary(&tail);
    match status {
        Ok(status) if status.success() => Ok(()),
        Ok(status) => {
            let lower = message.to_ascii_lowercase();
            if status.code().is_none()
                || lower.contains("no space left")
                || lower.contains("cannot allocate memory")
                || lower.contains("out of memory")
            {
                Err(VideoError::Resources(format!("{status}: {message}")))
            } else {
                Err(VideoError::Failed(message))
            }
        }
        Err(e) => Err(VideoError::Resources(format!("waiting for ffmpeg: {e}"))),
    }
}

/// The last few lines of ffmpeg's stderr, as one line of at most ~500 characters.
fn stderr_summary(tail: &[u8]) -> String {
    let text = String::from_utf8_lossy(tail);
    let lines: Vec<&str> = text.lines().map(str::trim).filter(|l| !l.is_empty()).collect();
    let last = lines[lines.len().saturating_sub(3)..].join(" | ");
    if last.is_empty() {
        return "no message".into();
    }
    let mut summary: String = last.chars().take(500).collect();
    if summary.len() < last.len() {
        summary.push('…');
    }
    summary
}

impl From<VideoError> for media_edge_shared::Failure {
    fn from(e: VideoError) -> Self {
        use media_edge_shared::Failure;
        match &e {
            VideoError::TimedOut {
                cut_by: TimeLimit::Configured | TimeLimit::Invocation { full_invocation: true },
                ..
            }
            | VideoError::Failed(_) => Failure::permanent(e.to_string()),
            VideoError::TimedOut { cut_by: TimeLimit::Invocation { full_invocation: false }, .. }
            | VideoError::Spawn { .. }
            | VideoError::Resources(_) => Failure::transient(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_even() {
        assert_eq!(output_size(33, 21, None), (34, 22));
        assert_eq!(output_size(640, 480, None), (640, 480));
        assert_eq!(output_size(1280, 721, Some(640)), (640, 360));
        assert_eq!(output_size(500, 300, Some(640)), (500, 300), "never upscaled");
        assert_eq!(output_size(1001, 3, Some(640)), (640, 2));
    }

    #[test]
    fn arguments_confine_ffmpeg_to_one_local_gif() {
        let args = ffmpeg_args(
            Path::new("/tmp/job/source.gif"),
            SourceFormat::Gif,
            Path::new("/tmp/job/video.mp4"),
            &VideoSettings::default(),
            true,
            Geometry::default(),
            true,
        );
        let text: Vec<String> = args.iter().map(|a| a.to_string_lossy().into_owned()).collect();
        let joined = text.join(" ");
        let input_at = text.iter().position(|a| a == "-i").unwrap();
        assert_eq!(text[input_at + 1], "/tmp/job/source.gif");
        let before_input = &text[..input_at];
        assert!(before_input.windows(2).any(|w| w == ["-protocol_whitelist", "file"]), "{joined}");
        assert!(before_input.windows(2).any(|w| w == ["-f", "gif"]), "{joined}");
        assert!(text.contains(&"-nostdin".to_string()));
        assert_eq!(text.iter().filter(|a| *a == "-i").count(), 1, "exactly one input");
        assert!(joined.contains("-an"), "no audio");
        assert!(joined.contains("+faststart") && joined.contains("yuv420p") && joined.contains("libx264"));
        assert!(joined.contains("drawbox=c=0xFFFFFF:t=fill"), "{joined}");
        assert_eq!(text.last().unwrap(), "/tmp/job/video.mp4");
    }

    #[test]
    fn only_a_cut_that_a_retry_could_avoid_is_transient() {
        use media_edge_shared::FailureClass::{Permanent, Transient};
        let class = |cut_by| media_edge_shared::Failure::from(VideoError::TimedOut { seconds: 880, cut_by }).class;
        assert_eq!(class(TimeLimit::Configured), Permanent);
        assert_eq!(class(TimeLimit::Invocation { full_invocation: true }), Permanent, "a retry gets no more time");
        assert_eq!(class(TimeLimit::Invocation { full_invocation: false }), Transient, "earlier jobs used the time");
        let reason = VideoError::TimedOut { seconds: 880, cut_by: TimeLimit::Invocation { full_invocation: true } };
        assert!(reason.to_string().contains("function's time limit"), "{reason}");
    }

    #[test]
    fn colors_parse() {
        assert_eq!(parse_color("#ff8000"), Some([255, 128, 0]));
        assert_eq!(parse_color("000000"), Some([0, 0, 0]));
        assert_eq!(parse_color("#fff"), None);
        assert_eq!(parse_color("#gggggg"), None);
    }

    #[test]
    fn stderr_is_summarised_and_bounded() {
        let long = "x".repeat(5000);
        assert!(stderr_summary(long.as_bytes()).chars().count() <= 501);
        assert_eq!(stderr_summary(b"a\nb\n\nc\nd\n"), "b | c | d");
        assert_eq!(stderr_summary(b""), "no message");
    }
}
