//! The job lifecycle after intake: dispatch to a runner, the runner's
//! start and stop, its result, failure, relaunch and recovery. Every change
//! of a job's record goes through [`Platform::transition`], which enforces
//! the status machine and the compare-and-swap.

use std::time::Duration;

use coderun_protocol::budget;
use coderun_protocol::{JobResult, JobState, Manifest, RunStatus, Verdict, Work};
use tracing::{info, instrument, warn};

use super::catalog::Imported;
use super::{sign, Dispatched, Platform, StoredRun};
use crate::domain::*;
use crate::error::{CoreError, PortError};
use crate::judge0;
use crate::ports::*;
use crate::views::JobView;

/// Reads and writes one job change may take before it gives up: each lost
/// race means another writer moved the job on, which a handful of them
/// cannot keep doing.
const TRANSITION_TRIES: usize = 5;

/// How long past a job's time budget a runner may hold it (uploads, a
/// slow start of the sandbox) before the sweep gives up on the runner.
pub const OVERRUN_GRACE: Duration = Duration::from_secs(60);

/// What [`Platform::transition`] came to.
#[derive(Debug)]
enum Transition {
    /// The job as written.
    Written(Job),
    /// Nothing to do: the job as it is.
    Declined(Job),
    /// No such job (expired or deleted).
    Missing,
}

impl Platform {
    async fn manifest(&self, job: &Job) -> Result<Result<Manifest, String>, CoreError> {
        let (source, files) = match job.kind {
            JobKind::Import => (String::new(), Vec::new()),
            _ => (self.source_of(job).await?, self.files_of(job).await?),
        };
        let work = match job.kind {
            JobKind::Import => Work::Verify {
                problem: self
                    .ports
                    .launcher
                    .problem_ref(&job.staged_package_prefix(), budget::verify())
                    .await?,
            },
            JobKind::Run => {
                let bytes = self
                    .ports
                    .blobs
                    .get(&job.request_key())
                    .await?
                    .ok_or_else(|| CoreError::internal("the run's request blob is missing"))?;
                let stored: StoredRun =
                    serde_json::from_slice(&bytes).map_err(CoreError::internal)?;
                Work::Run {
                    inputs: stored.inputs,
                    limits: stored.limits,
                }
            }
            JobKind::Submission => {
                let id = job.problem_id.clone().unwrap_or_default();
                let Some(problem) = self.ports.problems.get_problem(&id).await? else {
                    return Ok(Err(format!("problem {id:?} was deleted")));
                };
                Work::Judge {
                    problem: self
                        .ports
                        .launcher
                        .problem_ref(
                            &problem.package_prefix(),
                            budget::judge(problem.time_limit_ms, problem.test_count),
                        )
                        .await?,
                    time_limit_ms: Some(problem.time_limit_ms),
                }
            }
        };
        Ok(Ok(Manifest {
            job_id: job.id.clone(),
            language: job.language.clone(),
            source,
            files,
            work,
        }))
    }

    async fn launch_of(&self, job: &Job) -> Result<Launch, CoreError> {
        Ok(Launch {
            job_id: job.id.clone(),
            attempt: job.attempts,
            language: job.language.clone(),
            manifest_key: job.manifest_key(),
            result_key: job.result_key(),
            budget: self.budget_of(job).await?,
            live_keys: match job.kind {
                JobKind::Run => (0..job.input_count)
                    .map(|i| [job.live_key(i, "stdout"), job.live_key(i, "stderr")])
                    .collect(),
                _ => Vec::new(),
            },
        })
    }

    /// The most a job's runner may take once started (its URLs live that
    /// long after the task's start allowance, and no longer).
    async fn budget_of(&self, job: &Job) -> Result<Duration, CoreError> {
        Ok(match job.kind {
            JobKind::Run => budget::run(&job.limits.unwrap_or_default(), job.input_count),
            JobKind::Submission => {
                let id = job.problem_id.as_deref().unwrap_or_default();
                match self.ports.problems.get_problem(id).await? {
                    Some(p) => budget::judge(p.time_limit_ms, p.test_count),
                    // The manifest says the problem is gone; the runner fails it.
                    None => budget::judge(coderun_protocol::Limits::DEFAULT_TIME_MS, 1),
                }
            }
            JobKind::Import => budget::verify(),
        })
    }

    /// The one way a job's record changes. Reads the job and asks `change`
    /// for its next state (`None`: nothing to do, the job has moved on);
    /// refuses a status change the status machine forbids
    /// ([`Status::can_become`]); writes only if the job is still as read
    /// (status and attempt: a compare-and-swap), and after a lost race reads
    /// it again, a bounded number of times.
    async fn transition(
        &self,
        job_id: &str,
        change: impl FnMut(&Job) -> Option<Job>,
    ) -> Result<Transition, CoreError> {
        match self.ports.jobs.get_job(job_id).await? {
            Some(cur) => self.transition_from(cur, change).await,
            None => Ok(Transition::Missing),
        }
    }

