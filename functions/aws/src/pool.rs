//! The warm pool's records in the table: one item per runner task
//! (`POOL#{family}` / `RUNNER#{id}`), a count per family that caps them
//! (`POOL#{family}` / `COUNT`), and one item per job attempt handed to a
//! runner (`CLAIM#{job}` / `ATTEMPT#{n}`). Every change is conditional, so
//! a runner holds one job at a time and an attempt goes to one runner,
//! however many dispatchers race for them.

use aws_sdk_dynamodb::types::{AttributeValue, ReturnValue};
use aws_sdk_dynamodb::Client;
use coderun_core::error::PortError;
use coderun_core::ports::PortResult;
use coderun_core::Millis;

use crate::error::sort;
use crate::item::{get_n, get_s, key, n, s, Item};

/// How long a record outlives its last change when its task's end is
/// never reported (DynamoDB's TTL then removes it).
const RECORD_TTL_SECS: i64 = 86_400;

/// A runner as its record says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Runner {
    pub family: String,
    pub id: String,
    /// Its current mailbox's number.
    pub seq: u64,
    pub busy: bool,
    /// Since when it is busy or idle (ms).
    pub since: Millis,
    /// The job it holds, and the launch id given for it.
    pub job: Option<String>,
    pub launch: Option<String>,
    /// When a busy runner that has not taken its job is given up on.
    pub answer_by: Millis,
    /// Its ECS task, once started.
    pub task: Option<String>,
}

/// What claiming an idle runner for a job attempt came to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Claim {
    Claimed,
    /// This attempt was handed to a runner before: `(family/id, seq)`.
    AlreadyClaimed(String, u64),
    /// Another dispatcher took the runner first (or it moved on).
    RunnerTaken,
    /// The family has its most runners: no new one.
    Full,
}

/// The pool's records.
#[derive(Debug, Clone)]
pub struct PoolStore {
    client: Client,
    table: String,
}

/// Whether a conditional write was applied: `false` when its condition
/// did not hold; other errors stay errors.
fn applied<T, E>(
    r: Result<T, aws_sdk_dynamodb::error::SdkError<E, aws_smithy_runtime_api::http::Response>>,
) -> PortResult<bool>
where
    E: aws_sdk_dynamodb::error::ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match r.map_err(sort) {
        Ok(_) => Ok(true),
        Err(PortError::Conflict(_)) => Ok(false),
        Err(e) => Err(e),
    }
}

fn runner_key(family: &str, id: &str) -> Item {
    key(format!("POOL#{family}"), format!("RUNNER#{id}"))
}

/// The family's count of runners, which caps new ones atomically.
fn count_key(family: &str) -> Item {
    key(format!("POOL#{family}"), "COUNT")
}

fn claim_key(job: &str, attempt: u32) -> Item {
    key(format!("CLAIM#{job}"), format!("ATTEMPT#{attempt}"))
}

fn text(item: &Item, k: &str) -> Option<String> {
    get_s(item, k).map(str::to_string)
}

fn number(item: &Item, k: &str) -> i64 {
    get_n(item, k).unwrap_or_default()
}

fn runner_of(item: &Item) -> Option<Runner> {
    let pk = text(item, "PK")?;
    let sk = text(item, "SK")?;
    Some(Runner {
        family: pk.strip_prefix("POOL#")?.to_string(),
        id: sk.strip_prefix("RUNNER#")?.to_string(),
        seq: number(item, "seq") as u64,
        busy: text(item, "state").as_deref() == Some("busy"),
        since: number(item, "since"),
        job: text(item, "job"),
        launch: text(item, "launch"),
        answer_by: number(item, "answerBy"),
        task: text(item, "task"),
    })
}

impl PoolStore {
    pub fn new(client: Client, table: impl Into<String>) -> PoolStore {
        PoolStore {
            client,
            table: table.into(),
        }
    }

    fn expiry(now: Millis) -> AttributeValue {
        n(now / 1000 + RECORD_TTL_SECS)
    }

    /// The runners of a family, read consistently.
    pub async fn runners(&self, family: &str) -> PortResult<Vec<Runner>> {
        let mut out = Vec::new();
        let mut start = None;
        loop {
            let page = self
                .client
                .query()
                .table_name(&self.table)
                .key_condition_expression("PK = :pk")
                .expression_attribute_values(":pk", s(format!("POOL#{family}")))
                .consistent_read(true)
                .set_exclusive_start_key(start)
                .send()
                .await
                .map_err(sort)?;
            out.extend(page.items().iter().filter_map(runner_of));
            start = page.last_evaluated_key;
            if start.is_none() {
                return Ok(out);
            }
        }
    }

