//! The image processor: an uploaded original becomes device variants, a manifest and a status event.
//!
//! Rooms by stage, each using only those listed after it (no module uses one that uses it):
//! - [`lambda`]: the Lambda glue: the SQS batch handler ([`Processor`], [`handle_batch`]), its
//!   [`ProcessorConfig`] from the environment, requeueing, and the allocator settings `main` makes.
//! - [`flow`]: the one processing flow, read top-down: an original from a source is read, its
//!   outputs made, and they are stored with their manifest in a sink.
//! - [`store`]: where outputs live ([`store::keys`]) and how they are listed
//!   ([`store::manifest`]); the sides the flow runs between: S3 ([`store::s3`]) and local files
//!   ([`store::local`]).
//! - [`make`]: everything made from one original ([`make::outputs`]): variants resized and encoded
//!   in every format ([`make::render`], [`make::encode`]), the ThumbHash ([`make::placeholder`]),
//!   MP4s through ffmpeg ([`make::video`]).
//! - [`read`]: reading an untrusted original: sniffing and decoding within the limits
//!   ([`read::decode`]), animations read from their structure and prepared for ffmpeg
//!   ([`read::prepare`], [`read::animation`]).
//! - `codecs`: libjpeg-turbo and libwebp through FFI, and JPEG's markers (for reading and making).
//! - Shared by every stage: [`crop`] (the box of a variant with a shape, around its focus),
//!   [`source_format`] (what an original is), [`limits`], [`error`]
//!   ([`error::ImageError`]), [`deadline`] (when a job must be done), and the job's scratch
//!   directory (`scratch`).
//!
//! `read`, `make` and the shared types have no AWS types: benchmarks and tests use them directly.

pub mod lambda;

pub mod flow;

pub mod store;

pub mod make;

pub mod read;

mod codecs;

pub mod crop;
pub mod deadline;
pub mod error;
pub mod limits;
mod scratch;
pub mod source_format;

pub use lambda::config::ProcessorConfig;
pub use lambda::handler::{handle_batch, Processor};
pub use lambda::requeue::Requeue;
pub use read::animation::Animation;
pub use read::gif_probe::probe as probe_gif;
