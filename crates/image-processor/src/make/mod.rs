//! Making the outputs of one original, from a local copy of it: device variants of a still, or a
//! poster, its variants and MP4s (and a transparent animation's animated WebP) of an animation.
//!
//! - [`outputs`]: everything made from one original (the entry point; a still or an animation).
//! - [`render`]: one decode, a resize cascade, every size in every format, and what is worth
//!   keeping; [`encode`] the formats' encoders (AVIF, WebP, JPEG, PNG); `strip` an original's own
//!   bytes without metadata, when they are smaller.
//! - [`placeholder`]: the manifest's ThumbHash and dominant colour; [`faces`], then
//!   [`saliency`]: where a picture's interest is, for the crops of variants with a shape.
//! - [`video`]: ffmpeg, run as a bounded child process (MP4, animated WebP, first frames).

pub mod encode;
pub mod faces;
pub mod outputs;
pub mod placeholder;
pub mod render;
pub mod saliency;
mod strip;
pub mod video;