    /// [`Self::transition`] starting from `cur`, the job as its caller has
    /// just read it: the first try costs no second read.
    async fn transition_from(
        &self,
        mut cur: Job,
        mut change: impl FnMut(&Job) -> Option<Job>,
    ) -> Result<Transition, CoreError> {
        let job_id = cur.id.clone();
        for _ in 0..TRANSITION_TRIES {
            let Some(next) = change(&cur) else {
                return Ok(Transition::Declined(cur));
            };
            if next.status != cur.status && !cur.status.can_become(next.status) {
                return Err(CoreError::internal(format!(
                    "job {job_id}: {} cannot become {}",
                    cur.status, next.status
                )));
            }
            match self
                .ports
                .jobs
                .replace_job(&next, (cur.status, cur.attempts))
                .await
            {
                Ok(()) => return Ok(Transition::Written(next)),
                Err(PortError::Conflict(_)) => {}
                Err(e) => return Err(e.into()),
            }
            match self.ports.jobs.get_job(&job_id).await? {
                Some(again) => cur = again,
                None => return Ok(Transition::Missing),
            }
        }
        Err(CoreError::Conflict(format!(
            "job {job_id} kept changing while it was updated"
        )))
    }

    /// One queue message: `QUEUED → STARTING`, then a runner. A redelivered
    /// message finds the job past `QUEUED`; for a `STARTING` job it launches
    /// again, which launchers make idempotent (ECS `clientToken` = job id
    /// and attempt; the local pool knows its children).
    #[instrument(skip(self))]
    pub async fn dispatch(&self, job_id: &str) -> Result<Dispatched, CoreError> {
        let Some(job) = self.ports.jobs.get_job(job_id).await? else {
            return Ok(Dispatched::Skipped);
        };
        match job.status {
            Status::Queued => {
                let manifest = match self.manifest(&job).await? {
                    Ok(m) => m,
                    Err(reason) => {
                        self.fail(job_id, &reason).await?;
                        return Ok(Dispatched::Skipped);
                    }
                };
                let bytes = serde_json::to_vec(&manifest).map_err(CoreError::internal)?;
                self.ports.blobs.put(&job.manifest_key(), bytes).await?;
                let now = self.now();
                let started = self
                    .transition_from(job.clone(), |cur| {
                        (cur.status == Status::Queued && cur.attempts == job.attempts).then(|| {
                            let mut next = cur.clone();
                            next.status = Status::Starting;
                            next.started_at = Some(now);
                            next.launch = None;
                            next
                        })
                    })
                    .await?;
                let Transition::Written(next) = started else {
                    return Ok(Dispatched::Skipped);
                };
                self.launch_and_record(&next).await?;
                Ok(Dispatched::Launched)
            }
            // Redelivered: a runner was started, or starting it failed and
            // this is the retry (ECS dedupes a retry by its client token).
            Status::Starting if job.launch.is_some() => Ok(Dispatched::Skipped),
            Status::Starting => {
                self.launch_and_record(&job).await?;
                Ok(Dispatched::Launched)
            }
            _ => Ok(Dispatched::Skipped),
        }
    }

    /// Starts a runner for `job` and records its id on the job (unless the
    /// job moved on meanwhile).
    async fn launch_and_record(&self, job: &Job) -> Result<(), CoreError> {
        let id = self
            .ports
            .launcher
            .launch(&self.launch_of(job).await?)
            .await?;
        self.transition(&job.id, |cur| {
            let moved_on = cur.status.is_final() || cur.attempts != job.attempts;
            (!moved_on && cur.launch.as_ref() != Some(&id)).then(|| {
                let mut next = cur.clone();
                next.launch = Some(id.clone());
                next
            })
        })
        .await?;
        Ok(())
    }

    /// The runner is running: `STARTING → RUNNING` (a job past `STARTING`
    /// stays as it is).
    pub async fn mark_running(&self, job_id: &str) -> Result<(), CoreError> {
        self.transition(job_id, |cur| {
            (cur.status == Status::Starting).then(|| {
                let mut next = cur.clone();
                next.status = Status::Running;
                next
            })
        })
        .await?;
        Ok(())
    }

    // ---- results ------------------------------------------------------

