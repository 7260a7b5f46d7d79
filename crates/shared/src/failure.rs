//! Every failure is either permanent (retrying cannot help: report and acknowledge) or transient
//! (the environment failed: give the message back to SQS so it is retried, then dead-lettered).

use std::fmt;

use aws_sdk_s3::config::http::HttpResponse;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The input or the request is wrong; the same attempt will fail the same way.
    Permanent,
    /// Throttling, 5xx, timeouts, network: the same attempt may succeed later.
    Transient,
}

impl fmt::Display for FailureClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureClass::Permanent => "permanent",
            FailureClass::Transient => "transient",
        })
    }
}

/// A classified failure with a human-readable reason (safe to show operators).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{class} failure: {reason}")]
pub struct Failure {
    pub class: FailureClass,
    pub reason: String,
}

impl Failure {
    pub fn permanent(reason: impl Into<String>) -> Self {
        Failure { class: FailureClass::Permanent, reason: reason.into() }
    }

    pub fn transient(reason: impl Into<String>) -> Self {
        Failure { class: FailureClass::Transient, reason: reason.into() }
    }

    pub fn is_transient(&self) -> bool {
        self.class == FailureClass::Transient
    }
}

/// Classifies an SDK error: throttling, 5xx, timeouts and connection failures are transient;
/// everything the service answered with a definite client error (NoSuchKey, AccessDenied, …) is not.
/// The same `SdkError` type serves every SDK client (S3, SNS, SQS).
pub fn classify_sdk_error<E>(action: &str, err: &SdkError<E, HttpResponse>) -> Failure
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let class = match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) => FailureClass::Transient,
        // The service answered something we could not read (cut-off body, proxy page): retry.
        SdkError::ResponseError(_) => FailureClass::Transient,
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default();
            let status = service.raw().status().as_u16();
            if is_transient_code(code) || status == 429 || status >= 500 {
                FailureClass::Transient
            } else {
                FailureClass::Permanent
            }
        }
        _ => FailureClass::Permanent,
    };
    Failure { class, reason: format!("{action}: {}", describe_sdk_error(err)) }
}

fn is_transient_code(code: &str) -> bool {
    matches!(
        code,
        "Throttling"
            | "ThrottlingException"
            | "ThrottledException"
            | "RequestThrottled"
            | "RequestThrottledException"
            | "TooManyRequestsException"
            | "ProvisionedThroughputExceededException"
            | "SlowDown"
            | "RequestLimitExceeded"
            | "RequestTimeout"
            | "RequestTimeoutException"
            | "InternalError"
            | "InternalFailure"
            | "InternalErrorException"
            | "ServiceUnavailable"
            | "KMSThrottlingException"
    )
}

/// `NoSuchKey: The specified key does not exist.` rather than the SDK's nested Display.
pub fn describe_sdk_error<E>(err: &SdkError<E, HttpResponse>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    match err {
        SdkError::ServiceError(service) => {
            let e = service.err();
            match (e.code(), e.message()) {
                (Some(code), Some(msg)) => format!("{code}: {msg}"),
                (Some(code), None) => code.to_string(),
                _ => aws_smithy_types::error::display::DisplayErrorContext(e).to_string(),
            }
        }
        other => aws_smithy_types::error::display::DisplayErrorContext(other).to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn throttling_codes_are_transient_and_client_errors_are_not() {
        assert!(is_transient_code("SlowDown"));
        assert!(is_transient_code("ThrottlingException"));
        assert!(is_transient_code("InternalError"));
        assert!(!is_transient_code("NoSuchKey"));
        assert!(!is_transient_code("AccessDenied"));
    }

    #[test]
    fn failure_display_names_its_class() {
        assert_eq!(Failure::permanent("bad").to_string(), "permanent failure: bad");
        assert!(Failure::transient("slow").is_transient());
    }
}
