//! The DynamoDB store: one table keyed `PK`/`SK`, a GSI `byUser`
//! (`GSI1PK` = `USER#sub`, `GSI1SK` = `createdAt#id`) for history, TTL
//! (`expiresAt`, seconds) on playground runs and idempotency keys,
//! conditional writes for every status change. Items hold small records:
//! sources, test data and outputs live in S3.
//!
//! | item | PK | SK |
//! |---|---|---|
//! | run / submission | `RUN#id` / `SUB#id` | `JOB` |
//! | idempotency key | `IDEM#user#key` | `IDEM` |
//! | problem | `PROBLEMS` | `PROB#id` |
//! | session | `SESS#id` | `SESS` |
//! | attempt (profile) | `USER#sub` | `ATTEMPT#problem#job` |

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::{
    KeysAndAttributes, Put, ReturnValuesOnConditionCheckFailure, TransactWriteItem,
};
use aws_sdk_dynamodb::Client;
use coderun_core::error::PortError;
use coderun_core::ports::*;
use coderun_core::service::hex;
use coderun_core::{
    Job, JobCounts, JobKind, JobQuery, Millis, Page, Problem, ProblemStats, Session, Status,
};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use tracing::instrument;

use crate::error::sort;
use crate::item::{get_n, get_s, key, n, s, Item};

/// Idempotency keys are kept a day (DynamoDB TTL removes them).
const IDEMPOTENCY_TTL_SECS: i64 = 24 * 3600;

/// The DynamoDB store.
#[derive(Debug, Clone)]
pub struct DynamoStore {
    client: Client,
    table: String,
    /// Signs pagination cursors, so a client cannot forge a start key.
    cursor_key: Vec<u8>,
}

fn body<T: serde::de::DeserializeOwned>(item: &Item) -> PortResult<T> {
    let b = get_s(item, "body").ok_or_else(|| PortError::internal("an item without a body"))?;
    serde_json::from_str(b).map_err(PortError::internal)
}

fn job_pk(kind: JobKind, id: &str) -> String {
    match kind {
        JobKind::Run => format!("RUN#{id}"),
        JobKind::Submission => format!("SUB#{id}"),
        JobKind::Import => format!("IMP#{id}"),
    }
}

fn job_item(job: &Job) -> PortResult<Item> {
    let mut item = key(job_pk(job.kind, &job.id), "JOB");
    item.insert(
        "body".into(),
        s(serde_json::to_string(job).map_err(PortError::internal)?),
    );
    item.insert("status".into(), s(job.status.as_str()));
    item.insert("attempts".into(), n(job.attempts));
    item.insert("kind".into(), s(job.kind.as_str()));
    item.insert("createdAt".into(), n(job.created_at));
    item.insert("GSI1PK".into(), s(format!("USER#{}", job.user)));
    item.insert(
        "GSI1SK".into(),
        s(format!("{:013}#{}", job.created_at, job.id)),
    );
    if let Some(p) = &job.problem_id {
        item.insert("problemId".into(), s(p));
    }
    if let Some(v) = job.verdict {
        item.insert("verdict".into(), s(v.to_string()));
    }
    if let Some(o) = &job.outcome {
        item.insert("outcome".into(), s(o));
    }
    if let Some(e) = job.expires_at {
        item.insert("expiresAt".into(), n(e / 1000));
    }
    Ok(item)
}

impl DynamoStore {
    pub fn new(client: Client, table: impl Into<String>, cursor_key: Vec<u8>) -> DynamoStore {
        DynamoStore {
            client,
            table: table.into(),
            cursor_key,
        }
    }