    /// A result document arrived: apply it (`→ COMPLETED`, or `FAILED` when
    /// the runner says the platform failed), update the profile, call back.
    /// Applying the same result twice changes nothing.
    #[instrument(skip(self))]
    pub async fn apply_result(&self, job_id: &str) -> Result<(), CoreError> {
        let Some(job) = self.ports.jobs.get_job(job_id).await? else {
            return Ok(());
        };
        let Some(bytes) = self.ports.blobs.get(&job.result_key()).await? else {
            return Err(CoreError::NotFound("result"));
        };
        let result = match serde_json::from_slice::<JobResult>(&bytes) {
            Ok(r) if r.job_id == job.id => r,
            Ok(_) => return self.fail(job_id, "the result belongs to another job").await,
            Err(e) => {
                return self
                    .fail(job_id, &format!("the result is unreadable: {e}"))
                    .await
            }
        };
        let imported = match (job.kind, result.state) {
            (JobKind::Import, JobState::Completed) if !job.status.is_final() => {
                Some(self.finish_import(&job, &result).await?)
            }
            _ => None,
        };
        let now = self.now();
        let applied = self
            .transition_from(job.clone(), |cur| {
                (!cur.status.is_final()).then(|| finished(cur, &result, imported.as_ref(), now))
            })
            .await?;
        // The runner that wrote this result may take another job (its
        // launch may not be on the job yet: a fast runner's result can
        // come before the dispatcher records it).
        self.release(&job.id, job.attempts, job.launch.as_deref())
            .await;
        match applied {
            Transition::Written(next) => {
                if next.kind == JobKind::Import {
                    let staged = format!("{}.tar.gz", next.staged_package_prefix());
                    self.ports.blobs.delete_prefix(&staged).await.ok();
                }
                self.finished_job(&next).await;
                self.record_profile(&next).await
            }
            // Applied before (or by a concurrent handler): repair the
            // profile only, which counts each job once.
            Transition::Declined(done) => self.record_profile(&done).await,
            Transition::Missing => Ok(()),
        }
    }

    /// Frees a job's runner for the next job. A failure leaves it held,
    /// which the sweep repairs: no job is lost by it.
    async fn release(&self, job_id: &str, attempt: u32, launch: Option<&str>) {
        if let Err(e) = self.ports.launcher.release(job_id, attempt, launch).await {
            warn!(job_id, error = %e, "the runner could not be released; the sweep will");
        }
    }

    /// A runner ended (its task stopped). The job it held, if any, is
    /// handled as [`Self::runner_stopped`] handles a runner's end; `false`
    /// when the launcher keeps no such runner.
    #[instrument(skip(self))]
    pub async fn runner_ended(&self, runner: &str, reason: &str) -> Result<bool, CoreError> {
        let Some(held) = self.ports.launcher.runner_ended(runner).await? else {
            return Ok(false);
        };
        self.runner_stopped(&held.job_id, Some(&held.launch), reason)
            .await?;
        Ok(true)
    }

    /// Runners that stopped answering, found and replaced; runners whose
    /// job finished without them being freed, freed; then the launcher's
    /// upkeep. A runner is given up on when it has not taken its job by
    /// its launcher's deadline, or holds it past the job's time budget and
    /// [`OVERRUN_GRACE`]: its job is launched again through the attempts
    /// path. Returns the runners given up on.
    #[instrument(skip(self))]
    pub async fn sweep(&self) -> Result<usize, CoreError> {
        let now = self.now();
        let mut given_up = 0;
        for held in self.ports.launcher.held().await? {
            let job = self.ports.jobs.get_job(&held.job_id).await?;
            // Its launch may not be recorded yet (a dispatch under way).
            let current = job.as_ref().filter(|j| {
                !j.status.is_final()
                    && j.launch
                        .as_deref()
                        .is_none_or(|l| l == held.launch.as_str())
            });
            let Some(job) = current else {
                // Done, gone, or relaunched elsewhere: the runner is free.
                let attempt = job.as_ref().map_or(0, |j| j.attempts);
                self.release(&held.job_id, attempt, Some(&held.launch))
                    .await;
                continue;
            };
            let reason = if !held.taken && now > held.answer_by {
                format!(
                    "runner {} did not take the job within {} s",
                    held.runner,
                    (held.answer_by - held.since).max(0) / 1000
                )
            } else {
                let budget = self.budget_of(job).await? + OVERRUN_GRACE;
                if held.taken && now - held.since > budget.as_millis() as i64 {
                    format!(
                        "runner {} held the job past its time budget ({} s)",
                        held.runner,
                        budget.as_secs()
                    )
                } else {
                    continue;
                }
            };
            warn!(job_id = %job.id, runner = %held.runner, reason, "giving up on a runner");
            self.ports.launcher.abandon(&held, &reason).await?;
            self.runner_stopped(&job.id, Some(&held.launch), &reason)
                .await?;
            given_up += 1;
        }
        self.ports.launcher.upkeep().await?;
        Ok(given_up)
    }

    async fn record_profile(&self, job: &Job) -> Result<(), CoreError> {
        if let (JobKind::Submission, Status::Completed, Some(verdict), Some(problem_id)) =
            (job.kind, job.status, job.verdict, &job.problem_id)
        {
            if verdict == Verdict::IE {
                return Ok(());
            }
            self.ports
                .profiles
                .record_attempt(&Attempt {
                    user: job.user.clone(),
                    problem_id: problem_id.clone(),
                    job_id: job.id.clone(),
                    verdict,
                    score: job.score,
                    at: job.finished_at.unwrap_or(job.created_at),
                })
                .await?;
        }
        Ok(())
    }

