//! The processor's configuration, from environment variables (table in docs/configuration.md).

use media_edge_shared::env::{self, ConfigError, Vars};

use std::path::PathBuf;
use std::time::Duration;

use crate::crop::Aspect;
use crate::limits::Limits;
use crate::make::encode::AvifEffort;
use crate::make::outputs::ANIMATION_NAME;
use crate::make::render::{default_picture_media, default_variants, EncodeSettings, RenderSettings, VariantSpec};
use crate::make::video::{parse_color, VideoSettings};
use crate::store::keys::OutputLayout;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessorConfig {
    /// `ORIGINALS_BUCKET`: events from any other bucket are ignored.
    pub originals_bucket: String,
    /// `VARIANTS_BUCKET`: where variants and manifests go (may equal the originals bucket).
    pub variants_bucket: String,
    /// `INPUT_PREFIX` (default `uploads/`) and `OUTPUT_PREFIX` (default empty).
    pub layout: OutputLayout,
    /// `STATUS_TOPIC_ARN`.
    pub status_topic_arn: String,
    pub render: RenderSettings,
    /// `WORK_DIR` (default: the system temp dir, `/tmp` in Lambda): job directories live here.
    pub work_root: PathBuf,
}

impl ProcessorConfig {
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(&env::ProcessEnv)
    }

    pub fn from_vars(vars: &impl Vars) -> Result<Self, ConfigError> {
        let originals_bucket = env::required(vars, "ORIGINALS_BUCKET")?;
        let variants_bucket = env::required(vars, "VARIANTS_BUCKET")?;
        let layout = OutputLayout {
            input_prefix: env::optional(vars, "INPUT_PREFIX").unwrap_or_else(|| "uploads/".into()),
            output_prefix: env::optional(vars, "OUTPUT_PREFIX").unwrap_or_default(),
        };
        if originals_bucket == variants_bucket
            && (layout.output_prefix.starts_with(&layout.input_prefix)
                || layout.input_prefix.starts_with(&layout.output_prefix))
        {
            // Outputs landing under the input prefix would trigger the processor on its own outputs.
            return Err(env::invalid(
                "OUTPUT_PREFIX",
                &layout.output_prefix,
                format!("with one bucket, INPUT_PREFIX ({:?}) and OUTPUT_PREFIX must not overlap", layout.input_prefix),
            ));
        }
        let status_topic_arn = env::required(vars, "STATUS_TOPIC_ARN")?;
        Ok(ProcessorConfig {
            originals_bucket,
            variants_bucket,
            layout,
            status_topic_arn,
            render: render_settings_from_vars(vars)?,
            work_root: env::optional(vars, "WORK_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir),
        })
    }

    /// True for keys the processor itself writes: never to be processed (no recursive loop).
    pub fn is_own_output(&self, bucket: &str, key: &str) -> bool {
        bucket == self.variants_bucket && key.starts_with(&self.layout.output_prefix)
    }
}

/// Render settings alone: shared with `media-edge process`, which needs no buckets.
pub fn render_settings_from_vars(vars: &impl Vars) -> Result<RenderSettings, ConfigError> {
    let defaults = Limits::default();
    let limits = Limits {
        max_input_bytes: env::parsed_or(vars, "MAX_INPUT_BYTES", defaults.max_input_bytes)?,
        max_pixels: env::parsed_or(vars, "MAX_PIXELS", defaults.max_pixels)?,
        max_dimension: env::parsed_or(vars, "MAX_DIMENSION", defaults.max_dimension)?,
        max_frames: env::parsed_or(vars, "MAX_FRAMES", defaults.max_frames)?,
        max_duration_ms: env::parsed_or(vars, "MAX_ANIMATION_SECONDS", defaults.max_duration_ms / 1000)?
            .saturating_mul(1000),
        max_animation_pixels: env::parsed_or(vars, "MAX_ANIMATION_PIXELS", defaults.max_animation_pixels)?,
        max_still_bytes: env::parsed_or(vars, "MAX_STILL_BYTES", defaults.max_still_bytes)?,
    };
    let encode = encode_settings_from_vars(vars)?;
    let variants = match env::optional(vars, "VARIANTS") {
        None => default_variants(),
        Some(text) => parse_variants(&text)?,
    };
    let video = video_settings_from_vars(vars, &variants)?;
    let picture_media = match env::optional(vars, "PICTURE_MEDIA") {
        None => default_picture_media(),
        Some(text) => parse_picture_media(&text)?,
    };
    let faces = match env::optional(vars, "FACES").as_deref() {
        None | Some("off") => false,
        Some("on") => true,
        Some(other) => return Err(env::invalid("FACES", other, "on or off")),
    };
    Ok(RenderSettings { variants, encode, limits, video, focus: None, faces, picture_media })
}

