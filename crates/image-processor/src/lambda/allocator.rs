//! Allocator settings for a process that renders one large image after another.

/// Keeps freed memory in the process for the next image instead of handing it back to the kernel.
///
/// Every image allocates and frees the same few large buffers: decoded pixels, libjpeg's
/// coefficient arrays, resize and encode buffers (50–400 MB). By default glibc serves the largest
/// with fresh `mmap`s and returns freed heap memory, so each image page-faults all of it in again:
/// 10–30% of a warm render (`make bench`). From one heap that keeps its memory, the next image
/// reuses those pages. The resident size stays at the largest image's peak, which the function's
/// memory setting has to allow for anyway.
///
/// Call first thing in `main`, before any thread starts: one arena for all threads, as renders run
/// one at a time (on a blocking thread in the Lambda). Does nothing outside glibc.
pub fn keep_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only changes glibc's allocator parameters; it is thread-safe.
    unsafe {
        libc::mallopt(libc::M_ARENA_MAX, 1);
        // No mmap'd chunks: they are unmapped on free. (Raising M_MMAP_THRESHOLD would do, but
        // older glibc refuses thresholds above 32 MB, and libjpeg's arrays can be larger.)
        libc::mallopt(libc::M_MMAP_MAX, 0);
        libc::mallopt(libc::M_TRIM_THRESHOLD, libc::c_int::MAX);
    }
}
