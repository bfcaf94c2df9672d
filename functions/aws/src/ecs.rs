//! The ECS launcher: a warm pool of Fargate runner tasks per task
//! definition (image family). A job goes to an idle runner of its family
//! when there is one, through the runner's mailbox (see
//! [`coderun_protocol::mailbox`]); otherwise a new task starts with the job
//! already in its first mailbox. A runner serves one job at a time and
//! leaves after an idle window; the pool never grows past its cap.
//!
//! Runners get no credentials: their task has no role, and everything they
//! read or write is a presigned URL. The first mailbox's URLs travel in
//! the container's environment, not its command: any process may read
//! another's `/proc/PID/cmdline`, while `environ` is readable only by its
//! own uid, and programs run under another.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, Tag, TaskOverride,
};
use aws_sdk_ecs::Client;
use coderun_core::error::PortError;
use coderun_core::ports::{Held, Launch, Launcher, PortResult};
use coderun_core::Millis;
use coderun_protocol::mailbox::{self, Assignment, Mail, Mailbox};
use coderun_protocol::ProblemRef;
use tracing::{info, instrument, warn};

use crate::error::sort;
use crate::pool::{Claim, PoolStore, Runner};
use crate::s3::S3Blobs;

/// ECS refuses container overrides above 8 KiB; stay well below.
pub const MAX_OVERRIDES_BYTES: usize = 6 << 10;

/// Where and how tasks run (from the launching function's config).
#[derive(Debug, Clone)]
pub struct EcsConfig {
    pub cluster: String,
    /// Task definition (family or ARN) per language id.
    pub task_definitions: HashMap<String, String>,
    /// The runner container's name in those task definitions.
    pub container: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// How long a task may take to start (capacity, image pull): a cold
    /// runner that has not taken its job by then is given up on, and its
    /// URLs live that long plus the job's time budget, no longer.
    pub url_ttl: Duration,
    /// How long an idle runner waits for its next job before it leaves.
    pub idle: Duration,
    /// Idle runners kept per family (renewed before their window ends).
    pub min_warm: u32,
    /// Runners per family at most; beyond, a job waits for one to free.
    pub max_runners: u32,
    /// How long a warm runner may take to say it took a job.
    pub take_timeout: Duration,
}

impl EcsConfig {
    /// Parses `python3=coderun-python,c=coderun-native,…`.
    pub fn parse_task_definitions(s: &str) -> Result<HashMap<String, String>, String> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|pair| {
                let (lang, td) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("{pair:?}: expected LANGUAGE=TASK_DEFINITION"))?;
                Ok((lang.trim().to_string(), td.trim().to_string()))
            })
            .collect()
    }

    /// The families of the task definitions, each once.
    pub fn families(&self) -> Vec<(String, String)> {
        let mut out: Vec<(String, String)> = Vec::new();
        for td in self.task_definitions.values() {
            let f = family_of(td).to_string();
            if !out.iter().any(|(g, _)| *g == f) {
                out.push((f, td.clone()));
            }
        }
        out.sort();
        out
    }
}

/// A task definition's family: `coderun-python` of
/// `arn:aws:ecs:…:task-definition/coderun-python:3`, `coderun-python:3` or
/// `coderun-python`.
pub fn family_of(task_definition: &str) -> &str {
    let name = task_definition
        .rsplit_once("task-definition/")
        .map_or(task_definition, |(_, n)| n);
    name.split(':').next().unwrap_or(name)
}

/// The variables a runner task starts with.
pub fn environment(runner: &str, first: &Mailbox, idle: Duration) -> Vec<KeyValuePair> {
    [
        (mailbox::RUNNER_VAR, runner.to_string()),
        (mailbox::MAILBOX_GET_VAR, first.get.clone()),
        (mailbox::MAILBOX_PUT_VAR, first.put.clone()),
        (mailbox::IDLE_SECONDS_VAR, idle.as_secs().to_string()),
    ]
    .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
    .to_vec()
}

/// The runner's arguments (the image's entry point is `runner-task`).
pub fn command() -> Vec<String> {
    ["--min-isolation", "restricted", "mailbox"]
        .map(String::from)
        .to_vec()
}

