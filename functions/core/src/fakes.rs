//! In-memory ports for the core's unit tests: each keeps the contract its
//! trait documents (compare-and-swap, versions, counting an attempt once)
//! and records what the services asked of it. Tests can make the next
//! writes of a job lose their race.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use coderun_protocol::ProblemRef;

use crate::domain::*;
use crate::error::PortError;
use crate::ports::*;
use crate::service::{Ports, Settings};

type PortResult<T> = Result<T, PortError>;

/// Every port at once, over shared maps.
#[derive(Debug, Default)]
pub struct Memory {
    pub jobs: Mutex<BTreeMap<String, Job>>,
    keys: Mutex<HashMap<String, (String, String)>>,
    pub problems: Mutex<BTreeMap<String, Problem>>,
    sessions: Mutex<HashMap<String, Session>>,
    /// Attempts as the profile counts them (one per job).
    pub attempts: Mutex<Vec<Attempt>>,
    pub blobs: Mutex<BTreeMap<String, Vec<u8>>>,
    pub queued: Mutex<Vec<String>>,
    pub launches: Mutex<Vec<Launch>>,
    pub callbacks: Mutex<Vec<Callback>>,
    /// Runners holding jobs, as a warm pool would report them: a launch
    /// adds one (untaken, to answer within a minute), a release removes it.
    pub held: Mutex<Vec<Held>>,
    /// Runners given up on, with the reason.
    pub abandoned: Mutex<Vec<(String, String)>>,
    /// The next this many `replace_job` calls lose their race.
    pub conflicts: AtomicU32,
    now: AtomicI64,
    ids: AtomicU32,
}

impl Memory {
    pub fn new() -> Arc<Memory> {
        Arc::new(Memory {
            now: AtomicI64::new(1_700_000_000_000),
            ..Memory::default()
        })
    }

    /// A platform over these ports.
    pub fn platform(self: &Arc<Memory>, max_attempts: u32) -> crate::Platform {
        let ports = Ports {
            jobs: self.clone(),
            problems: self.clone(),
            sessions: self.clone(),
            profiles: self.clone(),
            blobs: self.clone(),
            queue: self.clone(),
            launcher: self.clone(),
            verifier: None,
            notifier: self.clone(),
            metrics: None,
            clock: self.clone(),
            ids: self.clone(),
        };
        crate::Platform::new(
            ports,
            Settings {
                max_attempts,
                ..Settings::default()
            },
        )
    }

    pub fn job(&self, id: &str) -> Job {
        self.jobs.lock().unwrap()[id].clone()
    }

    pub fn advance(&self, ms: i64) {
        self.now.fetch_add(ms, Ordering::SeqCst);
    }
}

#[async_trait]
impl JobStore for Memory {
    async fn insert_job(&self, job: &Job, key: Option<&IdempotencyKey>) -> PortResult<Inserted> {
        if let Some(k) = key {
            let mut keys = self.keys.lock().unwrap();
            let slot = format!("{}\0{}", k.user, k.key);
            if let Some((job_id, request_hash)) = keys.get(&slot) {
                return Ok(Inserted::Existing {
                    job_id: job_id.clone(),
                    request_hash: request_hash.clone(),
                });
            }
            keys.insert(slot, (job.id.clone(), k.request_hash.clone()));
        }
        let mut jobs = self.jobs.lock().unwrap();
        if jobs.contains_key(&job.id) {
            return Err(PortError::Conflict(format!("job {} exists", job.id)));
        }
        jobs.insert(job.id.clone(), job.clone());
        Ok(Inserted::New)
    }

    async fn get_job(&self, id: &str) -> PortResult<Option<Job>> {
        Ok(self.jobs.lock().unwrap().get(id).cloned())
    }

    async fn replace_job(&self, job: &Job, expected: (Status, u32)) -> PortResult<()> {
        let lose = self
            .conflicts
            .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
            .is_ok();
        let mut jobs = self.jobs.lock().unwrap();
        let Some(cur) = jobs.get_mut(&job.id) else {
            return Err(PortError::NotFound);
        };
        if lose || (cur.status, cur.attempts) != expected {
            return Err(PortError::Conflict(format!("job {} changed", job.id)));
        }
        *cur = job.clone();
        Ok(())
    }

