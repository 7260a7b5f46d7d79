//! A scratch directory per original under the work root (`/tmp` in Lambda), removed when the job
//! ends, successfully or not. Warm Lambdas reuse `/tmp`, and a job killed by a timeout never runs
//! its cleanup, so every new batch also sweeps job directories left behind.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

const SCRATCH_DIR_PREFIX: &str = "media-edge-job-";

#[derive(Debug)]
pub struct ScratchDir {
    path: PathBuf,
}

impl ScratchDir {
    pub fn create(work_root: &Path) -> std::io::Result<ScratchDir> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = work_root.join(format!("{SCRATCH_DIR_PREFIX}{}-{n}", std::process::id()));
        std::fs::create_dir_all(&path)?;
        Ok(ScratchDir { path })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn file(&self, name: &str) -> PathBuf {
        self.path.join(name)
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove job directory");
            }
        }
    }
}

/// Removes job directories a previous (killed) invocation left under `work_root`.
/// Only call it when no job of this process is running.
pub fn sweep_stale(work_root: &Path) {
    let Ok(entries) = std::fs::read_dir(work_root) else {
        return;
    };
    for entry in entries.flatten() {
        if entry.file_name().to_string_lossy().starts_with(SCRATCH_DIR_PREFIX) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_on_drop_and_swept() {
        let root = std::env::temp_dir().join(format!("job-test-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let job = ScratchDir::create(&root).unwrap();
        std::fs::write(job.file("source"), b"x").unwrap();
        let path = job.path().to_path_buf();
        drop(job);
        assert!(!path.exists());

        let leaked = ScratchDir::create(&root).unwrap();
        let leaked_path = leaked.path().to_path_buf();
        std::mem::forget(leaked); // as if the invocation had been killed
        std::fs::create_dir_all(root.join("unrelated")).unwrap();
        sweep_stale(&root);
        assert!(!leaked_path.exists());
        assert!(root.join("unrelated").exists(), "only job directories are swept");
        std::fs::remove_dir_all(&root).unwrap();
    }
}
