//! The processor as deployment builds it: cargo-lambda's release build of `image-processor`
//! (`make deployed-build`), run as a process under a local Lambda Runtime API and invoked with an
//! SQS batch, against the emulator.
//!
//! cargo-lambda adds `--config profile.release.panic="abort"` unless the workspace's release
//! profile sets `panic`; libjpeg's fatal errors reach us as unwinds, so with abort one corrupt
//! JPEG would kill the process and send the whole batch back to SQS.

use std::path::PathBuf;
use std::time::Duration;

use crate::support::{fixture, Harness};
use media_edge_local::lambda_runtime_api::{Invocation, LocalLambda};
use media_edge_shared::status::Outcome;
use media_edge_shared::FailureClass;

/// Where `make deployed-build` (cargo lambda build --release) leaves the bootstrap.
pub(crate) fn deployed_bootstrap() -> PathBuf {
    std::env::var_os("DEPLOYED_IMAGE_PROCESSOR").map(PathBuf::from).unwrap_or_else(|| {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/lambda/image-processor/bootstrap")
    })
}

/// A progressive JPEG whose second scan has invalid spectral parameters (Ss > Se): its markers are
/// all in order, so only libjpeg itself notices, with a fatal error.
fn jpeg_with_invalid_progressive_scan() -> Vec<u8> {
    let mut data = fixture("progressive.jpg");
    let mut pos = 2;
    let mut scans = 0;
    while pos + 4 < data.len() {
        assert_eq!(data[pos], 0xFF, "marker at {pos}");
        let marker = data[pos + 1];
        let length = usize::from(u16::from_be_bytes([data[pos + 2], data[pos + 3]]));
        if marker == 0xDA {
            scans += 1;
            if scans == 2 {
                // SOS: length, Ns, Ns × (id, tables), Ss, Se, Ah/Al.
                let components = usize::from(data[pos + 4]);
                let ss = pos + 5 + 2 * components;
                data[ss] = 5;
                data[ss + 1] = 1;
                return data;
            }
            // Skip the entropy-coded data to the next marker.
            pos += 2 + length;
            while !(data[pos] == 0xFF && data[pos + 1] != 0 && !(0xD0..=0xD7).contains(&data[pos + 1])) {
                pos += 1;
            }
            continue;
        }
        pos += 2 + length;
    }
    panic!("progressive.jpg has fewer than two scans");
}

#[tokio::test]
#[ignore = "needs the cargo-lambda release build (`make deployed-build`); `make test` builds it and runs this"]
async fn a_libjpeg_fatal_error_fails_one_upload_and_the_deployed_process_lives_on() {
    let bootstrap = deployed_bootstrap();
    assert!(bootstrap.is_file(), "{} is missing: run `make deployed-build`", bootstrap.display());
    let h = Harness::new("deployed").await;
    h.discard_test_event().await;
    h.upload("uploads/bad-scan.jpg", jpeg_with_invalid_progressive_scan()).await;
    h.upload("uploads/good.jpg", fixture("gray.jpg")).await;
    let messages = h.receive_jobs(2).await;
    assert_eq!(messages.len(), 2);
    let records: Vec<_> =
        messages.iter().map(|m| media_edge_local::lambda_message(m, Some(&h.wiring.jobs_queue_arn))).collect();

    // The environment the stack gave the function, but for what is a path on this machine: the
    // layer's ffmpeg (/opt/bin/ffmpeg in Lambda) is the same build under .local here.
    let mut env: Vec<(String, String)> =
        h.wiring.function_environment("ImageProcessorFunction").unwrap().into_iter().collect();
    env.retain(|(name, _)| name != "FFMPEG_PATH");
    env.extend([
        ("FFMPEG_PATH".to_string(), std::env::var("FFMPEG_PATH").unwrap_or_default()),
        ("WORK_DIR".to_string(), h.processor.config.work_root.display().to_string()),
        ("RUST_LOG".to_string(), "warn".to_string()),
    ]);
    let env: Vec<(&str, String)> = env.iter().map(|(k, v)| (k.as_str(), v.clone())).collect();
    let mut lambda = LocalLambda::start(&bootstrap, &env).await.unwrap();
    let event = serde_json::json!({ "Records": records });
    let answer = lambda.invoke(&event, Duration::from_secs(120)).await;
    let Invocation::Response(response) = answer else {
        panic!("the deployed processor did not answer the batch: {answer:?} (init error: {:?})", lambda.init_error());
    };
    assert_eq!(response["batchItemFailures"], serde_json::json!([]), "nothing handed back: {response}");

    let statuses = h.statuses().await;
    let by_key = |key: &str| statuses.iter().find(|s| s.source.key == key).unwrap_or_else(|| panic!("{statuses:#?}"));
    let bad = by_key("uploads/bad-scan.jpg");
    assert_eq!(bad.outcome, Outcome::Failed);
    let failure = bad.failure.as_ref().unwrap();
    assert_eq!(failure.class, FailureClass::Permanent);
    assert!(failure.reason.to_lowercase().contains("progressive"), "libjpeg's reason is kept: {}", failure.reason);
    assert_eq!(by_key("uploads/good.jpg").outcome, Outcome::Processed, "the rest of the batch is done");

    // Metrics went to stdout as CloudWatch EMF (no API call): one failure, one processed original.
    let emf: Vec<serde_json::Value> = lambda
        .stdout_lines()
        .iter()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|doc| doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] == "MediaEdge")
        .collect();
    assert!(emf.iter().any(|d| d["OriginalsFailed"] == 1.0 && d["FailureClass"] == "permanent"), "{emf:#?}");
    assert!(emf.iter().any(|d| d["OriginalsProcessed"] == 1.0 && d["Service"] == "image-processor"), "{emf:#?}");
    assert!(emf.iter().any(|d| d["Format"] == "jpeg" && d["OutputBytes"].as_f64() > Some(0.0)), "{emf:#?}");

    // The same process serves the next invocation.
    let again = lambda.invoke(&serde_json::json!({ "Records": [] }), Duration::from_secs(30)).await;
    assert!(matches!(again, Invocation::Response(_)), "{again:?}");
}