/// Where a runner's objects are: its mailboxes and their "taken" marks.
fn runner_prefix(id: &str) -> String {
    format!("runners/{id}/")
}

/// A runner's mailbox number `seq`.
pub fn mail_key(id: &str, seq: u64) -> String {
    format!("{}{seq}.mail", runner_prefix(id))
}

fn taken_key(id: &str, seq: u64) -> String {
    format!("{}{seq}.taken", runner_prefix(id))
}

/// `family/id/seq`: the launch id of a job handed to a runner.
fn launch_id(family: &str, id: &str, seq: u64) -> String {
    format!("{family}/{id}/{seq}")
}

fn parse_launch(launch: &str) -> Option<(&str, &str, u64)> {
    let mut parts = launch.split('/');
    let (f, id, seq) = (parts.next()?, parts.next()?, parts.next()?.parse().ok()?);
    parts.next().is_none().then_some((f, id, seq))
}

fn now() -> Millis {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as Millis)
}

/// What posting a mail came to.
#[derive(Debug, PartialEq, Eq)]
enum Posted {
    Posted,
    /// The runner retired at that mailbox first.
    Gone,
}

#[derive(Debug, Clone)]
pub struct EcsLauncher {
    client: Client,
    blobs: S3Blobs,
    pool: PoolStore,
    cfg: EcsConfig,
    metrics: Option<String>,
}

impl EcsLauncher {
    pub fn new(client: Client, blobs: S3Blobs, pool: PoolStore, cfg: EcsConfig) -> EcsLauncher {
        EcsLauncher {
            client,
            blobs,
            pool,
            cfg,
            metrics: None,
        }
    }

    /// Writes the pool's counts as CloudWatch metrics (EMF) under
    /// `namespace`.
    pub fn with_metrics(mut self, namespace: impl Into<String>) -> EcsLauncher {
        self.metrics = Some(namespace.into());
        self
    }

    /// Where runner `id` waits after mailbox `seq`, for `ttl`.
    async fn mailbox(&self, id: &str, seq: u64, ttl: Duration) -> PortResult<Mailbox> {
        let key = mail_key(id, seq);
        Ok(Mailbox {
            get: self.blobs.presign_get(&key, ttl).await?,
            put: self.blobs.presign_put_if_absent(&key, ttl).await?,
        })
    }

    /// Posts the job into runner `id`'s mailbox `seq` unless something is
    /// there; a post of the same job before counts as posted.
    async fn post_job(&self, id: &str, seq: u64, l: &Launch) -> PortResult<Posted> {
        // The job's URLs live as long as a cold start and the job may
        // take; the next mailbox's, an idle window longer.
        let ttl = self.cfg.url_ttl + l.budget;
        let mut live = Vec::new();
        for [out, err] in &l.live_keys {
            live.push([
                self.blobs.presign_put(out, ttl).await?,
                self.blobs.presign_put(err, ttl).await?,
            ]);
        }
        let mail = Mail::Job {
            job: Assignment {
                job_id: l.job_id.clone(),
                manifest: self.blobs.presign_get(&l.manifest_key, ttl).await?,
                result: self.blobs.presign_put(&l.result_key, ttl).await?,
                taken: self.blobs.presign_put(&taken_key(id, seq), ttl).await?,
                live,
            },
            next: self.mailbox(id, seq + 1, ttl + self.cfg.idle).await?,
            idle_seconds: self.cfg.idle.as_secs(),
        };
        self.post(id, seq, &mail, Some(&l.job_id)).await
    }

    async fn post(&self, id: &str, seq: u64, mail: &Mail, job: Option<&str>) -> PortResult<Posted> {
        let bytes = serde_json::to_vec(mail).map_err(PortError::internal)?;
        if self.blobs.put_if_absent(&mail_key(id, seq), bytes).await? {
            return Ok(Posted::Posted);
        }
        let there = coderun_core::ports::Blobs::get(&self.blobs, &mail_key(id, seq)).await?;
        let there: Option<Mail> = there.and_then(|b| serde_json::from_slice(&b).ok());
        Ok(match (there, job) {
            (Some(Mail::Job { job: a, .. }), Some(job)) if a.job_id == job => Posted::Posted,
            _ => Posted::Gone,
        })
    }

