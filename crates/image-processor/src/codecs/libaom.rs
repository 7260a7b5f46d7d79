//! AVIF with libaom, through the pinned ffmpeg (the Lambda layer's, which links libaom 3.15.1, the
//! same as sharp's): all-intra, `tune=iq` for colour (the tuning libaom 3.12+ made for still
//! images, which libheif gives sharp's default AVIF), `tune=psnr` for alpha as libavif 1.4 does,
//! 4:4:4, BT.601 full range signalled as sRGB. Alpha is encoded at cq-level 10 at most: an alpha
//! error is a halo over whatever the page puts behind the image, where a colour error blends into
//! the picture (docs/benchmarks.md, "Alpha"). crates.io's libaom (libaom-sys) stops at 3.11,
//! before `tune=iq`; the layer's ffmpeg is the libaom already deployed.
//!
//! Pixels go in on stdin; the AVIF muxer needs a seekable output, so it writes a file of its own
//! in `dir`, read back and removed.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// Encoder settings: what changes the bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AomSettings {
    /// libaom's cq-level, 0 (best) – 63; sharp's quality 50 is 37 under tune=iq.
    pub cq_level: u8,
    /// libaom's `cpu-used`, 0 (slowest, smallest) – 9.
    pub cpu_used: u8,
    /// 10-bit instead of 8: a little smaller at equal quality, slower.
    pub ten_bit: bool,
}

/// The alpha plane's cq-level is at most this. Sharp's (the colour's, 37) leaves fully transparent
/// pixels of the alpha.png fixture at up to 34/255 and opaque ones at 221; at 10 the worst is
/// 8/255 beside an edge and 2/255 three pixels away, for 26% more bytes on that cut-out and 2% on
/// a photo with a fading alpha (lossless: 97% and 164%).
pub const ALPHA_CQ_MAX: u8 = 10;

/// Interleaved 8-bit pixels: gray, RGB or RGBA (straight alpha).
pub struct Pixels<'a> {
    pub data: &'a [u8],
    pub width: u32,
    pub height: u32,
    pub channels: u8,
}

/// The ffmpeg arguments of one encode, after the program (output file last).
pub fn arguments(
    pixels: &Pixels<'_>,
    settings: AomSettings,
    threads: usize,
    output: &Path,
) -> Result<Vec<String>, String> {
    let input_format = match pixels.channels {
        1 => "gray",
        3 => "rgb24",
        4 => "rgba",
        n => return Err(format!("AVIF cannot carry {n} channels")),
    };
    let depth = if settings.ten_bit { "yuv444p10le" } else { "yuv444p" };
    let alpha_depth = if settings.ten_bit { "gray10le" } else { "gray" };
    // BT.601 matrix, full range, sRGB primaries and transfer: what libavif writes for 8-bit RGB.
    let colour = format!(
        "scale=out_color_matrix=bt601:out_range=full,format={depth},\
         setparams=colorspace=bt470bg:range=pc:color_primaries=bt709:color_trc=iec61966-2-1"
    );
    let mut args: Vec<String> = [
        "-hide_banner",
        "-nostdin",
        "-v",
        "error",
        "-protocol_whitelist",
        "pipe,file",
        "-f",
        "rawvideo",
        "-pix_fmt",
        input_format,
        "-s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    args.push(format!("{}x{}", pixels.width, pixels.height));
    args.extend(["-i", "pipe:0"].map(String::from));
    let aom = |tune: &str| format!("tune={tune}");
    if pixels.channels == 4 {
        // The alpha plane as an auxiliary image (the AVIF muxer's second stream).
        args.push("-filter_complex".into());
        args.push(format!(
            "[0:v]split[c][a];[c]{colour}[colour];[a]alphaextract,format={alpha_depth},setparams=range=pc:colorspace=unknown[alpha]"
        ));
        args.extend(["-map", "[colour]", "-map", "[alpha]"].map(String::from));
        args.extend(["-aom-params:0".to_string(), aom("iq"), "-aom-params:1".to_string(), aom("psnr")]);
    } else {
        args.extend(["-vf".to_string(), colour, "-aom-params".to_string(), aom("iq")]);
    }
    args.extend(
        [
            "-c:v",
            "libaom-av1",
            "-still-picture",
            "1",
            "-usage",
            "allintra",
            "-cpu-used",
            &settings.cpu_used.to_string(),
            "-crf",
            &settings.cq_level.to_string(),
            "-threads",
            &threads.max(1).to_string(),
            "-row-mt",
            "1",
            "-y",
        ]
        .map(String::from),
    );
    if pixels.channels == 4 {
        // After the shared -crf: ffmpeg applies the last value that matches a stream.
        args.extend(["-crf:1".to_string(), settings.cq_level.min(ALPHA_CQ_MAX).to_string()]);
    }
    args.push(output.to_string_lossy().into_owned());
    Ok(args)
}

/// Encodes `pixels` as an AVIF with `ffmpeg`, writing its file in `dir`; gives up after `limit`.
pub fn encode(
    ffmpeg: &Path,
    pixels: &Pixels<'_>,
    settings: AomSettings,
    threads: usize,
    dir: &Path,
    limit: Duration,
) -> Result<Vec<u8>, String> {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    let output: PathBuf =
        dir.join(format!("media-edge-avif-{}-{}.avif", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)));
    let args = arguments(pixels, settings, threads, &output)?;
    let result = run(ffmpeg, &args, pixels.data, limit).and_then(|()| {
        std::fs::read(&output).map_err(|e| format!("reading the AVIF ffmpeg wrote ({}): {e}", output.display()))
    });
    let _ = std::fs::remove_file(&output);
    result
}

