//! `media-edge logs` over the sample CloudFront logs (samples/cdn-logs, made by
//! scripts/make-sample-logs.py): golden outputs, time ranges, many files, gzip, broken input,
//! and the same logs read back from the emulator's S3.
//!
//! After an intended change to the report, refresh the golden files with
//! `UPDATE_GOLDEN=1 make test` and review the diff.

use crate::support::{stdout, temp_dir};

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

const SAMPLES: &str = "samples/cdn-logs";
/// The manifests of the samples' originals (scripts/make-sample-logs.py --manifests).
const MANIFESTS: &str = "samples/cdn-manifests";

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").canonicalize().unwrap()
}

fn logs(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_media-edge")).current_dir(workspace()).arg("logs").args(args).output().unwrap()
}

fn json(args: &[&str]) -> Value {
    let mut all = vec!["--format", "json"];
    all.extend_from_slice(args);
    serde_json::from_str(&stdout(&logs(&all))).unwrap()
}

fn assert_golden(name: &str, actual: &str) {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/golden").join(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, actual).unwrap();
        return;
    }
    let expected = std::fs::read_to_string(&path).unwrap_or_default();
    if expected != actual {
        let first_difference = expected.lines().zip(actual.lines()).position(|(e, a)| e != a);
        panic!(
            "{name} differs from tests/golden/{name} (first differing line: {first_difference:?}); \
             if the change is intended, run with UPDATE_GOLDEN=1\n--- actual ---\n{actual}"
        );
    }
}

/// The sample logs, decompressed: (file name, text).
fn sample_texts() -> Vec<(String, String)> {
    let mut texts = Vec::new();
    let mut entries: Vec<_> =
        std::fs::read_dir(workspace().join(SAMPLES)).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in entries {
        let bytes = std::fs::read(&path).unwrap();
        let text = if bytes.starts_with(&[0x1f, 0x8b]) {
            let mut out = String::new();
            std::io::Read::read_to_string(&mut flate2::read::MultiGzDecoder::new(&bytes[..]), &mut out).unwrap();
            out
        } else {
            String::from_utf8(bytes).unwrap()
        };
        texts.push((path.file_name().unwrap().to_string_lossy().into_owned(), text));
    }
    texts
}

/// Everything but the description of the input (which names files and counts their bytes).
fn sections(report: &Value) -> Value {
    let mut report = report.clone();
    report.as_object_mut().unwrap().remove("input");
    report
}

#[test]
fn table_json_csv_and_chart_match_the_golden_files() {
    let chart = temp_dir("chart").join("hourly.svg");
    let table = stdout(&logs(&[SAMPLES, "--top", "10", "--chart", chart.to_str().unwrap()]));
    assert_golden("report.txt", &table);
    assert_golden("hourly.svg", &std::fs::read_to_string(&chart).unwrap());
    assert_golden("report.json", &stdout(&logs(&[SAMPLES, "--top", "10", "--format", "json"])));
    assert_golden("report.csv", &stdout(&logs(&[SAMPLES, "--top", "10", "--format", "csv"])));
    assert_golden("report.html", &stdout(&logs(&[SAMPLES, "--top", "10", "--format", "html"])));
    // With the originals' manifests: the savings table in every format.
    for (format, name) in
        [("table", "savings.txt"), ("json", "savings.json"), ("csv", "savings.csv"), ("html", "savings.html")]
    {
        let output = logs(&[SAMPLES, "--top", "3", "--format", format, "--manifests", MANIFESTS]);
        assert_golden(name, &stdout(&output));
    }
}

