//! Warm, in-process timing of the 4-variant set: what a warm Lambda pays per photo.
//!
//! `cargo bench -p image-processor --bench variants -- [--repeat N] [--out DIR] [--formats LIST]
//! [--avif-cq CQ] [--avif-effort fast|default|max] [--webp-quality Q] [--webp-effort M]
//! [--only-variant NAME] [--once] FILE…`
//! prints one JSON
//! line per file (median and minimum over N runs after one warm-up) and, with `--out`, writes the
//! last run's files as `DIR/<file stem>/<variant>.<ext>` for quality checks. `--formats` is what
//! `OUTPUT_FORMATS` is (`none`: the fallback alone; default `avif,webp`). `--only-format webp|avif`
//! times the set in that format alone, without the fallback the pipeline always adds: the same
//! work as one sharp `.webp()` or `.avif()` set. Threads: rayon's pool
//! (`RAYON_NUM_THREADS=1` for one core). `--only-variant pc --once` is for quality sweeps: that
//! variant alone, rendered once (no warm-up, no timing), its files written to `--out`; a sweep of
//! the slowest AVIF tier took an hour per image rendering the whole set three times per point. `make bench` (bench/variants.py, bench/formats.py) runs
//! it next to libvips and sharp.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::time::Instant;

use image_processor::make::render::{encode_set_in_one_format, render, render_decoded, OutputFormat, RenderSettings};
use image_processor::read::decode::decode_for_width;

fn main() {
    // As the Lambda and the CLI do.
    image_processor::lambda::allocator::keep_freed_memory();
    let mut repeat = 7;
    let mut out: Option<PathBuf> = None;
    let mut files = Vec::new();
    let mut settings = RenderSettings::default();
    let mut only_format: Option<OutputFormat> = None;
    let mut once = false;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().unwrap();
        match arg.as_str() {
            "--repeat" => repeat = value().parse().unwrap(),
            "--out" => out = Some(PathBuf::from(value())),
            "--formats" => {
                let list = value();
                settings.encode.avif = list.contains("avif");
                settings.encode.webp = list.contains("webp");
            }
            "--only-format" => {
                only_format = Some(match value().as_str() {
                    "avif" => OutputFormat::Avif,
                    "webp" => OutputFormat::WebP,
                    "jpeg" => OutputFormat::Jpeg,
                    other => panic!("--only-format avif|webp|jpeg, not {other}"),
                })
            }
            "--avif-cq" => settings.encode.avif_cq = value().parse().unwrap(),
            "--avif-effort" => {
                settings.encode.avif_effort = image_processor::make::encode::AvifEffort::parse(&value()).unwrap()
            }
            "--webp-quality" => settings.encode.webp_quality = value().parse().unwrap(),
            "--webp-effort" => settings.encode.webp_effort = value().parse().unwrap(),
            "--jpeg-quality" => settings.encode.jpeg_quality = value().parse().unwrap(),
            "--only-variant" => {
                let name = value();
                settings.variants.retain(|v| v.name == name);
                assert!(!settings.variants.is_empty(), "no variant named {name}");
            }
            "--once" => once = true,
            "--bench" => {} // passed by `cargo bench`
            _ => files.push(PathBuf::from(arg)),
        }
    }
    for file in files {
        let bytes = std::fs::read(&file).unwrap();
        let name = file.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(format) = only_format {
            one_format(&bytes, &name, format, &settings, repeat);
            continue;
        }
        let mut rendered = render(&bytes, &name, &settings).unwrap();
        if once {
            write_files(&rendered, &file, out.as_deref());
            println!("{}", serde_json::json!({"file": file.display().to_string()}));
            continue;
        }
        let mut times = Vec::with_capacity(repeat);
        let mut cpu_times = Vec::with_capacity(repeat);
        let faults_before = minor_page_faults();
        for _ in 0..repeat {
            let (start, cpu_start) = (Instant::now(), thread_cpu_ms());
            rendered = render(&bytes, &name, &settings).unwrap();
            times.push(start.elapsed().as_secs_f64() * 1000.0);
            cpu_times.push(thread_cpu_ms() - cpu_start);
        }
        // Pages faulted in per warm render: near 0 when freed memory is reused (see `allocator`).
        let faults_per_render = (minor_page_faults() - faults_before) / repeat.max(1) as i64;
        times.sort_by(f64::total_cmp);
        cpu_times.sort_by(f64::total_cmp);
        // The same work split in two: decoding, then resizing and encoding the variants.
        let mut decode_times = Vec::with_capacity(repeat);
        for _ in 0..repeat {
            let start = Instant::now();
            let largest = settings.variants.iter().map(|v| v.max_width).max();
            let decoded = decode_for_width(&bytes, &name, &settings.limits, largest).unwrap();
            decode_times.push(start.elapsed().as_secs_f64() * 1000.0);
            render_decoded(decoded, &settings.variants, &settings.encode, Some(&bytes), settings.focus_rule()).unwrap();
        }
        decode_times.sort_by(f64::total_cmp);
        write_files(&rendered, &file, out.as_deref());
        let variants: Vec<_> = rendered
            .variants
            .iter()
            .map(|v| {
                let formats: serde_json::Map<String, serde_json::Value> =
                    v.formats.iter().map(|r| (r.format.name().to_string(), r.bytes.len().into())).collect();
                let skipped: Vec<&str> = v.skipped.iter().map(|s| s.format.name()).collect();
                // `bytes`: the fallback, as before formats were added.
                let fallback = v.fallback().map_or(0, |r| r.bytes.len());
                serde_json::json!({"name": v.name, "width": v.width, "height": v.height, "bytes": fallback,
                                   "formats": formats, "skipped": skipped})
            })
            .collect();
        let line = serde_json::json!({
            "file": file.display().to_string(),
            "median_ms": times[times.len() / 2],
            "min_ms": times[0],
            "cpu_ms": cpu_times[cpu_times.len() / 2],
            "decode_ms": decode_times[decode_times.len() / 2],
            "page_faults_per_render": faults_per_render,
            "variants": variants,
        });
        println!("{line}");
    }
}

