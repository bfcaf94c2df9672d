//! The `dispatcher` function: an SQS batch of job messages, one dispatch
//! each (`QUEUED → STARTING`, then an ECS task), with partial batch
//! failures so only the failed messages are retried.

use coderun_aws::handlers::{dispatch_batch, SqsEvent};
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let platform = coderun_aws::config::function_platform().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<SqsEvent>| {
        let platform = platform.clone();
        async move { Ok::<_, Error>(dispatch_batch(&platform, event.payload).await) }
    }))
    .await
}
