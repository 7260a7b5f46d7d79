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
        let path = work_root.join(format!("{SCRATCH_DIR_PREFIX}{}-{n}", own_identity()));
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

/// Removes job directories a previous (killed) invocation left under `work_root`: those of a
/// process that is no longer running. Its own (jobs running now) and those of other live
/// processes sharing the work root (a local run beside tests, `media-edge process` twice) stay.
/// Only call it when no job of this process is running.
pub fn sweep_stale(work_root: &Path) {
    let Ok(entries) = std::fs::read_dir(work_root) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(rest) = name.strip_prefix(SCRATCH_DIR_PREFIX) else { continue };
        let owner = rest.rsplit_once('-').map_or(rest, |(owner, _)| owner);
        if owner_is_gone(owner, &entry.path()) {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// How old a job directory must be to be swept when its owner cannot be looked up.
const STALE_WITHOUT_PROC: std::time::Duration = std::time::Duration::from_secs(3600);

/// A process as its job directories name it: `<pid>.<start>`, its start time in clock ticks after
/// boot (`/proc/<pid>/stat`). The start tells a later process given the same pid (a Lambda
/// runtime restarted after a timeout, in the same sandbox) from the one that made a directory.
fn identity(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // After the command name in parentheses (which may hold spaces): state is field 3, start 22.
    let start = stat.rsplit_once(')')?.1.split_whitespace().nth(19)?;
    Some(format!("{pid}.{start}"))
}

fn own_identity() -> &'static str {
    static OWN: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    OWN.get_or_init(|| identity(std::process::id()).unwrap_or_else(|| std::process::id().to_string()))
}

/// Whether the process named `owner` (see [`identity`]) has ended. Without `/proc` (or for a
/// directory named by an older version, without the start), a directory an hour old counts as
/// left behind.
fn owner_is_gone(owner: &str, dir: &Path) -> bool {
    if owner == own_identity() {
        return false;
    }
    if let Some((pid, _)) = owner.split_once('.') {
        if Path::new("/proc").is_dir() {
            let alive = pid.parse::<u32>().ok().and_then(identity);
            return alive.as_deref() != Some(owner);
        }
    }
    let age = std::fs::metadata(dir).and_then(|m| m.modified()).ok().and_then(|t| t.elapsed().ok());
    age.is_some_and(|age| age >= STALE_WITHOUT_PROC)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removed_on_drop_and_swept_once_its_process_is_gone() {
        let root = std::env::temp_dir().join(format!("job-test-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let job = ScratchDir::create(&root).unwrap();
        std::fs::write(job.file("source"), b"x").unwrap();
        let path = job.path().to_path_buf();
        drop(job);
        assert!(!path.exists());

        // A killed invocation's: its process is gone (no such pid), or its pid now belongs to a
        // process started later (this one, restarted: same pid, another start).
        let dead = root.join(format!("{SCRATCH_DIR_PREFIX}4194305.1-0"));
        std::fs::create_dir_all(&dead).unwrap();
        let restarted = root.join(format!("{SCRATCH_DIR_PREFIX}{}.1-0", std::process::id()));
        std::fs::create_dir_all(&restarted).unwrap();
        // A job of this process running now, and one of another process running now (pid 1).
        let running = ScratchDir::create(&root).unwrap();
        let other = root.join(format!("{SCRATCH_DIR_PREFIX}{}-0", identity(1).unwrap_or_else(|| "1.0".into())));
        std::fs::create_dir_all(&other).unwrap();
        std::fs::create_dir_all(root.join("unrelated")).unwrap();
        sweep_stale(&root);
        if Path::new("/proc").is_dir() {
            assert!(!dead.exists(), "a gone process's directory is swept");
            assert!(!restarted.exists(), "an earlier process's with this pid is swept");
            assert!(other.exists(), "a running process's directory stays");
        }
        assert!(running.path().exists(), "this process's running job stays");
        assert!(root.join("unrelated").exists(), "only job directories are swept");
        drop(running);
        std::fs::remove_dir_all(&root).unwrap();
    }
}