/// `--out`: the last render's files as `DIR/<file stem>/<variant>.<ext>`.
fn write_files(
    rendered: &image_processor::make::render::Rendered,
    file: &std::path::Path,
    out: Option<&std::path::Path>,
) {
    let Some(dir) = out else { return };
    let dir = dir.join(file.file_stem().unwrap());
    std::fs::create_dir_all(&dir).unwrap();
    for v in &rendered.variants {
        for r in &v.formats {
            std::fs::write(dir.join(format!("{}.{}", v.name, r.format.extension())), &r.bytes).unwrap();
        }
    }
}

/// `--only-format`: decode, resize and encode the set in `format` alone (no fallback).
fn one_format(bytes: &[u8], name: &str, format: OutputFormat, settings: &RenderSettings, repeat: usize) {
    let largest = settings.variants.iter().map(|v| v.max_width).max();
    let run = || {
        let decoded = decode_for_width(bytes, name, &settings.limits, largest).unwrap();
        encode_set_in_one_format(decoded, &settings.variants, format, &settings.encode).unwrap()
    };
    let mut files = run(); // warm-up
    let (mut times, mut cpu_times) = (Vec::with_capacity(repeat), Vec::with_capacity(repeat));
    for _ in 0..repeat {
        let (start, cpu_start) = (Instant::now(), thread_cpu_ms());
        files = run();
        times.push(start.elapsed().as_secs_f64() * 1000.0);
        cpu_times.push(thread_cpu_ms() - cpu_start);
    }
    times.sort_by(f64::total_cmp);
    cpu_times.sort_by(f64::total_cmp);
    let line = serde_json::json!({
        "file": name,
        "format": format.name(),
        "median_ms": times[times.len() / 2],
        "min_ms": times[0],
        "cpu_ms": cpu_times[cpu_times.len() / 2],
        "bytes": files.iter().map(Vec::len).collect::<Vec<_>>(),
    });
    println!("{line}");
}

/// CPU time of the whole process in milliseconds (all of rayon's threads): steadier than wall
/// time on a shared machine, and what Lambda bills beyond one vCPU.
fn thread_cpu_ms() -> f64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes into the timespec we own.
    unsafe { libc::clock_gettime(libc::CLOCK_PROCESS_CPUTIME_ID, &mut ts) };
    ts.tv_sec as f64 * 1000.0 + ts.tv_nsec as f64 / 1e6
}

fn minor_page_faults() -> i64 {
    // SAFETY: getrusage writes into the struct we own; all-zero is a valid rusage.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) };
    usage.ru_minflt
}
