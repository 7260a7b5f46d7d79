//! `media-edge process`: the processor's exact rendering and output layout, on local files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use image_processor::config::render_settings_from_vars;
use image_processor::job::JobDir;
use image_processor::keys::{source_version, OutputLayout};
use image_processor::original::{render_original, OutputBody, SOURCE_FILE};
use image_processor::pipeline::{plan_outputs, PIPELINE_NAME};
use image_processor::render::RenderSettings;
use media_edge_shared::env::{self, ProcessEnv};
use media_edge_shared::status::{FailureReport, Outcome, SourceObject, StatusEvent};
use media_edge_shared::Failure;
use sha2::{Digest, Sha256};

pub async fn run(files: &[PathBuf], out: &Path) -> ExitCode {
    let settings = match render_settings_from_vars(&ProcessEnv) {
        Ok(settings) => settings,
        Err(e) => {
            eprintln!("media-edge: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some((first, second)) = same_output_name(files) {
        // Outputs are keyed by file name: the second would overwrite the first's manifest.
        eprintln!(
            "media-edge: {} and {} have the same name, so their outputs would share {}: process them separately",
            first.display(),
            second.display(),
            out.join(first.file_name().unwrap_or_default()).display()
        );
        return ExitCode::from(2);
    }
    let work_root = env::optional(&ProcessEnv, "WORK_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
    let mut failed = 0;
    for file in files {
        let report = process_file(file, out, &work_root, &settings).await;
        if let Some(failure) = &report.failure {
            failed += 1;
            eprintln!("media-edge: {}: {} failure: {}", file.display(), failure.class, failure.reason);
        }
        // One JSON document per line, like the status events.
        println!("{}", serde_json::to_string(&report).unwrap_or_default());
    }
    if failed > 0 {
        eprintln!("media-edge: {failed} of {} files failed", files.len());
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}

/// The first two inputs with the same file name, if any.
fn same_output_name(files: &[PathBuf]) -> Option<(&PathBuf, &PathBuf)> {
    let mut seen = std::collections::HashMap::new();
    for file in files {
        if let Some(earlier) = seen.insert(file.file_name(), file) {
            return Some((earlier, file));
        }
    }
    None
}

async fn process_file(path: &Path, out: &Path, work_root: &Path, settings: &RenderSettings) -> StatusEvent {
    let started = Instant::now();
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    let mut source = SourceObject { bucket: None, key: path.display().to_string(), etag: None, version_id: None };
    let mut input_bytes = 0;
    let result = async {
        let size = std::fs::metadata(path).map_err(|e| io_failure(path, e))?.len();
        let limit = settings.limits.max_input_bytes;
        if size > limit {
            return Err(Failure::permanent(format!("over limits: {size} bytes exceeds the {limit} byte limit")));
        }
        // Work on a copy, as the Lambda does on its download: the original file is never modified.
        let job = JobDir::create(work_root).map_err(|e| io_failure(work_root, e))?;
        let copy = job.file(SOURCE_FILE);
        input_bytes = std::fs::copy(path, &copy).map_err(|e| io_failure(path, e))?;
        // Stand-in for the S3 ETag: the content's hash identifies this version of the file.
        let etag = content_hash(&copy).map_err(|e| io_failure(path, e))?;
        source.etag = Some(etag.clone());
        let version = source_version("", &name, &etag, None, &settings.fingerprint());

        let rendered = render_original(&job, &name, settings, None).await?;
        let layout = OutputLayout { input_prefix: String::new(), output_prefix: String::new() };
        let (manifest, outputs) = plan_outputs(rendered, &layout, &name, source.clone(), &version, input_bytes)?;
        for output in outputs {
            let target = out.join(&output.key);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_failure(&target, e))?;
            }
            match &output.body {
                OutputBody::Bytes(bytes) => std::fs::write(&target, bytes).map(|_| ()),
                OutputBody::File(file) => std::fs::copy(file, &target).map(|_| ()),
            }
            .map_err(|e| io_failure(&target, e))?;
        }
        Ok::<_, Failure>(manifest)
    }
    .await;

    let mut status = match result {
        Ok(manifest) => {
            let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Processed, source);
            status.output_bytes = manifest.output_bytes();
            status.manifest_key = Some(out.join(format!("{name}/manifest.json")).display().to_string());
            status.variants = manifest.variants;
            status
        }
        Err(failure) => {
            let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Failed, source);
            status.failure = Some(FailureReport::from(&failure));
            status
        }
    };
    status.input_bytes = input_bytes;
    status.duration_ms = started.elapsed().as_millis() as u64;
    status
}

fn content_hash(path: &Path) -> std::io::Result<String> {
    let mut hasher = Sha256::new();
    std::io::copy(&mut std::fs::File::open(path)?, &mut hasher)?;
    Ok(hasher.finalize()[..16].iter().map(|b| format!("{b:02x}")).collect())
}

fn io_failure(path: &Path, err: std::io::Error) -> Failure {
    use std::io::ErrorKind::{NotFound, PermissionDenied};
    let reason = format!("{}: {err}", path.display());
    match err.kind() {
        NotFound | PermissionDenied => Failure::permanent(reason),
        _ => Failure::transient(reason),
    }
}

/// `media-edge ffmpeg-args GIF MP4`
pub fn print_ffmpeg_args(gif: &Path, mp4: &Path) -> ExitCode {
    let result = (|| {
        let settings = render_settings_from_vars(&ProcessEnv).map_err(|e| e.to_string())?;
        let file = std::fs::File::open(gif).map_err(|e| format!("{}: {e}", gif.display()))?;
        let probe = image_processor::gif_probe::probe(std::io::BufReader::new(file), &settings.limits)
            .map_err(|e| e.to_string())?;
        let args = image_processor::video::ffmpeg_args(gif, mp4, &settings.video, probe.has_transparency, None);
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
