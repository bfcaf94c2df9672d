//! The services: everything the API, the dispatcher and the results handler
//! do, written once against the ports. Both deployments call these. Intake
//! (runs, submissions, sessions) and the problem catalog are here; what
//! happens to a job after intake is [`lifecycle`]'s.

mod catalog;
mod lifecycle;

pub use catalog::Saved;

use std::sync::Arc;
use std::time::Duration;

use coderun_protocol::JobResult;
use hmac::{Hmac, Mac};
use serde::Serialize;
use sha2::{Digest, Sha256};
use tokio::sync::broadcast;
use tracing::{info, instrument, warn};

use crate::domain::*;
use crate::error::{CoreError, PortError};
use crate::judge0;
use crate::ports::*;
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

/// Lowercase hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
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
        Job::queued(self.ports.ids.new_id(now), kind, &who.user, language, now)
    }

    /// Stores the blobs, then the record (claiming the idempotency key),
    /// then queues it. Returns the job and whether it is new.
    async fn accept(
        &self,
        job: Job,
        program: Option<&Program>,
        request: Option<Vec<u8>>,
        key: Option<IdempotencyKey>,
    ) -> Result<(Job, bool), CoreError> {
        let blobs = &self.ports.blobs;
        if let Some(program) = program {
            blobs
                .put(&job.source_key(), program.source.as_bytes().to_vec())
                .await?;
            if !program.files.is_empty() {
                let files = serde_json::to_vec(&program.files).map_err(CoreError::internal)?;
                blobs.put(&job.files_key(), files).await?;
            }
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
        for prefix in Job::blob_prefixes(id) {
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
        self.start_run(who, req, key, None, None).await
    }

    /// A run asked for through Judge0's API: its callback is Judge0's.
    pub async fn create_judge0_run(
        &self,
        who: &Principal,
        req: RunRequest,
    ) -> Result<Job, CoreError> {
        req.validate()?;
        let (job, _) = self
            .start_run(who, req, None, None, Some(CallbackAs::Judge0))
            .await?;
        Ok(job)
    }

    /// A run as Judge0's API shows it (see [`judge0::RunRecord`]).
    pub async fn run_record(
        &self,
        who: &Principal,
        id: &str,
    ) -> Result<judge0::RunRecord, CoreError> {
        let job = self.owned_job(who, id, JobKind::Run).await?;
        self.run_record_of(job).await
    }

    pub(super) async fn run_record_of(&self, job: Job) -> Result<judge0::RunRecord, CoreError> {
        let stored: StoredRun = match self.ports.blobs.get(&job.request_key()).await? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(CoreError::internal)?,
            None => return Err(CoreError::NotFound("run")),
        };
        Ok(judge0::RunRecord {
            source: self.source_of(&job).await?,
            result: self.result_of(&job).await?,
            input: stored.inputs.into_iter().next().unwrap_or_default(),
            limits: stored.limits,
            job,
        })
    }

    async fn start_run(
        &self,
        who: &Principal,
        req: RunRequest,
        key: Option<IdempotencyKey>,
        session_id: Option<String>,
        callback_as: Option<CallbackAs>,
    ) -> Result<(Job, bool), CoreError> {
        let program = req.program()?;
        let mut job = self.new_job(JobKind::Run, who, &req.language);
        job.callback_as = callback_as;
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
        self.accept(job, Some(&program), Some(request), key).await
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

    /// The program's files beside its entry point (none for most).
    async fn files_of(
        &self,
        job: &Job,
    ) -> Result<Vec<coderun_protocol::lang::SourceFile>, CoreError> {
        match self.ports.blobs.get(&job.files_key()).await? {
            Some(bytes) => serde_json::from_slice(&bytes).map_err(CoreError::internal),
            None => Ok(Vec::new()),
        }
    }

    pub async fn get_run(&self, who: &Principal, id: &str) -> Result<RunView, CoreError> {
        let job = self.owned_job(who, id, JobKind::Run).await?;
        let result = self.result_of(&job).await?;
        let source = self.source_of(&job).await?;
        let files = self.files_of(&job).await?;
        let mut view = RunView::new(job, source, result.as_ref());
        view.files = files.into_iter().map(FileRequest::from).collect();
        Ok(view)
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
        let bytes = self
            .ports
            .blobs
            .get(&job.live_key(input, name))
            .await?
            .unwrap_or_default();
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
        let program = req.program()?;
        program.check_code_limit(problem.code_limit_kib)?;
        self.accept(job, Some(&program), None, key).await
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
        let files = self.files_of(&job).await?;
        let mut view = SubmissionView::new(job, source, result.as_ref(), who.can_set());
        view.files = files.into_iter().map(FileRequest::from).collect();
        Ok(view)
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
        let program = Program {
            source: self.source_of(&old).await?,
            files: self.files_of(&old).await?,
        };
        let owner = Principal {
            user: old.user.clone(),
            name: None,
            roles: vec![],
        };
        let mut job = self.new_job(JobKind::Submission, &owner, &old.language);
        job.problem_id = Some(problem.id);
        job.problem_version = Some(problem.version);
        job.rejudge_of = Some(old.id.clone());
        Ok(self.accept(job, Some(&program), None, None).await?.0)
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
                ..Default::default()
            }],
            ..RunRequest::default()
        };
        req.validate()?;
        let key = self.idempotency(who, &format!("sessions/{id}"), key, &(&s.id, s.version))?;
        self.start_run(who, req, key, Some(s.id), None).await
    }

    pub async fn queue_status(&self) -> Result<QueueStatus, CoreError> {
        let m = self.metrics().await?;
        Ok(QueueStatus {
            queued: m.jobs.queued,
            starting: m.jobs.starting,
            running: m.jobs.running,
            failed: m.jobs.failed,
            completed: m.jobs.completed,
            oldest_age_ms: m.jobs.oldest_unfinished_ms,
            busy_workers: m.busy_workers as u64,
            workers: m.workers as u64,
        })
    }

    /// The platform's gauges and this process's latency histograms.
    pub async fn metrics(&self) -> Result<Metrics, CoreError> {
        let jobs = self.ports.jobs.job_counts(self.now()).await?;
        let (busy_workers, workers) = self.ports.launcher.workers().unwrap_or((0, 0));
        Ok(Metrics {
            jobs,
            busy_workers,
            workers,
            latency: self.latency.snapshot(),
        })
    }
}

/// What the operations endpoints report (see [`Platform::metrics`]).
#[derive(Debug)]
pub struct Metrics {
    pub jobs: JobCounts,
    /// Runner slots busy and in all (0 where the launcher cannot tell).
    pub busy_workers: usize,
    pub workers: usize,
    /// Accepted-to-result latency of jobs this process finished, by kind
    /// (in [`JobKind::ALL`]'s order).
    pub latency: [LatencyHistogram; JobKind::ALL.len()],
}

/// `sha256=` + hex HMAC-SHA256 of `"{timestamp}.{body}"`.
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