    /// An opaque, tamper-evident cursor from a `LastEvaluatedKey`.
    fn encode_cursor(&self, last: &Item) -> String {
        let map: BTreeMap<&str, &str> = last
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_s().ok()?.as_str())))
            .collect();
        let json = serde_json::to_vec(&map).unwrap_or_default();
        let data = hex(&json);
        format!("{data}.{}", self.tag(data.as_bytes()))
    }

    fn decode_cursor(&self, cursor: &str) -> PortResult<Item> {
        let bad = || PortError::Conflict("the cursor is not one this API issued".into());
        let (data, tag) = cursor.split_once('.').ok_or_else(bad)?;
        if self.tag(data.as_bytes()) != tag {
            return Err(bad());
        }
        let json = unhex(data).ok_or_else(bad)?;
        let map: BTreeMap<String, String> = serde_json::from_slice(&json).map_err(|_| bad())?;
        Ok(map.into_iter().map(|(k, v)| (k, s(v))).collect())
    }

    /// Writes a versioned record: created (`expected` = `None`: must not
    /// exist) or replaced if its stored version is still `expected`.
    async fn put_versioned<T: serde::Serialize>(
        &self,
        mut item: Item,
        record: &T,
        version: u64,
        expected: Option<u64>,
    ) -> PortResult<()> {
        item.insert("version".into(), n(version));
        item.insert(
            "body".into(),
            s(serde_json::to_string(record).map_err(PortError::internal)?),
        );
        let req = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item));
        let req = match expected {
            None => req.condition_expression("attribute_not_exists(PK)"),
            Some(v) => req
                .condition_expression("version = :v")
                .expression_attribute_values(":v", n(v)),
        };
        req.send().await.map_err(sort)?;
        Ok(())
    }

    /// The record stored under `key`, read consistently.
    async fn get_body<T: serde::de::DeserializeOwned>(&self, key: Item) -> PortResult<Option<T>> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sort)?;
        out.item.as_ref().map(body).transpose()
    }

    fn tag(&self, data: &[u8]) -> String {
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&self.cursor_key).expect("HMAC takes any key length");
        mac.update(data);
        hex(&mac.finalize().into_bytes()[..16])
    }
}

