//! The image processor: S3 uploads in (through SNS and SQS), device variants, a manifest and a
//! status event out.
//!
//! - [`handler`] adapts the SQS batch; [`pipeline`] does one original against S3.
//! - [`decode`] and [`render`] are the image work, with no AWS types: the CLI and benchmarks use them.
//! - [`original`] turns a local copy into outputs; [`video`] drives ffmpeg for animated GIFs.
//! - [`keys`] decides where outputs live; [`config`] reads the environment.
//! - [`allocator`]: glibc settings that let one image reuse the previous one's memory.

pub mod allocator;
pub mod config;
pub mod decode;
pub mod error;
pub mod gif_probe;
pub mod handler;
pub mod intake;
pub mod job;
pub mod jpeg_markers;
pub mod keys;
pub mod libjpeg;
pub mod manifest;
pub mod original;
pub mod pipeline;
pub mod render;
pub mod requeue;
pub mod video;

pub use config::ProcessorConfig;
pub use handler::handle_batch;
pub use pipeline::Processor;
