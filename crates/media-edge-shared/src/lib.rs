//! What media-edge's Lambda functions share: plain types, and an AWS module.
//!
//! - `aws` (feature `aws`, implied by `s3` and `sns`): SDK setup, error classification and the status
//!   publisher.
//! - [`s3_event`]: SQS message bodies (SNS-wrapped, raw, or direct from S3) turned into object events.
//! - [`status`]: the versioned status event the processor publishes and the notifier reads.
//! - [`release_event`]: what the release controller publishes when a rollout changes state.
//! - [`env`]: typed configuration from environment variables.
//! - [`failure`]: permanent vs transient, decided once per error.
//! - [`invocation`]: the time an invocation has left.
//! - [`metrics`]: CloudWatch Embedded Metric Format lines.
//! - [`units`]: byte sizes and counts as people read them.

#[cfg(feature = "aws")]
pub mod aws;
pub mod env;
pub mod failure;
pub mod invocation;
pub mod metrics;
pub mod release_event;
pub mod s3_event;
pub mod status;
pub mod units;

pub use failure::{Failure, FailureClass};