/// The bytes saved against the originals, counted straight from the sample lines and manifests
/// (not by the report's code): every whole (200) response of a variant URL in an image format,
/// at its original's size when the manifest is of the URL's version.
#[test]
fn savings_agree_with_the_raw_lines_and_manifests() {
    let formats = ["image/avif", "image/webp", "image/jpeg", "image/png", "image/gif", "video/mp4"];
    let (mut served, mut originals, mut unknown) = (0u64, 0u64, 0u64);
    for (_, text) in sample_texts() {
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&str> = line.split('\t').collect();
            let Some(bytes) = fields.get(3).and_then(|b| b.parse::<u64>().ok()) else { continue };
            if fields.len() != 33 || fields[8] != "200" || !formats.contains(&fields[29]) {
                continue;
            }
            let uri = fields[7];
            let segments: Vec<&str> = uri.rsplitn(3, '/').collect();
            let manifest = (segments.len() == 3 && segments[1].len() == 12)
                .then(|| std::fs::read(workspace().join(MANIFESTS).join(&segments[2][1..]).join("manifest.json")).ok())
                .flatten()
                .map(|m| serde_json::from_slice::<Value>(&m).unwrap())
                .filter(|m| m["source_version"] == segments[1]);
            match manifest {
                Some(m) => {
                    served += bytes;
                    originals += m["source_bytes"].as_u64().unwrap();
                }
                None => unknown += bytes,
            }
        }
    }
    let report = json(&[SAMPLES, "--manifests", MANIFESTS]);
    let total = &report["savings"]["total"];
    assert_eq!((total["bytes"].as_u64(), total["original_bytes"].as_u64()), (Some(served), Some(originals)));
    assert_eq!(total["saved_bytes"].as_i64(), Some(originals as i64 - served as i64));
    assert_eq!(report["savings"]["unknown_original_bytes"].as_u64(), Some(unknown));
    assert!(unknown > 0, "the legacy GIFs, a replaced original and one without a manifest");
    let avif = &report["savings"]["by_format"][0];
    assert_eq!(avif["format"], "AVIF");
    assert!(avif["saved_ratio"].as_f64().unwrap() > 0.9, "{avif}");
    // Without --manifests there is no savings section.
    assert!(json(&[SAMPLES]).get("savings").is_none());
    let missing = logs(&[SAMPLES, "--manifests", "no/such/dir"]);
    assert!(!missing.status.success());
}

#[test]
fn report_agrees_with_the_raw_lines() {
    // Independent of the report code: count straight from the decompressed text.
    let mut requests = 0u64;
    let mut bytes = 0u64;
    let mut gif_bytes = 0u64;
    let mut malformed = 0u64;
    for (_, text) in sample_texts() {
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let fields: Vec<&str> = line.split('\t').collect();
            match fields.get(3).and_then(|b| b.parse::<u64>().ok()) {
                Some(b) if fields.len() == 33 => {
                    requests += 1;
                    bytes += b;
                    if fields[29] == "image/gif" {
                        gif_bytes += b;
                    }
                }
                _ => malformed += 1,
            }
        }
    }
    let report = json(&[SAMPLES, "--top", "1000"]);
    assert_eq!(report["input"]["requests"], requests);
    assert_eq!(report["input"]["bytes_served"], bytes);
    assert_eq!(report["input"]["malformed_lines"], malformed);
    assert_eq!(malformed, 2, "the sample has two broken lines (scripts/make-sample-logs.py)");
    let hourly: u64 = report["by_hour"].as_array().unwrap().iter().map(|h| h["requests"].as_u64().unwrap()).sum();
    assert_eq!(hourly, requests);
    assert_eq!(report["by_hour"].as_array().unwrap().len(), 24);
    let gif_row = report["by_content_type"].as_array().unwrap().iter().find(|r| r["key"] == "image/gif").unwrap();
    assert_eq!(gif_row["bytes"], gif_bytes);
    let top = &report["optimisation_candidates"][0];
    assert_eq!((top["reason"].as_str(), top["object"].as_str()), (Some("gif"), Some("/legacy/promo/summer-sale.gif")));
}

#[test]
fn time_range_keeps_one_hour() {
    let whole = json(&[SAMPLES]);
    let noon = json(&[SAMPLES, "--since", "2026-11-21T12:00", "--until", "2026-11-21T13:00Z"]);
    let hours = noon["by_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 1);
    assert_eq!(hours[0], whole["by_hour"][12]);
    let (all, kept) = (whole["input"]["requests"].as_u64().unwrap(), noon["input"]["requests"].as_u64().unwrap());
    // Only the noon file is read: the others' names say they hold other hours.
    assert_eq!((noon["input"]["files"].as_u64(), noon["input"]["files_outside_range"].as_u64()), (Some(1), Some(23)));
    assert_eq!(noon["input"]["out_of_range"].as_u64(), Some(0));
    assert!(kept > 0 && kept < all);
    assert!(noon["input"]["from"].as_str().unwrap().starts_with("2026-11-21T12:"));

    // Empty hours of the requested range are listed too (and drawn in the chart).
    let wider = json(&[SAMPLES, "--since", "2026-11-20T22:00", "--until", "2026-11-22T02:00"]);
    let wider_hours = wider["by_hour"].as_array().unwrap();
    assert_eq!(wider_hours.len(), 28);
    assert_eq!(
        (wider_hours[0]["key"].as_str(), wider_hours[0]["requests"].as_u64()),
        (Some("2026-11-20T22:00Z"), Some(0))
    );
    assert_eq!(wider_hours[27]["key"], "2026-11-22T01:00Z");
    assert_eq!(&wider_hours[2..26], whole["by_hour"].as_array().unwrap().as_slice());

    let backwards = logs(&[SAMPLES, "--since", "2026-11-22", "--until", "2026-11-21"]);
    assert!(String::from_utf8_lossy(&backwards.stderr).contains("--since must be before --until"));
    let bad = logs(&[SAMPLES, "--since", "noon"]);
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("`noon` is not a UTC time"));
}

