//! The local edge (`infra/emulator/edge`): the stack's CloudFront behaviours and functions, as
//! deployed on the emulator, in front of its buckets, over plain HTTP on 127.0.0.1.

use std::path::PathBuf;
use std::time::Duration;

use tokio::io::AsyncBufReadExt;

use crate::{repository_root, Error, Wiring};

pub struct LocalEdge {
    /// `http://127.0.0.1:<port>`.
    pub url: String,
    process: tokio::process::Child,
    description: PathBuf,
}

impl LocalEdge {
    /// Starts the edge for `wiring`'s stack; it stops when dropped.
    pub async fn start(wiring: &Wiring) -> Result<Self, Error> {
        let description = std::env::temp_dir().join(format!("{}.json", wiring.names.stack));
        std::fs::write(&description, serde_json::to_vec(&wiring.stack)?)?;
        let root = repository_root();
        let mut process = tokio::process::Command::new(root.join(".venv/bin/python"))
            .current_dir(&root)
            .args(["-m", "infra.emulator.edge", "serve", "--quiet", "--description"])
            .arg(&description)
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("starting the local edge (infra/emulator/edge): {e}"))?;
        let stdout = process.stdout.take().ok_or("the local edge has no stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let url = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .map_err(|_| "the local edge did not start within 30 s")??
            .ok_or("the local edge printed no URL")?;
        Ok(LocalEdge { url: url.trim().trim_end_matches('/').to_string(), process, description })
    }
}

impl Drop for LocalEdge {
    fn drop(&mut self) {
        let _ = self.process.start_kill();
        let _ = std::fs::remove_file(&self.description);
    }
}
