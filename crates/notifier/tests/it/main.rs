#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The notifier's integration tests: one binary, a module per area. `chatbot` runs against the
//! local emulator (`make test` starts it), and so does `window`, the scheduled digest window.

mod chatbot;
mod publish_failures;
mod sample_events;
mod window;
