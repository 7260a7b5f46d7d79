//! Files and bytes read so far, and the rate, on one line of stderr that is redrawn once a second.

use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressState, ProgressStyle};
use media_edge_shared::units::human_bytes;

/// Shared by the reader threads; updates are atomic adds, drawing is indicatif's.
pub struct Progress {
    /// Its position is the bytes read.
    bar: ProgressBar,
    files: Arc<AtomicU64>,
}

const TEMPLATE: &str = "{files} files, {read} read, {rate}/s";

impl Progress {
    /// Draws only when `enabled`. The caller decides (a terminal, or asked for): indicatif's own
    /// stderr target would stay hidden whenever stderr is not a terminal.
    pub fn start(enabled: bool) -> Self {
        let files = Arc::new(AtomicU64::new(0));
        if !enabled {
            return Progress { bar: ProgressBar::hidden(), files };
        }
        let stderr = ProgressDrawTarget::term_like_with_hz(Box::new(console::Term::stderr()), 1);
        let bar = ProgressBar::with_draw_target(None, stderr);
        let counted = files.clone();
        // The template is a constant that parses; were it not to, indicatif's default would do.
        if let Ok(style) = ProgressStyle::with_template(TEMPLATE) {
            bar.set_style(
                style
                    .with_key("files", move |_: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = write!(w, "{}", counted.load(Ordering::Relaxed));
                    })
                    .with_key("read", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        let _ = w.write_str(&human_bytes(state.pos()));
                    })
                    .with_key("rate", |state: &ProgressState, w: &mut dyn std::fmt::Write| {
                        // The average since the start, not indicatif's recent estimate.
                        let seconds = state.elapsed().as_secs_f64().max(0.001);
                        let _ = w.write_str(&human_bytes((state.pos() as f64 / seconds) as u64));
                    }),
            );
        }
        bar.enable_steady_tick(Duration::from_secs(1));
        Progress { bar, files }
    }

    pub fn add(&self, bytes: usize) {
        self.bar.inc(bytes as u64);
    }

    pub fn file_done(&self) {
        self.files.fetch_add(1, Ordering::Relaxed);
    }

    /// The final figures stay on their line.
    pub fn finish(&self) {
        if self.bar.is_hidden() {
            return;
        }
        self.bar.finish();
        // On a terminal indicatif pads the line to its width, so the next output starts below it;
        // elsewhere (`--progress` into a file) the line needs its end.
        if !std::io::stderr().is_terminal() {
            eprintln!();
        }
    }
}