    /// After a job reached a final status: metrics, callback, waiters.
    async fn finished_job(&self, job: &Job) {
        if let Some(end) = job.finished_at {
            self.latency
                .observe(job.kind, (end - job.created_at).max(0) as u64);
        }
        info!(job_id = %job.id, status = %job.status, verdict = ?job.verdict, outcome = ?job.outcome, "job finished");
        if let Some(m) = &self.ports.metrics {
            m.finished(job);
        }
        if let Some(url) = &job.callback_url {
            let body = match job.callback_as {
                None => serde_json::to_vec(&JobView::from(job.clone())).unwrap_or_default(),
                Some(CallbackAs::Judge0) => match self.run_record_of(job.clone()).await {
                    Ok(record) => serde_json::to_vec(&judge0::submission(
                        &record,
                        &judge0::Fields::default(),
                        true,
                    ))
                    .unwrap_or_default(),
                    Err(e) => {
                        warn!(job_id = %job.id, error = %e, "no Judge0 callback: the run is unreadable");
                        Vec::new()
                    }
                },
            };
            let timestamp = self.now() / 1000;
            let signature = sign(&self.settings.callback_secret, timestamp, &body);
            if !body.is_empty() {
                self.ports
                    .notifier
                    .deliver(Callback {
                        url: url.clone(),
                        put: job.callback_as.is_some(),
                        body,
                        timestamp,
                        signature,
                    })
                    .await;
            }
        }
        let _ = self.finished.send(job.id.clone());
    }

    /// Marks an unfinished job `FAILED` with `reason`.
    pub async fn fail(&self, job_id: &str, reason: &str) -> Result<(), CoreError> {
        let now = self.now();
        let failed = self
            .transition(job_id, |cur| {
                (!cur.status.is_final()).then(|| {
                    let mut next = cur.clone();
                    next.status = Status::Failed;
                    next.error = Some(reason.chars().take(2000).collect());
                    next.finished_at = Some(now);
                    next
                })
            })
            .await?;
        if let Transition::Written(next) = failed {
            warn!(job_id, reason, "job failed");
            self.finished_job(&next).await;
        }
        Ok(())
    }

    /// A runner stopped (`launch`: its id, when known). With a result, that
    /// is applied; without one the job is launched again, up to
    /// `max_attempts` launches, then `FAILED`. The end of a runner the job
    /// no longer waits for (an earlier attempt's) changes nothing.
    #[instrument(skip(self))]
    pub async fn runner_stopped(
        &self,
        job_id: &str,
        launch: Option<&str>,
        reason: &str,
    ) -> Result<(), CoreError> {
        let Some(job) = self.ports.jobs.get_job(job_id).await? else {
            return Ok(());
        };
        if job.status.is_final() {
            return Ok(());
        }
        if let (Some(stopped), Some(current)) = (launch, job.launch.as_deref()) {
            if stopped != current {
                info!(
                    job_id,
                    stopped, current, "an earlier runner of the job stopped"
                );
                return Ok(());
            }
        }
        if self.ports.blobs.get(&job.result_key()).await?.is_some() {
            return self.apply_result(job_id).await;
        }
        if job.status == Status::Queued {
            return Ok(());
        }
        let attempts = job.attempts + 1;
        if attempts >= self.settings.max_attempts {
            return self
                .fail(
                    job_id,
                    &format!(
                        "the runner stopped without a result {attempts} times; last: {reason}"
                    ),
                )
                .await;
        }
        // Only the attempt seen stopping is counted: a concurrent report of
        // the same stop finds the attempt moved on.
        let relaunch = self
            .transition_from(job.clone(), |cur| {
                (cur.status == job.status && cur.attempts == job.attempts).then(|| {
                    let mut next = cur.clone();
                    next.attempts = attempts;
                    next.launch = None;
                    next
                })
            })
            .await?;
        if let Transition::Written(next) = relaunch {
            warn!(
                job_id,
                reason, attempts, "runner stopped without a result; launching again"
            );
            self.launch_and_record(&next).await?;
        }
        Ok(())
    }

    /// After a restart of the one-machine platform: queue what is queued
    /// (again: sending is idempotent) and relaunch what was running, which
    /// is not the runner's fault and so not counted as an attempt.
    pub async fn recover(&self) -> Result<usize, CoreError> {
        let jobs = self.ports.jobs.unfinished_jobs(100_000).await?;
        let n = jobs.len();
        for job in jobs {
            match job.status {
                Status::Queued => self.ports.queue.send(&job.id).await?,
                _ if self.ports.blobs.get(&job.result_key()).await?.is_some() => {
                    self.apply_result(&job.id).await?
                }
                _ => self.launch_and_record(&job).await?,
            }
        }
        if n > 0 {
            info!(jobs = n, "recovered unfinished jobs");
        }
        Ok(n)
    }

