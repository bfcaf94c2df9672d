//! The Lambda handlers' units of work, apart from the Lambda runtime so
//! they can be called with fixtures: the dispatcher's SQS batch (one
//! dispatch per message, partial batch failures) and the results handler's
//! events (a result object in S3, an ECS task that stopped, a dead letter,
//! a record that expired).

use coderun_core::Platform;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tracing::{info, info_span, warn, Instrument};

use crate::sqs::JobMessage;

/// An SQS batch, as Lambda delivers it (the fields coderun reads).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SqsBatch {
    #[serde(rename = "Records")]
    pub records: Vec<SqsRecord>,
}

#[derive(Debug, Clone, Deserialize, Serialize)]
pub struct SqsRecord {
    #[serde(rename = "messageId")]
    pub message_id: String,
    pub body: String,
    #[serde(default, rename = "eventSourceARN")]
    pub event_source_arn: Option<String>,
}

/// `ReportBatchItemFailures`: the messages SQS must deliver again.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct BatchResponse {
    #[serde(rename = "batchItemFailures")]
    pub batch_item_failures: Vec<ItemFailure>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ItemFailure {
    #[serde(rename = "itemIdentifier")]
    pub item_identifier: String,
}

/// The dispatcher: each message dispatched on its own; failed ones (a
/// throttled or failed RunTask, an unreadable message) are reported so SQS
/// retries them and, after `maxReceiveCount`, moves them to the DLQ.
pub async fn dispatch_batch(platform: &Platform, batch: SqsBatch) -> BatchResponse {
    let mut response = BatchResponse::default();
    for record in batch.records {
        let span =
            info_span!("message", message_id = %record.message_id, job_id = tracing::field::Empty);
        let ok = async {
            let msg: JobMessage = match serde_json::from_str(&record.body) {
                Ok(m) => m,
                Err(e) => {
                    warn!(error = %e, "unreadable message");
                    return false;
                }
            };
            tracing::Span::current().record("job_id", msg.job_id.as_str());
            match platform.dispatch(&msg.job_id).await {
                Ok(d) => {
                    info!(outcome = ?d, "dispatched");
                    true
                }
                Err(e) => {
                    warn!(error = %e, "dispatch failed; SQS will retry");
                    false
                }
            }
        }
        .instrument(span)
        .await;
        if !ok {
            response.batch_item_failures.push(ItemFailure {
                item_identifier: record.message_id,
            });
        }
    }
    response
}

/// What the results function was invoked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsEvent {
    /// Result objects written under `results/` (S3 ObjectCreated).
    Results(Vec<String>),
    /// An ECS task stopped (EventBridge "ECS Task State Change").
    TaskStopped {
        job_id: String,
        task_arn: Option<String>,
        reason: String,
    },
    /// Messages that exhausted their deliveries (the DLQ).
    DeadLetters(Vec<String>),
    /// Job records that DynamoDB's TTL removed (the table's stream): their
    /// blobs go too.
    Expired(Vec<String>),
    /// Anything else: ignored, and logged.
    Other,
}

/// Sorts the results function's event by its shape.
pub fn classify(event: &Value) -> ResultsEvent {
    if event.get("detail-type").and_then(Value::as_str) == Some("ECS Task State Change") {
        let d = &event["detail"];
        if d["lastStatus"] != "STOPPED" {
            return ResultsEvent::Other;
        }
        let Some(job_id) = d["startedBy"].as_str().filter(|s| !s.is_empty()) else {
            return ResultsEvent::Other;
        };
        let exit = d["containers"][0]["exitCode"].as_i64();
        let reason = format!(
            "the task stopped ({}: {}{})",
            d["stopCode"].as_str().unwrap_or("unknown"),
            d["stoppedReason"].as_str().unwrap_or("no reason given"),
            exit.map(|c| format!("; exit code {c}")).unwrap_or_default()
        );
        return ResultsEvent::TaskStopped {
            job_id: job_id.to_string(),
            task_arn: d["taskArn"].as_str().map(str::to_string),
            reason,
        };
    }
    let Some(records) = event.get("Records").and_then(Value::as_array) else {
        return ResultsEvent::Other;
    };
    match records.first().and_then(|r| r["eventSource"].as_str()) {
        Some("aws:s3") => ResultsEvent::Results(
            records
                .iter()
                .filter_map(|r| r["s3"]["object"]["key"].as_str())
                .filter_map(job_of_result_key)
                .collect(),
        ),
        Some("aws:sqs") => ResultsEvent::DeadLetters(
            records
                .iter()
                .filter_map(|r| r["body"].as_str())
                .filter_map(|b| serde_json::from_str::<JobMessage>(b).ok())
                .map(|m| m.job_id)
                .collect(),
        ),
        Some("aws:dynamodb") => ResultsEvent::Expired(
            records
                .iter()
                .filter(|r| {
                    r["eventName"] == "REMOVE"
                        && r["userIdentity"]["type"] == "Service"
                        && r["userIdentity"]["principalId"] == "dynamodb.amazonaws.com"
                        && r["dynamodb"]["Keys"]["SK"]["S"] == "JOB"
                })
                .filter_map(|r| r["dynamodb"]["Keys"]["PK"]["S"].as_str())
                .filter_map(|pk| pk.split_once('#'))
                .filter(|(kind, id)| ["RUN", "IMP"].contains(kind) && is_job_id(id))
                .map(|(_, id)| id.to_string())
                .collect(),
        ),
        _ => ResultsEvent::Other,
    }
}