fn run(ffmpeg: &Path, args: &[String], input: &[u8], limit: Duration) -> Result<(), String> {
    let mut child = Command::new(ffmpeg)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| format!("starting {}: {e}", ffmpeg.display()))?;
    let started = Instant::now();
    // stdin is written while ffmpeg reads it; stderr is read after (ffmpeg says little at -v error).
    let written = match child.stdin.take() {
        Some(mut stdin) => stdin.write_all(input).map_err(|e| format!("sending pixels to ffmpeg: {e}")),
        None => Err("ffmpeg has no stdin".to_string()),
    };
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if started.elapsed() > limit => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(format!("ffmpeg's AVIF encode took more than {} s", limit.as_secs()));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(2)),
            Err(e) => return Err(format!("waiting for ffmpeg: {e}")),
        }
    };
    let mut stderr = String::new();
    if let Some(mut pipe) = child.stderr.take() {
        let _ = pipe.by_ref().take(4096).read_to_string(&mut stderr);
    }
    if !status.success() {
        return Err(format!("ffmpeg's AVIF encode failed ({status}): {}", stderr.trim()));
    }
    written
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_and_alpha_are_tuned_as_libavif_does_and_input_comes_only_from_stdin() {
        let rgba = [0u8; 16];
        let pixels = Pixels { data: &rgba, width: 2, height: 2, channels: 4 };
        let settings = AomSettings { cq_level: 37, cpu_used: 6, ten_bit: false };
        let args = arguments(&pixels, settings, 1, Path::new("/tmp/x.avif")).unwrap();
        let joined = args.join(" ");
        assert!(joined.contains("-aom-params:0 tune=iq -aom-params:1 tune=psnr"), "{joined}");
        assert!(joined.contains("-usage allintra -cpu-used 6 -crf 37"), "{joined}");
        // ffmpeg takes the last value per stream: the alpha's own cq-level must come after the -crf.
        let alpha_crf = joined.find("-crf:1 10").expect("alpha at its own cq-level");
        assert!(joined.find("-crf 37").is_some_and(|colour| colour < alpha_crf), "{joined}");
        assert!(joined.contains("-protocol_whitelist pipe,file"), "{joined}");
        assert!(joined.contains("-i pipe:0"), "{joined}");
        assert_eq!(args.last().map(String::as_str), Some("/tmp/x.avif"));
        let rgb = Pixels { data: &rgba[..12], width: 2, height: 2, channels: 3 };
        let ten = arguments(&rgb, AomSettings { ten_bit: true, ..settings }, 2, Path::new("/tmp/y.avif")).unwrap();
        assert!(ten.join(" ").contains("format=yuv444p10le"));
        assert!(!ten.join(" ").contains("alphaextract"));
        assert!(
            arguments(&Pixels { data: &rgba, width: 2, height: 2, channels: 2 }, settings, 1, Path::new("/x")).is_err()
        );
    }

    fn ffmpeg() -> PathBuf {
        PathBuf::from(std::env::var_os("FFMPEG_PATH").expect("FFMPEG_PATH (make test sets it)"))
    }

    static NEXT_TEST: AtomicU64 = AtomicU64::new(0);

    /// What ffmpeg (dav1d) decodes back: RGBA, row by row (alpha merged from the auxiliary image).
    fn decoded(avif: &[u8], dir: &Path) -> Vec<u8> {
        let file =
            dir.join(format!("roundtrip-{}-{}.avif", std::process::id(), NEXT_TEST.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&file, avif).unwrap();
        let merged = Command::new(ffmpeg())
            .args(["-v", "error", "-i"])
            .arg(&file)
            .args(["-filter_complex", "[0:v:0][0:v:1]alphamerge,format=rgba", "-f", "rawvideo", "-"])
            .output()
            .unwrap();
        std::fs::remove_file(&file).unwrap();
        assert!(merged.status.success(), "{}", String::from_utf8_lossy(&merged.stderr));
        merged.stdout
    }

    #[test]
    fn a_gradient_and_its_alpha_come_back_as_they_went_in_and_nothing_is_left_behind() {
        let (w, h) = (96u32, 64u32);
        let rgba: Vec<u8> = (0..h)
            .flat_map(|y| {
                (0..w).flat_map(move |x| {
                    [(x * 255 / w) as u8, (y * 255 / h) as u8, 128, if x < w / 2 { 255 } else { 96 }]
                })
            })
            .collect();
        let dir = std::env::temp_dir();
        let pixels = Pixels { data: &rgba, width: w, height: h, channels: 4 };
        let settings = AomSettings { cq_level: 20, cpu_used: 8, ten_bit: false };
        let avif = encode(&ffmpeg(), &pixels, settings, 1, &dir, Duration::from_secs(60)).unwrap();
        assert_eq!(&avif[4..12], b"ftypavif");
        let back = decoded(&avif, &dir);
        assert_eq!(back.len(), rgba.len());
        let worst = |channel: usize| {
            rgba.iter().zip(&back).skip(channel).step_by(4).map(|(a, b)| a.abs_diff(*b)).max().unwrap_or(255)
        };
        assert!(worst(0) <= 12 && worst(1) <= 12, "colour off by {} / {}", worst(0), worst(1));
        assert!(worst(3) <= 12, "alpha off by {}", worst(3));
        let ours = format!("media-edge-avif-{}-", std::process::id());
        let left = std::fs::read_dir(&dir).unwrap().filter_map(Result::ok);
        assert_eq!(left.filter(|e| e.file_name().to_string_lossy().starts_with(&ours)).count(), 0);
        // A missing ffmpeg is an error naming it, not a panic.
        let missing = encode(Path::new("/nonexistent/ffmpeg"), &pixels, settings, 1, &dir, Duration::from_secs(5));
        assert!(missing.unwrap_err().contains("/nonexistent/ffmpeg"));
    }
}