fn encode_settings_from_vars(vars: &impl Vars) -> Result<EncodeSettings, ConfigError> {
    let defaults = EncodeSettings::default();
    let ranged = |name: &'static str, default: u8, range: std::ops::RangeInclusive<u8>| -> Result<u8, ConfigError> {
        let value: u8 = env::parsed_or(vars, name, default)?;
        if range.contains(&value) {
            Ok(value)
        } else {
            Err(env::invalid(name, &value.to_string(), format!("must be {}–{}", range.start(), range.end())))
        }
    };
    // rav1e's settings, gone with it: a deployment still setting one is told what replaced it.
    for retired in ["AVIF_ENCODER", "AVIF_QUALITY", "AVIF_SPEED"] {
        if let Some(value) = env::optional(vars, retired) {
            return Err(env::invalid(
                retired,
                &value,
                "AVIF is libaom's now (rav1e was removed): set AVIF_CQ and AVIF_EFFORT instead",
            ));
        }
    }
    let (mut avif, mut webp) = (defaults.avif, defaults.webp);
    if let Some(text) = env::optional(vars, "OUTPUT_FORMATS") {
        (avif, webp) = (false, false);
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty() && *s != "none") {
            match item.to_ascii_lowercase().as_str() {
                "avif" => avif = true,
                "webp" => webp = true,
                _ => return Err(env::invalid("OUTPUT_FORMATS", &text, "a list of avif, webp (or none)")),
            }
        }
    }
    Ok(EncodeSettings {
        avif,
        webp,
        jpeg_quality: ranged("JPEG_QUALITY", defaults.jpeg_quality, 1..=100)?,
        webp_quality: ranged("WEBP_QUALITY", defaults.webp_quality, 1..=100)?,
        webp_effort: ranged("WEBP_EFFORT", defaults.webp_effort, 0..=6)?,
        avif_cq: ranged("AVIF_CQ", defaults.avif_cq, 0..=63)?,
        avif_effort: match env::optional(vars, "AVIF_EFFORT") {
            None => defaults.avif_effort,
            Some(text) => {
                AvifEffort::parse(&text).ok_or_else(|| env::invalid("AVIF_EFFORT", &text, "fast, default or max"))?
            }
        },
        ffmpeg_path: env::optional(vars, "FFMPEG_PATH").map(PathBuf::from).unwrap_or(defaults.ffmpeg_path),
    })
}

fn video_settings_from_vars(vars: &impl Vars, variants: &[VariantSpec]) -> Result<VideoSettings, ConfigError> {
    let defaults = VideoSettings::default();
    let background = match env::optional(vars, "VIDEO_BACKGROUND") {
        None => defaults.background,
        Some(text) => parse_color(&text).ok_or_else(|| env::invalid("VIDEO_BACKGROUND", &text, "expected #rrggbb"))?,
    };
    let crf: u8 = env::parsed_or(vars, "VIDEO_CRF", defaults.crf)?;
    if crf > 51 {
        return Err(env::invalid("VIDEO_CRF", &crf.to_string(), "must be 0–51"));
    }
    let preset = env::optional(vars, "VIDEO_PRESET").unwrap_or(defaults.preset);
    const PRESETS: [&str; 10] =
        ["ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo"];
    if !PRESETS.contains(&preset.as_str()) {
        return Err(env::invalid("VIDEO_PRESET", &preset, "not an x264 preset"));
    }
    let tune = env::optional(vars, "VIDEO_TUNE").filter(|t| t != "none");
    if let Some(t) = &tune {
        if !t.chars().all(|c| c.is_ascii_alphanumeric() || c == ',') {
            return Err(env::invalid("VIDEO_TUNE", t, "not an x264 tune"));
        }
    }
    // The mobile rendition follows the `mobile` variant's width unless set; 0 turns it off.
    let default_mobile = variants.iter().find(|v| v.name == "mobile").map(|v| v.max_width).or(defaults.mobile_width);
    let mobile_width = match env::optional(vars, "VIDEO_MOBILE_WIDTH") {
        None => default_mobile,
        Some(_) => Some(env::parsed_or(vars, "VIDEO_MOBILE_WIDTH", 0u32)?).filter(|&w| w > 0),
    };
    Ok(VideoSettings {
        ffmpeg_path: env::optional(vars, "FFMPEG_PATH").map(PathBuf::from).unwrap_or(defaults.ffmpeg_path),
        crf,
        preset,
        tune,
        background,
        mobile_width,
        timeout: Duration::from_secs(env::parsed_or(vars, "FFMPEG_TIMEOUT_SECONDS", defaults.timeout.as_secs())?),
    })
}

