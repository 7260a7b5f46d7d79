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
pub mod facts;
pub mod preflight;
pub mod smoke;
pub mod tools;

#[derive(Debug, thiserror::Error)]
pub enum DoctorError {
    /// A wrong argument or parameter: the command exits 2.
    #[error("{0}")]
    Usage(String),
    #[error("infra/deploy-facts.json: {0}")]
    Facts(String),
    #[error("{0}")]
    Http(String),
    #[error("making the probes: {0}")]
    Probe(String),
    #[error("{0}")]
    Aws(String),
}
