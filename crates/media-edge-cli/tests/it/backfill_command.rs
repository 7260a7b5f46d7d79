//! `media-edge backfill` against the emulator: originals that are current, stale (rendered with
//! other settings) or never processed; the processor's real handler over the jobs queue.

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use image_processor::lambda::config::ProcessorConfig;
use image_processor::{handle_batch, Processor};
use media_edge_local::{deploy, drain, poll_queue, LocalClients, Wiring};
use media_edge_shared::aws::StatusPublisher;

use crate::support::{stdout, temp_dir};

/// AVIF/WebP off: debug builds encode them slowly, and they do not change what is tested.
const FORMATS: (&str, &str) = ("OUTPUT_FORMATS", "none");

fn sample(name: &str) -> Vec<u8> {
    std::fs::read(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../samples").join(name)).unwrap()
}

struct Setup {
    clients: LocalClients,
    wiring: Wiring,
    dir: PathBuf,
    /// OUTPUT_FORMATS of the processor and of the settings the backfill judges by.
    formats: &'static str,
}

impl Setup {
    async fn new(label: &str) -> Setup {
        assert!(std::env::var("AWS_ENDPOINT_URL").is_ok(), "run with `make test` (needs the local emulator)");
        let clients = LocalClients::from_env().await;
        let wiring = deploy(&clients, label).await.unwrap();
        Setup { clients, wiring, dir: temp_dir(label), formats: FORMATS.1 }
    }

    async fn put(&self, key: &str, body: Vec<u8>) {
        let bucket = &self.wiring.names.originals_bucket;
        self.clients.s3.put_object().bucket(bucket).key(key).body(body.into()).send().await.unwrap();
    }

    /// The processor's real handler over the jobs queue, with these render settings.
    async fn process(&self, jpeg_quality: &str) -> usize {
        let vars = |name: &str| match name {
            "OUTPUT_FORMATS" => Some(self.formats.to_string()),
            "JPEG_QUALITY" => Some(jpeg_quality.to_string()),
            _ => None,
        };
        // The processor as deployed in this stack, rendering with these settings.
        let environment = self.wiring.function_environment("ImageProcessorFunction").unwrap();
        let deployed = ProcessorConfig::from_vars(&|name: &str| environment.get(name).cloned()).unwrap();
        let render = image_processor::lambda::config::render_settings_from_vars(&vars).unwrap();
        let config = ProcessorConfig { render, ..deployed };
        let status = StatusPublisher::new(self.clients.sns.clone(), self.wiring.status_topic_arn.clone());
        let processor = Processor::new(self.clients.s3.clone(), self.clients.sqs.clone(), status, config);
        let w = &self.wiring;
        let report =
            poll_queue(&self.clients.sqs, &w.jobs_queue_url, &w.jobs_queue_arn, Duration::from_secs(1), 50, |event| {
                let processor = processor.clone();
                async move { handle_batch(event, &processor, None).await }
            })
            .await
            .unwrap();
        report.messages
    }

    /// Forgets the upload events S3 sent (these originals "existed before the pipeline").
    async fn forget_uploads(&self) {
        drain(&self.clients.sqs, &self.wiring.jobs_queue_url, Duration::from_secs(1)).await.unwrap();
    }

    fn backfill(&self, args: &[&str], jpeg_quality: &str) -> Output {
        Command::new(env!("CARGO_BIN_EXE_media-edge"))
            .arg("backfill")
            .arg(format!("s3://{}/", self.wiring.names.originals_bucket))
            .args(["--variants-bucket", &self.wiring.names.variants_bucket])
            .args(["--queue-url", &self.wiring.jobs_queue_url])
            .args(["--state", self.dir.join("state.json").to_str().unwrap()])
            .args(args)
            // Judged by this shell's settings unless the test names a deployed function.
            .args((!args.contains(&"--function")).then_some("--local-settings"))
            .env(FORMATS.0, self.formats)
            .env("JPEG_QUALITY", jpeg_quality)
            .output()
            .unwrap()
    }

    fn report(&self, args: &[&str], jpeg_quality: &str) -> serde_json::Value {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        serde_json::from_str(&stdout(&self.backfill(&all, jpeg_quality))).unwrap()
    }
}

/// The image processor as deployed on the emulator's Lambda, with `settings` as its environment
/// (its code is never run: only its configuration is read). Returns `<name>:live`.
async fn deploy_processor(settings: &[(&str, &str)]) -> String {
    use aws_sdk_lambda::primitives::Blob;
    use aws_sdk_lambda::types::{Environment, FunctionCode, Runtime};
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let name = media_edge_local::unique_name("image-processor");
    let role = media_edge_local::iam::create_role(&endpoint, &name).await.unwrap();
    let lambda = aws_sdk_lambda::Client::new(&media_edge_shared::aws::load_sdk_config().await);
    let mut environment = Environment::builder();
    for (key, value) in settings {
        environment = environment.variables(*key, *value);
    }
    // An empty zip archive (its end-of-central-directory record alone).
    let empty_zip = [&b"PK\x05\x06"[..], &[0u8; 18]].concat();
    lambda
        .create_function()
        .function_name(&name)
        .runtime(Runtime::Providedal2023)
        .handler("bootstrap")
        .role(role)
        .code(FunctionCode::builder().zip_file(Blob::new(empty_zip)).build())
        .environment(environment.build())
        .send()
        .await
        .unwrap();
    let version = lambda.publish_version().function_name(&name).send().await.unwrap();
    let version = version.version().unwrap();
    lambda.create_alias().function_name(&name).name("live").function_version(version).send().await.unwrap();
    format!("{name}:live")
}

#[tokio::test]
async fn current_means_rendered_with_the_deployed_functions_settings_not_the_shells() {
    let s = Setup::new("deployed").await;
    // The deployed processor renders JPEG at quality 50; the operator's shell says 80.
    s.put("uploads/photo.jpg", sample("beach photo (rotated).jpg")).await;
    assert!(s.process("50").await >= 1);
    s.forget_uploads().await;
    let function = deploy_processor(&[("JPEG_QUALITY", "50"), FORMATS]).await;

    let by_function = s.report(&["--dry-run", "--function", &function], "80");
    assert_eq!(counts(&by_function), [1, 0, 0, 0, 0], "{by_function}");
    // Judged by the shell, the same original would be stale on every run, and never converge.
    let by_shell = s.report(&["--dry-run"], "80");
    assert_eq!(counts(&by_shell), [0, 1, 0, 0, 0], "{by_shell}");

    // Neither named: refused, with what to pass.
    let out = Command::new(env!("CARGO_BIN_EXE_media-edge"))
        .arg("backfill")
        .arg(format!("s3://{}/", s.wiring.names.originals_bucket))
        .args(["--variants-bucket", &s.wiring.names.variants_bucket, "--dry-run"])
        .env_remove("PROCESSOR_FUNCTION")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--function") && stderr.contains("--local-settings"), "{stderr}");
}

/// Stores an S3 Inventory report (one data file and the manifest.json naming it) in a bucket of
/// its own; returns the manifest's URL.
async fn put_inventory(s: &Setup, format: &str, schema: &str, data_key: &str, data: Vec<u8>) -> String {
    let reports = media_edge_local::unique_name("media-edge-inventory");
    s.clients.s3.create_bucket().bucket(&reports).send().await.unwrap();
    s.clients.s3.put_object().bucket(&reports).key(data_key).body(data.into()).send().await.unwrap();
    let manifest = serde_json::json!({
        "sourceBucket": s.wiring.names.originals_bucket, "destinationBucket": format!("arn:aws:s3:::{reports}"),
        "version": "2016-11-30", "fileFormat": format, "fileSchema": schema,
        "files": [{"key": data_key, "size": 100, "MD5checksum": "x"}],
    });
    let manifest_key = "inventory/2026-11-30T00-00Z/manifest.json";
    let body = manifest.to_string().into_bytes();
    s.clients.s3.put_object().bucket(&reports).key(manifest_key).body(body.into()).send().await.unwrap();
    format!("s3://{reports}/{manifest_key}")
}

/// The objects' ETags as an inventory lists them (bare).
async fn etags(s: &Setup, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for key in keys {
        let head = s.clients.s3.head_object().bucket(&s.wiring.names.originals_bucket).key(*key).send().await.unwrap();
        out.push(head.e_tag().unwrap().trim_matches('"').to_string());
    }
    out
}

fn counts(report: &serde_json::Value) -> [u64; 5] {
    ["current", "stale", "missing", "skipped", "sent"].map(|k| report[k].as_u64().unwrap())
}

#[tokio::test]
async fn sends_exactly_the_stale_and_missing_originals_then_nothing() {
    let s = Setup::new("backfill").await;
    let photo = sample("beach photo (rotated).jpg");
    // Current: processed with today's settings (JPEG quality 80 here).
    s.put("uploads/current.jpg", photo.clone()).await;
    assert!(s.process("80").await >= 1);
    // Stale: processed with other settings.
    s.put("uploads/old settings/stale photo.jpg", photo.clone()).await;
    assert!(s.process("50").await >= 1);
    // Never processed, with keys S3 events encode: spaces, '+', '%', Korean.
    s.put("uploads/logo+alpha.png", sample("logo+alpha.png")).await;
    s.put("uploads/프로모션 100%.webp", sample("프로모션 banner.webp")).await;
    // Not originals the processor takes: outside the input prefix, and a folder marker.
    s.put("other/elsewhere.jpg", photo.clone()).await;
    s.put("uploads/folder/", Vec::new()).await;
    s.forget_uploads().await;

    let dry = s.report(&["--dry-run"], "80");
    assert_eq!(counts(&dry), [1, 1, 2, 2, 0], "{dry}");
    assert!(
        drain(&s.clients.sqs, &s.wiring.jobs_queue_url, Duration::ZERO).await.unwrap().is_empty(),
        "a dry run sends nothing"
    );

    let run = s.report(&[], "80");
    assert_eq!(counts(&run), [1, 1, 2, 2, 3], "{run}");
    assert_eq!(s.process("80").await, 3, "the processor received exactly what was sent");

    // Everything is current now. A complete run leaves no state behind, so a second run starts
    // from the first key again, and sends nothing.
    assert!(!s.dir.join("state.json").exists(), "a complete run removes its state file");
    let again = s.report(&[], "80");
    assert_eq!(counts(&again), [4, 0, 0, 2, 0], "{again}");

    // A settings change makes every original stale; --only-stale re-renders exactly those.
    let changed = s.report(&["--only-stale", "--dry-run"], "70");
    assert_eq!(counts(&changed), [0, 4, 0, 2, 0], "{changed}");
}

/// `--effort max --keys-from` re-renders exactly the originals the file names, at max: the new
/// manifest says so and names the version it replaced (what the log report compares views
/// with), its AVIF files are no larger, and later backfills, with or without --effort, keep it.
#[tokio::test]
async fn the_hot_originals_are_rendered_again_at_max_effort_and_keep_it() {
    let mut s = Setup::new("backfill-effort").await;
    s.formats = "avif";
    let photo = sample("beach photo (rotated).jpg");
    s.put("uploads/hero banner.jpg", photo.clone()).await;
    s.put("uploads/cold.jpg", photo.clone()).await;
    assert_eq!(s.process("80").await, 2);
    let manifest = |key: &'static str| {
        let (s3, bucket) = (s.clients.s3.clone(), s.wiring.names.variants_bucket.clone());
        async move {
            let object = s3.get_object().bucket(bucket).key(key).send().await.unwrap();
            let bytes = object.body.collect().await.unwrap().into_bytes();
            serde_json::from_slice::<image_processor::store::manifest::Manifest>(&bytes).unwrap()
        }
    };
    let before = manifest("hero banner.jpg/manifest.json").await;
    assert_eq!((before.avif_effort.as_deref(), before.avif_effort_asked.as_deref()), (Some("default"), None));
    let cold_before = manifest("cold.jpg/manifest.json").await;

    // The hot list as `media-edge logs --hot 1 --format json` writes it (the path alone: no
    // manifests were given), and a key that does not exist.
    let hot = s.dir.join("hot.json");
    std::fs::write(&hot, r#"{"hot": [{"path": "hero banner.jpg", "bytes": 5120000}, {"path": "gone.jpg"}]}"#).unwrap();
    let output = s.backfill(&["--json", "--effort", "max", "--keys-from", hot.to_str().unwrap()], "80");
    let run: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(counts(&run), [0, 1, 0, 0, 1], "{run}");
    assert_eq!(run["errors"].as_u64(), Some(1), "the missing key is reported: {run}");
    assert!(run["error_samples"][0].as_str().unwrap().contains("gone.jpg"), "{run}");
    assert!(!output.status.success(), "a key that does not exist fails the run");
    assert_eq!(s.process("80").await, 1);

    let after = manifest("hero banner.jpg/manifest.json").await;
    assert_eq!((after.avif_effort.as_deref(), after.avif_effort_asked.as_deref()), (Some("max"), Some("max")));
    let replaced = after.rerender_of.as_ref().expect("the replaced rendering is named");
    assert_eq!(
        (replaced.source_version.as_str(), replaced.avif_effort.as_deref()),
        (before.source_version.as_str(), Some("default"))
    );
    assert_ne!(after.source_version, before.source_version, "new keys, so caches pick it up");
    let avif = |m: &image_processor::store::manifest::Manifest| -> u64 {
        m.variants.iter().flat_map(|v| &v.formats).filter(|f| f.format == "avif").map(|f| f.bytes).sum()
    };
    assert!(avif(&after) <= avif(&before), "max {} > default {}", avif(&after), avif(&before));
    assert_eq!(manifest("cold.jpg/manifest.json").await, cold_before, "only the named original");

    // Later runs keep the effort: the whole bucket without --effort, and again with it.
    std::fs::remove_file(s.dir.join("state.json")).ok();
    let again = s.report(&[], "80");
    assert_eq!(counts(&again), [2, 0, 0, 0, 0], "{again}");
    let keys = s.dir.join("keys.txt");
    std::fs::write(&keys, "# one key per line\nuploads/hero banner.jpg\n").unwrap();
    let again = s.report(&["--effort", "max", "--keys-from", keys.to_str().unwrap()], "80");
    assert_eq!(counts(&again), [1, 0, 0, 0, 0], "{again}");
    // A settings change re-renders it at max again (the message asks for it).
    let changed = s.report(&["--only-stale"], "70");
    assert_eq!(counts(&changed), [0, 2, 0, 0, 2], "{changed}");
    assert_eq!(s.process("70").await, 2);
    let changed = manifest("hero banner.jpg/manifest.json").await;
    assert_eq!(changed.avif_effort.as_deref(), Some("max"));
    assert_eq!(manifest("cold.jpg/manifest.json").await.avif_effort.as_deref(), Some("default"));
}

#[tokio::test]
async fn an_interrupted_run_resumes_and_the_rate_limit_holds() {
    let s = Setup::new("resume").await;
    let logo = sample("logo+alpha.png");
    for i in 0..12 {
        s.put(&format!("uploads/n{i:02}.png"), logo.clone()).await;
    }
    s.forget_uploads().await;
    // An earlier run got as far as n03: the state file says so.
    let state = serde_json::json!({
        "source": format!("s3://{}/", s.wiring.names.originals_bucket),
        "last_key": "uploads/n03.png",
        "report": {"originals": 4, "bytes": 0, "current": 0, "stale": 0, "missing": 4, "skipped": 0,
                   "sent": 4, "sent_bytes": 0, "errors": 0, "seconds": 1.0, "dry_run": false},
    });
    std::fs::File::create(s.dir.join("state.json")).unwrap().write_all(state.to_string().as_bytes()).unwrap();
    let run = s.report(&["--rate", "4"], "80");
    assert_eq!(run["sent"], 12, "4 before the interruption and 8 now: {run}");
    let queued = drain(&s.clients.sqs, &s.wiring.jobs_queue_url, Duration::from_secs(1)).await.unwrap();
    assert_eq!(queued.len(), 8, "only what came after the recorded key");
    // 8 messages at 4/s take at least 2 s (an upper bound on the rate, checked from below: a slow
    // machine only lowers the rate).
    let seconds_now = run["seconds"].as_f64().unwrap() - 1.0;
    assert!(seconds_now >= 1.99, "8 messages at 4/s took {seconds_now} s");
}

#[tokio::test]
async fn reads_a_csv_inventory_with_url_encoded_keys() {
    let s = Setup::new("inventory").await;
    let originals = &s.wiring.names.originals_bucket;
    let keys = ["uploads/a b.png", "uploads/c+d.png", "uploads/100%.png", "uploads/한글.png"];
    for key in keys {
        s.put(key, sample("logo+alpha.png")).await;
    }
    s.forget_uploads().await;
    // An S3 Inventory report: gzipped CSV, keys URL-encoded.
    let mut csv = String::new();
    for (key, etag) in keys.iter().zip(etags(&s, &keys).await) {
        let encoded = media_edge_shared::s3_event::encode_s3_key(key);
        csv.push_str(&format!("\"{originals}\",\"{encoded}\",\"4541\",\"2026-11-30T12:00:00.000Z\",\"{etag}\"\n"));
    }
    csv.push_str(&format!("\"{originals}\",\"other%2Fx.png\",\"1\",\"2026-11-30T12:00:00.000Z\",\"aa\"\n"));
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    gz.write_all(csv.as_bytes()).unwrap();
    let schema = "Bucket, Key, Size, LastModifiedDate, ETag";
    let inventory = put_inventory(&s, "CSV", schema, "inventory/data/part-0.csv.gz", gz.finish().unwrap()).await;
    let report = s.report(&["--inventory", &inventory], "80");
    assert_eq!(counts(&report), [0, 0, 4, 1, 4], "{report}");
    assert_eq!(s.process("80").await, 4, "every key decoded to the object it names");
    let again = s.report(&["--inventory", &inventory, "--restart", "--dry-run"], "80");
    assert_eq!(counts(&again), [4, 0, 0, 1, 0], "{again}");
}

/// A Parquet file as S3 Inventory writes one (Snappy pages): bucket, key, size, last_modified_date,
/// e_tag.
fn inventory_parquet(bucket: &str, rows: &[(&str, i64, &str)]) -> Vec<u8> {
    use parquet::data_type::{ByteArray, ByteArrayType, Int64Type};
    use parquet::file::properties::WriterProperties;
    use parquet::file::writer::SerializedFileWriter;
    use std::sync::Arc;

    let schema = parquet::schema::parser::parse_message_type(
        "message inventory { required binary bucket (STRING); required binary key (STRING);
         optional int64 size; optional int64 last_modified_date (TIMESTAMP(MILLIS,true));
         optional binary e_tag (STRING); }",
    )
    .unwrap();
    let props = WriterProperties::builder().set_compression(parquet::basic::Compression::SNAPPY).build();
    let mut out = Vec::new();
    let mut writer = SerializedFileWriter::new(&mut out, Arc::new(schema), Arc::new(props)).unwrap();
    let mut group = writer.next_row_group().unwrap();
    let strings = |f: &dyn Fn(&(&str, i64, &str)) -> String| -> Vec<ByteArray> {
        rows.iter().map(|r| ByteArray::from(f(r).as_str())).collect()
    };
    let all_defined = vec![1i16; rows.len()];
    for (i, column) in [
        strings(&|_| bucket.to_string()),
        strings(&|r| r.0.to_string()),
        Vec::new(),
        Vec::new(),
        strings(&|r| r.2.to_string()),
    ]
    .into_iter()
    .enumerate()
    {
        let mut col = group.next_column().unwrap().unwrap();
        match i {
            0 | 1 => col.typed::<ByteArrayType>().write_batch(&column, None, None).unwrap(),
            2 => col
                .typed::<Int64Type>()
                .write_batch(&rows.iter().map(|r| r.1).collect::<Vec<_>>(), Some(&all_defined), None)
                .unwrap(),
            3 => col
                .typed::<Int64Type>()
                .write_batch(&vec![1_796_040_000_000; rows.len()], Some(&all_defined), None)
                .unwrap(),
            _ => col.typed::<ByteArrayType>().write_batch(&column, Some(&all_defined), None).unwrap(),
        };
        col.close().unwrap();
    }
    group.close().unwrap();
    writer.close().unwrap();
    out
}