    /// Starts runner `id`'s task, waiting at its first mailbox.
    async fn run_task(
        &self,
        family: &str,
        task_definition: &str,
        id: &str,
        budget: Duration,
    ) -> PortResult<String> {
        let first = self
            .mailbox(id, 0, self.cfg.url_ttl + budget + self.cfg.idle)
            .await?;
        let environment = environment(id, &first, self.cfg.idle);
        let command = command();
        // The overrides as ECS measures them: their JSON.
        let size: usize = command.iter().map(|c| c.len() + 3).sum::<usize>()
            + environment
                .iter()
                .map(|kv| {
                    kv.name().unwrap_or_default().len() + kv.value().unwrap_or_default().len() + 30
                })
                .sum::<usize>()
            + 100
            + self.cfg.container.len();
        if size > MAX_OVERRIDES_BYTES {
            return Err(PortError::internal(format!(
                "the container overrides would be {size} bytes (at most {MAX_OVERRIDES_BYTES})"
            )));
        }
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(&self.cfg.container)
                    .set_command(Some(command))
                    .set_environment(Some(environment))
                    .build(),
            )
            .build();
        let network = NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .set_subnets(Some(self.cfg.subnets.clone()))
                    .set_security_groups(Some(self.cfg.security_groups.clone()))
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .map_err(PortError::internal)?,
            )
            .build();
        let out = self
            .client
            .run_task()
            .cluster(&self.cfg.cluster)
            .task_definition(task_definition)
            .launch_type(LaunchType::Fargate)
            .count(1)
            // The same start twice (a retried dispatch) is one task.
            .client_token(id)
            .started_by(id)
            .tags(Tag::builder().key("coderun:runner").value(id).build())
            .overrides(overrides)
            .network_configuration(network)
            .send()
            .await
            .map_err(sort)?;
        if let Some(f) = out.failures().first() {
            // Capacity and the like: the message is retried.
            return Err(PortError::unavailable(format!(
                "RunTask failed: {} {}",
                f.reason().unwrap_or("unknown"),
                f.detail().unwrap_or_default()
            )));
        }
        let arn = out
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .ok_or_else(|| PortError::unavailable("RunTask started no task"))?
            .to_string();
        self.pool.set_task(family, id, &arn).await?;
        info!(runner = id, task = %arn, "runner task started");
        Ok(arn)
    }

    /// Finishes an attempt handed to runner `family/id` at `seq` before
    /// (a retried dispatch): posts the job if it is not there yet, and
    /// starts the runner's task if it is a cold one without a task.
    async fn resume(&self, runner: &str, seq: u64, l: &Launch, td: &str) -> PortResult<String> {
        let (family, id) = runner.split_once('/').unwrap_or(("", runner));
        if self.post_job(id, seq, l).await? == Posted::Gone {
            return Err(PortError::unavailable(format!(
                "runner {id} left before it was handed job {}",
                l.job_id
            )));
        }
        if seq == 0 {
            if let Some(r) = self.pool.runner(family, id).await? {
                if r.task.is_none() {
                    self.run_task(family, td, id, l.budget).await?;
                }
            }
        }
        Ok(launch_id(family, id, seq))
    }

    fn emit(&self, family: &str, fields: serde_json::Value, metrics: &[&str]) {
        let Some(ns) = &self.metrics else { return };
        let mut doc = serde_json::json!({
            "_aws": {
                "Timestamp": now(),
                "CloudWatchMetrics": [{
                    "Namespace": ns,
                    // By family, and over all families (for the alarms).
                    "Dimensions": [["Family"], []],
                    "Metrics": metrics.iter().map(|m| serde_json::json!({"Name": m, "Unit": "Count"})).collect::<Vec<_>>()
                }]
            },
            "Family": family,
        });
        if let (Some(d), Some(f)) = (doc.as_object_mut(), fields.as_object()) {
            d.extend(f.clone());
        }
        println!("{doc}");
    }
}

