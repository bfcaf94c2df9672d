//! The SQS job queue. A message names a job (`{"job_id": …}`), never its
//! source: the dispatcher reads everything else from the store.

use async_trait::async_trait;
use aws_sdk_sqs::Client;
use coderun_core::error::PortError;
use coderun_core::ports::{PortResult, Queue};
use serde::{Deserialize, Serialize};
use tracing::instrument;

use crate::error::sort;

/// The body of a queue message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JobMessage {
    pub job_id: String,
}

#[derive(Debug, Clone)]
pub struct SqsQueue {
    client: Client,
    url: String,
}

impl SqsQueue {
    pub fn new(client: Client, url: impl Into<String>) -> SqsQueue {
        SqsQueue {
            client,
            url: url.into(),
        }
    }
}

#[async_trait]
impl Queue for SqsQueue {
    #[instrument(skip_all, fields(job_id = %job_id))]
    async fn send(&self, job_id: &str) -> PortResult<()> {
        let body = serde_json::to_string(&JobMessage {
            job_id: job_id.to_string(),
        })
        .map_err(PortError::internal)?;
        self.client
            .send_message()
            .queue_url(&self.url)
            .message_body(body)
            .send()
            .await
            .map_err(sort)?;
        Ok(())
    }

    async fn retry_after(&self, receipt: &str, delay: std::time::Duration) -> PortResult<()> {
        self.client
            .change_message_visibility()
            .queue_url(&self.url)
            .receipt_handle(receipt)
            .visibility_timeout(delay.as_secs().min(43_200) as i32)
            .send()
            .await
            .map_err(sort)?;
        Ok(())
    }
}

/// How long a message that could not be dispatched waits before its next
/// delivery: a second more each time, at most ten. A runner frees within
/// about a second of its job's result, so a job that found the pool at its
/// cap is tried again soon, while a failing start backs off. With the
/// queue's `maxReceiveCount` of 60, a job waits about nine minutes for a
/// runner before it is dead-lettered.
pub fn backoff(receive_count: u32) -> std::time::Duration {
    std::time::Duration::from_secs((receive_count as u64).clamp(1, 10))
}
