//! Local sources: files, and directories walked in sorted order, read on several threads.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use walkdir::WalkDir;

use crate::progress::Progress;
use crate::reader;
use crate::sink::Sink;

/// Appends the files under `root` (itself if a file), sorted so runs are repeatable. Symbolic
/// links to directories below `root` are not followed (no loops, no double counting); links to
/// files are read. What cannot be listed is noted in `unreadable`, as `path: why`.
pub fn collect(root: &Path, files: &mut Vec<PathBuf>, unreadable: &mut Vec<String>) {
    for entry in WalkDir::new(root).sort_by_file_name() {
        match entry {
            // Walked into (the root too when it is a link to a directory).
            Ok(entry) if entry.file_type().is_dir() => {}
            Ok(entry) if entry.path_is_symlink() && entry.path().is_dir() => {}
            Ok(entry) => files.push(entry.into_path()),
            Err(e) => unreadable.push(describe(&e)),
        }
    }
}

/// `path: why`, like every other unreadable entry of the report.
fn describe(error: &walkdir::Error) -> String {
    match (error.path(), error.io_error()) {
        (Some(path), Some(io)) => format!("{}: {io}", path.display()),
        _ => error.to_string(),
    }
}

/// Reads `files` on `jobs` threads, each into its own aggregate, merged at the end.
pub fn read_all<S: Sink>(files: &[PathBuf], aggregate: &mut S, jobs: usize, progress: &Progress) {
    let next = AtomicUsize::new(0);
    let workers: Vec<std::thread::Result<S>> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..jobs.min(files.len()))
            .map(|_| {
                let mut mine = aggregate.sibling();
                let next = &next;
                scope.spawn(move || {
                    while let Some(path) = files.get(next.fetch_add(1, Ordering::Relaxed)) {
                        let name = path.display().to_string();
                        match std::fs::File::open(path) {
                            Ok(file) => reader::read_file(&name, &mut mine, file, |n| progress.add(n)),
                            Err(e) => mine.input().unreadable.push(format!("{name}: {e}")),
                        }
                        progress.file_done();
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join()).collect()
    });
    for worker in workers {
        match worker {
            Ok(worker) => aggregate.merge(worker),
            // Not expected (nothing in reading panics by design), but never a silent gap.
            Err(_) => aggregate.input().unreadable.push("a reader thread failed: its files are missing".into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp_dir(label: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("cdn-logs-files-{label}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn collected(root: &Path) -> (Vec<String>, Vec<String>) {
        let (mut files, mut unreadable) = (Vec::new(), Vec::new());
        collect(root, &mut files, &mut unreadable);
        let names = files.iter().map(|f| f.strip_prefix(root).unwrap_or(f).display().to_string()).collect();
        (names, unreadable)
    }

    #[test]
    fn sorted_depth_first_and_links_to_directories_are_not_followed() {
        let dir = temp_dir("walk");
        for file in ["b/2.log", "b/10.log", "a.log", "c/d/e.log.gz", "b/1.log"] {
            let path = dir.join(file);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, "").unwrap();
        }
        std::os::unix::fs::symlink(dir.join("c"), dir.join("b/loop")).unwrap();
        std::os::unix::fs::symlink(dir.join("a.log"), dir.join("b/link.log")).unwrap();
        std::os::unix::fs::symlink(dir.join("missing"), dir.join("broken.log")).unwrap();
        let (files, unreadable) = collected(&dir);
        assert_eq!(files, ["a.log", "b/1.log", "b/10.log", "b/2.log", "b/link.log", "broken.log", "c/d/e.log.gz"]);
        assert!(unreadable.is_empty(), "{unreadable:?}");

        // The root itself may be a link to a directory, or a file.
        std::os::unix::fs::symlink(dir.join("c"), dir.join("c-link")).unwrap();
        assert_eq!(collected(&dir.join("c-link")).0, ["d/e.log.gz"]);
        assert_eq!(collected(&dir.join("a.log")).0, [""]);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn unreadable_directories_are_noted_and_the_walk_goes_on() {
        let dir = temp_dir("unreadable");
        std::fs::create_dir_all(dir.join("closed")).unwrap();
        std::fs::write(dir.join("closed/x.log"), "").unwrap();
        std::fs::write(dir.join("open.log"), "").unwrap();
        let closed = dir.join("closed");
        let mode = |m| std::os::unix::fs::PermissionsExt::from_mode(m);
        std::fs::set_permissions(&closed, mode(0o000)).unwrap();
        let readable_anyway = std::fs::read_dir(&closed).is_ok(); // root ignores permissions
        let (files, unreadable) = collected(&dir);
        std::fs::set_permissions(&closed, mode(0o755)).unwrap();
        if readable_anyway {
            assert_eq!(files, ["closed/x.log", "open.log"]);
        } else {
            assert_eq!(files, ["open.log"]);
            assert_eq!(unreadable.len(), 1, "{unreadable:?}");
            assert!(unreadable[0].starts_with(&format!("{}: ", closed.display())), "{unreadable:?}");
            assert!(unreadable[0].contains("ermission denied"), "{unreadable:?}");
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
