//! The Lambda handlers' units of work, apart from the Lambda runtime so
//! they can be called with fixtures: the dispatcher's SQS batch (one
//! dispatch per message, partial batch failures) and the results handler's
//! events (a result object in S3, an ECS task that stopped, a dead letter,
//! a record that expired).

use aws_lambda_events::dynamodb;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::s3::S3Event;
pub use aws_lambda_events::sqs::{BatchItemFailure, SqsBatchResponse, SqsEvent};
use coderun_core::{is_job_id, Job, Platform};
use serde::Deserialize;
use serde_json::Value;
use tracing::{info, info_span, warn, Instrument};

use crate::sqs::JobMessage;

/// The dispatcher: each message dispatched on its own; failed ones (a
/// throttled or failed RunTask, an unreadable message) are reported so SQS
/// retries them and, after `maxReceiveCount`, moves them to the DLQ
/// (`ReportBatchItemFailures`).
pub async fn dispatch_batch(platform: &Platform, batch: SqsEvent) -> SqsBatchResponse {
    let mut response = SqsBatchResponse::default();
    for record in batch.records {
        let message_id = record.message_id.unwrap_or_default();
        let span = info_span!("message", message_id = %message_id, job_id = tracing::field::Empty);
        let ok = async {
            let body = record.body.as_deref().unwrap_or_default();
            let msg: JobMessage = match serde_json::from_str(body) {
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
            let mut failure = BatchItemFailure::default();
            failure.item_identifier = message_id;
            response.batch_item_failures.push(failure);
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

/// The `detail` of an ECS "Task State Change" event: the fields read here.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct TaskStateChange {
    last_status: String,
    #[serde(default)]
    started_by: Option<String>,
    #[serde(default)]
    task_arn: Option<String>,
    #[serde(default)]
    stop_code: Option<String>,
    #[serde(default)]
    stopped_reason: Option<String>,
    #[serde(default)]
    containers: Vec<ContainerState>,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ContainerState {
    #[serde(default)]
    exit_code: Option<i64>,
}

/// Sorts the results function's event by its source, then reads it as
/// that source's typed event.
pub fn classify(event: Value) -> ResultsEvent {
    let source = match event.get("detail-type") {
        Some(_) => "eventbridge".to_string(),
        None => event["Records"][0]["eventSource"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
    };
    let read = match source.as_str() {
        "eventbridge" => serde_json::from_value(event).map(task_stopped),
        "aws:s3" => serde_json::from_value(event).map(results),
        "aws:sqs" => serde_json::from_value(event).map(dead_letters),
        "aws:dynamodb" => serde_json::from_value(event).map(expired),
        _ => return ResultsEvent::Other,
    };
    read.unwrap_or_else(|e| {
        warn!(source, error = %e, "an event that does not read as its source's");
        ResultsEvent::Other
    })
}

fn task_stopped(e: EventBridgeEvent<TaskStateChange>) -> ResultsEvent {
    let d = e.detail;
    if e.detail_type != "ECS Task State Change" || d.last_status != "STOPPED" {
        return ResultsEvent::Other;
    }
    let Some(job_id) = d.started_by.filter(|s| !s.is_empty()) else {
        return ResultsEvent::Other;
    };
    let exit = d.containers.first().and_then(|c| c.exit_code);
    let reason = format!(
        "the task stopped ({}: {}{})",
        d.stop_code.as_deref().unwrap_or("unknown"),
        d.stopped_reason.as_deref().unwrap_or("no reason given"),
        exit.map(|c| format!("; exit code {c}")).unwrap_or_default()
    );
    ResultsEvent::TaskStopped {
        job_id,
        task_arn: d.task_arn,
        reason,
    }
}

fn results(e: S3Event) -> ResultsEvent {
    ResultsEvent::Results(
        e.records
            .iter()
            .filter_map(|r| r.s3.object.key.as_deref())
            .filter_map(job_of_result_key)
            .collect(),
    )
}

fn dead_letters(e: SqsEvent) -> ResultsEvent {
    ResultsEvent::DeadLetters(
        e.records
            .iter()
            .filter_map(|r| r.body.as_deref())
            .filter_map(|b| serde_json::from_str::<JobMessage>(b).ok())
            .map(|m| m.job_id)
            .collect(),
    )
}

/// Removals by DynamoDB's TTL (not a user's delete) of run and import
/// records.
fn expired(e: dynamodb::Event) -> ResultsEvent {
    let text = |item: &serde_dynamo::Item, k: &str| match item.get(k) {
        Some(serde_dynamo::AttributeValue::S(s)) => Some(s.clone()),
        _ => None,
    };
    ResultsEvent::Expired(
        e.records
            .iter()
            .filter(|r| {
                r.event_name == "REMOVE"
                    && r.user_identity.as_ref().is_some_and(|u| {
                        u.type_ == "Service" && u.principal_id == "dynamodb.amazonaws.com"
                    })
                    && text(&r.change.keys, "SK").as_deref() == Some("JOB")
            })
            .filter_map(|r| text(&r.change.keys, "PK"))
            .filter_map(|pk| {
                let (kind, id) = pk.split_once('#')?;
                (["RUN", "IMP"].contains(&kind) && is_job_id(id)).then(|| id.to_string())
            })
            .collect(),
    )
}

/// `results/{id}/result.json` → `id`.
fn job_of_result_key(key: &str) -> Option<String> {
    Job::of_result_key(key).map(str::to_string)
}

/// The results function. An error makes Lambda retry the event (S3 and
/// EventBridge invoke asynchronously, with retries and their own DLQ).
pub async fn handle_results(
    platform: &Platform,
    event: Value,
) -> Result<(), coderun_core::CoreError> {
    match classify(event) {
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
    use crate::sample_events as samples;
    use serde_json::json;

    #[test]
    fn events_are_told_apart_by_source() {
        let s3 = samples::s3_created(&["results/abc/result.json", "results/abc/live/0.stdout"]);
        assert_eq!(classify(s3), ResultsEvent::Results(vec!["abc".into()]));
        let stopped = samples::ecs_task_state(json!({
            "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "startedBy": "abc",
            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/coderun/1",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "runner", "exitCode": 137}]}));
        match classify(stopped) {
            ResultsEvent::TaskStopped {
                job_id,
                reason,
                task_arn,
            } => {
                assert_eq!(job_id, "abc");
                assert!(task_arn.is_some_and(|a| a.ends_with("/1")));
                assert!(
                    reason.contains("EssentialContainerExited") && reason.contains("137"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        let running = samples::ecs_task_state(json!({
            "lastStatus": "RUNNING", "startedBy": "abc",
            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/coderun/1"}));
        assert_eq!(classify(running), ResultsEvent::Other);
        let dlq = samples::sqs(&[("m", "{\"job_id\":\"abc\"}"), ("n", "not json")]);
        assert_eq!(classify(dlq), ResultsEvent::DeadLetters(vec!["abc".into()]));
        // TTL removals of runs and imports; a user's delete or another
        // item is not one.
        let ttl = "dynamodb.amazonaws.com";
        let stream = samples::dynamodb_removed(
            &[
                ("RUN#r1", "JOB"),
                ("IMP#i1", "JOB"),
                ("SUB#s1", "JOB"),
                ("RUN#r3", "IDEMPOTENCY"),
                ("RUN#../x", "JOB"),
            ],
            ttl,
        );
        assert_eq!(
            classify(stream),
            ResultsEvent::Expired(vec!["r1".into(), "i1".into()])
        );
        let deleted = samples::dynamodb_removed(&[("RUN#r2", "JOB")], "someone");
        assert_eq!(classify(deleted), ResultsEvent::Expired(vec![]));
        // Unknown, or a known source's shape gone wrong: ignored.
        assert_eq!(classify(json!({"hello": 1})), ResultsEvent::Other);
        assert_eq!(
            classify(json!({"Records": [{"eventSource": "aws:s3"}]})),
            ResultsEvent::Other
        );
        assert_eq!(job_of_result_key("results/../x/result.json"), None);
    }
}
