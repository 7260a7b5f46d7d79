#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The report over the sample CloudFront logs (samples/cdn-logs) against the golden files of
//! `media-edge logs` (crates/media-edge-cli/tests/golden/, refreshed by that crate's test with
//! `UPDATE_GOLDEN=1`): the engine gives the command's outputs byte for byte, and this checks it
//! without building the command.

use std::future::Future;
use std::path::Path;
use std::pin::pin;
use std::task::{Context, Poll, Waker};

use cdn_logs::{ReadOptions, Report, TimeRange};

/// Local sources never wait, so one poll finishes `read`.
fn now<T>(future: impl Future<Output = T>) -> T {
    match pin!(future).poll(&mut Context::from_waker(Waker::noop())) {
        Poll::Ready(value) => value,
        Poll::Pending => panic!("reading local files waited"),
    }
}

fn golden(name: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../media-edge-cli/tests/golden").join(name);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[track_caller]
fn assert_same(name: &str, actual: &str) {
    let expected = golden(name);
    let first_difference = expected.lines().zip(actual.lines()).position(|(e, a)| e != a);
    assert!(
        expected == actual,
        "{name} differs from the golden file (first differing line: {first_difference:?})\n{actual}"
    );
}

#[test]
fn sample_logs_give_the_golden_outputs() {
    // The command runs from the workspace root and names files from there.
    std::env::set_current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")).unwrap();
    let sources = ["samples/cdn-logs".to_string()];
    for jobs in [1, 3] {
        let options = ReadOptions { range: TimeRange::default(), jobs: Some(jobs), progress: false };
        let report = Report::build(&now(cdn_logs::read(&sources, &options)).unwrap(), 10);
        assert_same("report.txt", &report.text());
        assert_same("report.json", &report.json().unwrap());
        assert_same("report.csv", &report.csv().unwrap());
        assert_same("report.html", &report.html());
        assert_same("hourly.svg", &report.hourly_svg());
    }
}

#[test]
fn errors_keep_their_cause() {
    use std::error::Error as _;
    let bad = TimeRange::parse(Some("noon"), None).unwrap_err();
    assert_eq!(bad.to_string(), "`noon` is not a UTC time like 2026-11-21 or 2026-11-21T13:05");
    let backwards = TimeRange::parse(Some("2026-11-22"), Some("2026-11-21")).unwrap_err();
    assert_eq!(backwards.to_string(), "--since must be before --until");

    let options = ReadOptions::default();
    let missing = now(cdn_logs::read(&["/no/such/dir".to_string()], &options)).unwrap_err();
    assert!(missing.to_string().starts_with("/no/such/dir: "), "{missing}");
    let cause = missing.source().and_then(|s| s.downcast_ref::<std::io::Error>()).unwrap();
    assert_eq!(cause.kind(), std::io::ErrorKind::NotFound);
}
