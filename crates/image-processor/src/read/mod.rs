//! Reading an original: what it is, whether it is within the limits, and its pixels or its
//! animation, before anything is made from it.
//!
//! - [`decode`]: sniffs the real format (against the name's extension) and decodes a still once,
//!   upright, checking the limits from its headers first; `png_decode` reads PNG.
//! - [`animation`]: what an animation plays as ([`animation::Animation`]) and what it may cost.
//! - [`prepare`]: an animated GIF, APNG or WebP read from its structure and rewritten for ffmpeg;
//!   `gif_probe` walks a GIF's blocks the way browsers do.
//!
//! The formats themselves are in [`crate::source_format`], the limits in [`crate::limits`], and
//! the codecs this reads through in `codecs`.

pub mod animation;
pub mod decode;
pub(crate) mod gif_probe;
mod png_decode;
pub mod prepare;
