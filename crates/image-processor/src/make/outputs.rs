//! Everything made from one original, given a local copy of it in a job directory: device
//! variants for stills; for animations (GIF, APNG, animated WebP) a poster (first frame), its
//! variants and MP4s.
//! Shared by the Lambda (after downloading to `/tmp`) and `media-edge process`.

use std::io::Read;
use std::path::PathBuf;
use std::time::Instant;

use media_edge_shared::Failure;

use crate::crop::{Aspect, CropBox, Focus, FocusSource};
use crate::deadline::Deadline;
use crate::error::ImageError;
use crate::limits::Limits;
use crate::make::placeholder::Placeholder;
use crate::make::render::{self, RenderSettings, Rendered, VariantSpec};
use crate::make::strip;
use crate::make::video::{self, VideoSettings};
use crate::read::animation::Animation;
use crate::read::decode;
use crate::read::prepare::{self, PrepareError};
use crate::scratch::ScratchDir;
use crate::source_format::SourceFormat;

/// The name of the local copy inside the job directory.
pub const SOURCE_FILE: &str = "source";

/// A stored output's content: small images in memory, videos on disk.
#[derive(Debug, Clone)]
pub enum OutputBody {
    Bytes(Vec<u8>),
    File(PathBuf),
}

impl OutputBody {
    pub fn len(&self) -> std::io::Result<u64> {
        match self {
            OutputBody::Bytes(bytes) => Ok(bytes.len() as u64),
            OutputBody::File(path) => Ok(std::fs::metadata(path)?.len()),
        }
    }

    pub fn is_empty(&self) -> std::io::Result<bool> {
        Ok(self.len()? == 0)
    }
}

/// One stored file of an output.
#[derive(Debug, Clone)]
pub struct OutputFile {
    /// `avif`, `webp`, `jpeg`, `png`, `mp4`.
    pub format: &'static str,
    pub content_type: &'static str,
    pub extension: &'static str,
    pub body: OutputBody,
    /// The original's own bytes, metadata removed.
    pub from_original: bool,
}

/// A format an output does not have, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedOutput {
    pub format: &'static str,
    pub extension: &'static str,
    pub reason: String,
}

/// One variant (or video rendition) in all the formats it is stored in.
#[derive(Debug, Clone)]
pub struct RenderedOutput {
    pub name: String,
    pub width: u32,
    pub height: u32,
    /// A variant with a shape, and its box of the upright original ([`crate::crop`]).
    pub aspect: Option<Aspect>,
    pub crop: Option<CropBox>,
    /// Best first: for images AVIF, WebP, then the JPEG or PNG fallback, which is always there.
    pub files: Vec<OutputFile>,
    pub skipped: Vec<SkippedOutput>,
    /// Still images, served under one URL and negotiated at the edge: every format's key exists,
    /// a skipped format's holding what its viewers get instead (keys are named when outputs are stored).
    pub negotiated: bool,
    pub duration_ms: Option<u64>,
    pub fps: Option<f64>,
}

impl RenderedOutput {
    /// A single-file output (a video, an animated WebP): not negotiated.
    fn single(name: &str, width: u32, height: u32, file: OutputFile) -> Self {
        RenderedOutput {
            name: name.to_string(),
            width,
            height,
            aspect: None,
            crop: None,
            files: vec![file],
            skipped: Vec::new(),
            negotiated: false,
            duration_ms: None,
            fps: None,
        }
    }
}

#[derive(Debug, Clone)]
pub struct RenderedOriginal {
    /// Time spent in ffmpeg, in milliseconds (0 for stills).
    pub ffmpeg_ms: u64,
    pub source_format: SourceFormat,
    pub width: u32,
    pub height: u32,
    pub frames: u32,
    pub outputs: Vec<RenderedOutput>,
    pub placeholder: Option<Placeholder>,
    /// What the original holds that the outputs do not carry (an HDR gain map, …).
    pub not_carried_over: Vec<String>,
    /// What the boxes of the variants with a shape were placed around, and why there.
    pub focus: Option<(Focus, FocusSource)>,
}

/// Renders the original at `job/source`, named `name` (whose extension must match the content).
/// `deadline` is when the Lambda invocation ends, if any: ffmpeg is stopped before it.
pub async fn render_outputs(
    job: &ScratchDir,
    name: &str,
    settings: &RenderSettings,
    deadline: Option<Deadline>,
) -> Result<RenderedOriginal, Failure> {
    let source = job.file(SOURCE_FILE);
    let head = read_head(&source).map_err(|e| Failure::transient(format!("reading local copy: {e}")))?;
    let format = decode::sniff(&head, name).map_err(permanent)?;

    // Animations are read from their structure (and a GIF rewritten the way browsers read it)
    // before any pixel is decoded.
    let prepared = {
        let (source, limits) = (source.clone(), settings.limits.clone());
        tokio::task::spawn_blocking(move || prepare::prepare(&source, format, &limits)).await
    };
    match prepared {
        Ok(Ok(Some(animation))) => return render_animation(job, &animation, settings, deadline).await,
        Ok(Ok(None)) => {}
        Ok(Err(PrepareError::Image(e))) => return Err(permanent(e)),
        Ok(Err(PrepareError::Io(e))) => return Err(Failure::transient(format!("preparing the animation: {e}"))),
        Err(e) => return Err(Failure::permanent(format!("reading the animation failed: {e}"))),
    }

    let size = std::fs::metadata(&source).map(|m| m.len()).unwrap_or(0);
    settings.limits.check_still_bytes(size).map_err(permanent)?;
    let rendered = blocking({
        let (name, settings) = (name.to_string(), settings.clone());
        move || render::render_file(&source, &name, &settings)
    })
    .await?;
    Ok(still_outputs(rendered))
}