fn is_job_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// `results/{id}/result.json` → `id` (S3 event keys are URL-encoded; job
/// ids never need encoding).
fn job_of_result_key(key: &str) -> Option<String> {
    let id = key.strip_prefix("results/")?.strip_suffix("/result.json")?;
    is_job_id(id).then(|| id.to_string())
}

/// The results function. An error makes Lambda retry the event (S3 and
/// EventBridge invoke asynchronously, with retries and their own DLQ).
pub async fn handle_results(
    platform: &Platform,
    event: Value,
) -> Result<(), coderun_core::CoreError> {
    match classify(&event) {
        ResultsEvent::Results(ids) => {
            for id in ids {
                platform
                    .apply_result(&id)
                    .instrument(info_span!("result", job_id = %id))
                    .await?;
            }
        }
        ResultsEvent::TaskStopped {
            job_id,
            task_arn,
            reason,
        } => {
            // With a result, the result wins; without one the job is
            // launched again or, out of attempts, FAILED with this reason.
            platform
                .runner_stopped(&job_id, task_arn.as_deref(), &reason)
                .instrument(info_span!("task_stopped", job_id = %job_id))
                .await?;
        }
        ResultsEvent::DeadLetters(ids) => {
            for id in ids {
                platform
                    .fail(&id, "no runner could be started: the job's message went to the dead-letter queue")
                    .instrument(info_span!("dead_letter", job_id = %id))
                    .await?;
            }
        }
        ResultsEvent::Expired(ids) => {
            for id in ids {
                platform
                    .expired(&id)
                    .instrument(info_span!("expired", job_id = %id))
                    .await?;
            }
        }
        ResultsEvent::Other => warn!("ignored an event of unknown shape"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_are_told_apart_by_shape() {
        let s3 = json!({"Records": [{"eventSource": "aws:s3", "s3": {"object": {"key": "results/abc/result.json"}}},
                                    {"eventSource": "aws:s3", "s3": {"object": {"key": "results/abc/live/0.stdout"}}}]});
        assert_eq!(classify(&s3), ResultsEvent::Results(vec!["abc".into()]));
        let stopped = json!({"detail-type": "ECS Task State Change", "source": "aws.ecs",
            "detail": {"lastStatus": "STOPPED", "startedBy": "abc", "stopCode": "EssentialContainerExited",
                       "stoppedReason": "Essential container in task exited", "containers": [{"exitCode": 137}]}});
        match classify(&stopped) {
            ResultsEvent::TaskStopped { job_id, reason, .. } => {
                assert_eq!(job_id, "abc");
                assert!(
                    reason.contains("EssentialContainerExited") && reason.contains("137"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        let running = json!({"detail-type": "ECS Task State Change", "detail": {"lastStatus": "RUNNING", "startedBy": "abc"}});
        assert_eq!(classify(&running), ResultsEvent::Other);
        let dlq = json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m", "body": "{\"job_id\":\"abc\"}"}]});
        assert_eq!(
            classify(&dlq),
            ResultsEvent::DeadLetters(vec!["abc".into()])
        );
        // TTL removals of runs and imports; a user's delete or another
        // item is not one.
        let removed = |pk: &str, who: &str| {
            json!({"eventSource": "aws:dynamodb", "eventName": "REMOVE",
                   "userIdentity": {"type": "Service", "principalId": who},
                   "dynamodb": {"Keys": {"PK": {"S": pk}, "SK": {"S": "JOB"}}}})
        };
        let ttl = "dynamodb.amazonaws.com";
        let stream = json!({"Records": [removed("RUN#r1", ttl), removed("IMP#i1", ttl),
            removed("SUB#s1", ttl), removed("RUN#r2", "someone"), removed("RUN#../x", ttl)]});
        assert_eq!(
            classify(&stream),
            ResultsEvent::Expired(vec!["r1".into(), "i1".into()])
        );
        assert_eq!(classify(&json!({"hello": 1})), ResultsEvent::Other);
        assert_eq!(job_of_result_key("results/../x/result.json"), None);
    }
}
