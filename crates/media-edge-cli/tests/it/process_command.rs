//! `media-edge process` on real files: outputs, one JSON report per file, exit status.

use crate::support::{fixture, temp_dir};

use std::process::Command;

use media_edge_shared::status::{Outcome, StatusEvent};
use media_edge_shared::FailureClass;

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
        assert_eq!(report.variant_names(), ["thumbnail", "mobile", "tablet", "pc"]);
        for variant in &report.variants {
            let written = std::fs::metadata(out.join(&variant.key)).unwrap();
            assert_eq!(written.len(), variant.bytes);
        }
    }
    // The photo: every size in AVIF, WebP and JPEG (a thumbnail's AVIF may lose to its WebP).
    let pc: Vec<&str> =
        reports[0].variants.iter().filter(|v| v.name == "pc").map(|v| v.content_type.as_str()).collect();
    assert_eq!(pc, ["image/avif", "image/webp", "image/jpeg"]);
    assert!(reports[0].variants.iter().all(|v| v.name != "pc" || v.width == 1920));
    // The logo with transparency falls back to PNG, never JPEG.
    assert!(reports[1].variants.iter().all(|v| v.content_type != "image/jpeg"));
    assert!(reports[1].variants.iter().any(|v| v.content_type == "image/png"));
    // The manifest written is the one the Lambda writes: with the <picture> snippet.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out.join("progressive.jpg/manifest.json")).unwrap()).unwrap();
    assert!(manifest["picture"].as_str().unwrap().starts_with("<picture><source type=\"image/avif\""));
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

/// Minor page faults of `media-edge process` over `files` (the child's own, from wait4).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(clippy::zombie_processes)] // reaped by wait4, which std's Child does not know about
fn page_faults_processing(files: &[String], out: &std::path::Path) -> i64 {
    // One encoding thread: with several, the order in which AVIF, WebP and JPEG encodes interleave
    // in the one heap varies between runs, and with it a few hundred faults per image.
    // No AVIF: libaom runs in an ffmpeg child, whose faults wait4 adds to ours; this is about our
    // own heap (decode, resize, WebP and JPEG buffers).
    let child = Command::new(env!("CARGO_BIN_EXE_media-edge"))
        .env("RAYON_NUM_THREADS", "1")
        .env("OUTPUT_FORMATS", "webp")
        .arg("process")
        .args(files)
        .arg("--out")
        .arg(out)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let mut status = 0;
    // SAFETY: wait4 writes into the status and rusage we own; all-zero is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    let pid = unsafe { libc::wait4(child.id() as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(pid, child.id() as libc::pid_t);
    assert!(libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0, "media-edge process failed: {status}");
    usage.ru_minflt
}

/// The allocator settings (image_processor::lambda::allocator) let each image reuse the previous one's
/// memory: renders run on blocking threads, as in the Lambda, so this checks the arena setting too.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[test]
fn later_images_reuse_the_memory_of_earlier_ones() {
    // 2048×1365: decoded at full size, ~8 MB of pixels. Six copies under six names (one name per
    // output directory).
    let copies = temp_dir("faults-in");
    std::fs::create_dir_all(&copies).unwrap();
    let photos: Vec<String> = (0..6)
        .map(|i| {
            let copy = copies.join(format!("photo-{i}.jpg"));
            std::fs::copy(fixture("progressive.jpg"), &copy).unwrap();
            copy.display().to_string()
        })
        .collect();
    let out = temp_dir("faults");
    let once = page_faults_processing(&photos[..1], &out);
    let six = page_faults_processing(&photos, &out);
    // Without reuse every further image faults its pixels and encoders' buffers in again: about
    // 6 000 faults each (measured with keep_freed_memory left out). With it, 90–550 over repeated
    // runs: the single-image run itself varies by ~1 500 faults, a fifth of which lands here.
    let per_further_image = (six - once) / 5;
    eprintln!("page faults: once {once}, six {six}, {per_further_image} per further image");
    assert!(per_further_image < 1_500, "{per_further_image} page faults per further image (once: {once}, six: {six})");
    std::fs::remove_dir_all(&out).unwrap();
    std::fs::remove_dir_all(&copies).unwrap();
}

#[test]
fn two_inputs_with_one_name_are_refused_before_anything_is_written() {
    let out = temp_dir("same-name");
    let (d1, d2) = (temp_dir("same-name-1"), temp_dir("same-name-2"));
    for dir in [&d1, &d2] {
        std::fs::create_dir_all(dir).unwrap();
    }
    std::fs::copy(fixture("gray.jpg"), d1.join("x.jpg")).unwrap();
    std::fs::copy(fixture("oriented.jpg"), d2.join("x.jpg")).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_media-edge"))
        .arg("process")
        .arg(d1.join("x.jpg"))
        .arg(d2.join("x.jpg"))
        .arg("--out")
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2), "a usage error");
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("have the same name"), "{stderr}");
    assert!(std::fs::read_dir(&out).unwrap().next().is_none(), "nothing written");
    for dir in [&d1, &d2] {
        std::fs::remove_dir_all(dir).unwrap();
    }
}

#[test]
fn a_directory_is_walked_and_outputs_keep_its_layout() {
    let input = temp_dir("walk-in");
    std::fs::create_dir_all(input.join("2026/promo")).unwrap();
    std::fs::copy(fixture("gray.jpg"), input.join("top.jpg")).unwrap();
    std::fs::copy(fixture("alpha.png"), input.join("2026/promo/logo.png")).unwrap();
    std::fs::write(input.join(".DS_Store"), b"finder metadata").unwrap();
    let out = temp_dir("walk-out");
    let process = || {
        let output = Command::new(env!("CARGO_BIN_EXE_media-edge"))
            .arg("process")
            .arg(&input)
            .arg("--out")
            .arg(&out)
            .output()
            .unwrap();
        assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .map(|line| StatusEvent::from_json(line).unwrap())
            .collect::<Vec<_>>()
    };
    let reports = process();
    assert_eq!(reports.len(), 2, "hidden files are skipped: {reports:#?}");
    assert!(out.join("2026/promo/logo.png/manifest.json").is_file());
    assert!(out.join("top.jpg/manifest.json").is_file());
    // Again: nothing changed, so nothing is rendered again.
    let outcomes: Vec<Outcome> = process().into_iter().map(|r| r.outcome).collect();
    assert_eq!(outcomes, [Outcome::Duplicate, Outcome::Duplicate]);
    std::fs::remove_dir_all(&input).unwrap();
    std::fs::remove_dir_all(&out).unwrap();
}

#[test]
fn a_missing_path_is_a_usage_error_not_a_failure() {
    let out = temp_dir("missing");
    let output = Command::new(env!("CARGO_BIN_EXE_media-edge"))
        .args(["process", "/nonexistent/photos", "--out"])
        .arg(&out)
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("/nonexistent/photos") && !stderr.contains("transient"), "{stderr}");
}
