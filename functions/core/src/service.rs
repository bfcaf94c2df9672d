//! The services: everything the API, the dispatcher and the results handler
//! do, written once against the ports. Both deployments call these.

use std::sync::Arc;
use std::time::Duration;

use coderun_package::Package;
use coderun_protocol::budget;
use coderun_protocol::{JobResult, JobState, Manifest, RunStatus, Verdict, Work};
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tracing::{info, instrument, warn};

use crate::archive;
use crate::domain::*;
use crate::error::{CoreError, PortError};
use crate::ports::*;
use crate::problems;
use crate::requests::*;
use crate::views::*;

/// The adapters a deployment plugs in.
#[derive(Clone)]
pub struct Ports {
    pub jobs: Arc<dyn JobStore>,
    pub problems: Arc<dyn ProblemStore>,
    pub sessions: Arc<dyn SessionStore>,
    pub profiles: Arc<dyn ProfileStore>,
    pub blobs: Arc<dyn Blobs>,
    pub queue: Arc<dyn Queue>,
    pub launcher: Arc<dyn Launcher>,
    /// Where packages can be verified (runs sandboxed code); `None`: not
    /// in this deployment, and imports are refused.
    pub verifier: Option<Arc<dyn Verifier>>,
    pub notifier: Arc<dyn Notifier>,
    /// Finished jobs counted outside the process (none locally).
    pub metrics: Option<Arc<dyn JobMetrics>>,
    pub clock: Arc<dyn Clock>,
    pub ids: Arc<dyn Ids>,
}

impl std::fmt::Debug for Ports {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Ports")
    }
}

/// Service settings (from each binary's typed config).
#[derive(Debug, Clone)]
pub struct Settings {
    /// How long playground runs are kept.
    pub run_retention: Duration,
    /// Launches that may end without a result before the job `FAILED`.
    pub max_attempts: u32,
    /// Key of the HMAC on callbacks.
    pub callback_secret: Vec<u8>,
}

impl Default for Settings {
    fn default() -> Settings {
        Settings {
            run_retention: Duration::from_secs(7 * 24 * 3600),
            max_attempts: 2,
            callback_secret: Vec::new(),
        }
    }
}

/// Longest `?wait=` a client may ask for.
pub const MAX_WAIT: Duration = Duration::from_secs(10);
/// Lines per page of `GET /runs/{id}/logs`.
pub const MAX_LOG_LINES: u32 = 1000;
/// Records per page of a list.
pub const MAX_PAGE: u32 = 100;
/// Longest `Idempotency-Key`.
pub const MAX_IDEMPOTENCY_KEY_BYTES: usize = 128;

/// What a dispatch did with a queue message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dispatched {
    /// A runner was started.
    Launched,
    /// The job was already past `STARTING` or is gone: nothing to do.
    Skipped,
}

/// Latency histogram buckets, ms (Prometheus `le`).
pub const LATENCY_BUCKETS_MS: [u64; 12] = [
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000,
];

/// Queue-to-result latency per job kind, for `/metrics`.
#[derive(Debug, Default)]
pub struct Latency {
    inner: std::sync::Mutex<[LatencyHistogram; JobKind::ALL.len()]>,
}

#[derive(Debug, Default, Clone, Serialize)]
pub struct LatencyHistogram {
    pub buckets: [u64; LATENCY_BUCKETS_MS.len()],
    pub count: u64,
    pub sum_ms: u64,
}

impl Latency {
    fn observe(&self, kind: JobKind, ms: u64) {
        let mut all = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        let h = &mut all[kind as usize];
        for (i, le) in LATENCY_BUCKETS_MS.iter().enumerate() {
            if ms <= *le {
                h.buckets[i] += 1;
            }
        }
        h.count += 1;
        h.sum_ms += ms;
    }

    /// Histograms per kind, in the order of [`JobKind::ALL`].
    pub fn snapshot(&self) -> [LatencyHistogram; JobKind::ALL.len()] {
        self.inner.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }
}

/// The platform's services.
#[derive(Debug)]
pub struct Platform {
    ports: Ports,
    settings: Settings,
    finished: broadcast::Sender<String>,
    pub latency: Latency,
}

fn owned(job: Job, who: &Principal, kind: JobKind) -> Result<Job, CoreError> {
    // Another user's job is reported as missing, not forbidden: ids leak nothing.
    if job.kind != kind || (job.user != who.user && !who.is_admin()) {
        return Err(CoreError::NotFound(kind.as_str()));
    }
    Ok(job)
}

