//! The edge router: the origin for release-managed paths, behind a Lambda Function URL that
//! CloudFront reaches with Origin Access Control (Lambda@Edge cannot run Rust).
//!
//! - [`cohort`]: the viewer cohort (shared derivation with the CloudFront Functions in `cloudfront/`).
//! - [`channel`]: a channel's stable/canary/weight config; [`path`]: request paths, confined.
//! - [`router`]: request in, response out.

pub mod channel;
pub mod cohort;
pub mod config;
pub mod path;
pub mod router;

pub use config::RouterConfig;
pub use router::Router;
