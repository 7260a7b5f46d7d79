//! `media-edge process`: the processor's own flow (image_processor::flow) on local files, with
//! outputs in a directory laid out like the variants bucket.

use std::collections::HashMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use image_processor::flow::{self, Job, PIPELINE_NAME};
use image_processor::lambda::config::render_settings_from_vars;
use image_processor::make::render::RenderSettings;
use image_processor::store::keys::OutputLayout;
use image_processor::store::local::{DirSink, FileSource};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use media_edge_shared::env::{self, ProcessEnv};
use media_edge_shared::status::{FailureReport, Outcome, SourceObject, StatusEvent};
use media_edge_shared::units::human_bytes;

/// One original to process: where it is and the key its outputs are named after.
#[derive(Debug, Clone)]
struct Input {
    path: PathBuf,
    key: String,
}

pub async fn run(paths: &[PathBuf], out: &Path, json: bool, focus: Option<&str>) -> ExitCode {
    let mut settings = match render_settings_from_vars(&ProcessEnv) {
        Ok(settings) => settings,
        Err(e) => return usage_error(&e.to_string()),
    };
    if let Some(text) = focus {
        match image_processor::crop::Focus::parse(text) {
            Ok(focus) => settings.focus = Some(focus),
            Err(why) => return usage_error(&format!("--focus: {why}")),
        }
    }
    let inputs = match collect_inputs(paths) {
        Ok(inputs) => inputs,
        Err(message) => return usage_error(&message),
    };
    let work_root = env::optional(&ProcessEnv, "WORK_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    // JSON lines when asked or when piped (scripts); a readable list on a terminal.
    let json = json || !std::io::stdout().is_terminal();
    let progress = progress_bar(inputs.len());
    let mut reports = Vec::with_capacity(inputs.len());
    for input in &inputs {
        progress.set_message(input.key.clone());
        let report = process_input(input, out, &work_root, &settings).await;
        if json {
            if let Some(failure) = &report.failure {
                progress.suspend(|| {
                    eprintln!("media-edge: {}: {} failure: {}", input.path.display(), failure.class, failure.reason)
                });
            }
            // One JSON document per line, like the status events.
            progress.suspend(|| println!("{}", serde_json::to_string(&report).unwrap_or_default()));
        } else {
            progress.suspend(|| println!("{}", describe(input, &report)));
        }
        progress.inc(1);
        reports.push(report);
    }
    progress.finish_and_clear();
    let failed = reports.iter().filter(|r| r.outcome == Outcome::Failed).count();
    if !json {
        println!("{}", summary(&reports, out));
    } else if failed > 0 {
        eprintln!("media-edge: {failed} of {} files failed", reports.len());
    }
    if failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

fn usage_error(message: &str) -> ExitCode {
    eprintln!("media-edge: {message}");
    ExitCode::from(2)
}

/// Files as given, and every file under a directory (sorted, hidden files and symlinked
/// directories skipped), keyed by their path below it. A missing path, or two inputs with one key
/// (their outputs would overwrite each other), is a usage error before anything is written.
fn collect_inputs(paths: &[PathBuf]) -> Result<Vec<Input>, String> {
    let mut inputs = Vec::new();
    for path in paths {
        let metadata = std::fs::metadata(path).map_err(|e| format!("{}: {e}", path.display()))?;
        if !metadata.is_dir() {
            let key = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
            inputs.push(Input { path: path.clone(), key });
            continue;
        }
        let walk = walkdir::WalkDir::new(path)
            .sort_by_file_name()
            .into_iter()
            .filter_entry(|e| e.depth() == 0 || !e.file_name().to_string_lossy().starts_with('.'));
        for entry in walk {
            let entry = entry.map_err(|e| format!("{}: {e}", path.display()))?;
            if !entry.file_type().is_file() {
                continue;
            }
            let relative = entry.path().strip_prefix(path).unwrap_or(entry.path());
            let key = relative.components().map(|c| c.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/");
            inputs.push(Input { path: entry.path().to_path_buf(), key });
        }
    }
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for input in &inputs {
        if let Some(earlier) = seen.insert(&input.key, &input.path) {
            return Err(format!(
                "{} and {} have the same name, so their outputs would share {}: process them separately",
                earlier.display(),
                input.path.display(),
                input.key
            ));
        }
    }
    if inputs.is_empty() {
        return Err("no files to process".into());
    }
    Ok(inputs)
}

async fn process_input(input: &Input, out: &Path, work_root: &Path, settings: &RenderSettings) -> StatusEvent {
    let source = FileSource { path: input.path.clone(), key: input.key.clone() };
    let sink = DirSink { root: out.to_path_buf() };
    let layout = OutputLayout { input_prefix: String::new(), output_prefix: String::new() };
    let job = Job { settings, layout: &layout, work_root, deadline: None, asked_effort: None };
    match flow::process(&source, &sink, job).await {
        Ok(mut status) => {
            status.manifest_key = status.manifest_key.map(|key| out.join(key).display().to_string());
            status
        }
        Err(failure) => {
            let source =
                SourceObject { bucket: None, key: input.path.display().to_string(), etag: None, version_id: None };
            let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Failed, source);
            status.failure = Some(FailureReport::from(&failure));
            status
        }
    }
}

/// Progress on stderr when it is a terminal; hidden otherwise.
fn progress_bar(total: usize) -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template("{bar:30} {pos}/{len} {wide_msg}") {
        bar.set_style(style);
    }
    bar
}

/// `✔ a.jpg  4 variants in 12 files, 2.1 MB → 310.5 KB (pc: AVIF 52.1 KB, WebP 80.3 KB, JPEG
/// 174.5 KB), 120 ms` and the like.
fn describe(input: &Input, report: &StatusEvent) -> String {
    let variants = report.variant_names().len();
    match (&report.outcome, &report.failure) {
        (Outcome::Failed, Some(failure)) => format!("✘ {}  {} failure: {}", input.key, failure.class, failure.reason),
        (Outcome::Duplicate, _) => format!("= {}  already up to date ({variants} variants)", input.key),
        _ => format!(
            "✔ {}  {variants} variants in {} files, {} → {}{}, {} ms",
            input.key,
            report.variants.len(),
            human_bytes(report.input_bytes),
            human_bytes(report.output_bytes),
            largest_formats(report),
            report.duration_ms
        ),
    }
}

/// ` (pc: AVIF 52.1 KB, WebP 80.3 KB, JPEG 174.5 KB)`: the widest image variant in each format.
fn largest_formats(report: &StatusEvent) -> String {
    let images = report.variants.iter().filter(|v| v.content_type.starts_with("image/"));
    let Some(widest) = images.clone().max_by_key(|v| v.width) else { return String::new() };
    let files: Vec<String> = images
        .filter(|v| v.name == widest.name)
        .map(|v| {
            let format = v.content_type.trim_start_matches("image/").to_uppercase().replace("WEBP", "WebP");
            format!("{format} {}", human_bytes(v.bytes))
        })
        .collect();
    format!(" ({}: {})", widest.name, files.join(", "))
}

fn summary(reports: &[StatusEvent], out: &Path) -> String {
    let count = |outcome: Outcome| reports.iter().filter(|r| r.outcome == outcome).count();
    format!(
        "\n{} processed, {} already up to date, {} failed; outputs in {}",
        count(Outcome::Processed),
        count(Outcome::Duplicate),
        count(Outcome::Failed),
        out.display()
    )
}

/// `media-edge ffmpeg-args GIF MP4`
pub fn print_ffmpeg_args(gif: &Path, mp4: &Path) -> ExitCode {
    let result = (|| {
        let settings = render_settings_from_vars(&ProcessEnv).map_err(|e| e.to_string())?;
        let file = std::fs::File::open(gif).map_err(|e| format!("{}: {e}", gif.display()))?;
        let probe =
            image_processor::probe_gif(std::io::BufReader::new(file), &settings.limits).map_err(|e| e.to_string())?;
        let args = image_processor::make::video::ffmpeg_args(
            gif,
            image_processor::source_format::SourceFormat::Gif,
            mp4,
            &settings.video,
            probe.has_transparency,
            image_processor::make::video::Geometry::default(),
            true,
        );
        let mut command = vec![settings.video.ffmpeg_path.display().to_string()];
        command.extend(args.iter().map(|a| a.to_string_lossy().into_owned()));
        serde_json::to_string(&command).map_err(|e| e.to_string())
    })();
    match result {
        Ok(json) => {
            println!("{json}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("media-edge: {e}");
            ExitCode::FAILURE
        }
    }
}
