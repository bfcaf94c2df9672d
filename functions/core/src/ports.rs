//! The ports: one narrow trait per capability the services need. The
//! embedded adapters (SQLite, a directory, a local queue, child processes)
//! and the AWS adapters (DynamoDB, S3, SQS, ECS) implement them.

use std::path::Path;

use async_trait::async_trait;
use coderun_protocol::{ProblemRef, Verdict};

use crate::domain::{Job, JobCounts, JobQuery, Millis, Page, Problem, ProblemStats, Session};
use crate::error::PortError;

pub type PortResult<T> = Result<T, PortError>;

/// An `Idempotency-Key` claimed together with the record it created.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IdempotencyKey {
    pub user: String,
    pub key: String,
    /// Hash of the request body: the same key with another body is refused.
    pub request_hash: String,
}

/// What inserting a job did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inserted {
    New,
    /// The idempotency key was used before, for this job and request.
    Existing {
        job_id: String,
        request_hash: String,
    },
}

/// Runs and submissions.
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Inserts a new job, claiming `key` in the same write when given.
    async fn insert_job(&self, job: &Job, key: Option<&IdempotencyKey>) -> PortResult<Inserted>;
    async fn get_job(&self, id: &str) -> PortResult<Option<Job>>;
    /// Replaces the job only if its stored status and attempts are still
    /// `expected` (compare-and-swap); `Conflict` otherwise.
    async fn replace_job(&self, job: &Job, expected: (crate::Status, u32)) -> PortResult<()>;
    /// One user's jobs, newest first.
    async fn list_jobs(&self, query: &JobQuery) -> PortResult<Page<Job>>;
    /// Jobs not yet `COMPLETED` or `FAILED`, oldest first.
    async fn unfinished_jobs(&self, limit: u32) -> PortResult<Vec<Job>>;
    async fn job_counts(&self, now: Millis) -> PortResult<JobCounts>;
    /// Finished jobs whose `expires_at` has passed.
    async fn expired_jobs(&self, now: Millis, limit: u32) -> PortResult<Vec<Job>>;
    async fn delete_job(&self, id: &str) -> PortResult<()>;
}

/// Problems (their packages are blobs).
#[async_trait]
pub trait ProblemStore: Send + Sync {
    /// Creates (`expected_version` = `None`: must not exist) or replaces the
    /// problem if its stored version is still `expected_version`.
    async fn put_problem(&self, problem: &Problem, expected_version: Option<u64>)
        -> PortResult<()>;
    async fn get_problem(&self, id: &str) -> PortResult<Option<Problem>>;
    /// Problems ordered by id.
    async fn list_problems(&self, cursor: Option<&str>, limit: u32) -> PortResult<Page<Problem>>;
    async fn delete_problem(&self, id: &str) -> PortResult<bool>;
}

/// Code sessions.
#[async_trait]
pub trait SessionStore: Send + Sync {
    /// Creates (`None`) or replaces if the stored version is `expected_version`.
    async fn put_session(&self, session: &Session, expected_version: Option<u64>)
        -> PortResult<()>;
    async fn get_session(&self, id: &str) -> PortResult<Option<Session>>;
}

/// A finished submission as the profile counts it.
#[derive(Debug, Clone, PartialEq)]
pub struct Attempt {
    pub user: String,
    pub problem_id: String,
    pub job_id: String,
    pub verdict: Verdict,
    pub score: Option<f64>,
    pub at: Millis,
}

