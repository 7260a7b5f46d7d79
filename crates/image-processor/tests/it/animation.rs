//! Animated GIF → poster, variants and MP4s, through the emulator and the project's real ffmpeg.

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{animated_gif, ffmpeg_path, Harness};
use image_processor::deadline::Deadline;
use image_processor::limits::Limits;
use image_processor::make::render::RenderSettings;
use image_processor::make::video::{self, TimeLimit, VideoError, VideoSettings};
use image_processor::source_format::SourceFormat;
use media_edge_shared::status::Outcome;
use media_edge_shared::FailureClass;

/// Frame count, duration and size of a video, as ffmpeg decodes it.
struct Decoded {
    frames: u32,
    duration_ms: u64,
    width: u32,
    height: u32,
    audio: bool,
}

fn decode_with_ffmpeg(path: &Path) -> Decoded {
    let output = Command::new(ffmpeg_path())
        .args(["-hide_banner", "-nostdin", "-i"])
        .arg(path)
        .args(["-map", "0", "-c", "copy", "-f", "null", "-"])
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&output.stderr).into_owned();
    assert!(output.status.success(), "{text}");
    let frames = text
        .rsplit("frame=")
        .next()
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("no frame count in {text}"));
    let duration = text.split("Duration: ").nth(1).unwrap().split(',').next().unwrap();
    let parts: Vec<f64> = duration.split(':').map(|p| p.parse().unwrap()).collect();
    let duration_ms = ((parts[0] * 3600.0 + parts[1] * 60.0 + parts[2]) * 1000.0).round() as u64;
    let video_line = text.lines().find(|l| l.contains("Video: h264")).unwrap_or_else(|| panic!("{text}"));
    let size = video_line
        .split([',', ' '])
        .find_map(|token| {
            let (w, h) = token.split_once('x')?;
            Some((w.parse().ok()?, h.parse().ok()?))
        })
        .unwrap();
    Decoded { frames, duration_ms, width: size.0, height: size.1, audio: text.contains("Audio:") }
}

