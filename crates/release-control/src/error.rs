//! What a release command can fail with: at the bottom, every module returns it.

#[derive(Debug, thiserror::Error)]
pub enum ReleaseError {
    #[error("{0}")]
    Invalid(String),
    #[error("the channel config changed since it was read (someone else released); run the command again")]
    Conflict,
    #[error("S3: {0}")]
    Storage(String),
    /// A Route 53 change batch refused because a record it deletes is no longer as it was read.
    #[error("the records changed since they were read (someone else moved them); run the command again: {0}")]
    RecordsChanged(String),
    #[error("{0}")]
    Io(String),
    #[error(
        "the channel config in S3 is changed, but the edge store is not ({0}): viewers keep the previous \
         routing until `media-edge release sync` succeeds"
    )]
    EdgeNotUpdated(String),
}

/// The error for a channel that has nothing published.
pub(crate) fn no_config() -> ReleaseError {
    ReleaseError::Invalid("the channel has no releases yet; `publish` one first".into())
}
