//! AWS SDK errors classified once. Permanent is for the content's fault (a request about this
//! original that no retry changes: NoSuchKey, a bad range, …). Transient is everything else:
//! throttling, 5xx, timeouts and connection failures, and our own environment's faults (access
//! denied by IAM, a bucket policy, KMS or an SCP; a missing bucket, queue or topic; bad or expired
//! credentials), which a deploy or an operator fixes: retried, then dead-lettered, and alarmed on,
//! never reported to an uploader as their file's fault. One `SdkError` type serves every SDK
//! client (S3, SNS, SQS, CloudFront), so this needs none of them.

use aws_smithy_runtime_api::client::result::SdkError;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::error::metadata::ProvideErrorMetadata;

use crate::failure::{Failure, FailureClass};

/// Classifies an SDK error (see the module): permanent only for a definite client error about the
/// request's content; 401/403, our environment's error codes, throttling, 5xx, timeouts and
/// connection failures are transient. The same `SdkError` type serves every SDK client.
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
            if is_transient_code(code)
                || is_environment_code(code)
                || matches!(status, 401 | 403 | 429)
                || status >= 500
            {
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

/// Our environment's faults, whatever the HTTP status: access (IAM, bucket and key policies, SCPs),
/// credentials, KMS keys, and our own buckets, queues and topics. An operator fixes these; the
/// content is not at fault.
fn is_environment_code(code: &str) -> bool {
    // KMS errors as S3 (`KMS.DisabledException`, …), SNS (`KMSAccessDenied`, …) and SQS
    // (`KmsAccessDenied`, `KMS.AccessDeniedException`, …) name them.
    code.starts_with("KMS")
        || code.starts_with("Kms")
        || matches!(
            code,
            // Access and credentials
            "AccessDenied"
                | "AccessDeniedException"
                | "AllAccessDisabled"
                | "AuthorizationError"
                | "AuthorizationErrorException"
                | "AccountProblem"
                | "InvalidAccessKeyId"
                | "InvalidClientTokenId"
                | "UnrecognizedClientException"
                | "SignatureDoesNotMatch"
                | "IncompleteSignature"
                | "MissingAuthenticationToken"
                | "ExpiredToken"
                | "ExpiredTokenException"
                | "TokenRefreshRequired"
                | "InvalidToken"
                | "RequestExpired"
                | "RequestTimeTooSkewed"
                | "InvalidSecurity"
                | "AuthorizationHeaderMalformed"
                // Our resources, or where they are
                | "NoSuchBucket"
                | "PermanentRedirect"
                | "InvalidBucketState"
                | "QueueDoesNotExist"
                | "AWS.SimpleQueueService.NonExistentQueue"
                | "OptInRequired"
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
    }

    #[test]
    fn our_environments_faults_are_not_the_contents() {
        for code in [
            "AccessDenied",
            "NoSuchBucket",
            "KMS.DisabledException",
            "KMS.KeyUnavailableException",
            "KMSAccessDenied",
            "KmsAccessDenied",
            "InvalidAccessKeyId",
            "SignatureDoesNotMatch",
            "ExpiredToken",
            "AuthorizationError",
            "AWS.SimpleQueueService.NonExistentQueue",
        ] {
            assert!(is_environment_code(code), "{code}");
        }
        for code in ["NoSuchKey", "InvalidRange", "EntityTooLarge", "InvalidArgument", ""] {
            assert!(!is_environment_code(code), "{code}");
        }
    }
}