#[async_trait]
impl Launcher for EcsLauncher {
    #[instrument(skip_all, fields(job_id = %l.job_id))]
    async fn launch(&self, l: &Launch) -> PortResult<String> {
        let td = self.cfg.task_definitions.get(&l.language).ok_or_else(|| {
            PortError::internal(format!("no task definition for language {:?}", l.language))
        })?;
        let family = family_of(td);
        if let Some((runner, seq)) = self.pool.claim_of(&l.job_id, l.attempt).await? {
            return self.resume(&runner, seq, l, td).await;
        }
        let now = now();
        let answer_by = now + self.cfg.take_timeout.as_millis() as Millis;
        let mut runners = self.pool.runners(family).await?;
        // The most recently freed first: the others stay idle longer and
        // leave, so the pool shrinks to what the load needs.
        runners.sort_by_key(|r| std::cmp::Reverse(r.since));
        for r in runners.iter().filter(|r| !r.busy) {
            let launch = launch_id(family, &r.id, r.seq);
            match self
                .pool
                .claim(r, &l.job_id, l.attempt, &launch, now, answer_by)
                .await?
            {
                Claim::Claimed => {}
                Claim::AlreadyClaimed(runner, seq) => {
                    return self.resume(&runner, seq, l, td).await
                }
                Claim::RunnerTaken | Claim::Full => continue,
            }
            if self.post_job(&r.id, r.seq, l).await? == Posted::Gone {
                // It retired first: the attempt goes elsewhere.
                self.pool.remove(family, &r.id).await?;
                self.forget_claim(&l.job_id, l.attempt).await?;
                continue;
            }
            self.emit(
                family,
                serde_json::json!({"WarmStarts": 1, "job_id": l.job_id}),
                &["WarmStarts"],
            );
            info!(runner = %r.id, seq = r.seq, "handed to a warm runner");
            return Ok(launch);
        }
        if runners.len() as u32 >= self.cfg.max_runners {
            return Err(PortError::unavailable(format!(
                "all {} runners of {family} are busy",
                runners.len()
            )));
        }
        // Cold: a new runner, its first mailbox holding the job.
        let id = format!("runner-{}", coderun_core::ids::random_hex(12));
        let launch = launch_id(family, &id, 0);
        let answer_by = now + (self.cfg.url_ttl.as_millis() as Millis);
        match self
            .pool
            .add(
                family,
                &id,
                Some((&l.job_id, l.attempt, &launch)),
                self.cfg.max_runners,
                now,
                answer_by,
            )
            .await?
        {
            Claim::AlreadyClaimed(runner, seq) => return self.resume(&runner, seq, l, td).await,
            // Another dispatch started the last runner the cap allows.
            Claim::Full => {
                return Err(PortError::unavailable(format!(
                    "all {} runners of {family} are busy",
                    self.cfg.max_runners
                )))
            }
            Claim::Claimed | Claim::RunnerTaken => {}
        }
        self.post_job(&id, 0, l).await?;
        self.run_task(family, td, &id, l.budget).await?;
        self.emit(
            family,
            serde_json::json!({"ColdStarts": 1, "job_id": l.job_id}),
            &["ColdStarts"],
        );
        Ok(launch)
    }

    async fn problem_ref(&self, prefix: &str, budget: Duration) -> PortResult<ProblemRef> {
        let url = self
            .blobs
            .presign_get(&format!("{prefix}.tar.gz"), self.cfg.url_ttl + budget)
            .await?;
        Ok(ProblemRef::Url(url))
    }

    fn workers(&self) -> Option<(usize, usize)> {
        None
    }

    async fn release(&self, job_id: &str, attempt: u32, launch: Option<&str>) -> PortResult<()> {
        // The launch id, or else the attempt's claim, names the runner.
        let claimed = match launch {
            Some(l) => parse_launch(l).map(|(f, id, seq)| (format!("{f}/{id}"), seq)),
            None => self.pool.claim_of(job_id, attempt).await?,
        };
        let Some((runner, seq)) = claimed else {
            return Ok(());
        };
        let (family, id) = runner.split_once('/').unwrap_or(("", &runner));
        if self.pool.release(family, id, seq, now()).await? {
            info!(runner = id, seq, "runner free");
        }
        Ok(())
    }

    async fn runner_ended(&self, runner: &str) -> PortResult<Option<Held>> {
        let Some((family, id)) = runner.split_once('/') else {
            return Ok(None);
        };
        let Some(r) = self.pool.remove(family, id).await? else {
            return Ok(None);
        };
        coderun_core::ports::Blobs::delete_prefix(&self.blobs, &runner_prefix(id))
            .await
            .ok();
        info!(runner = id, busy = r.busy, "runner ended");
        Ok(held_of(&r, false))
    }