/// Names of outputs the processor makes itself (for animations): a variant may not take one, or
/// its file and the built-in output would overwrite each other under the same key (a variant
/// `animation` would be `animation.webp`, as the animated WebP is).
pub const RESERVED_OUTPUT_NAMES: [&str; 4] = ["poster", "video", "video-mobile", ANIMATION_NAME];

/// `mobile=(max-width: 767px);tablet=(max-width: 1199px)`: `;` between entries (a media query
/// may hold commas); empty for none.
pub fn parse_picture_media(text: &str) -> Result<Vec<(String, String)>, ConfigError> {
    let mut media = Vec::new();
    for item in text.split(';').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, query) = item
            .split_once('=')
            .filter(|(name, query)| !name.trim().is_empty() && !query.trim().is_empty())
            .ok_or_else(|| env::invalid("PICTURE_MEDIA", text, format!("{item:?} is not variant=media query")))?;
        if query.contains(['<', '>', '"']) {
            return Err(env::invalid("PICTURE_MEDIA", text, "a media query has no <, > or \""));
        }
        media.push((name.trim().to_string(), query.trim().to_string()));
    }
    Ok(media)
}

/// `thumbnail:200,mobile:640,tablet:1024,pc:1920`, each with an optional shape
/// (`thumbnail:200:1x1,mobile:640:4x5`): the variant is then the largest box of that shape around
/// the picture's focus.
pub fn parse_variants(text: &str) -> Result<Vec<VariantSpec>, ConfigError> {
    let bad = |reason: String| env::invalid("VARIANTS", text, reason);
    let mut variants: Vec<VariantSpec> = Vec::new();
    for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) =
            item.split_once(':').ok_or_else(|| bad(format!("{item:?} is not name:width or name:width:WxH")))?;
        let (width, aspect) = match rest.split_once(':') {
            None => (rest, None),
            Some((width, shape)) => {
                let aspect = Aspect::parse(shape).ok_or_else(|| {
                    bad(format!(
                        "the shape of {} is {shape:?}, not width x height like 4x5 or 16x9 (1-100 each)",
                        name.trim()
                    ))
                })?;
                (width, Some(aspect))
            }
        };
        let name = name.trim();
        let valid_name = !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
        if !valid_name {
            return Err(bad(format!("variant name {name:?} must be letters, digits, - or _")));
        }
        if RESERVED_OUTPUT_NAMES.iter().any(|reserved| reserved.eq_ignore_ascii_case(name)) {
            return Err(bad(format!(
                "variant name {name:?} is reserved for the processor's own outputs ({})",
                RESERVED_OUTPUT_NAMES.join(", ")
            )));
        }
        let width: u32 = width.trim().parse().map_err(|_| bad(format!("width of {name} is not a number")))?;
        if !(1..=8192).contains(&width) {
            return Err(bad(format!("width of {name} must be 1–8192")));
        }
        if variants.iter().any(|v| v.name == name) {
            return Err(bad(format!("variant {name} is listed twice")));
        }
        variants.push(VariantSpec { aspect, ..VariantSpec::new(name, width) });
    }
    if variants.is_empty() {
        return Err(bad("no variants".into()));
    }
    Ok(variants)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn vars(pairs: &[(&str, &str)]) -> impl Vars {
        let map: HashMap<String, String> = pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        move |name: &str| map.get(name).cloned()
    }

    const BASE: [(&str, &str); 3] = [
        ("ORIGINALS_BUCKET", "originals"),
        ("VARIANTS_BUCKET", "variants"),
        ("STATUS_TOPIC_ARN", "arn:aws:sns:us-east-1:123456789012:status"),
    ];

    #[test]
    fn defaults() {
        let config = ProcessorConfig::from_vars(&vars(&BASE)).unwrap();
        assert_eq!(config.layout.input_prefix, "uploads/");
        assert_eq!(config.render.encode, EncodeSettings::default());
        let widths: Vec<u32> = config.render.variants.iter().map(|v| v.max_width).collect();
        assert_eq!(widths, [200, 640, 1024, 1920]);
    }

    #[test]
    fn faces_are_off_unless_on_and_nothing_else_is_taken() {
        assert!(!ProcessorConfig::from_vars(&vars(&BASE)).unwrap().render.faces);
        let with = |value| ProcessorConfig::from_vars(&vars(&[BASE[0], BASE[1], BASE[2], ("FACES", value)]));
        assert!(with("on").unwrap().render.faces);
        assert!(!with("off").unwrap().render.faces);
        let error = with("yes").expect_err("refused").to_string();
        assert!(error.contains("FACES") && error.contains("on or off"), "{error}");
    }

    #[test]
    fn one_bucket_needs_disjoint_prefixes() {
        let mut pairs = BASE.to_vec();
        pairs[1] = ("VARIANTS_BUCKET", "originals");
        assert!(ProcessorConfig::from_vars(&vars(&pairs)).is_err(), "empty output prefix overlaps");
        pairs.push(("OUTPUT_PREFIX", "uploads/variants/"));
        assert!(ProcessorConfig::from_vars(&vars(&pairs)).is_err());
        pairs.pop();
        pairs.push(("OUTPUT_PREFIX", "variants/"));
        let config = ProcessorConfig::from_vars(&vars(&pairs)).unwrap();
        assert!(config.is_own_output("originals", "variants/a.jpg/x/pc.jpg"));
        assert!(!config.is_own_output("originals", "uploads/a.jpg"));
    }

    #[test]
    fn variants_parse_and_reject_nonsense() {
        let v = parse_variants("small:100, big:2000").unwrap();
        assert_eq!(v, vec![VariantSpec::new("small", 100), VariantSpec::new("big", 2000)]);
        let shaped = parse_variants("thumbnail:200:1x1,mobile:640:4x5,tablet:1024,pc:1920").unwrap();
        let shapes: Vec<Option<String>> = shaped.iter().map(|v| v.aspect.map(|a| a.to_string())).collect();
        assert_eq!(shapes, [Some("1x1".into()), Some("4x5".into()), None, None]);
        assert_eq!(shaped[1].describe(), "mobile:640:4x5");
        let refused = parse_variants("mobile:640:4by5").unwrap_err().to_string();
        assert!(refused.contains("shape of mobile") && refused.contains("4x5"), "{refused}");
        for bad in [
            "",
            "x",
            "a:0",
            "a:ten",
            "a/b:10",
            "a:10,a:20",
            "a:99999",
            "poster:16",
            "video:100",
            "Video-Mobile:9",
            "a:10:0x1",
            "a:10:4x5:1",
            "a:10:",
        ] {
            assert!(parse_variants(bad).is_err(), "{bad:?} should be refused");
        }
    }

    #[test]
    fn every_built_in_output_name_is_reserved_with_a_clear_reason() {
        // `animation` would write animation.webp over the animated WebP (or be written over).
        let error = parse_variants("thumbnail:200,animation:64").unwrap_err().to_string();
        assert!(error.contains("\"animation\" is reserved") && error.contains("video-mobile"), "{error}");
        let mut pairs = BASE.to_vec();
        pairs.push(("VARIANTS", "thumbnail:200,animation:64"));
        assert!(ProcessorConfig::from_vars(&vars(&pairs)).is_err());
        for name in RESERVED_OUTPUT_NAMES {
            assert!(parse_variants(&format!("{name}:64")).is_err(), "{name}");
        }
    }

    #[test]
    fn quality_is_bounded() {
        let mut pairs = BASE.to_vec();
        pairs.push(("JPEG_QUALITY", "0"));
        assert!(ProcessorConfig::from_vars(&vars(&pairs)).is_err());
    }
}