#[test]
fn many_plain_files_read_like_the_gzipped_day() {
    // The same lines re-cut into ~240 plain files (10 per hour, each with its own header), with
    // reordered columns in half of them: the report must not change.
    let dir = temp_dir("many");
    let mut files_written = 0;
    for (n, (_, text)) in sample_texts().into_iter().enumerate() {
        let mut lines = text.lines();
        let (version, fields) = (lines.next().unwrap(), lines.next().unwrap());
        let data: Vec<&str> = lines.collect();
        for (part, chunk) in data.chunks(data.len().div_ceil(10)).enumerate() {
            let hour_dir = dir.join(format!("{n:02}"));
            std::fs::create_dir_all(&hour_dir).unwrap();
            let mut file = std::fs::File::create(hour_dir.join(format!("{part}.log"))).unwrap();
            files_written += 1;
            if part % 2 == 0 {
                writeln!(file, "{version}\n{fields}\n{}", chunk.join("\n")).unwrap();
            } else {
                // Swap the first two columns (date, time) in the header and in every line.
                let names: Vec<&str> = fields.trim_start_matches("#Fields: ").split(' ').collect();
                let mut swapped_names = names.clone();
                swapped_names.swap(0, 1);
                writeln!(file, "{version}\n#Fields: {}", swapped_names.join(" ")).unwrap();
                for line in chunk {
                    let mut cells: Vec<&str> = line.split('\t').collect();
                    if cells.len() > 1 {
                        cells.swap(0, 1);
                    }
                    writeln!(file, "{}", cells.join("\t")).unwrap();
                }
            }
        }
    }
    let gzipped = json(&[SAMPLES]);
    let plain = json(&[dir.to_str().unwrap(), "--jobs", "3"]);
    assert!(files_written > 200);
    assert_eq!(plain["input"]["files"], files_written);
    assert_eq!(plain["input"]["requests"], gzipped["input"]["requests"]);
    assert_eq!(plain["input"]["malformed_lines"], gzipped["input"]["malformed_lines"]);
    assert_eq!(sections(&plain), sections(&gzipped));
}

#[test]
fn broken_files_are_reported_and_never_fatal() {
    let dir = temp_dir("broken");
    let (name, text) = sample_texts().into_iter().next().unwrap();
    std::fs::write(dir.join(&name), &text).unwrap();
    // Half a gzip stream, a file that is not a log, an empty file, a gzip of garbage.
    let mut encoder = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    encoder.write_all(text.repeat(50).as_bytes()).unwrap();
    let whole = encoder.finish().unwrap();
    std::fs::write(dir.join("truncated.gz"), &whole[..whole.len() / 2]).unwrap();
    std::fs::write(dir.join("README.md"), "# not a log\nhello\n").unwrap();
    std::fs::write(dir.join("empty.log"), "").unwrap();
    std::fs::write(dir.join("garbage.gz"), [0x1f, 0x8b, 0x08, 0x00, 0xde, 0xad, 0xbe, 0xef, 0x00]).unwrap();

    let output = logs(&[dir.to_str().unwrap(), "--format", "json"]);
    let report: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let unreadable: Vec<&str> =
        report["input"]["unreadable"].as_array().unwrap().iter().map(|u| u.as_str().unwrap()).collect();
    assert_eq!(unreadable.len(), 2, "{unreadable:?}");
    assert!(
        unreadable.iter().any(|u| u.contains("truncated.gz")) && unreadable.iter().any(|u| u.contains("garbage.gz"))
    );
    assert_eq!(report["input"]["malformed_lines"], 1, "README.md's one non-comment line");
    let lines_in_file = text.lines().filter(|l| !l.starts_with('#')).count() as u64;
    let read = report["input"]["requests"].as_u64().unwrap();
    assert!(read > lines_in_file && read < lines_in_file * 51, "the readable half of truncated.gz counts: {read}");

    let missing = logs(&["no/such/dir"]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("no/such/dir"));
}