#[tokio::test]
async fn animated_gif_becomes_mp4_poster_and_variants() {
    let h = Harness::with_settings("gif", Harness::default_settings()).await;
    // 801×451: odd dimensions; delays include 0 and 10 ms, which browsers play as 100 ms.
    let mut delays = vec![40u32; 30];
    delays[3] = 0;
    delays[7] = 10;
    delays[29] = 500;
    let gif = animated_gif(801, 451, &delays);
    let key = "uploads/promo/spring sale+1.gif";
    h.upload(key, gif.clone()).await;
    let report = h.run_jobs().await;
    assert_eq!(report.retried, 0, "{report:?}");

    let statuses = h.statuses().await;
    assert_eq!(statuses.len(), 1, "{statuses:#?}");
    let status = &statuses[0];
    assert_eq!(status.outcome, Outcome::Processed, "{status:#?}");
    let manifest = h.manifest(key).await;
    assert_eq!(manifest.reports(), status.variants);
    assert_eq!((manifest.source_format.as_str(), manifest.frames), ("GIF", 30));
    let names: Vec<&str> = manifest.variants.iter().map(|v| v.name.as_str()).collect();
    // The GIF has transparent pixels: an animated WebP keeps them (MP4 cannot).
    assert_eq!(names, ["poster", "thumbnail", "mobile", "tablet", "pc", "video", "video-mobile", "animation"]);
    // Every output the processor names itself is one a configured variant may not take.
    let configured: Vec<&str> = h.processor.config.render.variants.iter().map(|v| v.name.as_str()).collect();
    for name in names.iter().filter(|n| !configured.contains(n)) {
        assert!(image_processor::lambda::config::RESERVED_OUTPUT_NAMES.contains(name), "{name} is not reserved");
    }

    let poster_variant = &manifest.variants[0];
    let poster = poster_variant.formats.last().expect("poster fallback");
    assert_eq!((poster_variant.width, poster_variant.height, poster.content_type.as_str()), (801, 451, "image/jpeg"));
    let video_html = manifest.video.as_deref().expect("a <video> snippet");
    assert!(video_html.contains("video.mp4") && video_html.contains("poster="), "{video_html}");
    // <video> and <picture> URLs reach their files though the key holds `+` and a space.
    assert!(h.assert_page_urls_resolve(&manifest).await > 0);
    let expected_ms = 27 * 40 + 100 + 100 + 500;
    let dir = std::env::temp_dir().join(format!("media-edge-mp4-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let videos: Vec<_> = status.variants.iter().filter(|v| v.content_type == "video/mp4").collect();
    assert_eq!(videos.len(), 2);
    for (variant, (width, height)) in videos.iter().zip([(802, 452), (640, 360)]) {
        assert_eq!((variant.width, variant.height), (width, height), "{}", variant.name);
        assert_eq!(variant.content_type, "video/mp4");
        assert_eq!(variant.duration_ms, Some(expected_ms as u64));
        assert!(variant.fps.unwrap() > 0.0);
        let (bytes, object) = h.variant_bytes(&variant.key).await;
        assert_eq!(object.content_type(), Some("video/mp4"));
        assert_eq!(object.cache_control(), Some("public, max-age=31536000, immutable"));
        assert_eq!(bytes.len() as u64, variant.bytes);
        // +faststart: the index (moov) comes before the media data (mdat).
        let find = |tag: &[u8]| bytes.windows(4).position(|w| w == tag).unwrap();
        assert!(find(b"moov") < find(b"mdat"), "{} is not faststart", variant.name);
        let path = dir.join(format!("{}.mp4", variant.name));
        std::fs::write(&path, &bytes).unwrap();
        let decoded = decode_with_ffmpeg(&path);
        assert_eq!(decoded.frames, 30, "every GIF frame is a video frame");
        assert!(decoded.duration_ms.abs_diff(expected_ms as u64) <= 20, "{} ms", decoded.duration_ms);
        assert_eq!((decoded.width, decoded.height), (width, height));
        assert!(!decoded.audio, "no audio track");
    }
    assert!(videos[0].bytes < gif.len() as u64 / 2, "the MP4 is much smaller than the GIF");

    // The animated WebP: every frame, with its transparency, smaller than the GIF.
    let animation = &manifest.variants[7];
    let file = animation.formats.first().unwrap_or_else(|| panic!("{:?}", animation.skipped));
    let (bytes, object) = h.variant_bytes(&file.key).await;
    assert_eq!(object.content_type(), Some("image/webp"));
    assert!((bytes.len() as u64) < gif.len() as u64, "{} ≥ {}", bytes.len(), gif.len());
    let decoder = image::codecs::webp::WebPDecoder::new(std::io::Cursor::new(&bytes)).unwrap();
    assert!(decoder.has_animation());
    use image::AnimationDecoder;
    let frames: Vec<_> = decoder.into_frames().collect::<Result<_, _>>().unwrap();
    assert_eq!(frames.len(), 30, "every GIF frame");
    let first = frames[0].buffer();
    assert_eq!(first.dimensions(), (801, 451));
    assert!(first.get_pixel(400, 20)[3] < 16, "transparent band stays transparent: {:?}", first.get_pixel(400, 20));
    assert_eq!(first.get_pixel(400, 300)[3], 255);

    // Frame 0 has a transparent band at the top: flattened onto white in the video and the poster.
    let first_frame = dir.join("first.png");
    let status_ok = Command::new(ffmpeg_path())
        .args(["-hide_banner", "-loglevel", "error", "-i"])
        .arg(dir.join("video.mp4"))
        .args(["-frames:v", "1", "-y"])
        .arg(&first_frame)
        .status()
        .unwrap();
    assert!(status_ok.success());
    let frame = image::open(&first_frame).unwrap().to_rgb8();
    let (poster_bytes, _) = h.variant_bytes(&poster.key).await;
    assert_eq!(poster_variant.key.as_deref(), Some(poster.key.as_str()));
    let poster_img = image::load_from_memory(&poster_bytes).unwrap().to_rgb8();
    for (what, img) in [("video", &frame), ("poster", &poster_img)] {
        let band = img.get_pixel(400, 20);
        assert!(band.0.iter().all(|&c| c > 235), "{what}: transparent band is {band:?}, not white");
        let below = img.get_pixel(400, 300);
        assert!(below.0[2] < 200, "{what}: opaque content kept: {below:?}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(h.leftover_job_dirs().is_empty(), "{:?}", h.leftover_job_dirs());
}

#[tokio::test]
async fn broken_and_over_limit_gifs_fail_permanently_and_leave_tmp_clean() {
    let mut settings = Harness::default_settings();
    settings.limits = Limits { max_frames: 20, ..Limits::default() };
    let h = Harness::with_settings("badgif", settings).await;
    let gif = animated_gif(64, 48, &[50; 10]);
    h.upload("uploads/truncated.gif", gif[..gif.len() * 2 / 3].to_vec()).await;
    h.upload("uploads/too-many-frames.gif", animated_gif(32, 32, &[20; 25])).await;
    // Claims to be a GIF, is an HLS playlist pointing elsewhere: must never reach ffmpeg.
    h.upload("uploads/playlist.gif", b"#EXTM3U\n#EXT-X-MEDIA-SEQUENCE:0\nhttp://169.254.169.254/latest\n".to_vec())
        .await;
    let mut fake = b"GIF89a".to_vec();
    fake.extend_from_slice(b"\x10\x00\x10\x00\x00\x00\x00#EXTM3U\nfile:///etc/passwd\n");
    h.upload("uploads/gif-magic-then-playlist.gif", fake).await;

    let report = h.run_jobs().await;
    assert_eq!(report.retried, 0, "{report:?}");
    let statuses = h.statuses().await;
    assert_eq!(statuses.len(), 4, "{statuses:#?}");
    for status in &statuses {
        assert_eq!(status.outcome, Outcome::Failed, "{status:#?}");
        assert_eq!(status.failure.as_ref().unwrap().class, FailureClass::Permanent, "{status:#?}");
    }
    let reason = |needle: &str| {
        statuses.iter().find(|s| s.source.key.contains(needle)).unwrap().failure.as_ref().unwrap().reason.clone()
    };
    assert!(reason("truncated.gif").contains("truncated"), "{}", reason("truncated.gif"));
    assert!(reason("too-many-frames").contains("more than 20 frames"));
    assert!(reason("playlist.gif").contains("not a JPEG, PNG, GIF or WebP"));
    assert!(reason("gif-magic-then-playlist").contains("GIF"), "{}", reason("gif-magic-then-playlist"));
    assert!(h.variant_keys().await.is_empty());
    assert!(h.leftover_job_dirs().is_empty(), "{:?}", h.leftover_job_dirs());
}

#[tokio::test]
async fn ffmpeg_is_killed_at_its_time_limit() {
    let dir = crate::support::work_root("timeout");
    let input = dir.join("in.gif");
    std::fs::write(&input, animated_gif(640, 360, &[40; 60])).unwrap();
    let settings = VideoSettings { ffmpeg_path: ffmpeg_path(), ..VideoSettings::default() };
    let args = video::ffmpeg_args(
        &input,
        SourceFormat::Gif,
        &dir.join("out.mp4"),
        &settings,
        true,
        video::Geometry::default(),
        true,
    );

    // Its own ceiling reached with the full time available: the input is to blame.
    let short = VideoSettings { timeout: Duration::from_millis(1), ..settings.clone() };
    match video::run_ffmpeg(&short, &args, None).await {
        Err(VideoError::TimedOut { cut_by: TimeLimit::Configured, .. }) => {}
        other => panic!("expected a timeout, got {other:?}"),
    }
    // The invocation's deadline reached first, after earlier jobs used part of it: retry.
    let shared = Deadline { at: Instant::now(), full_invocation: false };
    match video::run_ffmpeg(&settings, &args, Some(shared)).await {
        Err(VideoError::TimedOut { cut_by: TimeLimit::Invocation { full_invocation: false }, .. }) => {}
        other => panic!("expected a deadline timeout, got {other:?}"),
    }
    // And with time enough it works.
    video::run_ffmpeg(&settings, &args, None).await.unwrap();
    assert!(std::fs::metadata(dir.join("out.mp4")).unwrap().len() > 0);
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_gif_that_cannot_finish_in_a_whole_invocation_fails_permanently() {
    let h = Harness::with_settings("gif-too-slow", Harness::default_settings()).await;
    h.discard_test_event().await;
    h.upload("uploads/endless.gif", animated_gif(640, 360, &[40; 120])).await;
    h.upload("uploads/next.jpg", crate::support::fixture("oriented.jpg")).await;
    let messages = h.receive_jobs(2).await;
    assert_eq!(messages.len(), 2);
    let mut event = aws_lambda_events::event::sqs::SqsEvent::default();
    event.records =
        messages.iter().map(|m| media_edge_local::lambda_message(m, Some(&h.wiring.jobs_queue_arn))).collect();
    // GIF first: it has the whole invocation (here 400 ms) and still cannot finish.
    event.records.sort_by_key(|m| !m.body.as_deref().unwrap_or_default().contains("endless.gif"));

    let response =
        image_processor::handle_batch(event, &h.processor, Some(Instant::now() + Duration::from_millis(400))).await;
    assert!(response.batch_item_failures.is_empty(), "not retried: {response:?}");
    let statuses = h.statuses().await;
    assert_eq!(statuses.len(), 1, "{statuses:#?}");
    let failure = statuses[0].failure.as_ref().expect("a failed status");
    assert_eq!((statuses[0].source.key.as_str(), failure.class), ("uploads/endless.gif", FailureClass::Permanent));
    assert!(failure.reason.contains("function's time limit"), "{}", failure.reason);
    // The JPEG behind it was never started: it is back on the queue as a fresh message.
    let again = h.receive_jobs(1).await;
    assert_eq!(again.len(), 1);
    assert!(again[0].body().unwrap_or_default().contains("next.jpg"));
}

#[tokio::test]
async fn missing_ffmpeg_is_transient() {
    let dir = crate::support::work_root("noffmpeg");
    let settings = VideoSettings { ffmpeg_path: dir.join("no-such-ffmpeg"), ..VideoSettings::default() };
    let err = video::run_ffmpeg(&settings, &[], None).await.unwrap_err();
    let failure = media_edge_shared::Failure::from(err);
    assert_eq!(failure.class, FailureClass::Transient, "a deployment problem: retry, then DLQ");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn single_frame_gif_is_just_an_image() {
    let gif = animated_gif(300, 200, &[100]);
    let rendered = image_processor::make::render::render(&gif, "one.gif", &RenderSettings::default()).unwrap();
    assert_eq!(rendered.frames, 1);
    assert_eq!(rendered.variants.len(), 4);
}