fn still_outputs(rendered: Rendered) -> RenderedOriginal {
    let outputs = rendered
        .variants
        .into_iter()
        .map(|v| RenderedOutput {
            name: v.name,
            width: v.width,
            height: v.height,
            aspect: v.aspect,
            crop: v.crop,
            files: v
                .formats
                .into_iter()
                .map(|r| OutputFile {
                    format: r.format.name(),
                    content_type: r.format.content_type(),
                    extension: r.format.extension(),
                    body: OutputBody::Bytes(r.bytes),
                    from_original: r.from_original,
                })
                .collect(),
            skipped: v
                .skipped
                .into_iter()
                .map(|s| SkippedOutput { format: s.format.name(), extension: s.format.extension(), reason: s.reason })
                .collect(),
            negotiated: true,
            duration_ms: None,
            fps: None,
        })
        .collect();
    RenderedOriginal {
        ffmpeg_ms: 0,
        source_format: rendered.source_format,
        width: rendered.width,
        height: rendered.height,
        frames: rendered.frames,
        outputs,
        placeholder: rendered.placeholder,
        not_carried_over: rendered.not_carried_over,
        focus: rendered.focus,
    }
}

async fn render_animation(
    job: &ScratchDir,
    probe: &Animation,
    settings: &RenderSettings,
    deadline: Option<Deadline>,
) -> Result<RenderedOriginal, Failure> {
    let source = job.file(SOURCE_FILE);
    let video: &VideoSettings = &settings.video;
    let mut ffmpeg_ms = 0;

    // Poster: the first frame, flattened like the video, at full size plus the device variants.
    // A GIF's is decoded here; an APNG's or animated WebP's comes from ffmpeg, which composes
    // their frames (blend and dispose modes, 16-bit samples) as it does for the MP4.
    let mut first_frame = (source.clone(), probe.format);
    if probe.format != SourceFormat::Gif {
        let png = job.file("first-frame.png");
        let args = video::first_frame_args(&source, probe.format, &png);
        let started = Instant::now();
        video::run_ffmpeg(&settings.video, &args, deadline).await.map_err(Failure::from)?;
        ffmpeg_ms += started.elapsed().as_millis() as u64;
        first_frame = (png, SourceFormat::Png);
    }
    let mut specs = vec![VariantSpec::new("poster", probe.width)];
    specs.extend(settings.variants.iter().cloned());
    let poster = blocking({
        let (limits, background, encode) = (settings.limits.clone(), video.background, settings.encode.clone());
        let (frame_file, format, focus) = (first_frame.0, first_frame.1, settings.focus_rule());
        move || {
            let decoded = decode::decode_first_frame(&frame_file, format, &limits, background)?;
            render::render_decoded(decoded, &specs, &encode, None, focus)
        }
    })
    .await?;
    let mut original = still_outputs(poster);
    original.source_format = probe.format;
    original.frames = probe.frames;
    original.ffmpeg_ms += ffmpeg_ms;

    // A `mobile` variant with a shape gives the mobile MP4 the same box as its poster.
    let mobile_shape = original.outputs.iter().find(|o| o.name == "mobile").and_then(|o| o.aspect.zip(o.crop));
    let mobile_crop = mobile_shape.map(|(_, crop)| crop);
    let mut renditions = vec![("video", None, None)];
    if let Some(mobile) = video.mobile_width.filter(|&w| w < probe.width || mobile_crop.is_some()) {
        renditions.push(("video-mobile", Some(mobile), mobile_crop));
    }
    for (name, target_width, crop) in renditions {
        let (base_width, base_height) = crop.map_or((probe.width, probe.height), |c| (c.width, c.height));
        let (width, height) = video::output_size(base_width, base_height, target_width);
        let output = job.file(&format!("{name}.mp4"));
        let scaled = target_width.filter(|&w| w < base_width).map(|_| (width, height));
        let started = Instant::now();
        let geometry = video::Geometry { crop, scaled_to: scaled };
        let args = video::ffmpeg_args(&source, probe.format, &output, video, probe.has_transparency, geometry, true);
        video::run_ffmpeg(video, &args, deadline).await.map_err(Failure::from)?;
        let declared = video::mp4_track_duration_ms(&output);
        if declared.is_none_or(|ms| ms + 10 < probe.duration_ms) {
            tracing::warn!(
                rendition = name,
                declared_ms = declared,
                expected_ms = probe.duration_ms,
                "MP4 ends before the animation does; encoding again without B-frames"
            );
            let args =
                video::ffmpeg_args(&source, probe.format, &output, video, probe.has_transparency, geometry, false);
            video::run_ffmpeg(video, &args, deadline).await.map_err(Failure::from)?;
        }
        let ms = started.elapsed().as_millis() as u64;
        original.ffmpeg_ms += ms;
        tracing::info!(rendition = name, width, height, ms, "encoded MP4");
        let file = OutputFile {
            format: "mp4",
            content_type: "video/mp4",
            extension: "mp4",
            body: OutputBody::File(output),
            from_original: false,
        };
        let mut rendition = RenderedOutput::single(name, width, height, file);
        rendition.duration_ms = Some(probe.duration_ms);
        rendition.fps = Some((probe.fps() * 100.0).round() / 100.0);
        if crop.is_some() {
            (rendition.aspect, rendition.crop) = (mobile_shape.map(|(aspect, _)| aspect), crop);
        }
        original.outputs.push(rendition);
    }
    if probe.has_transparency {
        let limits = &settings.limits;
        original
            .outputs
            .push(render_animated_webp(job, probe, video, limits, deadline, &mut original.ffmpeg_ms).await?);
    }
    Ok(original)
}