/// The report over `dir` as JSON, every row.
fn report_of(dir: &str) -> Value {
    json(&[dir, "--top", "1000"])
}

fn venv_python(script: &str, args: &[&str]) -> Output {
    let python = workspace().join(".venv/bin/python");
    assert!(python.exists(), "run with `make test` (needs the project venv with duckdb)");
    let output = Command::new(python).current_dir(workspace()).arg(script).args(args).output().unwrap();
    assert!(output.status.success(), "{script}: {}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The sample logs as this stack's standard logging v2 delivery writes them (scripts/cdn-logs-v2.py:
/// its RecordFields, every value a string, <distribution>/<yyyy>/<MM>/<dd>/<HH>/), as `json` or
/// `parquet`, in a folder of its own for `test` (tests run in parallel).
fn samples_as_v2(format: &str, test: &str) -> PathBuf {
    let dir = temp_dir(&format!("v2-{format}-{test}"));
    venv_python("scripts/cdn-logs-v2.py", &[SAMPLES, dir.to_str().unwrap(), "--format", format]);
    dir
}

/// The template's Athena named queries, run on DuckDB over the same logs
/// (scripts/run-athena-queries.py), give the report's numbers: one set of definitions. Legacy logs
/// through the legacy table, v2 JSON logs through the partitioned v2 table and the queries' v2 text.
#[test]
fn athena_named_queries_count_what_the_report_counts() {
    let v2 = samples_as_v2("json", "athena");
    assert_athena_counts_what_the_report_counts(SAMPLES, "legacy");
    assert_athena_counts_what_the_report_counts(v2.to_str().unwrap(), "v2");

    // The v2 queries pick their hours by partition: a day later, the one-day queries find nothing.
    let output = venv_python(
        "scripts/run-athena-queries.py",
        &[v2.to_str().unwrap(), "--today", "2026-11-23", "--access-logs", "v2"],
    );
    let later: Value = serde_json::from_str(&stdout(&output)).unwrap();
    assert_eq!(later["TopObjectsByBytesQuery"], serde_json::json!([]));
    assert_eq!(later["RequestsByHourQuery"].as_array().unwrap().len(), 24, "its window is seven days");
}

fn assert_athena_counts_what_the_report_counts(logs_dir: &str, access_logs: &str) {
    let output = venv_python(
        "scripts/run-athena-queries.py",
        &[logs_dir, "--today", "2026-11-22", "--access-logs", access_logs],
    );
    let athena: Value = serde_json::from_str(&stdout(&output)).unwrap();
    let report = json(&[SAMPLES, "--top", "1000"]);
    let ratio = |v: &Value| v.as_f64().map(|r| (r * 10_000.0).round() / 10_000.0);
    let rows = |name: &str| athena[name].as_array().unwrap().clone();
    let first =
        |section: &str, n: usize| report[section].as_array().unwrap().iter().take(n).cloned().collect::<Vec<_>>();

    let top = rows("TopObjectsByBytesQuery");
    assert_eq!(top.len(), 50);
    for (sql, ours) in top.iter().zip(first("top_by_bytes", 50)) {
        assert_eq!((&sql[0], &sql[1], &sql[2]), (&ours["key"], &ours["bytes"], &ours["requests"]));
    }

    let hours = rows("RequestsByHourQuery");
    assert_eq!(hours.len(), report["by_hour"].as_array().unwrap().len());
    for (sql, ours) in hours.iter().zip(first("by_hour", 24)) {
        let key = format!("{}T{}:00Z", sql[0].as_str().unwrap(), sql[1].as_str().unwrap());
        assert_eq!(
            (key.as_str(), &sql[2], &sql[3]),
            (ours["key"].as_str().unwrap(), &ours["requests"], &ours["bytes"])
        );
        assert_eq!(ratio(&sql[4]), ours["hit_ratio"].as_f64());
    }

    let worst = rows("WorstCacheHitRatioQuery");
    assert!(!worst.is_empty());
    assert_eq!(worst.len(), report["worst_hit_ratio"].as_array().unwrap().len());
    for (sql, ours) in worst.iter().zip(first("worst_hit_ratio", 50)) {
        assert_eq!((&sql[0], &sql[1]), (&ours["key"], &ours["requests"]));
        assert_eq!(ratio(&sql[2]), ours["hit_ratio"].as_f64());
    }

    let missed = rows("TopMissedQuery");
    assert!(!missed.is_empty());
    assert_eq!(missed.len(), report["top_missed"].as_array().unwrap().len().min(50));
    for (sql, ours) in missed.iter().zip(first("top_missed", 50)) {
        assert_eq!(
            (&sql[0], &sql[1], &sql[2], &sql[3]),
            (&ours["key"], &ours["misses"], &ours["requests"], &ours["bytes"])
        );
        assert_eq!(ratio(&sql[4]), ours["hit_ratio"].as_f64());
    }

    let types = rows("BytesByContentTypeQuery");
    assert_eq!(types.len(), report["by_content_type"].as_array().unwrap().len());
    for (sql, ours) in types.iter().zip(first("by_content_type", 50)) {
        assert_eq!((&sql[0], &sql[1], &sql[2]), (&ours["key"], &ours["bytes"], &ours["requests"]));
    }

    let formats = rows("BytesByImageFormatQuery");
    assert_eq!(formats.len(), report["by_image_format"].as_array().unwrap().len());
    assert!(formats.len() >= 4, "AVIF, WebP, JPEG, GIF and MP4 in the samples: {formats:?}");
    for (sql, ours) in formats.iter().zip(first("by_image_format", 10)) {
        assert_eq!((&sql[0], &sql[1], &sql[2]), (&ours["key"], &ours["requests"], &ours["bytes"]));
        assert_eq!(ratio(&sql[3]), ours["hit_ratio"].as_f64());
    }

    if access_logs == "v2" {
        let versions = rows("ReleaseVersionsQuery");
        let ours = report_of(logs_dir)["releases"].as_array().unwrap().clone();
        assert_eq!(versions.len(), ours.len());
        assert_eq!(versions.len(), 4, "two channels, stable and canary: {versions:?}");
        for (sql, ours) in versions.iter().zip(&ours) {
            assert_eq!(
                (&sql[0], &sql[1], &sql[2], &sql[3], &sql[4]),
                (&ours["channel"], &ours["kind"], &ours["version"], &ours["requests"], &ours["bytes"])
            );
            assert_eq!(ratio(&sql[5]), ours["hit_ratio"].as_f64());
            assert_eq!((&sql[6], &sql[7]), (&ours["client_errors"], &ours["server_errors"]));
        }
    } else {
        assert!(athena.get("ReleaseVersionsQuery").is_none(), "a query of the v2 table only");
    }

    let candidates = rows("OptimisationCandidatesQuery");
    assert_eq!(candidates.len(), report["optimisation_candidates"].as_array().unwrap().len().min(50));
    assert!(candidates.iter().any(|c| c[1] == "gif") && candidates.iter().any(|c| c[1] == "full-size-to-mobile"));
    for (sql, ours) in candidates.iter().zip(first("optimisation_candidates", 50)) {
        assert_eq!(
            (&sql[0], &sql[1], &sql[2], &sql[3]),
            (&ours["object"], &ours["reason"], &ours["requests"], &ours["bytes"])
        );
    }
}

/// Standard logging v2, JSON lines or Parquet, reports what the legacy logs of the same requests
/// report: fields by name in every format.
#[test]
fn v2_json_and_parquet_logs_report_what_the_legacy_logs_report() {
    let legacy = json(&[SAMPLES, "--top", "1000"]);
    // Requests of the release channels, by the legacy logs' object table.
    let release_requests: u64 = legacy["top_by_requests"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| ["/sdk/", "/app/"].iter().any(|p| r["key"].as_str().unwrap().starts_with(p)))
        .map(|r| r["requests"].as_u64().unwrap())
        .sum();
    assert!(release_requests > 300);
    for format in ["json", "parquet"] {
        let dir = samples_as_v2(format, "report");
        let mut v2 = json(&[dir.to_str().unwrap(), "--top", "1000"]);
        // Only v2 carries the release function's log data: each request of a channel, once.
        let releases = v2.as_object_mut().unwrap().remove("releases").unwrap();
        let cohorts = v2.as_object_mut().unwrap().remove("worst_cohorts").unwrap();
        let versions: Vec<String> = releases
            .as_array()
            .unwrap()
            .iter()
            .map(|r| {
                format!(
                    "{} {} {}",
                    r["channel"].as_str().unwrap(),
                    r["kind"].as_str().unwrap(),
                    r["version"].as_str().unwrap()
                )
            })
            .collect();
        assert_eq!(
            versions,
            ["app canary 2026.11.21", "app stable 2026.11.14", "sdk canary 1.5.0-rc.1+b7", "sdk stable 1.4.2"]
        );
        let routed: u64 = releases.as_array().unwrap().iter().map(|r| r["requests"].as_u64().unwrap()).sum();
        assert_eq!(routed, release_requests, "{format}");
        let in_cohorts: u64 = cohorts.as_array().unwrap().iter().map(|c| c["requests"].as_u64().unwrap()).sum();
        assert_eq!(in_cohorts, release_requests, "{format}: every cohort listed at --top 1000");
        assert_eq!(sections(&v2), sections(&legacy), "{format}");
        // The release tables as people read them.
        let text = stdout(&logs(&[dir.to_str().unwrap(), "--top", "5"]));
        assert_golden(&format!("report-v2-{format}.txt"), &text);
        assert_eq!(v2["input"]["malformed_lines"], 0, "{format}: {}", v2["input"]);
        assert_eq!(v2["input"]["requests"], legacy["input"]["requests"], "{format}");
        assert_eq!(v2["input"]["files"], 24, "{format}: one file per hour");
    }
}

#[tokio::test]
async fn reads_the_same_logs_from_s3() {
    assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
    let clients = media_edge_local::LocalClients::from_env().await;
    // The logs bucket of a stack of infra/template.yaml, where CloudFront writes under cloudfront/.
    let wiring = media_edge_local::deploy(&clients, "logs").await.unwrap();
    let bucket = wiring.output("LogsBucketName").unwrap();
    let mut entries: Vec<_> =
        std::fs::read_dir(workspace().join(SAMPLES)).unwrap().map(|e| e.unwrap().path()).collect();
    entries.sort();
    for path in &entries {
        let key = format!("cloudfront/{}", path.file_name().unwrap().to_string_lossy());
        let body = aws_sdk_s3::primitives::ByteStream::from(std::fs::read(path).unwrap());
        clients.s3.put_object().bucket(&bucket).key(key).body(body).send().await.unwrap();
    }
    // Outside the prefix: must not be read.
    let stray = aws_sdk_s3::primitives::ByteStream::from_static(b"not a log");
    clients.s3.put_object().bucket(&bucket).key("other/stray.txt").body(stray).send().await.unwrap();

    let local = json(&[SAMPLES]);
    let from_s3 = json(&[&format!("s3://{bucket}/cloudfront/")]);
    assert_eq!(from_s3["input"]["files"], entries.len());
    assert_eq!(from_s3["input"]["bytes_read"], local["input"]["bytes_read"]);
    assert_eq!(sections(&from_s3), sections(&local));
    let example = from_s3["input"]["malformed_examples"][0].as_str().unwrap();
    assert!(example.starts_with(&format!("s3://{bucket}/cloudfront/")), "{example}");

    // v2 Parquet objects (read whole, from their footer) and JSON objects, under their hourly paths.
    for format in ["parquet", "json"] {
        let dir = samples_as_v2(format, "s3");
        let mut files = Vec::new();
        files_under(&dir, &mut files);
        assert_eq!(files.len(), 24);
        for path in &files {
            let key = format!("cloudfront-v2-{format}/{}", path.strip_prefix(&dir).unwrap().display());
            let body = aws_sdk_s3::primitives::ByteStream::from(std::fs::read(path).unwrap());
            clients.s3.put_object().bucket(&bucket).key(key).body(body).send().await.unwrap();
        }
        let v2 = json(&[&format!("s3://{bucket}/cloudfront-v2-{format}/")]);
        let on_disk = json(&[dir.to_str().unwrap()]);
        // A time range reads only the hours' objects (their paths say which hour they hold).
        let range = ["--since", "2026-11-21T12:00", "--until", "2026-11-21T14:00"];
        let two_hours = json(&[&[&format!("s3://{bucket}/cloudfront-v2-{format}/") as &str][..], &range].concat());
        assert_eq!(two_hours["input"]["files"].as_u64(), Some(2), "{format}");
        assert_eq!(two_hours["input"]["files_outside_range"].as_u64(), Some(22), "{format}");
        assert_eq!(two_hours["by_hour"], json(&[&[dir.to_str().unwrap()][..], &range].concat())["by_hour"]);
        assert!(on_disk.get("releases").is_some(), "{format}: the release function's log data is read");
        assert!(sections(&v2) == sections(&on_disk), "{format}: S3 and disk differ");
        assert_eq!(v2["input"]["unreadable"], serde_json::json!([]), "{format}");
    }

    // The originals' manifests from the bucket: the same savings as from the directory.
    let mut manifests = Vec::new();
    files_under(&workspace().join(MANIFESTS), &mut manifests);
    for path in &manifests {
        let key = path.strip_prefix(workspace().join(MANIFESTS)).unwrap().display().to_string();
        let body = aws_sdk_s3::primitives::ByteStream::from(std::fs::read(path).unwrap());
        clients.s3.put_object().bucket(&bucket).key(format!("copy/{key}")).body(body).send().await.unwrap();
    }
    let on_disk = json(&[SAMPLES, "--manifests", MANIFESTS]);
    let in_s3 = json(&[SAMPLES, "--manifests", &format!("s3://{bucket}/copy")]);
    assert_eq!(in_s3["savings"], on_disk["savings"]);
    assert!(on_disk["savings"]["manifests_read"].as_u64().unwrap() > 60);

    let missing = logs(&[&format!("s3://{bucket}-missing/")]);
    assert!(!missing.status.success());
    assert!(String::from_utf8_lossy(&missing.stderr).contains("listing failed"), "{missing:?}");
}

/// Every file under `dir`, sorted.
fn files_under(dir: &Path, files: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files_under(&path, files);
        } else {
            files.push(path);
        }
    }
    files.sort();
}