fn unhex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) || s.len() > 8192 {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

/// Creates the table as `template.yaml` declares it (keys, the `byUser`
/// index, TTL on `expiresAt`): for emulators and tests.
pub async fn create_table(client: &Client, name: &str) -> PortResult<()> {
    use aws_sdk_dynamodb::types::{
        AttributeDefinition, BillingMode, GlobalSecondaryIndex, KeySchemaElement, KeyType,
        Projection, ProjectionType, ScalarAttributeType, TimeToLiveSpecification,
    };
    let attr = |n: &str| {
        AttributeDefinition::builder()
            .attribute_name(n)
            .attribute_type(ScalarAttributeType::S)
            .build()
            .map_err(PortError::internal)
    };
    let key_el = |n: &str, t: KeyType| {
        KeySchemaElement::builder()
            .attribute_name(n)
            .key_type(t)
            .build()
            .map_err(PortError::internal)
    };
    let by_user = GlobalSecondaryIndex::builder()
        .index_name("byUser")
        .key_schema(key_el("GSI1PK", KeyType::Hash)?)
        .key_schema(key_el("GSI1SK", KeyType::Range)?)
        .projection(
            Projection::builder()
                .projection_type(ProjectionType::All)
                .build(),
        )
        .build()
        .map_err(PortError::internal)?;
    client
        .create_table()
        .table_name(name)
        .billing_mode(BillingMode::PayPerRequest)
        .attribute_definitions(attr("PK")?)
        .attribute_definitions(attr("SK")?)
        .attribute_definitions(attr("GSI1PK")?)
        .attribute_definitions(attr("GSI1SK")?)
        .key_schema(key_el("PK", KeyType::Hash)?)
        .key_schema(key_el("SK", KeyType::Range)?)
        .global_secondary_indexes(by_user)
        .send()
        .await
        .map_err(sort)?;
    client
        .update_time_to_live()
        .table_name(name)
        .time_to_live_specification(
            TimeToLiveSpecification::builder()
                .attribute_name("expiresAt")
                .enabled(true)
                .build()
                .map_err(PortError::internal)?,
        )
        .send()
        .await
        .map_err(sort)?;
    Ok(())
}

#[async_trait]
impl JobStore for DynamoStore {
    #[instrument(skip_all, fields(job_id = %job.id))]
    async fn insert_job(&self, job: &Job, idem: Option<&IdempotencyKey>) -> PortResult<Inserted> {
        let put_job = Put::builder()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression("attribute_not_exists(PK)")
            .build()
            .map_err(PortError::internal)?;
        let Some(k) = idem else {
            self.client
                .put_item()
                .table_name(&self.table)
                .set_item(Some(put_job.item().clone()))
                .condition_expression("attribute_not_exists(PK)")
                .send()
                .await
                .map_err(sort)?;
            return Ok(Inserted::New);
        };
        let mut idem_item = key(format!("IDEM#{}#{}", k.user, k.key), "IDEM");
        idem_item.insert("jobId".into(), s(&job.id));
        idem_item.insert("requestHash".into(), s(&k.request_hash));
        idem_item.insert(
            "expiresAt".into(),
            n(job.created_at / 1000 + IDEMPOTENCY_TTL_SECS),
        );
        let put_idem = Put::builder()
            .table_name(&self.table)
            .set_item(Some(idem_item))
            .condition_expression("attribute_not_exists(PK)")
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .build()
            .map_err(PortError::internal)?;
        let sent = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().put(put_idem).build())
            .transact_items(TransactWriteItem::builder().put(put_job).build())
            .send()
            .await;
        match sent {
            Ok(_) => Ok(Inserted::New),
            Err(e) => {
                use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
                let cancelled = match e.as_service_error() {
                    Some(TransactWriteItemsError::TransactionCanceledException(tc)) => {
                        Some(tc.cancellation_reasons().to_vec())
                    }
                    _ => None,
                };
                let Some(reasons) = cancelled else {
                    return Err(sort(e));
                };
                if reasons.first().and_then(|r| r.code()) != Some("ConditionalCheckFailed") {
                    return Err(PortError::Conflict("the job could not be stored".into()));
                }
                // The key was used: answer with its job (read it back if the
                // cancellation did not carry the old item).
                let old = match reasons.first().and_then(|r| r.item()) {
                    Some(item) => item.clone(),
                    None => self
                        .client
                        .get_item()
                        .table_name(&self.table)
                        .set_key(Some(key(format!("IDEM#{}#{}", k.user, k.key), "IDEM")))
                        .consistent_read(true)
                        .send()
                        .await
                        .map_err(sort)?
                        .item
                        .ok_or_else(|| {
                            PortError::Conflict("the idempotency key vanished".into())
                        })?,
                };
                Ok(Inserted::Existing {
                    job_id: get_s(&old, "jobId").unwrap_or_default().to_string(),
                    request_hash: get_s(&old, "requestHash").unwrap_or_default().to_string(),
                })
            }
        }
    }

    #[instrument(skip_all, fields(job_id = %id))]
    async fn get_job(&self, id: &str) -> PortResult<Option<Job>> {
        // The id does not tell the kind: both keys in one request.
        let keys = KeysAndAttributes::builder()
            .set_keys(Some(
                JobKind::ALL
                    .iter()
                    .map(|k| key(job_pk(*k, id), "JOB"))
                    .collect(),
            ))
            .consistent_read(true)
            .build()
            .map_err(PortError::internal)?;
        let out = self
            .client
            .batch_get_item()
            .request_items(&self.table, keys)
            .send()
            .await
            .map_err(sort)?;
        let items = out
            .responses
            .and_then(|mut r| r.remove(&self.table))
            .unwrap_or_default();
        items.first().map(body).transpose()
    }

    #[instrument(skip_all, fields(job_id = %job.id))]
    async fn replace_job(&self, job: &Job, expected: (Status, u32)) -> PortResult<()> {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(job_item(job)?))
            .condition_expression("#s = :s AND attempts = :a")
            .expression_attribute_names("#s", "status")
            .expression_attribute_values(":s", s(expected.0.as_str()))
            .expression_attribute_values(":a", n(expected.1))
            .send()
            .await
            .map_err(|e| match sort(e) {
                PortError::Conflict(_) => PortError::Conflict(format!(
                    "job {} is no longer {} (attempt {})",
                    job.id, expected.0, expected.1
                )),
                other => other,
            })?;
        Ok(())
    }

    async fn list_jobs(&self, q: &JobQuery) -> PortResult<Page<Job>> {
        let mut start = match &q.cursor {
            Some(c) => Some(self.decode_cursor(c)?),
            None => None,
        };
        let mut filters = Vec::new();
        let mut values: Item = HashMap::from([(":u".into(), s(format!("USER#{}", q.user)))]);
        if let Some(k) = q.kind {
            filters.push("kind = :k");
            values.insert(":k".into(), s(k.as_str()));
        }
        if let Some(p) = &q.problem_id {
            filters.push("problemId = :p");
            values.insert(":p".into(), s(p));
        }
        if let Some(v) = q.verdict {
            filters.push("verdict = :v");
            values.insert(":v".into(), s(v.to_string()));
        }
        // Filters apply after `Limit`: keep reading until the page is full.
        let mut items = Vec::new();
        loop {
            let mut req = self
                .client
                .query()
                .table_name(&self.table)
                .index_name("byUser")
                .key_condition_expression("GSI1PK = :u")
                .set_expression_attribute_values(Some(values.clone()))
                .scan_index_forward(false)
                .limit((q.limit as i32 - items.len() as i32).max(1))
                .set_exclusive_start_key(start.take());
            if !filters.is_empty() {
                req = req.filter_expression(filters.join(" AND "));
            }
            let out = req.send().await.map_err(sort)?;
            for item in out.items() {
                items.push(body::<Job>(item)?);
            }
            match out.last_evaluated_key {
                Some(last) if items.len() < q.limit as usize => start = Some(last),
                Some(last) => {
                    return Ok(Page {
                        items,
                        next: Some(self.encode_cursor(&last)),
                    })
                }
                None => return Ok(Page { items, next: None }),
            }
        }
    }

    async fn unfinished_jobs(&self, limit: u32) -> PortResult<Vec<Job>> {
        // Operators' tool only (the one-machine platform recovers from its
        // own store); a filtered scan is fine for it.
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("SK = :j AND NOT (#s IN (:c, :f))")
                .expression_attribute_names("#s", "status")
                .expression_attribute_values(":j", s("JOB"))
                .expression_attribute_values(":c", s("COMPLETED"))
                .expression_attribute_values(":f", s("FAILED"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sort)?;
            for item in page.items() {
                out.push(body::<Job>(item)?);
            }
            start = page.last_evaluated_key;
            if start.is_none() || out.len() >= limit as usize {
                break;
            }
        }
        out.sort_by_key(|j| j.created_at);
        out.truncate(limit as usize);
        Ok(out)
    }

    async fn job_counts(&self, now: Millis) -> PortResult<JobCounts> {
        let mut counts = JobCounts::default();
        let mut start = None;
        loop {
            let page = self
                .client
                .scan()
                .table_name(&self.table)
                .filter_expression("SK = :j")
                .expression_attribute_values(":j", s("JOB"))
                .projection_expression("#s, kind, verdict, outcome, createdAt")
                .expression_attribute_names("#s", "status")
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sort)?;
            for item in page.items() {
                let status = get_s(item, "status").and_then(Status::parse);
                match status {
                    Some(Status::Queued) => counts.queued += 1,
                    Some(Status::Starting) => counts.starting += 1,
                    Some(Status::Running) => counts.running += 1,
                    Some(Status::Completed) => counts.completed += 1,
                    Some(Status::Failed) => counts.failed += 1,
                    None => {}
                }
                if status.is_some_and(|s| !s.is_final()) {
                    let created = get_n(item, "createdAt").unwrap_or(now);
                    let age = (now - created).max(0);
                    counts.oldest_unfinished_ms =
                        Some(counts.oldest_unfinished_ms.unwrap_or(0).max(age));
                }
                if status == Some(Status::Completed) {
                    if let Some(v) = get_s(item, "verdict") {
                        *counts.verdicts.entry(v.to_string()).or_default() += 1;
                    }
                    if let Some(o) = get_s(item, "outcome") {
                        *counts.outcomes.entry(o.to_string()).or_default() += 1;
                    }
                }
            }
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(counts);
            }
        }
    }

    /// DynamoDB's TTL removes expired runs and S3 lifecycle rules their
    /// blobs: nothing for a pruner to do here.
    async fn expired_jobs(&self, _now: Millis, _limit: u32) -> PortResult<Vec<Job>> {
        Ok(Vec::new())
    }

    #[instrument(skip_all, fields(job_id = %id))]
    async fn delete_job(&self, id: &str) -> PortResult<()> {
        for kind in JobKind::ALL {
            self.client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(key(job_pk(kind, id), "JOB")))
                .send()
                .await
                .map_err(sort)?;
        }
        Ok(())
    }
}