/// MP4 has no transparency: a transparent animation (a sticker) also becomes an animated WebP,
/// which every browser with WebP shows with its alpha. Not stored when it is no smaller than the
/// original (an animated WebP original is its own best WebP).
async fn render_animated_webp(
    job: &ScratchDir,
    probe: &Animation,
    video: &VideoSettings,
    limits: &Limits,
    deadline: Option<Deadline>,
    ffmpeg_ms: &mut u64,
) -> Result<RenderedOutput, Failure> {
    let source = job.file(SOURCE_FILE);
    let output = job.file(&format!("{ANIMATION_NAME}.webp"));
    if probe.format == SourceFormat::WebP {
        // Already what browsers with WebP show: stored without its EXIF and XMP (one that is too
        // large to read into memory is encoded again below instead).
        let size = std::fs::metadata(&source).map(|m| m.len()).unwrap_or(u64::MAX);
        let stripped = (size <= limits.still_byte_limit())
            .then(|| std::fs::read(&source).ok())
            .flatten()
            .and_then(|bytes| strip::strip_animated_webp(&bytes));
        if let Some(bytes) = stripped {
            return Ok(animated_webp_output(probe, OutputBody::Bytes(bytes), true));
        }
    }
    let args = video::animated_webp_args(&source, probe.format, &output);
    let started = Instant::now();
    video::run_ffmpeg(video, &args, deadline).await.map_err(Failure::from)?;
    let ms = started.elapsed().as_millis() as u64;
    *ffmpeg_ms += ms;
    let size = |path: &std::path::Path| std::fs::metadata(path).map(|m| m.len());
    let (webp_bytes, original_bytes) = match (size(&output), size(&source)) {
        (Ok(webp), Ok(original)) => (webp, original),
        (Err(e), _) | (_, Err(e)) => return Err(Failure::transient(format!("reading animated WebP: {e}"))),
    };
    tracing::info!(width = probe.width, height = probe.height, ms, bytes = webp_bytes, "encoded animated WebP");
    let mut animation = animated_webp_output(probe, OutputBody::File(output), false);
    if webp_bytes >= original_bytes {
        let original = probe.format.name();
        let reason =
            format!("animated WebP ({webp_bytes} bytes) was no smaller than the {original} ({original_bytes} bytes)");
        animation.files.clear();
        animation.skipped.push(SkippedOutput { format: "webp", extension: "webp", reason });
    }
    Ok(animation)
}

fn animated_webp_output(probe: &Animation, body: OutputBody, from_original: bool) -> RenderedOutput {
    let file = OutputFile { format: "webp", content_type: "image/webp", extension: "webp", body, from_original };
    let mut animation = RenderedOutput::single(ANIMATION_NAME, probe.width, probe.height, file);
    animation.duration_ms = Some(probe.duration_ms);
    animation
}

/// The animated WebP of a transparent animation.
pub const ANIMATION_NAME: &str = "animation";

fn read_head(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    let mut head = Vec::with_capacity(64);
    std::fs::File::open(path)?.take(64).read_to_end(&mut head)?;
    Ok(head)
}

fn permanent(e: ImageError) -> Failure {
    Failure::permanent(e.to_string())
}

/// Runs CPU- or disk-bound work off the async workers. A panic inside a codec on hostile input
/// surfaces as a permanent failure of this original only.
async fn blocking<T, F>(work: F) -> Result<T, Failure>
where
    F: FnOnce() -> Result<T, ImageError> + Send + 'static,
    T: Send + 'static,
{
    match tokio::task::spawn_blocking(work).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(image_error)) => Err(permanent(image_error)),
        Err(join_error) if join_error.is_panic() => {
            Err(Failure::permanent("the image decoder crashed on this file (treated as corrupt)"))
        }
        Err(join_error) => Err(Failure::transient(format!("render task was cancelled: {join_error}"))),
    }
}