    async fn held(&self) -> PortResult<Vec<Held>> {
        let mut out = Vec::new();
        for (family, _) in self.cfg.families() {
            for r in self.pool.runners(&family).await? {
                let taken = r.busy && self.blobs.exists(&taken_key(&r.id, r.seq)).await?;
                out.extend(held_of(&r, taken));
            }
        }
        Ok(out)
    }

    async fn abandon(&self, held: &Held, reason: &str) -> PortResult<()> {
        let Some((family, id)) = held.runner.split_once('/') else {
            return Ok(());
        };
        if let Some(r) = self.pool.remove(family, id).await? {
            if let Some(task) = r.task {
                let reason: String = reason.chars().take(255).collect();
                let stop = self
                    .client
                    .stop_task()
                    .cluster(&self.cfg.cluster)
                    .task(&task)
                    .reason(reason)
                    .send()
                    .await;
                if let Err(e) = stop {
                    warn!(runner = id, error = %sort(e), "the task could not be stopped");
                }
            }
        }
        Ok(())
    }

    async fn upkeep(&self) -> PortResult<()> {
        let now = now();
        for (family, td) in self.cfg.families() {
            let runners = self.pool.runners(&family).await?;
            self.pool.recount(&family, runners.len()).await?;
            let busy = runners.iter().filter(|r| r.busy).count();
            let mut idle: Vec<&Runner> = runners.iter().filter(|r| !r.busy).collect();
            self.emit(
                &family,
                serde_json::json!({"RunnersBusy": busy, "RunnersIdle": idle.len()}),
                &["RunnersBusy", "RunnersIdle"],
            );
            // The warm minimum: the most recently used stay, told so
            // before half their window has passed; missing ones start.
            idle.sort_by_key(|r| std::cmp::Reverse(r.since));
            let keep = self.cfg.min_warm as usize;
            let half = (self.cfg.idle.as_millis() / 2) as Millis;
            for r in idle.iter().take(keep).filter(|r| now - r.since > half) {
                if !self.pool.renew(&family, &r.id, r.seq, now).await? {
                    continue;
                }
                let mail = Mail::Stay {
                    next: self.mailbox(&r.id, r.seq + 1, self.cfg.idle * 2).await?,
                    idle_seconds: self.cfg.idle.as_secs(),
                };
                if self.post(&r.id, r.seq, &mail, None).await? == Posted::Gone {
                    self.pool.remove(&family, &r.id).await?;
                }
            }
            let room = (self.cfg.max_runners as usize).saturating_sub(runners.len());
            for _ in 0..keep.saturating_sub(idle.len()).min(room) {
                let id = format!("runner-{}", coderun_core::ids::random_hex(12));
                let by = now + self.cfg.url_ttl.as_millis() as Millis;
                if self
                    .pool
                    .add(&family, &id, None, self.cfg.max_runners, now, by)
                    .await?
                    == Claim::Full
                {
                    break;
                }
                self.run_task(&family, &td, &id, Duration::ZERO).await?;
                self.emit(
                    &family,
                    serde_json::json!({"ColdStarts": 1}),
                    &["ColdStarts"],
                );
            }
        }
        Ok(())
    }
}

impl EcsLauncher {
    async fn forget_claim(&self, job: &str, attempt: u32) -> PortResult<()> {
        self.pool.forget_claim(job, attempt).await
    }
}

fn held_of(r: &Runner, taken: bool) -> Option<Held> {
    Some(Held {
        runner: format!("{}/{}", r.family, r.id),
        launch: r.launch.clone().filter(|_| r.busy)?,
        job_id: r.job.clone()?,
        since: r.since,
        taken,
        answer_by: r.answer_by,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_definitions_parse() {
        let m =
            EcsConfig::parse_task_definitions("python3=coderun-python, c=arn:aws:ecs:x").unwrap();
        assert_eq!(m["python3"], "coderun-python");
        assert_eq!(m["c"], "arn:aws:ecs:x");
        assert!(EcsConfig::parse_task_definitions("python3").is_err());
    }
}