#[async_trait]
impl ProblemStore for DynamoStore {
    async fn put_problem(&self, p: &Problem, expected: Option<u64>) -> PortResult<()> {
        let item = key("PROBLEMS", format!("PROB#{}", p.id));
        self.put_versioned(item, p, p.version, expected).await
    }

    async fn get_problem(&self, id: &str) -> PortResult<Option<Problem>> {
        self.get_body(key("PROBLEMS", format!("PROB#{id}"))).await
    }

    async fn list_problems(&self, cursor: Option<&str>, limit: u32) -> PortResult<Page<Problem>> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("PK = :p AND SK > :after")
            .expression_attribute_values(":p", s("PROBLEMS"))
            .expression_attribute_values(":after", s(format!("PROB#{}", cursor.unwrap_or(""))))
            .limit(limit as i32 + 1)
            .send()
            .await
            .map_err(sort)?;
        let mut items: Vec<Problem> = out.items().iter().map(body).collect::<Result<_, _>>()?;
        let next = if items.len() > limit as usize {
            items.truncate(limit as usize);
            items.last().map(|p| p.id.clone())
        } else {
            None
        };
        Ok(Page { items, next })
    }

    async fn delete_problem(&self, id: &str) -> PortResult<bool> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(key("PROBLEMS", format!("PROB#{id}"))))
            .return_values(aws_sdk_dynamodb::types::ReturnValue::AllOld)
            .send()
            .await
            .map_err(sort)?;
        Ok(out.attributes.is_some())
    }
}

