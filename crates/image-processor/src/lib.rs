//! The image processor: an uploaded original becomes device variants, a manifest and a status event.
//!
//! The flow, and where it runs:
//! - [`flow`]: the one processing flow, from a [`flow::Source`] to a [`flow::Sink`].
//! - [`s3`]: the S3 source and sink; [`handler`]: the Lambda's SQS batch handler ([`Processor`]).
//! - [`local`]: files and a directory, for `media-edge process` and the demo.
//!
//! The work, with no AWS types (benchmarks and tests use it directly):
//! - [`decode`] sniffs and decodes an untrusted original within [`limits`]; [`animation`] reads and
//!   prepares animated GIF, APNG and WebP for ffmpeg; [`render`] resizes,
//!   encodes every size in every format ([`encode`]: AVIF, WebP, JPEG, PNG) and keeps what is worth
//!   storing; [`placeholder`] makes the manifest's ThumbHash; [`outputs`] makes everything for one original; [`video`] drives ffmpeg.
//! - [`keys`] and [`manifest`]: where outputs live and how they are listed.
//!
//! And: [`config`] from the environment; [`allocator`], glibc settings that let one image reuse the
//! previous one's memory.

pub mod allocator;
pub mod animation;
pub mod config;
pub mod decode;
pub mod encode;
pub mod error;
pub mod flow;
pub mod handler;
pub mod keys;
pub mod limits;
pub mod local;
pub mod manifest;
pub mod outputs;
pub mod placeholder;
pub mod render;
pub mod s3;
pub mod video;

mod fault_injection;
mod gif_probe;
mod intake;
mod jpeg_markers;
mod libjpeg;
mod libwebp;
mod png_decode;
mod requeue;
mod scratch;
mod strip;

pub use animation::Animation;
pub use config::ProcessorConfig;
pub use gif_probe::probe as probe_gif;
pub use handler::{handle_batch, Processor};
pub use requeue::Requeue;