fn hash_request<T: Serialize>(kind: &str, req: &T) -> String {
    let mut h = Sha256::new();
    h.update(kind.as_bytes());
    h.update(serde_json::to_vec(req).unwrap_or_default());
    hex(&h.finalize())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Checks an `Idempotency-Key` header value.
pub fn check_idempotency_key(key: &str) -> Result<(), CoreError> {
    if key.is_empty()
        || key.len() > MAX_IDEMPOTENCY_KEY_BYTES
        || !key.bytes().all(|b| b.is_ascii_graphic())
    {
        return Err(CoreError::invalid(
            "Idempotency-Key",
            format!("1-{MAX_IDEMPOTENCY_KEY_BYTES} printable ASCII characters"),
        ));
    }
    Ok(())
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

impl Platform {
    pub fn new(ports: Ports, settings: Settings) -> Platform {
        Platform {
            ports,
            settings,
            finished: broadcast::channel(1024).0,
            latency: Latency::default(),
        }
    }

    pub fn ports(&self) -> &Ports {
        &self.ports
    }

    pub fn now(&self) -> Millis {
        self.ports.clock.now()
    }

    fn new_job(&self, kind: JobKind, who: &Principal, language: &str) -> Job {
        let now = self.now();
        Job {
            id: self.ports.ids.new_id(now),
            kind,
            user: who.user.clone(),
            language: language.to_string(),
            status: Status::Queued,
            problem_id: None,
            problem_version: None,
            session_id: None,
            rejudge_of: None,
            limits: None,
            input_count: 0,
            verdict: None,
            score: None,
            outcome: None,
            time_ms: None,
            memory_kb: None,
            attempts: 0,
            launch: None,
            error: None,
            callback_url: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            expires_at: None,
        }
    }

    /// Stores the blobs, then the record (claiming the idempotency key),
    /// then queues it. Returns the job and whether it is new.
    async fn accept(
        &self,
        job: Job,
        source: Option<&str>,
        request: Option<Vec<u8>>,
        key: Option<IdempotencyKey>,
    ) -> Result<(Job, bool), CoreError> {
        let blobs = &self.ports.blobs;
        if let Some(source) = source {
            blobs
                .put(&job.source_key(), source.as_bytes().to_vec())
                .await?;
        }
        if let Some(r) = request {
            blobs.put(&job.request_key(), r).await?;
        }
        match self.ports.jobs.insert_job(&job, key.as_ref()).await? {
            Inserted::New => {}
            Inserted::Existing {
                job_id,
                request_hash,
            } => {
                self.discard_blobs(&job.id).await;
                if key.map(|k| k.request_hash) != Some(request_hash) {
                    return Err(CoreError::Conflict(
                        "this Idempotency-Key was used for a different request".into(),
                    ));
                }
                let existing = self
                    .ports
                    .jobs
                    .get_job(&job_id)
                    .await?
                    .ok_or(CoreError::NotFound("job"))?;
                return Ok((existing, false));
            }
        }
        if let Err(e) = self.ports.queue.send(&job.id).await {
            // Accepted but not queued: fail it now rather than leave it waiting.
            warn!(job_id = %job.id, error = %e, "queueing failed");
            self.fail(&job.id, "the job could not be queued").await.ok();
            return Err(e.into());
        }
        info!(job_id = %job.id, kind = job.kind.as_str(), "job accepted");
        Ok((job, true))
    }

    async fn discard_blobs(&self, id: &str) {
        for prefix in [
            format!("sources/{id}"),
            format!("jobs/{id}/"),
            format!("results/{id}/"),
            format!("imports/{id}"),
        ] {
            if let Err(e) = self.ports.blobs.delete_prefix(&prefix).await {
                warn!(job_id = id, error = %e, "deleting blobs failed");
            }
        }
    }

    fn idempotency<T: Serialize>(
        &self,
        who: &Principal,
        scope: &str,
        key: Option<&str>,
        req: &T,
    ) -> Result<Option<IdempotencyKey>, CoreError> {
        let Some(key) = key else { return Ok(None) };
        check_idempotency_key(key)?;
        Ok(Some(IdempotencyKey {
            user: who.user.clone(),
            key: format!("{scope}:{key}"),
            request_hash: hash_request(scope, req),
        }))
    }

    // ---- playground runs ----------------------------------------------

    #[instrument(skip_all, fields(user = %who.user))]
    pub async fn create_run(
        &self,
        who: &Principal,
        req: RunRequest,
        key: Option<&str>,
    ) -> Result<(Job, bool), CoreError> {
        req.validate()?;
        let key = self.idempotency(who, "runs", key, &req)?;
        self.start_run(who, req, key, None).await
    }

    async fn start_run(
        &self,
        who: &Principal,
        req: RunRequest,
        key: Option<IdempotencyKey>,
        session_id: Option<String>,
    ) -> Result<(Job, bool), CoreError> {
        let mut job = self.new_job(JobKind::Run, who, &req.language);
        job.limits = Some(req.limits.unwrap_or_default());
        job.input_count = req.inputs.len() as u32;
        job.callback_url = req.callback_url.clone();
        job.session_id = session_id;
        job.expires_at = Some(job.created_at + self.settings.run_retention.as_millis() as i64);
        let stored = StoredRun {
            inputs: req.inputs,
            limits: req.limits.unwrap_or_default(),
        };
        let request = serde_json::to_vec(&stored).map_err(CoreError::internal)?;
        self.accept(job, Some(&req.source), Some(request), key)
            .await
    }

    async fn owned_job(&self, who: &Principal, id: &str, kind: JobKind) -> Result<Job, CoreError> {
        let job = self
            .ports
            .jobs
            .get_job(id)
            .await?
            .ok_or(CoreError::NotFound(kind.as_str()))?;
        owned(job, who, kind)
    }

    async fn result_of(&self, job: &Job) -> Result<Option<JobResult>, CoreError> {
        if !job.status.is_final() {
            return Ok(None);
        }
        let Some(bytes) = self.ports.blobs.get(&job.result_key()).await? else {
            return Ok(None);
        };
        Ok(serde_json::from_slice(&bytes).ok())
    }

    async fn source_of(&self, job: &Job) -> Result<String, CoreError> {
        let bytes = self.ports.blobs.get(&job.source_key()).await?;
        Ok(String::from_utf8_lossy(&bytes.unwrap_or_default()).into_owned())
    }

    pub async fn get_run(&self, who: &Principal, id: &str) -> Result<RunView, CoreError> {
        let job = self.owned_job(who, id, JobKind::Run).await?;
        let result = self.result_of(&job).await?;
        let source = self.source_of(&job).await?;
        Ok(RunView::new(job, source, result.as_ref()))
    }

    /// One page of a run's output, by lines.
    pub async fn run_logs(
        &self,
        who: &Principal,
        id: &str,
        query: &LogQuery,
    ) -> Result<LogPage, CoreError> {
        if query.limit == 0 || query.limit > MAX_LOG_LINES {
            return Err(CoreError::invalid(
                "limit",
                format!("between 1 and {MAX_LOG_LINES}"),
            ));
        }
        let job = self.owned_job(who, id, JobKind::Run).await?;
        if query.input >= job.input_count.max(1) {
            return Err(CoreError::invalid(
                "input",
                format!("the run has {} inputs", job.input_count),
            ));
        }
        let start: usize = match &query.cursor {
            None => 0,
            Some(c) => c
                .parse()
                .map_err(|_| CoreError::invalid("cursor", "not a cursor from this endpoint"))?,
        };
        let result = self.result_of(&job).await?;
        let text = match &result {
            Some(r) => log_text(r, query.stream, query.input as usize),
            // Still running: what the runner has written so far, whole
            // lines only (the last one may still grow).
            None => self.live_text(&job, query.stream, query.input).await?,
        };
        let lines: Vec<&str> = text.split_inclusive('\n').collect();
        let end = (start + query.limit as usize).min(lines.len());
        let page: Vec<String> = lines
            .get(start.min(lines.len())..end)
            .unwrap_or_default()
            .iter()
            .map(|l| l.to_string())
            .collect();
        let finished = job.status.is_final();
        let next = if end < lines.len() || !finished {
            Some(end.max(start).to_string())
        } else {
            None
        };
        Ok(LogPage {
            status: job.status,
            lines: page,
            next_cursor: next,
            complete: finished && end >= lines.len(),
        })
    }

    async fn live_text(
        &self,
        job: &Job,
        stream: LogStream,
        input: u32,
    ) -> Result<String, CoreError> {
        let name = match stream {
            LogStream::Stdout => "stdout",
            LogStream::Stderr => "stderr",
            LogStream::Compile => return Ok(String::new()),
        };
        let key = format!("results/{}/live/{input}.{name}", job.id);
        let bytes = self.ports.blobs.get(&key).await?.unwrap_or_default();
        let whole = bytes.iter().rposition(|b| *b == b'\n').map_or(0, |i| i + 1);
        Ok(String::from_utf8_lossy(&bytes[..whole]).into_owned())
    }

    /// Waits until the job is finished or `timeout` passes; returns it then.
    pub async fn wait(&self, id: &str, timeout: Duration) -> Result<Option<Job>, CoreError> {
        let deadline = tokio::time::Instant::now() + timeout.min(MAX_WAIT);
        let mut events = self.finished.subscribe();
        loop {
            let job = self.ports.jobs.get_job(id).await?;
            match &job {
                Some(j) if !j.status.is_final() => {}
                _ => return Ok(job),
            }
            // Another process may finish it (Lambda): poll as well as listen.
            let tick = tokio::time::sleep(Duration::from_millis(250));
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => return Ok(job),
                _ = tick => {}
                ev = events.recv() => {
                    if let Err(broadcast::error::RecvError::Closed) = ev {
                        return Ok(job);
                    }
                }
            }
        }
    }

    /// Subscribes to "job finished" events (ids) of this process.
    pub fn subscribe(&self) -> broadcast::Receiver<String> {
        self.finished.subscribe()
    }

    // ---- submissions --------------------------------------------------

    #[instrument(skip_all, fields(user = %who.user))]
    pub async fn create_submission(
        &self,
        who: &Principal,
        req: SubmissionRequest,
        key: Option<&str>,
    ) -> Result<(Job, bool), CoreError> {
        req.validate()?;
        let key = self.idempotency(who, "submissions", key, &req)?;
        let problem = self
            .ports
            .problems
            .get_problem(&req.problem_id)
            .await?
            .ok_or(CoreError::NotFound("problem"))?;
        let mut job = self.new_job(JobKind::Submission, who, &req.language);
        job.problem_id = Some(problem.id.clone());
        job.problem_version = Some(problem.version);
        job.callback_url = req.callback_url.clone();
        self.accept(job, Some(&req.source), None, key).await
    }

    pub async fn create_submissions(
        &self,
        who: &Principal,
        reqs: Vec<SubmissionRequest>,
        key: Option<&str>,
    ) -> Result<Vec<(Job, bool)>, CoreError> {
        if reqs.is_empty() || reqs.len() > MAX_BATCH {
            return Err(CoreError::invalid(
                "submissions",
                format!("between 1 and {MAX_BATCH} submissions"),
            ));
        }
        // Everything is checked before anything is accepted.
        for (i, r) in reqs.iter().enumerate() {
            r.validate().map_err(|e| match e {
                CoreError::Invalid { field, message } => {
                    CoreError::invalid(format!("submissions[{i}].{field}"), message)
                }
                CoreError::TooLarge { field, message } => {
                    CoreError::too_large(format!("submissions[{i}].{field}"), message)
                }
                e => e,
            })?;
            if self
                .ports
                .problems
                .get_problem(&r.problem_id)
                .await?
                .is_none()
            {
                return Err(CoreError::invalid(
                    format!("submissions[{i}].problem_id"),
                    format!("no problem {:?}", r.problem_id),
                ));
            }
        }
        let mut out = Vec::new();
        for (i, r) in reqs.into_iter().enumerate() {
            let k = key.map(|k| format!("{k}#{i}"));
            out.push(self.create_submission(who, r, k.as_deref()).await?);
        }
        Ok(out)
    }

    pub async fn get_submission(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<SubmissionView, CoreError> {
        let job = self.owned_job(who, id, JobKind::Submission).await?;
        let result = self.result_of(&job).await?;
        let source = self.source_of(&job).await?;
        Ok(SubmissionView::new(
            job,
            source,
            result.as_ref(),
            who.can_set(),
        ))
    }

    /// An import handed to a runner (setters only; their own, or any for
    /// an admin).
    pub async fn get_import(&self, who: &Principal, id: &str) -> Result<ImportView, CoreError> {
        Self::require_setter(who)?;
        let job = self.owned_job(who, id, JobKind::Import).await?;
        let result = match job.status {
            Status::Completed => self.result_of(&job).await?,
            _ => None,
        };
        Ok(ImportView::new(job, result.as_ref()))
    }

    pub async fn list_jobs(&self, query: JobQuery) -> Result<Page<Job>, CoreError> {
        if query.limit == 0 || query.limit > MAX_PAGE {
            return Err(CoreError::invalid(
                "limit",
                format!("between 1 and {MAX_PAGE}"),
            ));
        }
        Ok(self.ports.jobs.list_jobs(&query).await?)
    }

    /// Judges a finished submission again, as a new submission of its
    /// owner (statuses never go backwards).
    pub async fn rejudge(&self, who: &Principal, id: &str) -> Result<Job, CoreError> {
        if !who.can_set() {
            return Err(CoreError::Forbidden(
                "rejudging needs the setter or admin role".into(),
            ));
        }
        let old = self
            .ports
            .jobs
            .get_job(id)
            .await?
            .filter(|j| j.kind == JobKind::Submission)
            .ok_or(CoreError::NotFound("submission"))?;
        if !old.status.is_final() {
            return Err(CoreError::Conflict(
                "the submission is still being judged".into(),
            ));
        }
        let problem_id = old.problem_id.clone().unwrap_or_default();
        let problem = self
            .ports
            .problems
            .get_problem(&problem_id)
            .await?
            .ok_or(CoreError::NotFound("problem"))?;
        let source = self.source_of(&old).await?;
        let owner = Principal {
            user: old.user.clone(),
            name: None,
            roles: vec![],
        };
        let mut job = self.new_job(JobKind::Submission, &owner, &old.language);
        job.problem_id = Some(problem.id);
        job.problem_version = Some(problem.version);
        job.rejudge_of = Some(old.id.clone());
        Ok(self.accept(job, Some(&source), None, None).await?.0)
    }

    pub async fn profile(&self, who: &Principal) -> Result<Profile, CoreError> {
        let problems = self.ports.profiles.profile(&who.user).await?;
        Ok(Profile {
            user: who.user.clone(),
            name: who.name.clone(),
            roles: who.roles.clone(),
            solved: problems.iter().filter(|p| p.solved).count() as u32,
            attempted: problems.len() as u32,
            submissions: problems.iter().map(|p| p.attempts).sum(),
            problems,
        })
    }

    // ---- code sessions ------------------------------------------------

    pub async fn create_session(
        &self,
        who: &Principal,
        req: SessionRequest,
    ) -> Result<Session, CoreError> {
        req.validate()?;
        let now = self.now();
        let s = Session {
            id: self.ports.ids.new_id(now),
            user: who.user.clone(),
            title: req.title.unwrap_or_else(|| "Untitled".into()),
            language: req.language.unwrap_or_else(|| "python3".into()),
            source: req.source.unwrap_or_default(),
            stdin: req.stdin.unwrap_or_default(),
            version: 1,
            created_at: now,
            updated_at: now,
        };
        self.ports.sessions.put_session(&s, None).await?;
        Ok(s)
    }

    pub async fn get_session(&self, who: &Principal, id: &str) -> Result<Session, CoreError> {
        self.ports
            .sessions
            .get_session(id)
            .await?
            .filter(|s| s.user == who.user)
            .ok_or(CoreError::NotFound("session"))
    }

    pub async fn update_session(
        &self,
        who: &Principal,
        id: &str,
        req: SessionRequest,
    ) -> Result<Session, CoreError> {
        req.validate()?;
        let old = self.get_session(who, id).await?;
        let mut s = old.clone();
        if let Some(t) = req.title {
            s.title = t;
        }
        if let Some(l) = req.language {
            s.language = l;
        }
        if let Some(src) = req.source {
            s.source = src;
        }
        if let Some(i) = req.stdin {
            s.stdin = i;
        }
        s.version += 1;
        s.updated_at = self.now();
        match self.ports.sessions.put_session(&s, Some(old.version)).await {
            Err(PortError::Conflict(_)) => Err(CoreError::Conflict(
                "the session changed meanwhile; fetch it and try again".into(),
            )),
            r => r.map(|_| s).map_err(Into::into),
        }
    }

    pub async fn run_session(
        &self,
        who: &Principal,
        id: &str,
        key: Option<&str>,
    ) -> Result<(Job, bool), CoreError> {
        let s = self.get_session(who, id).await?;
        let req = RunRequest {
            language: s.language.clone(),
            source: s.source.clone(),
            inputs: vec![coderun_protocol::Input {
                stdin: s.stdin.clone(),
                args: vec![],
            }],
            limits: None,
            callback_url: None,
        };
        req.validate()?;
        let key = self.idempotency(who, &format!("sessions/{id}"), key, &(&s.id, s.version))?;
        self.start_run(who, req, key, Some(s.id)).await
    }

    // ---- problems -----------------------------------------------------

    pub async fn list_problems(
        &self,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<Page<Problem>, CoreError> {
        if limit == 0 || limit > MAX_PAGE {
            return Err(CoreError::invalid(
                "limit",
                format!("between 1 and {MAX_PAGE}"),
            ));
        }
        Ok(self.ports.problems.list_problems(cursor, limit).await?)
    }

    pub async fn get_problem(&self, id: &str) -> Result<Problem, CoreError> {
        self.ports
            .problems
            .get_problem(id)
            .await?
            .ok_or(CoreError::NotFound("problem"))
    }

    fn require_setter(who: &Principal) -> Result<(), CoreError> {
        if !who.can_set() {
            return Err(CoreError::Forbidden(
                "managing problems needs the setter or admin role".into(),
            ));
        }
        Ok(())
    }

    /// `POST /problems` (`replace` = `None`) and `PUT /problems/{id}`.
    pub async fn save_problem(
        &self,
        who: &Principal,
        mut req: ProblemRequest,
        replace: Option<&str>,
    ) -> Result<Saved, CoreError> {
        Self::require_setter(who)?;
        if let Some(id) = replace {
            check_problem_id("id", id)?;
            if req.id.as_deref().is_some_and(|given| given != id) {
                return Err(CoreError::invalid("id", "differs from the id in the path"));
            }
            req.id = Some(id.to_string());
        }
        req.validate()?;
        let id = req
            .id
            .clone()
            .ok_or_else(|| CoreError::invalid("id", "is required"))?;
        let dir = tempfile::tempdir().map_err(CoreError::internal)?;
        problems::write_package(&req, dir.path()).map_err(CoreError::internal)?;
        self.register_package(who, dir.path(), Some(id), replace.is_some())
            .await
    }

    /// `POST /problems/import`: a zip or tar.gz package.
    pub async fn import_problem(
        &self,
        who: &Principal,
        bytes: Vec<u8>,
        id: Option<String>,
        replace: bool,
    ) -> Result<Saved, CoreError> {
        Self::require_setter(who)?;
        if let Some(id) = &id {
            check_problem_id("id", id)?;
        }
        let dir = tempfile::tempdir().map_err(CoreError::internal)?;
        let root = unpack_package(bytes, dir.path().to_path_buf()).await?;
        self.register_package(who, &root, id, replace).await
    }

    /// Verifies an unpacked package, stores it as a new version and its
    /// record. Nothing is stored unless it loads and verifies.
    async fn register_package(
        &self,
        who: &Principal,
        root: &std::path::Path,
        id: Option<String>,
        replace: bool,
    ) -> Result<Saved, CoreError> {
        let invalid =
            |e: coderun_package::PackageError| CoreError::invalid("package", e.to_string());
        let pkg = Package::load(root).map_err(invalid)?;
        let id = match id {
            Some(id) => id,
            None => {
                let from_dir = root.file_name().map(|n| n.to_string_lossy().into_owned());
                let slug = problems::slug(from_dir.as_deref().unwrap_or(&pkg.name));
                let slug = if slug.is_empty() {
                    problems::slug(&pkg.name)
                } else {
                    slug
                };
                check_problem_id("id", &slug).map_err(|_| {
                    CoreError::invalid("id", "cannot be derived from the package: pass ?id=")
                })?;
                slug
            }
        };
        let existing = self.ports.problems.get_problem(&id).await?;
        match (&existing, replace) {
            (Some(_), false) => {
                return Err(CoreError::Conflict(format!(
                    "problem {id:?} exists; PUT /problems/{id} (or import with ?replace=true) replaces it"
                )))
            }
            (None, true) => return Err(CoreError::NotFound("problem")),
            _ => {}
        }
        let Some(verifier) = self.ports.verifier.as_ref() else {
            return self
                .stage_import(who, root, id, existing)
                .await
                .map(|job| Saved::Verifying(Box::new(job)));
        };
        let report = verifier
            .verify(root)
            .await?
            .map_err(|m| CoreError::invalid("package", m))?;
        let problem = self
            .store_package(root, &id, &who.user, &report, existing, None)
            .await?;
        Ok(Saved::Problem(Box::new(problem)))
    }

    /// Stores a verified package as a new version, and its record. The
    /// record is written last, only if the problem is still at the version
    /// `existing` has.
    async fn store_package(
        &self,
        root: &std::path::Path,
        id: &str,
        author: &str,
        report: &serde_json::Value,
        existing: Option<Problem>,
        import_id: Option<&str>,
    ) -> Result<Problem, CoreError> {
        // Verification may have derived the time limit (`.timelimit`).
        let pkg = Package::load(root).map_err(|e| CoreError::invalid("package", e.to_string()))?;
        let version = existing.as_ref().map_or(1, |p| p.version + 1);
        let now = self.now();
        let mut problem = problems::record(&pkg, id, version, author, now)
            .map_err(|m| CoreError::invalid("package", m))?;
        problem.verify_report = Some(report.clone());
        problem.import_id = import_id.map(str::to_string);
        if let Some(old) = &existing {
            problem.created_at = old.created_at;
            problem.author = old.author.clone();
        }
        let prefix = problem.package_prefix();
        // As a tree (local runners read it in place) and as one archive
        // (remote runners fetch it by a presigned URL).
        self.ports.blobs.put_dir(&prefix, root).await?;
        let packed = pack(root).await?;
        self.ports
            .blobs
            .put(&format!("{prefix}.tar.gz"), packed)
            .await?;
        match self
            .ports
            .problems
            .put_problem(&problem, existing.as_ref().map(|p| p.version))
            .await
        {
            Ok(()) => {}
            Err(PortError::Conflict(_)) => {
                self.ports
                    .blobs
                    .delete_prefix(&format!("{prefix}/"))
                    .await
                    .ok();
                return Err(CoreError::Conflict(format!(
                    "problem {id:?} was changed meanwhile; try again"
                )));
            }
            Err(e) => return Err(e.into()),
        }
        info!(problem = %id, version, "problem saved");
        Ok(problem)
    }

    /// Where the API cannot run a package's code (AWS), an import becomes a
    /// job: a runner verifies the staged package, and the results handler
    /// stores it ([`Platform::apply_result`]).
    async fn stage_import(
        &self,
        who: &Principal,
        root: &std::path::Path,
        id: String,
        existing: Option<Problem>,
    ) -> Result<Job, CoreError> {
        let mut job = self.new_job(JobKind::Import, who, PACKAGE_LANGUAGE);
        job.problem_id = Some(id);
        job.problem_version = existing.map(|p| p.version);
        job.expires_at = Some(job.created_at + self.settings.run_retention.as_millis() as i64);
        let packed = pack(root).await?;
        self.ports
            .blobs
            .put(&format!("{}.tar.gz", job.staged_package_prefix()), packed)
            .await?;
        Ok(self.accept(job, None, None, None).await?.0)
    }

    /// Ends an import job whose runner verified the package: stores the
    /// package if the report came, and says what became of it.
    async fn finish_import(&self, job: &Job, result: &JobResult) -> Result<Imported, CoreError> {
        let rejected = |why: String| Imported {
            version: None,
            error: Some(why),
        };
        let Some(report) = &result.verify else {
            let why = result.error.clone();
            return Ok(rejected(
                why.unwrap_or_else(|| "the runner sent no report".into()),
            ));
        };
        let id = job.problem_id.clone().unwrap_or_default();
        let existing = self.ports.problems.get_problem(&id).await?;
        let expected = job.problem_version;
        if let Some(p) = &existing {
            // Stored before a crash, by this very import: done. (Its report
            // does not tell: another import of the same package may measure
            // the same times.)
            if p.import_id.as_deref() == Some(job.id.as_str()) {
                return Ok(Imported {
                    version: Some(p.version),
                    error: None,
                });
            }
        }
        if existing.as_ref().map(|p| p.version) != expected {
            return Ok(rejected(format!(
                "problem {id:?} was changed while the package was verified; import it again"
            )));
        }
        let key = format!("{}.tar.gz", job.staged_package_prefix());
        let bytes = self
            .ports
            .blobs
            .get(&key)
            .await?
            .ok_or_else(|| CoreError::internal("the staged package is gone"))?;
        let dir = tempfile::tempdir().map_err(CoreError::internal)?;
        let root = unpack_package(bytes, dir.path().to_path_buf()).await?;
        if report["time_limit_derived"] == serde_json::Value::Bool(true) {
            let t = report["time_limit_ms"]
                .as_u64()
                .ok_or_else(|| CoreError::internal("the report has no time limit"))?;
            Package::load(&root)
                .and_then(|p| p.remember_time_limit(t))
                .map_err(|e| CoreError::invalid("package", e.to_string()))?;
        }
        match self
            .store_package(&root, &id, &job.user, report, existing, Some(&job.id))
            .await
        {
            Ok(p) => Ok(Imported {
                version: Some(p.version),
                error: None,
            }),
            // The setter's to mend: said on the import, not retried.
            Err(
                e @ (CoreError::Invalid { .. }
                | CoreError::TooLarge { .. }
                | CoreError::Conflict(_)),
            ) => Ok(rejected(e.to_string())),
            Err(e) => Err(e),
        }
    }

    pub async fn delete_problem(&self, who: &Principal, id: &str) -> Result<(), CoreError> {
        Self::require_setter(who)?;
        if !self.ports.problems.delete_problem(id).await? {
            return Err(CoreError::NotFound("problem"));
        }
        self.ports
            .blobs
            .delete_prefix(&format!("problems/{id}/"))
            .await?;
        Ok(())
    }

    // ---- dispatch (queue consumer) -------------------------------------

    async fn manifest(&self, job: &Job) -> Result<Result<Manifest, String>, CoreError> {
        let source = match job.kind {
            JobKind::Import => String::new(),
            _ => self.source_of(job).await?,
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

    /// One queue message: `QUEUED → STARTING` by a conditional write, then
    /// a runner. A redelivered message finds the job past `QUEUED`; for a
    /// `STARTING` job it launches again, which launchers make idempotent
    /// (ECS `clientToken` = job id and attempt; the local pool knows its
    /// children).
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
                let mut next = job.clone();
                next.status = Status::Starting;
                next.started_at = Some(self.now());
                next.launch = None;
                match self
                    .ports
                    .jobs
                    .replace_job(&next, (job.status, job.attempts))
                    .await
                {
                    Ok(()) => {}
                    Err(PortError::Conflict(_)) => return Ok(Dispatched::Skipped),
                    Err(e) => return Err(e.into()),
                }
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
        for _ in 0..5 {
            let Some(cur) = self.ports.jobs.get_job(&job.id).await? else {
                return Ok(());
            };
            if cur.status.is_final()
                || cur.attempts != job.attempts
                || cur.launch.as_ref() == Some(&id)
            {
                return Ok(());
            }
            let mut next = cur.clone();
            next.launch = Some(id.clone());
            match self
                .ports
                .jobs
                .replace_job(&next, (cur.status, cur.attempts))
                .await
            {
                Ok(()) => return Ok(()),
                Err(PortError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Ok(())
    }

    /// The runner is running: `STARTING → RUNNING` (lost races are fine).
    pub async fn mark_running(&self, job_id: &str) -> Result<(), CoreError> {
        let Some(job) = self.ports.jobs.get_job(job_id).await? else {
            return Ok(());
        };
        if job.status != Status::Starting {
            return Ok(());
        }
        let mut next = job.clone();
        next.status = Status::Running;
        match self
            .ports
            .jobs
            .replace_job(&next, (job.status, job.attempts))
            .await
        {
            Ok(()) | Err(PortError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
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
        for _ in 0..5 {
            let Some(job) = self.ports.jobs.get_job(job_id).await? else {
                return Ok(());
            };
            if job.status.is_final() {
                // Applied before (or by a concurrent handler): repair the
                // profile only, which counts each job once.
                return self.record_profile(&job).await;
            }
            let mut next = job.clone();
            next.finished_at = Some(self.now());
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
                    if let Some(i) = &imported {
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
                        next.outcome = run_outcome(&result);
                        next.time_ms = result.runs.iter().map(|r| r.time_ms).max();
                        next.memory_kb = result.runs.iter().map(|r| r.memory_kb).max();
                    }
                    if job.kind == JobKind::Submission && result.judge.is_none() {
                        next.status = Status::Failed;
                        next.error = Some("the runner returned no judgement".into());
                    }
                }
            }
            match self
                .ports
                .jobs
                .replace_job(&next, (job.status, job.attempts))
                .await
            {
                Ok(()) => {
                    if next.kind == JobKind::Import {
                        let staged = format!("{}.tar.gz", next.staged_package_prefix());
                        self.ports.blobs.delete_prefix(&staged).await.ok();
                    }
                    self.finished_job(&next).await;
                    return self.record_profile(&next).await;
                }
                Err(PortError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CoreError::Conflict(
            "the job kept changing while its result was applied".into(),
        ))
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
            let body = serde_json::to_vec(&JobView::from(job.clone())).unwrap_or_default();
            let timestamp = self.now() / 1000;
            let signature = sign(&self.settings.callback_secret, timestamp, &body);
            self.ports
                .notifier
                .deliver(Callback {
                    url: url.clone(),
                    body,
                    timestamp,
                    signature,
                })
                .await;
        }
        let _ = self.finished.send(job.id.clone());
    }

    /// Marks an unfinished job `FAILED` with `reason`.
    pub async fn fail(&self, job_id: &str, reason: &str) -> Result<(), CoreError> {
        for _ in 0..5 {
            let Some(job) = self.ports.jobs.get_job(job_id).await? else {
                return Ok(());
            };
            if job.status.is_final() {
                return Ok(());
            }
            let mut next = job.clone();
            next.status = Status::Failed;
            next.error = Some(reason.chars().take(2000).collect());
            next.finished_at = Some(self.now());
            match self
                .ports
                .jobs
                .replace_job(&next, (job.status, job.attempts))
                .await
            {
                Ok(()) => {
                    warn!(job_id, reason, "job failed");
                    self.finished_job(&next).await;
                    return Ok(());
                }
                Err(PortError::Conflict(_)) => continue,
                Err(e) => return Err(e.into()),
            }
        }
        Err(CoreError::Conflict(
            "the job kept changing while it was failed".into(),
        ))
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
        let mut next = job.clone();
        next.attempts = attempts;
        next.launch = None;
        match self
            .ports
            .jobs
            .replace_job(&next, (job.status, job.attempts))
            .await
        {
            Ok(()) => {
                warn!(
                    job_id,
                    reason, attempts, "runner stopped without a result; launching again"
                );
                self.launch_and_record(&next).await
            }
            Err(PortError::Conflict(_)) => Ok(()),
            Err(e) => Err(e.into()),
        }
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

    /// Removes expired playground runs and their blobs.
    /// A job record the store expired by itself (DynamoDB TTL): its blobs
    /// go too.
    pub async fn expired(&self, id: &str) -> Result<(), CoreError> {
        self.discard_blobs(id).await;
        info!(job_id = id, "expired job's blobs removed");
        Ok(())
    }

    pub async fn prune(&self) -> Result<usize, CoreError> {
        let expired = self.ports.jobs.expired_jobs(self.now(), 500).await?;
        for job in &expired {
            self.discard_blobs(&job.id).await;
            self.ports.jobs.delete_job(&job.id).await?;
        }
        Ok(expired.len())
    }

    pub async fn queue_status(&self) -> Result<QueueStatus, CoreError> {
        let counts = self.ports.jobs.job_counts(self.now()).await?;
        let (busy, total) = self.ports.launcher.workers().unwrap_or((0, 0));
        Ok(QueueStatus {
            queued: counts.queued,
            starting: counts.starting,
            running: counts.running,
            failed: counts.failed,
            completed: counts.completed,
            oldest_age_ms: counts.oldest_unfinished_ms,
            busy_workers: busy as u64,
            workers: total as u64,
        })
    }
}

/// `sha256=` + hex HMAC-SHA256 of `"{timestamp}.{body}"`.
/// What saving a problem came to.
#[derive(Debug)]
pub enum Saved {
    /// Verified in place and stored (the report is its `verify_report`).
    Problem(Box<Problem>),
    /// Handed to a runner to verify (`GET /imports/{id}` follows it).
    Verifying(Box<Job>),
}

/// What became of a verified import: the version stored, or why not.
struct Imported {
    version: Option<u64>,
    error: Option<String>,
}

/// Packs a package directory as the tar.gz runners fetch.
async fn pack(root: &std::path::Path) -> Result<Vec<u8>, CoreError> {
    let dir = root.to_path_buf();
    tokio::task::spawn_blocking(move || archive::pack_tar_gz(&dir))
        .await
        .map_err(CoreError::internal)?
        .map_err(CoreError::internal)
}

/// Unpacks a zip or tar.gz package into `into` (with the archive module's
/// limits) and finds its root.
async fn unpack_package(
    bytes: Vec<u8>,
    into: std::path::PathBuf,
) -> Result<std::path::PathBuf, CoreError> {
    let format = archive::Format::sniff(&bytes).ok_or_else(|| {
        CoreError::invalid(
            "package",
            "is neither a zip nor a gzip-compressed tar archive",
        )
    })?;
    tokio::task::spawn_blocking(move || {
        archive::unpack(format, &bytes, &into)?;
        Ok::<_, archive::ArchiveError>(archive::package_root(&into))
    })
    .await
    .map_err(CoreError::internal)?
    .map_err(|e| match e {
        archive::ArchiveError::Io(e) => CoreError::internal(e),
        archive::ArchiveError::TooLarge | archive::ArchiveError::TooManyEntries => {
            CoreError::too_large("package", e.to_string())
        }
        e => CoreError::invalid("package", e.to_string()),
    })?
    .ok_or_else(|| {
        CoreError::invalid(
            "package",
            "no problem.yaml at the top or in a single top directory",
        )
    })
}

pub fn sign(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes any key length");
    mac.update(timestamp.to_string().as_bytes());
    mac.update(b".");
    mac.update(body);
    format!("sha256={}", hex(&mac.finalize().into_bytes()))
}

/// What a run's request blob holds besides the source.
#[derive(Debug, Serialize, serde::Deserialize)]
struct StoredRun {
    inputs: Vec<coderun_protocol::Input>,
    limits: coderun_protocol::Limits,
}

/// The text of one log stream of a finished run.
fn log_text(result: &JobResult, stream: LogStream, input: usize) -> String {
    match stream {
        LogStream::Compile => result
            .compile
            .as_ref()
            .map(|c| c.output.clone())
            .unwrap_or_default(),
        LogStream::Stdout => result
            .runs
            .get(input)
            .map(|r| r.stdout.clone())
            .unwrap_or_default(),
        LogStream::Stderr => result
            .runs
            .get(input)
            .map(|r| r.stderr.clone())
            .unwrap_or_default(),
    }
}
