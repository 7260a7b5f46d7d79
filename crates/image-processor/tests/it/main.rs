#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
//! The image processor's integration tests: one binary (the AWS SDK is linked once), a module per
//! area. Most run against the local emulator (`make test` starts it) and the project's ffmpeg.

mod animation;
mod art_direction;
mod deployed_build;
mod labelled;
mod marking;
mod pipeline;
mod render;
mod service_errors;
mod soak;
mod support;