#[async_trait]
impl SessionStore for DynamoStore {
    async fn put_session(&self, session: &Session, expected: Option<u64>) -> PortResult<()> {
        let item = key(format!("SESS#{}", session.id), "SESS");
        self.put_versioned(item, session, session.version, expected)
            .await
    }

    async fn get_session(&self, id: &str) -> PortResult<Option<Session>> {
        self.get_body(key(format!("SESS#{id}"), "SESS")).await
    }
}

#[async_trait]
impl ProfileStore for DynamoStore {
    async fn record_attempt(&self, a: &Attempt) -> PortResult<()> {
        // One item per judged job: recording it again overwrites itself.
        let mut item = key(
            format!("USER#{}", a.user),
            format!("ATTEMPT#{}#{}", a.problem_id, a.job_id),
        );
        item.insert("problemId".into(), s(&a.problem_id));
        item.insert("verdict".into(), s(a.verdict.to_string()));
        item.insert("at".into(), n(a.at));
        if let Some(score) = a.score {
            item.insert("score".into(), n(score));
        }
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .send()
            .await
            .map_err(sort)?;
        Ok(())
    }

    async fn profile(&self, user: &str) -> PortResult<Vec<ProblemStats>> {
        let mut attempts = Vec::new();
        let mut start = None;
        loop {
            let out = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :u AND begins_with(SK, :a)")
                .expression_attribute_values(":u", s(format!("USER#{user}")))
                .expression_attribute_values(":a", s("ATTEMPT#"))
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sort)?;
            for item in out.items() {
                let number = |k: &str| item.get(k).and_then(|v| v.as_n().ok());
                let (Some(problem_id), Some(verdict)) = (
                    get_s(item, "problemId"),
                    get_s(item, "verdict").and_then(|v| v.parse().ok()),
                ) else {
                    continue; // not an attempt this code wrote
                };
                attempts.push(Attempt {
                    user: user.to_string(),
                    problem_id: problem_id.to_string(),
                    job_id: String::new(), // in the sort key; not needed here
                    verdict,
                    score: number("score").and_then(|v| v.parse().ok()),
                    at: number("at").and_then(|v| v.parse().ok()).unwrap_or(0),
                });
            }
            start = out.last_evaluated_key;
            if start.is_none() {
                return Ok(profile_of(&attempts));
            }
        }
    }
}
