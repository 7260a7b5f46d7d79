//! `media-edge doctor`: what a first real deploy needs, checked before it, and the live stack
//! proven end to end after it.
//!
//! - [`preflight`]: read-only calls before `sam deploy` (concurrency quota, Region, v2 log fields,
//!   Athena, Slack) and the local deploy [`tools`].
//! - [`smoke`]: after a deploy, probe uploads through the pipeline, every file they make fetched
//!   through the distribution, a probe release channel's canary and rollback at the edge, the
//!   alarms' metrics and the TLS fingerprint; everything it made removed again.
//!
//! Both answer with a [`checklist::Checklist`]; [`facts`] is what the template asks for.

pub mod checklist;
pub mod cli;
pub mod error;
pub mod facts;
pub mod preflight;
pub mod smoke;
pub mod tools;

pub use error::DoctorError;
