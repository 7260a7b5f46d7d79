//! When a job must be done: the Lambda invocation's end, less a margin. Set by the handler, kept
//! by ffmpeg (stopped before it) and by the flow (a processing claim holds past it).

use std::time::Instant;

/// How long before the invocation's hard end a job's [`Deadline`] falls: the time left to store
/// results and report status after ffmpeg is stopped.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(10);

/// When the Lambda invocation running a job ends, and whether the job had all of it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deadline {
    /// [`DEADLINE_MARGIN`] before the invocation's hard end.
    pub at: Instant,
    /// True when the job started with as much time as any invocation would give it (it was the
    /// first of its invocation): running out of time is then the input's fault, and a retry
    /// cannot help. False when earlier work used part of the invocation.
    pub full_invocation: bool,
}
