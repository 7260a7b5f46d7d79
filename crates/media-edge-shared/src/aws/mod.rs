//! The AWS side of what the functions share; everything else in this crate is plain data.
//!
//! - [`sdk`]: one SDK configuration per cold start, rustls only, path-style S3 against an emulator.
//! - [`errors`]: SDK errors classified as permanent or transient, with the service's error code.
//! - [`publisher`]: the status publisher (feature `sns`).
//! - [`sqs`]: an SQS message as Lambda's event source presents it (feature `sqs`).
//!
//! Clients are behind features (`s3`, `sns`, `sqs`) so a function compiles only the SDKs it calls.

pub mod errors;
#[cfg(feature = "sns")]
pub mod publisher;
pub mod sdk;
#[cfg(feature = "sqs")]
pub mod sqs;

pub use errors::{classify_sdk_error, describe_sdk_error};
#[cfg(feature = "sns")]
pub use publisher::StatusPublisher;
pub use sdk::*;