/// A user's profile from their attempts: one entry per problem, in
/// problem order. Stores that keep attempts one by one fold them here, so
/// that "solved", "first solved" and "best score" mean one thing.
pub fn profile_of<'a>(attempts: impl IntoIterator<Item = &'a Attempt>) -> Vec<ProblemStats> {
    let mut by_problem: std::collections::BTreeMap<&str, ProblemStats> = Default::default();
    for a in attempts {
        let s = by_problem
            .entry(&a.problem_id)
            .or_insert_with(|| ProblemStats {
                problem_id: a.problem_id.clone(),
                attempts: 0,
                solved: false,
                best_score: None,
                first_solved_at: None,
                last_attempt_at: a.at,
            });
        s.attempts += 1;
        s.last_attempt_at = s.last_attempt_at.max(a.at);
        if a.verdict == Verdict::AC {
            s.solved = true;
            s.first_solved_at = Some(s.first_solved_at.map_or(a.at, |t| t.min(a.at)));
        }
        if let Some(score) = a.score {
            s.best_score = Some(s.best_score.map_or(score, |b| b.max(score)));
        }
    }
    by_problem.into_values().collect()
}

/// Solved problems and attempts per user.
#[async_trait]
pub trait ProfileStore: Send + Sync {
    /// Counts one attempt; recording the same job twice counts it once.
    async fn record_attempt(&self, attempt: &Attempt) -> PortResult<()>;
    async fn profile(&self, user: &str) -> PortResult<Vec<ProblemStats>>;
}

/// Sources, packages, manifests, results.
#[async_trait]
pub trait Blobs: Send + Sync {
    /// Writes the whole object or nothing.
    async fn put(&self, key: &str, bytes: Vec<u8>) -> PortResult<()>;
    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>>;
    /// Uploads a directory tree under `prefix` (a problem package).
    async fn put_dir(&self, prefix: &str, dir: &Path) -> PortResult<()>;
    async fn delete_prefix(&self, prefix: &str) -> PortResult<()>;
}

/// Jobs waiting for a runner. A message is a job id, never the source.
#[async_trait]
pub trait Queue: Send + Sync {
    async fn send(&self, job_id: &str) -> PortResult<()>;

    /// A delivered message whose job could not be dispatched yet (every
    /// runner busy, a throttled start) comes back after `delay` instead of
    /// the queue's whole visibility timeout. `receipt` names the delivery.
    async fn retry_after(&self, _receipt: &str, _delay: std::time::Duration) -> PortResult<()> {
        Ok(())
    }
}

/// What a launcher starts: a runner for one job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Launch {
    pub job_id: String,
    /// Launches of this job so far that ended without a result (0 first):
    /// a relaunch is a new runner, never the old one again.
    pub attempt: u32,
    pub language: String,
    pub manifest_key: String,
    pub result_key: String,
    /// The most the runner may take once started (see
    /// `coderun_protocol::budget`): what its presigned URLs must outlive.
    pub budget: std::time::Duration,
    /// Where a playground run's live output goes, per input
    /// (`[stdout, stderr]` keys); empty for other jobs.
    pub live_keys: Vec<[String; 2]>,
}

/// A runner holding a job, as a launcher that keeps runners warm knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Held {
    pub runner: String,
    /// The id [`Launcher::launch`] returned for the job.
    pub launch: String,
    pub job_id: String,
    /// When the job was handed to the runner.
    pub since: Millis,
    /// Whether the runner said it took the job.
    pub taken: bool,
    /// When a runner that has not taken its job is given up on (a cold
    /// one may still be starting; a warm one looks at its mailbox often).
    pub answer_by: Millis,
}

/// Starts runners (local child processes, or ECS tasks).
///
/// A launcher may keep runners warm and hand them one job after another;
/// the methods with defaults are how the lifecycle tells it that a job is
/// done, learns that a runner ended, and sweeps runners that stopped
/// answering. A launcher that starts one runner per job needs none of them.
#[async_trait]
pub trait Launcher: Send + Sync {
    /// Starts a runner for the job; returns once it is started (not done),
    /// with the runner's id.
    async fn launch(&self, launch: &Launch) -> PortResult<String>;
    /// How a runner reaches a problem package stored under `prefix`, for a
    /// job of this time budget.
    async fn problem_ref(
        &self,
        prefix: &str,
        budget: std::time::Duration,
    ) -> PortResult<ProblemRef>;
    /// Busy and total runner slots, where the launcher knows them.
    fn workers(&self) -> Option<(usize, usize)>;