#[tokio::test]
async fn reads_a_parquet_inventory() {
    let s = Setup::new("parquet").await;
    let originals = s.wiring.names.originals_bucket.clone();
    let keys = ["uploads/a b.png", "uploads/c+d%.png", "uploads/한글.png"];
    for key in keys {
        s.put(key, sample("logo+alpha.png")).await;
    }
    s.forget_uploads().await;
    let tags = etags(&s, &keys).await;
    let mut rows: Vec<(&str, i64, &str)> = keys.iter().zip(&tags).map(|(k, e)| (*k, 4541, e.as_str())).collect();
    rows.push(("other/x.png", 1, "aa"));
    let data = inventory_parquet(&originals, &rows);
    let schema =
        "message s3.inventory { required binary bucket (UTF8); required binary key (UTF8); optional int64 size; \
                  optional int64 last_modified_date (TIMESTAMP_MILLIS); optional binary e_tag (UTF8); }";
    let inventory = put_inventory(&s, "Parquet", schema, "inventory/data/part-0.parquet", data).await;
    let report = s.report(&["--inventory", &inventory], "80");
    assert_eq!(counts(&report), [0, 0, 3, 1, 3], "{report}");
    assert_eq!(s.process("80").await, 3, "every key names the object it lists");
    let again = s.report(&["--inventory", &inventory, "--restart", "--dry-run"], "80");
    assert_eq!(counts(&again), [3, 0, 0, 1, 0], "{again}");
}