/// One CloudFront log line (the legacy format's 33 fields) for a whole response.
fn log_line(time: &str, uri: &str, bytes: u64, content_type: &str) -> String {
    format!(
        "2026-12-07\t{time}\tICN57-P1\t{bytes}\t192.0.2.1\tGET\td111111abcdef8.cloudfront.net\t{uri}\t200\t-\t\
         Mozilla/5.0\t-\t-\tHit\tid\tcdn.example.com\thttps\t300\t0.005\t-\tTLSv1.3\tTLS_AES_128_GCM_SHA256\tHit\t\
         HTTP/2.0\t-\t-\t40000\t0.005\tHit\t{content_type}\t{bytes}\t-\t-"
    )
}

/// `--hot` ranks originals by the bytes all their variants and versions served, names each
/// original from its manifest, and gives the JSON `backfill --keys-from` reads. The report then
/// compares a re-encoded original's views with its earlier version's, file by file and format
/// by format: the numbers here are worked out by hand.
#[test]
fn hot_originals_and_what_a_reencode_saved_per_view() {
    let dir = temp_dir("hot-logs");
    let (logs_dir, manifests) = (dir.join("logs"), dir.join("manifests"));
    std::fs::create_dir_all(&logs_dir).unwrap();
    let (old, new) = ("00000000000a", "00000000000b");
    let mut lines = vec!["#Version: 1.0".to_string(), format!("#Fields: {}", FIELDS)];
    // hero.jpg: 10 AVIF views of the old pc at 100 kB, 30 of the new at 70 kB; 5 JPEG views of
    // each version at 200 kB (no change); 4 AVIF views of a thumbnail only the new version has.
    for _ in 0..10 {
        lines.push(log_line("01:00:00", &format!("/v/hero%20banner.jpg/{old}/pc.jpg"), 100_000, "image/avif"));
    }
    for _ in 0..30 {
        lines.push(log_line("02:00:00", &format!("/v/hero%20banner.jpg/{new}/pc.jpg"), 70_000, "image/avif"));
    }
    for version in [old, new] {
        for _ in 0..5 {
            lines.push(log_line("02:00:00", &format!("/v/hero%20banner.jpg/{version}/pc.jpg"), 200_000, "image/jpeg"));
        }
    }
    for _ in 0..4 {
        lines.push(log_line("02:00:00", &format!("/v/hero%20banner.jpg/{new}/thumbnail.jpg"), 5_000, "image/avif"));
    }
    // small.png: less in all; no manifest.
    for _ in 0..3 {
        lines.push(log_line("02:00:00", "/v/small.png/00000000000c/pc.png", 50_000, "image/png"));
    }
    std::fs::write(logs_dir.join("E2QWRUHAPOMQZL.2026-12-07-01.log"), lines.join("\n") + "\n").unwrap();
    std::fs::create_dir_all(manifests.join("v/hero banner.jpg")).unwrap();
    let manifest = serde_json::json!({
        "schema": "media-edge.manifest", "version": 2,
        "source": {"bucket": "originals", "key": "uploads/hero banner.jpg", "etag": "e1"},
        "source_version": new, "source_format": "JPEG", "width": 1920, "height": 1080, "frames": 1,
        "source_bytes": 2_000_000, "variants": [], "avif_effort": "max", "avif_effort_asked": "max",
        "rerender_of": {"source_version": old, "avif_effort": "default"}, "created_at": "2026-12-07T01:30:00Z",
    });
    std::fs::write(manifests.join("v/hero banner.jpg/manifest.json"), manifest.to_string()).unwrap();
    let (logs_arg, manifests_arg) = (logs_dir.to_str().unwrap(), manifests.to_str().unwrap());

    let hot = json(&[logs_arg, "--hot", "5", "--manifests", manifests_arg]);
    let rows = hot["hot"].as_array().unwrap();
    assert_eq!(rows.len(), 2, "{hot:#}");
    // 10×100k + 30×70k + 10×200k + 4×5k = 5,120,000 bytes; small.png 150,000.
    assert_eq!(rows[0]["path"], "v/hero banner.jpg");
    assert_eq!(rows[0]["original"], "uploads/hero banner.jpg");
    assert_eq!((rows[0]["bytes"].as_u64(), rows[0]["requests"].as_u64()), (Some(5_120_000), Some(54)));
    assert_eq!((rows[0]["versions"].as_u64(), rows[0]["avif_effort"].as_str()), (Some(2), Some("max")));
    assert_eq!((rows[1]["path"].as_str(), rows[1].get("original")), (Some("v/small.png"), None));
    assert_eq!(hot["variant_bytes"].as_u64(), Some(5_270_000));
    // --hot 1 keeps the first; the text names the originals.
    assert_eq!(json(&[logs_arg, "--hot", "1"])["hot"].as_array().unwrap().len(), 1);
    let text = stdout(&logs(&[logs_arg, "--hot", "2", "--manifests", manifests_arg]));
    assert!(text.contains("uploads/hero banner.jpg") && text.contains("v/small.png"), "{text}");

    let report = json(&[logs_arg, "--manifests", manifests_arg]);
    let reencodes = report["reencodes"].as_array().unwrap();
    assert_eq!(reencodes.len(), 1, "{report:#}");
    let r = &reencodes[0];
    // Compared: 30 AVIF views (100k → 70k) and 5 JPEG views (200k → 200k); the thumbnail has no
    // earlier file. Before: 30×100k + 5×200k = 4,000,000; now 2,100,000 + 1,000,000.
    assert_eq!(
        (r["views"].as_u64(), r["before_bytes"].as_u64(), r["bytes"].as_u64()),
        (Some(35), Some(4_000_000), Some(3_100_000))
    );
    assert_eq!((r["saved_bytes"].as_i64(), r["saved_ratio"].as_f64()), (Some(900_000), Some(0.225)));
    assert_eq!((r["from_effort"].as_str(), r["to_effort"].as_str()), (Some("default"), Some("max")));
    let text = stdout(&logs(&[logs_arg, "--manifests", manifests_arg]));
    assert!(text.contains("Re-encoded originals") && text.contains("default → max"), "{text}");
    std::fs::remove_dir_all(&dir).unwrap();
}

const FIELDS: &str = "date time x-edge-location sc-bytes c-ip cs-method cs(Host) cs-uri-stem sc-status cs(Referer) \
     cs(User-Agent) cs-uri-query cs(Cookie) x-edge-result-type x-edge-request-id x-host-header cs-protocol cs-bytes \
     time-taken x-forwarded-for ssl-protocol ssl-cipher x-edge-response-result-type cs-protocol-version fle-status \
     fle-encrypted-fields c-port time-to-first-byte x-edge-detailed-result-type sc-content-type sc-content-len \
     sc-range-start sc-range-end";