    /// A job record the store expired by itself (DynamoDB TTL): its blobs
    /// go too.
    pub async fn expired(&self, id: &str) -> Result<(), CoreError> {
        self.discard_blobs(id).await;
        info!(job_id = id, "expired job's blobs removed");
        Ok(())
    }

    /// Removes expired playground runs and their blobs.
    pub async fn prune(&self) -> Result<usize, CoreError> {
        let expired = self.ports.jobs.expired_jobs(self.now(), 500).await?;
        for job in &expired {
            self.discard_blobs(&job.id).await;
            self.ports.jobs.delete_job(&job.id).await?;
        }
        Ok(expired.len())
    }
}

/// The job with a runner's result applied: `COMPLETED` with its verdict or
/// outcome, or `FAILED` when the runner says the platform failed.
fn finished(job: &Job, result: &JobResult, imported: Option<&Imported>, now: Millis) -> Job {
    let mut next = job.clone();
    next.finished_at = Some(now);
    if next.started_at.is_none() {
        next.started_at = next.finished_at;
    }
    match result.state {
        JobState::Failed => {
            next.status = Status::Failed;
            next.error = Some(
                result
                    .error
                    .clone()
                    .unwrap_or_else(|| "the runner failed".into()),
            );
        }
        JobState::Completed if job.kind == JobKind::Import => {
            next.status = Status::Completed;
            if let Some(i) = imported {
                next.outcome = Some(
                    if i.version.is_some() {
                        "saved"
                    } else {
                        "rejected"
                    }
                    .into(),
                );
                next.problem_version = i.version.or(job.problem_version);
                next.error = i.error.clone();
            }
        }
        JobState::Completed => {
            next.status = Status::Completed;
            if let Some(j) = &result.judge {
                next.verdict = Some(j.verdict);
                next.score = j.score;
                next.time_ms = Some(j.time_ms);
                next.memory_kb = Some(j.memory_kb);
            } else {
                next.outcome = run_outcome(result);
                next.time_ms = result.runs.iter().map(|r| r.time_ms).max();
                next.memory_kb = result.runs.iter().map(|r| r.memory_kb).max();
            }
            if job.kind == JobKind::Submission && result.judge.is_none() {
                next.status = Status::Failed;
                next.error = Some("the runner returned no judgement".into());
            }
        }
    }
    next
}

