//! AWS SDK errors classified once: throttling, 5xx, timeouts and connection failures are transient;
//! a definite client error (NoSuchKey, AccessDenied, …) is permanent. One `SdkError` type serves
//! every SDK client (S3, SNS, SQS, CloudFront), so this needs none of them.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::failure::{Failure, FailureClass};

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
}
