//! The formats' own code, below both reading and making: libjpeg-turbo and libwebp through FFI,
//! and a walk over a JPEG's markers. Bytes in, pixels or bytes out; nothing here knows about
//! variants or limits.
//!
//! - `libjpeg`: JPEG decode (at a reduced DCT scale when the variants allow) and encode.
//! - `libwebp`: still WebP decode, at a reduced size in the same steps.
//! - `libaom`: AVIF through the layer's ffmpeg (libaom, tune=iq).
//! - `jpeg_markers`: where a JPEG really ends, its EXIF and ICC profile, its metadata stripped.

pub mod jpeg_markers;
pub mod libaom;
pub mod libjpeg;
pub mod libwebp;
