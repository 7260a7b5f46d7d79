#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! `media-edge process` on real files: outputs, one JSON report per file, exit status.

use std::process::Command;

use media_edge_shared::status::{Outcome, StatusEvent};
use media_edge_shared::FailureClass;

fn fixture(name: &str) -> String {
    format!("{}/../image-processor/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}

fn temp_dir(label: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("media-edge-cli-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn processes_files_and_reports_each() {
    let out = temp_dir("ok");
    let output = Command::new(env!("CARGO_BIN_EXE_media-edge"))
        .args(["process", &fixture("progressive.jpg"), &fixture("alpha.png"), "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let reports: Vec<StatusEvent> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| StatusEvent::from_json(line).unwrap()).collect();
    assert_eq!(reports.len(), 2);
    for report in &reports {
        assert_eq!(report.outcome, Outcome::Processed);
        assert_eq!(report.variants.len(), 4);
        for variant in &report.variants {
            let written = std::fs::metadata(out.join(&variant.key)).unwrap();
            assert_eq!(written.len(), variant.bytes);
        }
    }
    assert_eq!(reports[0].variants[3].width, 1920);
    assert_eq!(reports[1].variants[0].content_type, "image/png");
    assert!(out.join("progressive.jpg/manifest.json").is_file());
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_failed_file_names_its_class_and_reason_and_fails_the_run() {
    let out = temp_dir("fail");
    let dir = temp_dir("input");
    std::fs::create_dir_all(&dir).unwrap();
    let fake = dir.join("fake.jpg");
    std::fs::write(&fake, b"not an image").unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_media-edge"))
        .args(["process", &fixture("gray.jpg")])
        .arg(&fake)
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("fake.jpg: permanent failure: unsupported input"), "{stderr}");
    let reports: Vec<StatusEvent> =
        String::from_utf8(output.stdout).unwrap().lines().map(|line| StatusEvent::from_json(line).unwrap()).collect();
    assert_eq!(reports[0].outcome, Outcome::Processed, "the good file is still processed");
    assert_eq!(reports[1].outcome, Outcome::Failed);
    assert_eq!(reports[1].failure.as_ref().unwrap().class, FailureClass::Permanent);
    let _ = std::fs::remove_dir_all(&out);
    let _ = std::fs::remove_dir_all(&dir);
}
