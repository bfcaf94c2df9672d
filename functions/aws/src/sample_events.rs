//! The events the functions receive, shaped as AWS delivers them (every
//! field its documentation shows, so they read as the typed events of
//! `aws_lambda_events` do): for tests, and to try a function by hand.

use serde_json::{json, Value};

const REGION: &str = "us-east-1";
const ACCOUNT: &str = "123456789012";

/// An SQS batch of `(message id, body)`, as an event source mapping hands
/// it to a function.
pub fn sqs(messages: &[(&str, &str)]) -> Value {
    let records: Vec<Value> = messages
        .iter()
        .map(|(id, body)| {
            json!({
                "messageId": id,
                "receiptHandle": format!("handle-{id}"),
                "body": body,
                "attributes": {
                    "ApproximateReceiveCount": "1",
                    "SentTimestamp": "1767225600000",
                    "SenderId": ACCOUNT,
                    "ApproximateFirstReceiveTimestamp": "1767225600001"
                },
                "messageAttributes": {},
                "md5OfBody": "",
                "eventSource": "aws:sqs",
                "eventSourceARN": format!("arn:aws:sqs:{REGION}:{ACCOUNT}:coderun-jobs"),
                "awsRegion": REGION
            })
        })
        .collect();
    json!({ "Records": records })
}

/// S3 ObjectCreated notifications for `keys` in the bucket `coderun`.
pub fn s3_created(keys: &[&str]) -> Value {
    let records: Vec<Value> = keys
        .iter()
        .map(|key| {
            json!({
                "eventVersion": "2.1",
                "eventSource": "aws:s3",
                "awsRegion": REGION,
                "eventTime": "2026-12-01T00:00:00.000Z",
                "eventName": "ObjectCreated:Put",
                "userIdentity": {"principalId": "AWS:RUNNER"},
                "requestParameters": {"sourceIPAddress": "10.0.0.1"},
                "responseElements": {"x-amz-request-id": "R", "x-amz-id-2": "I"},
                "s3": {
                    "s3SchemaVersion": "1.0",
                    "configurationId": "results",
                    "bucket": {
                        "name": "coderun",
                        "ownerIdentity": {"principalId": "OWNER"},
                        "arn": "arn:aws:s3:::coderun"
                    },
                    "object": {"key": key, "size": 100, "eTag": "0", "sequencer": "0"}
                }
            })
        })
        .collect();
    json!({ "Records": records })
}

/// What ECS says of a task in `detail` (the fields it always sends:
/// `lastStatus`, `taskArn`, `startedBy`…), through EventBridge.
pub fn ecs_task_state(detail: Value) -> Value {
    json!({
        "version": "0",
        "id": "3317b2af-7005-947d-b652-f55e762e571a",
        "detail-type": "ECS Task State Change",
        "source": "aws.ecs",
        "account": ACCOUNT,
        "time": "2026-12-01T00:00:00Z",
        "region": REGION,
        "resources": [detail["taskArn"].clone()],
        "detail": detail
    })
}

/// The schedule's tick of the results function (EventBridge Scheduler's
/// rule target: a "Scheduled Event").
pub fn scheduled() -> Value {
    json!({
        "version": "0",
        "id": "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": ACCOUNT,
        "time": "2026-12-01T00:00:00Z",
        "region": REGION,
        "resources": [format!("arn:aws:events:{REGION}:{ACCOUNT}:rule/coderun-sweep")],
        "detail": {}
    })
}

/// A DynamoDB stream's records of removed items `(PK, SK)`, removed by
/// `principal` (`dynamodb.amazonaws.com` for TTL expiry).
pub fn dynamodb_removed(items: &[(&str, &str)], principal: &str) -> Value {
    let records: Vec<Value> = items
        .iter()
        .enumerate()
        .map(|(i, (pk, sk))| {
            json!({
                "eventID": format!("{i}"),
                "eventName": "REMOVE",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": REGION,
                "userIdentity": {"type": "Service", "principalId": principal},
                "dynamodb": {
                    "ApproximateCreationDateTime": 1767225600.0,
                    "Keys": {"PK": {"S": pk}, "SK": {"S": sk}},
                    "SequenceNumber": format!("{}", 100 + i),
                    "SizeBytes": 26,
                    "StreamViewType": "KEYS_ONLY"
                },
                "eventSourceARN": format!("arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/coderun/stream/2026-12-01T00:00:00.000")
            })
        })
        .collect();
    json!({ "Records": records })
}