    /// Attempt `attempt` of job `job_id` has its result: its runner (the
    /// one launched as `launch`, when the job recorded it in time) may
    /// take another. Saying it twice changes nothing.
    async fn release(&self, _job_id: &str, _attempt: u32, _launch: Option<&str>) -> PortResult<()> {
        Ok(())
    }

    /// A runner ended (its task stopped): it is forgotten; the job it held,
    /// if any.
    async fn runner_ended(&self, _runner: &str) -> PortResult<Option<Held>> {
        Ok(None)
    }

    /// The runners holding jobs now.
    async fn held(&self) -> PortResult<Vec<Held>> {
        Ok(Vec::new())
    }

    /// Gives up on a runner that stopped answering: stops it, forgets it.
    async fn abandon(&self, _held: &Held, _reason: &str) -> PortResult<()> {
        Ok(())
    }

    /// Periodic upkeep: the warm minimum, the pool's gauges.
    async fn upkeep(&self) -> PortResult<()> {
        Ok(())
    }
}

/// Runs `runner-task verify` on an unpacked problem package.
#[async_trait]
pub trait Verifier: Send + Sync {
    /// The JSON report; `Err(Invalid…)` style messages come back as
    /// `Ok(Err(message))` when the package itself is unusable.
    async fn verify(&self, dir: &Path) -> PortResult<Result<serde_json::Value, String>>;
}

/// Where finished jobs are counted beyond the process's own `/metrics`
/// (CloudWatch, on AWS, where each function is its own short-lived process).
pub trait JobMetrics: Send + Sync {
    /// A job reached its final status (called once per job).
    fn finished(&self, job: &Job);
}

/// A signed completion callback to deliver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Callback {
    pub url: String,
    /// `PUT` rather than `POST` (Judge0's callbacks).
    pub put: bool,
    pub body: Vec<u8>,
    /// `X-Coderun-Timestamp`, seconds.
    pub timestamp: i64,
    /// `X-Coderun-Signature`: `sha256=` HMAC of `timestamp.body`.
    pub signature: String,
}

/// Delivers callbacks, retrying with backoff. A long-lived process hands
/// them to a background task and returns at once; a function whose process
/// freezes after each event delivers before returning.
#[async_trait]
pub trait Notifier: Send + Sync {
    async fn deliver(&self, callback: Callback);
}

pub trait Clock: Send + Sync {
    fn now(&self) -> Millis;
}

pub trait Ids: Send + Sync {
    fn new_id(&self, now: Millis) -> String;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_profile_counts_attempts_and_keeps_the_first_solve_and_the_best_score() {
        let a = |problem: &str, verdict, score, at| Attempt {
            user: "u".into(),
            problem_id: problem.into(),
            job_id: format!("{problem}{at}"),
            verdict,
            score,
            at,
        };
        let attempts = [
            a("b", Verdict::WA, None, 5),
            a("a", Verdict::PA, Some(40.0), 1),
            a("a", Verdict::AC, Some(100.0), 3),
            a("a", Verdict::AC, Some(90.0), 2),
            a("a", Verdict::WA, Some(10.0), 4),
        ];
        let p = profile_of(&attempts);
        assert_eq!(p.len(), 2);
        assert_eq!(
            (&p[0].problem_id[..], p[0].attempts, p[0].solved),
            ("a", 4, true)
        );
        assert_eq!(p[0].first_solved_at, Some(2));
        assert_eq!(p[0].best_score, Some(100.0));
        assert_eq!(p[0].last_attempt_at, 4);
        assert_eq!((&p[1].problem_id[..], p[1].solved), ("b", false));
        assert_eq!(p[1].first_solved_at, None);
    }
}
