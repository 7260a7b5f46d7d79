//! Why an original could not be turned into variants. All of these are permanent: the same bytes
//! fail the same way, so they are reported and acknowledged, never retried.

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImageError {
    #[error("unsupported input: {0}")]
    Unsupported(String),
    #[error("file is not what its name says: {0}")]
    Mismatch(String),
    #[error("over limits: {0}")]
    TooLarge(String),
    #[error("corrupt or truncated image: {0}")]
    Corrupt(String),
    #[error("could not encode variant: {0}")]
    Encode(String),
}

impl ImageError {
    /// Maps the `image` crate's decode errors onto ours, keeping its message.
    pub(crate) fn from_decode(err: image::ImageError) -> Self {
        use image::error::{ImageError as E, LimitErrorKind};
        match err {
            E::Limits(limit) => match limit.kind() {
                LimitErrorKind::DimensionError => ImageError::TooLarge(limit.to_string()),
                _ => ImageError::TooLarge(format!("decoding needs more memory than allowed ({limit})")),
            },
            E::Unsupported(e) => ImageError::Unsupported(e.to_string()),
            E::IoError(e) if e.kind() == std::io::ErrorKind::UnexpectedEof => ImageError::Corrupt(
                "file ends before the image does: the file is incomplete (was the upload cut short?)".into(),
            ),
            other => ImageError::Corrupt(format!("the image's data is damaged; save or export it again ({other})")),
        }
    }
}
