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

/// The dispatcher: the batch's messages dispatched at once, each on its
/// own; failed ones (every runner busy, a throttled or failed RunTask, an
/// unreadable message) are reported so SQS retries them, sooner than the
/// visibility timeout, and after `maxReceiveCount` moves them to the DLQ
/// (`ReportBatchItemFailures`).
pub async fn dispatch_batch(platform: &Platform, batch: SqsEvent) -> SqsBatchResponse {
    let each = batch.records.into_iter().map(|record| async move {
        let message_id = record.message_id.unwrap_or_default();
        let received: u32 = record
            .attributes
            .get("ApproximateReceiveCount")
            .and_then(|c| c.parse().ok())
            .unwrap_or(1);
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
        if ok {
            return None;
        }
        // Sooner than the visibility timeout: a runner frees in seconds.
        if let Some(receipt) = &record.receipt_handle {
            let delay = crate::sqs::backoff(received);
            if let Err(e) = platform.ports().queue.retry_after(receipt, delay).await {
                warn!(error = %e, "the message's next delivery could not be brought forward");
            }
        }
        let mut failure = BatchItemFailure::default();
        failure.item_identifier = message_id;
        Some(failure)
    });
    let mut response = SqsBatchResponse::default();
    response.batch_item_failures = futures_util::future::join_all(each)
        .await
        .into_iter()
        .flatten()
        .collect();
    response
}

/// What the results function was invoked with.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResultsEvent {
    /// Result objects written under `results/` (S3 ObjectCreated).
    Results(Vec<String>),
    /// An ECS task stopped (EventBridge "ECS Task State Change"):
    /// `started_by` is a runner's id (`family/runner-…`), or a job's for
    /// a task started one per job.
    TaskStopped {
        started_by: String,
        task_arn: Option<String>,
        reason: String,
    },
    /// The schedule's tick (EventBridge "Scheduled Event"): sweep the
    /// runners, keep the warm minimum.
    Sweep,
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
    task_definition_arn: Option<String>,
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
        "eventbridge" if event["detail-type"] == "Scheduled Event" => return ResultsEvent::Sweep,
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
    let Some(mut started_by) = d.started_by.filter(|s| !s.is_empty()) else {
        return ResultsEvent::Other;
    };
    if let (true, Some(td)) = (started_by.starts_with("runner-"), &d.task_definition_arn) {
        started_by = format!("{}/{started_by}", crate::ecs::family_of(td));
    }
    let exit = d.containers.first().and_then(|c| c.exit_code);
    let reason = format!(
        "the task stopped ({}: {}{})",
        d.stop_code.as_deref().unwrap_or("unknown"),
        d.stopped_reason.as_deref().unwrap_or("no reason given"),
        exit.map(|c| format!("; exit code {c}")).unwrap_or_default()
    );
    ResultsEvent::TaskStopped {
        started_by,
        task_arn: d.task_arn,
        reason,
    }
}

fn results(e: S3Event) -> ResultsEvent {
    ResultsEvent::Results(
        e.records
            .iter()
            .filter_map(|r| r.s3.object.key.as_deref())
            .filter_map(|k| job_of_result_key(&url_decoded(k)))
            .collect(),
    )
}

/// An object key as S3's notifications write it: URL-encoded, a space as
/// `+`. A malformed escape is kept as it is.
fn url_decoded(key: &str) -> String {
    let bytes = key.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes
                    .get(i + 1..i + 3)
                    .and_then(|h| std::str::from_utf8(h).ok());
                match hex.and_then(|h| u8::from_str_radix(h, 16).ok()) {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
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
            started_by,
            task_arn,
            reason,
        } => {
            // A warm runner: the job it held, if any, is launched again
            // or, out of attempts, FAILED with this reason. A task of one
            // job (started before the pool): the same for that job. With
            // a result, the result wins.
            let span = info_span!("task_stopped", runner = %started_by);
            let pooled = platform
                .runner_ended(&started_by, &reason)
                .instrument(span.clone())
                .await?;
            if !pooled && is_job_id(&started_by) {
                platform
                    .runner_stopped(&started_by, task_arn.as_deref(), &reason)
                    .instrument(span)
                    .await?;
            }
        }
        ResultsEvent::Sweep => {
            let given_up = platform.sweep().await?;
            if given_up > 0 {
                warn!(given_up, "runners that stopped answering were replaced");
            }
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
        // Keys come URL-encoded (some senders encode the slashes too).
        let encoded = samples::s3_created(&[
            "results%2Fabd%2Fresult.json",
            "results/x+y/result.json",
            "results/%zz/result.json",
        ]);
        assert_eq!(classify(encoded), ResultsEvent::Results(vec!["abd".into()]));
        let stopped = samples::ecs_task_state(json!({
            "lastStatus": "STOPPED", "desiredStatus": "STOPPED", "startedBy": "abc",
            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/coderun/1",
            "stopCode": "EssentialContainerExited",
            "stoppedReason": "Essential container in task exited",
            "containers": [{"name": "runner", "exitCode": 137}]}));
        match classify(stopped) {
            ResultsEvent::TaskStopped {
                started_by,
                reason,
                task_arn,
            } => {
                assert_eq!(started_by, "abc");
                assert!(task_arn.is_some_and(|a| a.ends_with("/1")));
                assert!(
                    reason.contains("EssentialContainerExited") && reason.contains("137"),
                    "{reason}"
                );
            }
            other => panic!("{other:?}"),
        }
        // A warm runner's task: its family from the task definition.
        let runner = samples::ecs_task_state(json!({
            "lastStatus": "STOPPED", "startedBy": "runner-0a1b",
            "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/coderun/2",
            "taskDefinitionArn": "arn:aws:ecs:us-east-1:123456789012:task-definition/coderun-python:7"}));
        assert!(matches!(classify(runner),
            ResultsEvent::TaskStopped { started_by, .. } if started_by == "coderun-python/runner-0a1b"));
        assert_eq!(classify(samples::scheduled()), ResultsEvent::Sweep);
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