    /// The item at `key`, read consistently.
    async fn get(&self, key: Item) -> PortResult<Option<Item>> {
        let got = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(sort)?;
        Ok(got.item)
    }

    pub async fn runner(&self, family: &str, id: &str) -> PortResult<Option<Runner>> {
        let item = self.get(runner_key(family, id)).await?;
        Ok(item.as_ref().and_then(runner_of))
    }

    /// Which runner and mailbox an attempt was handed to, if it was.
    pub async fn claim_of(&self, job: &str, attempt: u32) -> PortResult<Option<(String, u64)>> {
        let item = self.get(claim_key(job, attempt)).await?;
        Ok(item.and_then(|i| Some((text(&i, "runner")?, number(&i, "seq") as u64))))
    }

    /// Hands an idle runner at mailbox `seq` the attempt: the runner's item
    /// from idle to busy (conditionally), then the attempt's claim (only if
    /// absent). If the attempt was claimed before, the runner is given
    /// back and the earlier claim answers. Plain conditional writes, not a
    /// transaction (which costs twice as much): a dispatcher that stops
    /// between the two leaves a busy runner without a claim, which the
    /// sweep frees or replaces.
    pub async fn claim(
        &self,
        r: &Runner,
        job: &str,
        attempt: u32,
        launch: &str,
        now: Millis,
        answer_by: Millis,
    ) -> PortResult<Claim> {
        let taken = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(runner_key(&r.family, &r.id)))
            .update_expression(
                "SET #state = :busy, job = :job, launch = :launch, since = :now, answerBy = :by, expiresAt = :exp",
            )
            .condition_expression("#state = :idle AND seq = :seq")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":busy", s("busy"))
            .expression_attribute_values(":idle", s("idle"))
            .expression_attribute_values(":seq", n(r.seq))
            .expression_attribute_values(":job", s(job))
            .expression_attribute_values(":launch", s(launch))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":by", n(answer_by))
            .expression_attribute_values(":exp", Self::expiry(now))
            .send()
            .await;
        if !applied(taken)? {
            return Ok(Claim::RunnerTaken);
        }
        let runner = format!("{}/{}", r.family, r.id);
        match self.put_claim(job, attempt, &runner, r.seq, now).await {
            Ok(None) => Ok(Claim::Claimed),
            Ok(Some((earlier, seq))) => {
                self.give_back(&r.family, &r.id, launch).await?;
                Ok(Claim::AlreadyClaimed(earlier, seq))
            }
            Err(e) => {
                self.give_back(&r.family, &r.id, launch).await.ok();
                Err(e)
            }
        }
    }

    /// Writes an attempt's claim unless it exists; the earlier one if it
    /// did.
    async fn put_claim(
        &self,
        job: &str,
        attempt: u32,
        runner: &str,
        seq: u64,
        now: Millis,
    ) -> PortResult<Option<(String, u64)>> {
        let mut item = claim_key(job, attempt);
        item.insert("runner".into(), s(runner));
        item.insert("seq".into(), n(seq));
        item.insert("expiresAt".into(), Self::expiry(now));
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        if applied(put)? {
            return Ok(None);
        }
        match self.claim_of(job, attempt).await? {
            Some(earlier) => Ok(Some(earlier)),
            None => Err(PortError::Conflict("a claim vanished".into())),
        }
    }

    /// A runner claimed as `launch` is idle again at the same mailbox.
    async fn give_back(&self, family: &str, id: &str, launch: &str) -> PortResult<()> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(runner_key(family, id)))
            .update_expression("SET #state = :idle REMOVE job, launch")
            .condition_expression("#state = :busy AND launch = :launch")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":idle", s("idle"))
            .expression_attribute_values(":busy", s("busy"))
            .expression_attribute_values(":launch", s(launch))
            .send()
            .await;
        applied(r).map(drop)
    }

    /// Records a new runner, busy with the attempt from its first mailbox
    /// (`job` given) or idle there, counted against the family's `max`
    /// first, and the attempt's claim last. An attempt claimed before
    /// takes the new runner back out and answers with its claim.
    pub async fn add(
        &self,
        family: &str,
        id: &str,
        job: Option<(&str, u32, &str)>,
        max: u32,
        now: Millis,
        answer_by: Millis,
    ) -> PortResult<Claim> {
        let counted = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(count_key(family)))
            .update_expression("SET runners = if_not_exists(runners, :zero) + :one")
            .condition_expression("attribute_not_exists(runners) OR runners < :max")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .expression_attribute_values(":max", n(max))
            .send()
            .await;
        if !applied(counted)? {
            return Ok(Claim::Full);
        }
        let mut item = runner_key(family, id);
        item.insert("seq".into(), n(0));
        item.insert("since".into(), n(now));
        item.insert("answerBy".into(), n(answer_by));
        item.insert("expiresAt".into(), Self::expiry(now));
        item.insert(
            "state".into(),
            s(if job.is_some() { "busy" } else { "idle" }),
        );
        if let Some((job, _, launch)) = job {
            item.insert("job".into(), s(job));
            item.insert("launch".into(), s(launch));
        }
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(PK)")
            .send()
            .await;
        if let Err(e) = put {
            self.uncount(family).await.ok();
            return Err(sort(e));
        }
        let Some((job, attempt, _)) = job else {
            return Ok(Claim::Claimed);
        };
        match self
            .put_claim(job, attempt, &format!("{family}/{id}"), 0, now)
            .await
        {
            Ok(None) => Ok(Claim::Claimed),
            Ok(Some((earlier, seq))) => {
                self.remove(family, id).await?;
                Ok(Claim::AlreadyClaimed(earlier, seq))
            }
            Err(e) => {
                self.remove(family, id).await.ok();
                Err(e)
            }
        }
    }

    pub async fn set_task(&self, family: &str, id: &str, task: &str) -> PortResult<()> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(runner_key(family, id)))
            .update_expression("SET task = :task")
            .condition_expression("attribute_exists(PK)")
            .expression_attribute_values(":task", s(task))
            .send()
            .await;
        applied(r).map(drop)
    }

    /// The runner is done with the job of mailbox `seq`: idle at the next
    /// one. Saying it again, or for a runner that moved on, changes
    /// nothing.
    pub async fn release(&self, family: &str, id: &str, seq: u64, now: Millis) -> PortResult<bool> {
        self.step(family, id, seq, "busy", now).await
    }

    /// An idle runner told to stay (a `Stay` mail at `seq`): idle at the
    /// next mailbox. `false` when it was claimed or moved on meanwhile.
    pub async fn renew(&self, family: &str, id: &str, seq: u64, now: Millis) -> PortResult<bool> {
        self.step(family, id, seq, "idle", now).await
    }

    async fn step(
        &self,
        family: &str,
        id: &str,
        seq: u64,
        from: &str,
        now: Millis,
    ) -> PortResult<bool> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(runner_key(family, id)))
            .update_expression(
                "SET #state = :idle, seq = :next, since = :now, expiresAt = :exp REMOVE job, launch",
            )
            .condition_expression("#state = :from AND seq = :seq")
            .expression_attribute_names("#state", "state")
            .expression_attribute_values(":idle", s("idle"))
            .expression_attribute_values(":from", s(from))
            .expression_attribute_values(":seq", n(seq))
            .expression_attribute_values(":next", n(seq + 1))
            .expression_attribute_values(":now", n(now))
            .expression_attribute_values(":exp", Self::expiry(now))
            .send()
            .await;
        applied(r)
    }

    /// Forgets a runner; what its record said.
    pub async fn remove(&self, family: &str, id: &str) -> PortResult<Option<Runner>> {
        let out = self
            .client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(runner_key(family, id)))
            .return_values(ReturnValue::AllOld)
            .send()
            .await
            .map_err(sort)?;
        let gone = out.attributes.as_ref().and_then(runner_of);
        if gone.is_some() {
            self.uncount(family).await?;
        }
        Ok(gone)
    }

    /// One runner fewer in the family's count.
    async fn uncount(&self, family: &str) -> PortResult<()> {
        let r = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(count_key(family)))
            .update_expression("SET runners = runners - :one")
            .condition_expression("runners > :zero")
            .expression_attribute_values(":zero", n(0))
            .expression_attribute_values(":one", n(1))
            .send()
            .await;
        applied(r).map(drop)
    }

    /// Sets the family's count of runners to what its records say (a
    /// record DynamoDB's TTL removed was never counted out).
    pub async fn recount(&self, family: &str, runners: usize) -> PortResult<()> {
        self.client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(count_key(family)))
            .update_expression("SET runners = :n")
            .expression_attribute_values(":n", n(runners))
            .send()
            .await
            .map_err(sort)?;
        Ok(())
    }

    /// Drops an attempt's claim (its runner left before taking it).
    pub async fn forget_claim(&self, job: &str, attempt: u32) -> PortResult<()> {
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(claim_key(job, attempt)))
            .send()
            .await
            .map_err(sort)?;
        Ok(())
    }
}