/// The worst outcome of a run's inputs, for its summary.
fn run_outcome(result: &JobResult) -> Option<String> {
    let rank = |s: RunStatus| match s {
        RunStatus::OK => 0,
        RunStatus::RE => 1,
        RunStatus::OLE => 2,
        RunStatus::MLE => 3,
        RunStatus::TLE => 4,
        RunStatus::CE => 5,
        RunStatus::IE => 6,
    };
    let worst = result
        .runs
        .iter()
        .map(|r| r.status)
        .max_by_key(|s| rank(*s))?;
    Some(format!("{worst:?}"))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::Ordering;
    use std::sync::Arc;

    use coderun_protocol::{Input, RunResult};

    use super::*;
    use crate::fakes::Memory;
    use crate::requests::RunRequest;

    fn alice() -> Principal {
        Principal {
            user: "alice".into(),
            name: None,
            roles: vec![],
        }
    }

    /// A playground run taken in (`QUEUED`, its message sent).
    async fn queued_run(m: &Arc<Memory>, p: &Platform) -> String {
        let req = RunRequest {
            language: "python3".into(),
            source: "print(1)".into(),
            inputs: vec![Input::default()],
            callback_url: Some("https://example.test/done".into()),
            ..RunRequest::default()
        };
        let (job, _) = p.create_run(&alice(), req, None).await.unwrap();
        assert_eq!(job.status, Status::Queued);
        assert_eq!(m.queued.lock().unwrap().last(), Some(&job.id));
        job.id
    }

    /// What a runner writes when the program ran.
    fn result_of(m: &Memory, id: &str, state: JobState) {
        let result = JobResult {
            job_id: id.into(),
            state,
            compile: None,
            runs: vec![RunResult {
                status: RunStatus::OK,
                stdout: "1\n".into(),
                stderr: String::new(),
                exit_code: Some(0),
                signal: None,
                time_ms: 12,
                wall_ms: 20,
                memory_kb: 9000,
                compile_output: None,
                error: None,
                isolation: vec![],
                output_matches: None,
            }],
            judge: None,
            verify: None,
            error: (state == JobState::Failed).then(|| "the sandbox broke".into()),
            runner: None,
        };
        let key = format!("results/{id}/result.json");
        m.blobs
            .lock()
            .unwrap()
            .insert(key, serde_json::to_vec(&result).unwrap());
    }

    #[tokio::test]
    async fn a_run_goes_from_queued_to_completed_once() {
        let m = Memory::new();
        let p = m.platform(2);
        let id = queued_run(&m, &p).await;

        assert_eq!(p.dispatch(&id).await.unwrap(), Dispatched::Launched);
        let job = m.job(&id);
        assert_eq!(job.status, Status::Starting);
        assert_eq!(job.launch.as_deref(), Some("runner-1"));
        let manifest: Manifest =
            serde_json::from_slice(&m.blobs.lock().unwrap()[&job.manifest_key()]).unwrap();
        assert_eq!(manifest.source, "print(1)");

        p.mark_running(&id).await.unwrap();
        assert_eq!(m.job(&id).status, Status::Running);

        m.advance(50);
        result_of(&m, &id, JobState::Completed);
        p.apply_result(&id).await.unwrap();
        let job = m.job(&id);
        assert_eq!(job.status, Status::Completed);
        assert_eq!(job.outcome.as_deref(), Some("OK"));
        assert_eq!((job.time_ms, job.memory_kb), (Some(12), Some(9000)));
        assert_eq!(m.callbacks.lock().unwrap().len(), 1);

        // The same result again (a redelivered event) changes nothing, and
        // a late "running" does not move the job back.
        p.apply_result(&id).await.unwrap();
        p.mark_running(&id).await.unwrap();
        assert_eq!(m.job(&id), job);
        assert_eq!(m.callbacks.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_redelivered_message_starts_no_second_runner() {
        let m = Memory::new();
        let p = m.platform(2);
        let id = queued_run(&m, &p).await;
        assert_eq!(p.dispatch(&id).await.unwrap(), Dispatched::Launched);
        assert_eq!(p.dispatch(&id).await.unwrap(), Dispatched::Skipped);
        assert_eq!(m.launches.lock().unwrap().len(), 1);
        assert_eq!(
            p.dispatch("no-such-job").await.unwrap(),
            Dispatched::Skipped
        );
    }

    #[tokio::test]
    async fn a_runner_lost_without_a_result_is_replaced_then_the_job_fails() {
        let m = Memory::new();
        let p = m.platform(2);
        let id = queued_run(&m, &p).await;
        p.dispatch(&id).await.unwrap();

        p.runner_stopped(&id, Some("runner-1"), "host terminated")
            .await
            .unwrap();
        let job = m.job(&id);
        assert_eq!((job.status, job.attempts), (Status::Starting, 1));
        assert_eq!(job.launch.as_deref(), Some("runner-2"));
        assert_eq!(m.launches.lock().unwrap()[1].attempt, 1);

        // The first runner's end reported again: not this attempt's.
        p.runner_stopped(&id, Some("runner-1"), "host terminated")
            .await
            .unwrap();
        assert_eq!(m.job(&id).attempts, 1);

        p.runner_stopped(&id, Some("runner-2"), "out of memory")
            .await
            .unwrap();
        let job = m.job(&id);
        assert_eq!(job.status, Status::Failed);
        let error = job.error.unwrap();
        assert!(
            error.contains("2 times") && error.contains("out of memory"),
            "{error}"
        );
        assert_eq!(m.launches.lock().unwrap().len(), 2);
    }

    #[tokio::test]
    async fn a_runner_that_stopped_after_writing_its_result_completes_the_job() {
        let m = Memory::new();
        let p = m.platform(2);
        let id = queued_run(&m, &p).await;
        p.dispatch(&id).await.unwrap();
        result_of(&m, &id, JobState::Completed);
        p.runner_stopped(&id, Some("runner-1"), "exited")
            .await
            .unwrap();
        assert_eq!(m.job(&id).status, Status::Completed);
        assert_eq!(m.launches.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_dead_letter_fails_the_job_for_good() {
        let m = Memory::new();
        let p = m.platform(2);
        let id = queued_run(&m, &p).await;
        p.fail(&id, "no runner could be started").await.unwrap();
        let failed = m.job(&id);
        assert_eq!(failed.status, Status::Failed);
        assert!(failed.finished_at.is_some());

        // Nothing brings it back: a second failure, a dispatch, a result.
        p.fail(&id, "again").await.unwrap();
        assert_eq!(p.dispatch(&id).await.unwrap(), Dispatched::Skipped);
        result_of(&m, &id, JobState::Completed);
        p.apply_result(&id).await.unwrap();
        assert_eq!(m.job(&id), failed);
        assert_eq!(m.callbacks.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn a_runner_reporting_a_platform_failure_fails_the_job() {
        let m = Memory::new();
        let p = m.platform(2);
        let id = queued_run(&m, &p).await;
        p.dispatch(&id).await.unwrap();
        result_of(&m, &id, JobState::Failed);
        p.apply_result(&id).await.unwrap();
        let job = m.job(&id);
        assert_eq!(job.status, Status::Failed);
        assert_eq!(job.error.as_deref(), Some("the sandbox broke"));
    }

    #[tokio::test]
    async fn the_status_machine_is_enforced_on_every_change() {
        let m = Memory::new();
        let p = m.platform(2);
        let id = queued_run(&m, &p).await;
        // QUEUED cannot become COMPLETED without a runner having started.
        let err = p
            .transition(&id, |cur| {
                let mut next = cur.clone();
                next.status = Status::Completed;
                Some(next)
            })
            .await
            .unwrap_err();
        assert!(err.to_string().contains("internal"), "{err}");
        assert_eq!(m.job(&id).status, Status::Queued);
        // Nor does a finished job go back.
        p.fail(&id, "gone").await.unwrap();
        let back = p
            .transition(&id, |cur| {
                let mut next = cur.clone();
                next.status = Status::Queued;
                Some(next)
            })
            .await;
        assert!(back.is_err());
        assert_eq!(m.job(&id).status, Status::Failed);
    }

    #[tokio::test]
    async fn a_lost_race_is_read_again_and_endless_ones_give_up() {
        let m = Memory::new();
        let p = m.platform(2);
        let id = queued_run(&m, &p).await;
        // Two writers got there first: the third try wins.
        m.conflicts.store(2, Ordering::SeqCst);
        assert_eq!(p.dispatch(&id).await.unwrap(), Dispatched::Launched);
        assert_eq!(m.job(&id).status, Status::Starting);
        // A job that changes under every try: a conflict, nothing written.
        m.conflicts.store(u32::MAX, Ordering::SeqCst);
        let err = p.mark_running(&id).await.unwrap_err();
        assert!(matches!(err, CoreError::Conflict(_)), "{err:?}");
        m.conflicts.store(0, Ordering::SeqCst);
        assert_eq!(m.job(&id).status, Status::Starting);
    }

    #[tokio::test]
    async fn a_result_frees_the_runner_and_an_ended_runner_is_replaced() {
        let m = Memory::new();
        let p = m.platform(2);
        let done = queued_run(&m, &p).await;
        let lost = queued_run(&m, &p).await;
        p.dispatch(&done).await.unwrap();
        p.dispatch(&lost).await.unwrap();
        assert_eq!(m.held.lock().unwrap().len(), 2);
        result_of(&m, &done, JobState::Completed);
        p.apply_result(&done).await.unwrap();
        let held: Vec<String> = m
            .held
            .lock()
            .unwrap()
            .iter()
            .map(|h| h.job_id.clone())
            .collect();
        assert_eq!(held, std::slice::from_ref(&lost));

        // The runner of `lost` ends mid-job: the job goes to another.
        assert!(p.runner_ended("runner-2", "task stopped").await.unwrap());
        let job = m.job(&lost);
        assert_eq!((job.attempts, job.launch.as_deref()), (1, Some("runner-3")));
        // A runner the launcher does not know (already forgotten).
        assert!(!p.runner_ended("runner-2", "again").await.unwrap());
        assert_eq!(m.job(&lost).attempts, 1);

        // A result that comes before the dispatcher recorded the launch
        // on the job still frees its runner.
        let fast = queued_run(&m, &p).await;
        p.dispatch(&fast).await.unwrap();
        m.jobs.lock().unwrap().get_mut(&fast).unwrap().launch = None;
        assert!(m.held.lock().unwrap().iter().any(|h| h.job_id == fast));
        result_of(&m, &fast, JobState::Completed);
        p.apply_result(&fast).await.unwrap();
        assert!(!m.held.lock().unwrap().iter().any(|h| h.job_id == fast));
    }

    #[tokio::test]
    async fn the_sweep_replaces_a_runner_that_never_took_its_job() {
        let m = Memory::new();
        let p = m.platform(3);
        let id = queued_run(&m, &p).await;
        p.dispatch(&id).await.unwrap();
        // Within its deadline: left alone.
        m.advance(30_000);
        assert_eq!(p.sweep().await.unwrap(), 0);
        assert_eq!(m.job(&id).launch.as_deref(), Some("runner-1"));
        // Past it: given up on, the job launched again as a new attempt.
        m.advance(31_000);
        assert_eq!(p.sweep().await.unwrap(), 1);
        let (runner, reason) = m.abandoned.lock().unwrap()[0].clone();
        assert_eq!(runner, "runner-1");
        assert!(reason.contains("did not take the job"), "{reason}");
        let job = m.job(&id);
        assert_eq!((job.status, job.attempts), (Status::Starting, 1));
        assert_eq!(job.launch.as_deref(), Some("runner-2"));

        // The new runner takes it, then hangs past the job's budget.
        m.held.lock().unwrap()[0].taken = true;
        let budget = budget::run(&Default::default(), 1) + OVERRUN_GRACE;
        m.advance(budget.as_millis() as i64 - 1000);
        assert_eq!(p.sweep().await.unwrap(), 0);
        m.advance(2000);
        assert_eq!(p.sweep().await.unwrap(), 1);
        assert!(m.abandoned.lock().unwrap()[1].1.contains("time budget"));
        assert_eq!(m.job(&id).attempts, 2);

        // A runner still held for a job that finished is freed.
        result_of(&m, &id, JobState::Completed);
        let last = m.held.lock().unwrap()[0].clone();
        p.apply_result(&id).await.unwrap();
        m.held.lock().unwrap().push(last);
        assert_eq!(p.sweep().await.unwrap(), 0);
        assert!(m.held.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn recovery_requeues_relaunches_and_applies_what_it_finds() {
        let m = Memory::new();
        let p = m.platform(2);
        let queued = queued_run(&m, &p).await;
        let running = queued_run(&m, &p).await;
        let done = queued_run(&m, &p).await;
        for id in [&running, &done] {
            p.dispatch(id).await.unwrap();
        }
        result_of(&m, &done, JobState::Completed);
        m.queued.lock().unwrap().clear();
        let launched = m.launches.lock().unwrap().len();

        assert_eq!(p.recover().await.unwrap(), 3);
        assert_eq!(m.queued.lock().unwrap().as_slice(), [queued]);
        // Relaunched without counting an attempt: the restart was not the
        // runner's doing.
        let job = m.job(&running);
        assert_eq!((job.status, job.attempts), (Status::Starting, 0));
        assert_eq!(m.launches.lock().unwrap().len(), launched + 1);
        assert_eq!(m.job(&done).status, Status::Completed);
    }

    /// A stored problem's record, of one test.
    fn a_problem(id: &str) -> crate::domain::Problem {
        crate::domain::Problem {
            id: id.into(),
            title: id.to_uppercase(),
            statement: String::new(),
            statement_images: vec![],
            kind: crate::domain::ProblemKind::PassFail,
            time_limit_ms: 1000,
            memory_mb: 64,
            code_limit_kib: None,
            samples: vec![],
            test_count: 1,
            version: 1,
            author: "sam".into(),
            created_at: 1,
            updated_at: 1,
            verify_report: None,
            import_id: None,
        }
    }

    #[tokio::test]
    async fn a_submission_above_the_problems_code_limit_is_refused_and_nothing_stored() {
        let m = Memory::new();
        let p = m.platform(3);
        let problem = crate::domain::Problem {
            code_limit_kib: Some(1),
            ..a_problem("sum")
        };
        m.problems.lock().unwrap().insert("sum".into(), problem);
        let submit = |source: String| crate::requests::SubmissionRequest {
            problem_id: "sum".into(),
            language: "python3".into(),
            source,
            files: vec![],
            files_zip: None,
            libraries: vec![],
            nuget_packages: vec![],
            target_framework: None,
            callback_url: None,
        };
        let big = format!("print(1)\n#{}\n", "x".repeat(1100));
        let e = p
            .create_submission(&alice(), submit(big), None)
            .await
            .unwrap_err();
        assert!(
            matches!(&e, CoreError::TooLarge { field, message } if field == "source" && message.contains("at most 1 KiB")),
            "{e:?}"
        );
        assert!(m.queued.lock().unwrap().is_empty());
        let (job, _) = p
            .create_submission(&alice(), submit("print(1)\n".into()), None)
            .await
            .unwrap();
        assert_eq!(job.status, Status::Queued);
    }

    #[tokio::test]
    async fn a_statement_image_is_served_by_name_or_stem_and_nothing_else() {
        let m = Memory::new();
        let p = m.platform(3);
        let problem = crate::domain::Problem {
            statement_images: vec!["statement/graph.png".into(), "statement/plot.svg".into()],
            version: 2,
            ..a_problem("g")
        };
        let prefix = problem.package_prefix();
        m.problems.lock().unwrap().insert("g".into(), problem);
        for (path, bytes) in [
            ("statement/graph.png", &b"png"[..]),
            ("statement/plot.svg", b"<svg/>"),
            ("data/secret/1.ans", b"hidden"),
        ] {
            m.blobs
                .lock()
                .unwrap()
                .insert(format!("{prefix}/{path}"), bytes.to_vec());
        }
        let (bytes, kind) = p.statement_image("g", "graph.png").await.unwrap();
        assert_eq!((bytes.as_slice(), kind), (&b"png"[..], "image/png"));
        let (_, kind) = p.statement_image("g", "plot").await.unwrap();
        assert_eq!(kind, "image/svg+xml");
        for file in ["1.ans", "../data/secret/1.ans", "statement", "graph.PNG"] {
            let e = p.statement_image("g", file).await.unwrap_err();
            assert!(matches!(e, CoreError::NotFound(_)), "{file}: {e:?}");
        }
    }
}