    async fn list_jobs(&self, query: &JobQuery) -> PortResult<Page<Job>> {
        let mut items: Vec<Job> = self
            .jobs
            .lock()
            .unwrap()
            .values()
            .filter(|j| {
                j.user == query.user
                    && query.kind.is_none_or(|k| j.kind == k)
                    && query
                        .problem_id
                        .as_ref()
                        .is_none_or(|p| j.problem_id.as_ref() == Some(p))
                    && query.verdict.is_none_or(|v| j.verdict == Some(v))
            })
            .cloned()
            .collect();
        items.sort_by_key(|j| std::cmp::Reverse(j.created_at));
        items.truncate(query.limit.max(1) as usize);
        Ok(Page { items, next: None })
    }

    async fn unfinished_jobs(&self, limit: u32) -> PortResult<Vec<Job>> {
        let mut v: Vec<Job> = self
            .jobs
            .lock()
            .unwrap()
            .values()
            .filter(|j| !j.status.is_final())
            .cloned()
            .collect();
        v.sort_by_key(|j| j.created_at);
        v.truncate(limit as usize);
        Ok(v)
    }

    async fn job_counts(&self, _now: Millis) -> PortResult<JobCounts> {
        let mut c = JobCounts::default();
        for j in self.jobs.lock().unwrap().values() {
            *match j.status {
                Status::Queued => &mut c.queued,
                Status::Starting => &mut c.starting,
                Status::Running => &mut c.running,
                Status::Completed => &mut c.completed,
                Status::Failed => &mut c.failed,
            } += 1;
        }
        Ok(c)
    }

