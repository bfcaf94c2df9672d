//! coderun on AWS: the adapters behind the core's ports. DynamoDB for
//! records, S3 for blobs (with presigned URLs for runners), SQS for the job
//! queue, ECS Fargate tasks for runners. Clients are built once per process, over rustls with ring; an
//! emulator is reached only through `AWS_ENDPOINT_URL`, which the SDK reads
//! itself.

pub mod config;
pub mod dynamo;
pub mod ecs;
pub mod error;
pub mod handlers;
mod item;
pub mod metrics;
pub mod pool;
pub mod s3;
pub mod sample_events;
pub mod sqs;

pub use dynamo::DynamoStore;
pub use ecs::{EcsConfig, EcsLauncher};
pub use s3::S3Blobs;
pub use sqs::SqsQueue;

use aws_config::{BehaviorVersion, SdkConfig};
use aws_smithy_http_client::{tls, Builder};

/// The shared SDK configuration (region, credentials, endpoint from the
/// environment), with the HTTPS client every AWS client uses.
pub async fn sdk_config() -> SdkConfig {
    let http = Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(http)
        .load()
        .await
}

/// An S3 client addressing buckets by path (`endpoint/bucket/key`), which
/// works on AWS and on emulators alike.
pub fn s3_client(conf: &SdkConfig) -> aws_sdk_s3::Client {
    let c = aws_sdk_s3::config::Builder::from(conf)
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(c)
}

/// JSON logs for a function (CloudWatch), filtered by `RUST_LOG`
/// (default `info`); Lambda stamps the time itself.
pub fn init_function_tracing() {
    let filter =
        tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into());
    tracing_subscriber::fmt()
        .json()
        .with_env_filter(filter)
        .with_current_span(true)
        .without_time()
        .init();
}
