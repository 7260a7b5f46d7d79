//! Helpers the command tests share.

use std::path::PathBuf;
use std::process::Output;

/// The command's stdout, after asserting it succeeded (its stderr otherwise).
pub fn stdout(output: &Output) -> String {
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// An empty directory for this test run (`label` keeps tests apart; created, not yet written).
pub fn temp_dir(label: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("media-edge-cli-{label}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// A file of the image processor's test fixtures.
pub fn fixture(name: &str) -> String {
    format!("{}/../image-processor/tests/fixtures/{name}", env!("CARGO_MANIFEST_DIR"))
}
