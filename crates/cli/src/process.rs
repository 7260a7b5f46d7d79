//! `media-edge process`: the processor's exact rendering and output layout, on local files.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use image_processor::config::render_settings_from_vars;
use image_processor::keys::{source_version, OutputLayout};
use image_processor::pipeline::{plan_outputs, render_blocking, PIPELINE_NAME};
use image_processor::render::RenderSettings;
use media_edge_shared::env::ProcessEnv;
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
    let mut failed = 0;
    for file in files {
        let report = process_file(file, out, &settings).await;
        if let Some(failure) = &report.failure {
            failed += 1;
            eprintln!(
                "media-edge: {}: {} failure: {}",
                file.display(),
                failure.class,
                failure.reason
            );
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

async fn process_file(path: &Path, out: &Path, settings: &RenderSettings) -> StatusEvent {
    let started = Instant::now();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut source = SourceObject {
        bucket: None,
        key: path.display().to_string(),
        etag: None,
        version_id: None,
    };
    let mut read_bytes = 0;
    let result = async {
        let bytes = read_bounded(path, settings.limits.max_input_bytes)?;
        read_bytes = bytes.len() as u64;
        // Stand-in for the S3 ETag: the content's hash identifies this version of the file.
        let etag: String = Sha256::digest(&bytes)[..16]
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        source.etag = Some(etag.clone());
        let version = source_version("", &name, &etag, None, &settings.fingerprint());
        let input_bytes = bytes.len() as u64;
        let rendered = render_blocking(bytes, name.clone(), settings.clone()).await?;
        let layout = OutputLayout {
            input_prefix: String::new(),
            output_prefix: String::new(),
        };
        let (manifest, outputs) = plan_outputs(
            rendered,
            &layout,
            &name,
            source.clone(),
            &version,
            input_bytes,
        );
        for output in outputs {
            let target = out.join(&output.key);
            if let Some(parent) = target.parent() {
                std::fs::create_dir_all(parent).map_err(|e| io_failure(&target, e))?;
            }
            std::fs::write(&target, &output.bytes).map_err(|e| io_failure(&target, e))?;
        }
        Ok::<_, Failure>((manifest, input_bytes))
    }
    .await;

    match result {
        Ok((manifest, input_bytes)) => {
            let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Processed, source);
            status.input_bytes = input_bytes;
            status.output_bytes = manifest.output_bytes();
            status.manifest_key = Some(
                out.join(format!("{name}/manifest.json"))
                    .display()
                    .to_string(),
            );
            status.variants = manifest.variants;
            status.duration_ms = started.elapsed().as_millis() as u64;
            status
        }
        Err(failure) => {
            let mut status = StatusEvent::new(PIPELINE_NAME, Outcome::Failed, source);
            status.failure = Some(FailureReport::from(&failure));
            status.input_bytes = read_bytes;
            status.duration_ms = started.elapsed().as_millis() as u64;
            status
        }
    }
}

fn read_bounded(path: &Path, limit: u64) -> Result<Vec<u8>, Failure> {
    let size = std::fs::metadata(path)
        .map_err(|e| io_failure(path, e))?
        .len();
    if size > limit {
        return Err(Failure::permanent(format!(
            "over limits: {size} bytes exceeds the {limit} byte limit"
        )));
    }
    std::fs::read(path).map_err(|e| io_failure(path, e))
}

fn io_failure(path: &Path, err: std::io::Error) -> Failure {
    use std::io::ErrorKind::{NotFound, PermissionDenied};
    let reason = format!("{}: {err}", path.display());
    match err.kind() {
        NotFound | PermissionDenied => Failure::permanent(reason),
        _ => Failure::transient(reason),
    }
}
