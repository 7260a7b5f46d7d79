//! Storing the outputs, and the two sides the flow runs between.
//!
//! - [`keys`]: where each output lives, and how long it may be cached.
//! - [`manifest`]: `manifest.json`, listing every stored output, with `<picture>` and `<video>`.
//! - [`sides`]: the [`Source`](sides::Source) an original comes from and the
//!   [`Sink`](sides::Sink) outputs go to; [`s3`] implements both on S3 (the Lambda), [`local`] on
//!   files and a directory (`media-edge process`, the demo).

pub mod keys;
pub mod local;
pub mod manifest;
pub mod s3;
pub mod sides;
