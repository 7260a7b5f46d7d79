//! Why a doctor command could not run (a check's own failure is a ✗ line, not an error).

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
