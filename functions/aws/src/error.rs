//! SDK errors sorted into the core's kinds — NotFound, Conflict, Throttled,
//! Unavailable — with the SDK error kept as the source.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use coderun_core::error::PortError;

/// Error codes that mean "slow down" across DynamoDB, S3, SQS and ECS.
const THROTTLED: &[&str] = &[
    "ThrottlingException",
    "Throttling",
    "ProvisionedThroughputExceededException",
    "RequestLimitExceeded",
    "SlowDown",
    "TooManyRequestsException",
    "LimitExceededException",
];

const NOT_FOUND: &[&str] = &[
    "ResourceNotFoundException",
    "NoSuchKey",
    "NoSuchBucket",
    "AWS.SimpleQueueService.NonExistentQueue",
    "QueueDoesNotExist",
    "ClusterNotFoundException",
];

const CONFLICT: &[&str] = &[
    "ConditionalCheckFailedException",
    "TransactionConflictException",
];

/// Sorts an SDK error by its code and transport failure.
pub fn sort<E, R>(e: SdkError<E, R>) -> PortError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug + Send + Sync + 'static,
{
    match &e {
        SdkError::ServiceError(service) => {
            let code = service.err().code().unwrap_or_default().to_string();
            if THROTTLED.contains(&code.as_str()) {
                PortError::Throttled(Box::new(e))
            } else if NOT_FOUND.contains(&code.as_str()) {
                PortError::NotFound
            } else if CONFLICT.contains(&code.as_str()) {
                PortError::Conflict(code)
            } else if code.starts_with("InternalServer")
                || code == "ServiceUnavailable"
                || code == "ServerException"
                || code == "InternalError"
            {
                PortError::Unavailable(Box::new(e))
            } else {
                PortError::Internal(Box::new(e))
            }
        }
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            PortError::Unavailable(Box::new(e))
        }
        _ => PortError::Internal(Box::new(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_sdk_dynamodb::operation::put_item::PutItemError;
    use aws_smithy_runtime_api::http::{Response, StatusCode};
    use aws_smithy_types::body::SdkBody;

    fn service(err: PutItemError, status: u16) -> SdkError<PutItemError, Response> {
        SdkError::service_error(
            err,
            Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty()),
        )
    }

    #[test]
    fn errors_are_sorted_by_code() {
        let meta = |code: &str| {
            PutItemError::generic(
                aws_sdk_dynamodb::error::ErrorMetadata::builder()
                    .code(code)
                    .build(),
            )
        };
        let conflict = service(meta("ConditionalCheckFailedException"), 400);
        assert!(matches!(sort(conflict), PortError::Conflict(_)));
        assert!(matches!(
            sort(service(meta("ThrottlingException"), 400)),
            PortError::Throttled(_)
        ));
        assert!(matches!(
            sort(service(meta("ResourceNotFoundException"), 400)),
            PortError::NotFound
        ));
        assert!(matches!(
            sort(service(meta("InternalServerError"), 500)),
            PortError::Unavailable(_)
        ));
        assert!(matches!(
            sort(service(meta("ValidationException"), 400)),
            PortError::Internal(_)
        ));
    }
}
