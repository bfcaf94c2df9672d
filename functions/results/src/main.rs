//! The `results` function: result objects written to S3, ECS tasks that
//! stopped (EventBridge), and dead letters. No accepted job stays
//! unfinished.

use coderun_aws::handlers::handle_results;
use lambda_runtime::{service_fn, Error, LambdaEvent};

#[tokio::main]
async fn main() -> Result<(), Error> {
    let platform = coderun_aws::config::function_platform().await?;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<serde_json::Value>| {
        let platform = platform.clone();
        async move {
            handle_results(&platform, event.payload).await?;
            Ok::<_, Error>(())
        }
    }))
    .await
}