    async fn expired_jobs(&self, now: Millis, limit: u32) -> PortResult<Vec<Job>> {
        Ok(self
            .jobs
            .lock()
            .unwrap()
            .values()
            .filter(|j| j.status.is_final() && j.expires_at.is_some_and(|e| e <= now))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn delete_job(&self, id: &str) -> PortResult<()> {
        self.jobs.lock().unwrap().remove(id);
        Ok(())
    }
}

#[async_trait]
impl ProblemStore for Memory {
    async fn put_problem(&self, problem: &Problem, expected: Option<u64>) -> PortResult<()> {
        let mut problems = self.problems.lock().unwrap();
        if problems.get(&problem.id).map(|p| p.version) != expected {
            return Err(PortError::Conflict(format!("problem {}", problem.id)));
        }
        problems.insert(problem.id.clone(), problem.clone());
        Ok(())
    }

    async fn get_problem(&self, id: &str) -> PortResult<Option<Problem>> {
        Ok(self.problems.lock().unwrap().get(id).cloned())
    }

    async fn list_problems(&self, cursor: Option<&str>, limit: u32) -> PortResult<Page<Problem>> {
        let items = self
            .problems
            .lock()
            .unwrap()
            .values()
            .filter(|p| cursor.is_none_or(|c| p.id.as_str() > c))
            .take(limit as usize)
            .cloned()
            .collect();
        Ok(Page { items, next: None })
    }

    async fn delete_problem(&self, id: &str) -> PortResult<bool> {
        Ok(self.problems.lock().unwrap().remove(id).is_some())
    }
}

#[async_trait]
impl SessionStore for Memory {
    async fn put_session(&self, session: &Session, expected: Option<u64>) -> PortResult<()> {
        let mut sessions = self.sessions.lock().unwrap();
        if sessions.get(&session.id).map(|s| s.version) != expected {
            return Err(PortError::Conflict(format!("session {}", session.id)));
        }
        sessions.insert(session.id.clone(), session.clone());
        Ok(())
    }

    async fn get_session(&self, id: &str) -> PortResult<Option<Session>> {
        Ok(self.sessions.lock().unwrap().get(id).cloned())
    }
}

#[async_trait]
impl ProfileStore for Memory {
    async fn record_attempt(&self, attempt: &Attempt) -> PortResult<()> {
        let mut attempts = self.attempts.lock().unwrap();
        if !attempts.iter().any(|a| a.job_id == attempt.job_id) {
            attempts.push(attempt.clone());
        }
        Ok(())
    }

    async fn profile(&self, user: &str) -> PortResult<Vec<ProblemStats>> {
        let attempts = self.attempts.lock().unwrap();
        Ok(profile_of(attempts.iter().filter(|a| a.user == user)))
    }
}

#[async_trait]
impl Blobs for Memory {
    async fn put(&self, key: &str, bytes: Vec<u8>) -> PortResult<()> {
        self.blobs.lock().unwrap().insert(key.to_string(), bytes);
        Ok(())
    }

    async fn get(&self, key: &str) -> PortResult<Option<Vec<u8>>> {
        Ok(self.blobs.lock().unwrap().get(key).cloned())
    }

    async fn put_dir(&self, prefix: &str, dir: &Path) -> PortResult<()> {
        for entry in std::fs::read_dir(dir).map_err(PortError::internal)? {
            let path = entry.map_err(PortError::internal)?.path();
            let name = path.file_name().unwrap_or_default().to_string_lossy();
            let key = format!("{}/{name}", prefix.trim_end_matches('/'));
            if path.is_dir() {
                self.put_dir(&key, &path).await?;
            } else {
                let bytes = std::fs::read(&path).map_err(PortError::internal)?;
                self.put(&key, bytes).await?;
            }
        }
        Ok(())
    }

    async fn delete_prefix(&self, prefix: &str) -> PortResult<()> {
        self.blobs
            .lock()
            .unwrap()
            .retain(|k, _| !k.starts_with(prefix));
        Ok(())
    }
}

#[async_trait]
impl Queue for Memory {
    async fn send(&self, job_id: &str) -> PortResult<()> {
        self.queued.lock().unwrap().push(job_id.to_string());
        Ok(())
    }
}

#[async_trait]
impl Launcher for Memory {
    async fn launch(&self, launch: &Launch) -> PortResult<String> {
        let mut launches = self.launches.lock().unwrap();
        launches.push(launch.clone());
        let id = format!("runner-{}", launches.len());
        let now = self.now();
        self.held.lock().unwrap().push(Held {
            runner: id.clone(),
            launch: id.clone(),
            job_id: launch.job_id.clone(),
            since: now,
            taken: false,
            answer_by: now + 60_000,
        });
        Ok(id)
    }

    async fn release(&self, job_id: &str, _attempt: u32, launch: Option<&str>) -> PortResult<()> {
        self.held
            .lock()
            .unwrap()
            .retain(|h| launch.map_or(h.job_id != job_id, |l| h.launch != l));
        Ok(())
    }

    async fn runner_ended(&self, runner: &str) -> PortResult<Option<Held>> {
        let mut held = self.held.lock().unwrap();
        let i = held.iter().position(|h| h.runner == runner);
        Ok(i.map(|i| held.remove(i)))
    }

    async fn held(&self) -> PortResult<Vec<Held>> {
        Ok(self.held.lock().unwrap().clone())
    }

    async fn abandon(&self, held: &Held, reason: &str) -> PortResult<()> {
        self.held
            .lock()
            .unwrap()
            .retain(|h| h.runner != held.runner);
        self.abandoned
            .lock()
            .unwrap()
            .push((held.runner.clone(), reason.to_string()));
        Ok(())
    }

    async fn problem_ref(
        &self,
        prefix: &str,
        _budget: std::time::Duration,
    ) -> PortResult<ProblemRef> {
        Ok(ProblemRef::Path(prefix.into()))
    }

    fn workers(&self) -> Option<(usize, usize)> {
        None
    }
}

#[async_trait]
impl Notifier for Memory {
    async fn deliver(&self, callback: Callback) {
        self.callbacks.lock().unwrap().push(callback);
    }
}

impl Clock for Memory {
    fn now(&self) -> Millis {
        self.now.load(Ordering::SeqCst)
    }
}

impl Ids for Memory {
    fn new_id(&self, _now: Millis) -> String {
        format!("job{:04}", self.ids.fetch_add(1, Ordering::SeqCst) + 1)
    }
}
