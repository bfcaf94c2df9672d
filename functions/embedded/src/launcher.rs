//! The local launcher: a pool of at most `workers` runner processes
//! (`runner-task worker`), each running one job at a time with its sandbox
//! set up once, so a job costs no process start and no host probe.
//! Manifests and results are files in the blob directory. A runner dies
//! with coderun (parent-death signal) and its sandboxes die with it; a
//! runner that dies or overruns its deadline takes only its own job along.

use std::collections::HashMap;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use coderun_core::error::PortError;
use coderun_core::ports::{Launch, Launcher, PortResult};
use coderun_protocol::ProblemRef;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};
use tokio::sync::{mpsc, Semaphore};
use tracing::{info, instrument, warn};

use crate::blobs::DirBlobs;

/// How to start the runner: a program and the arguments before the
/// subcommand (`coderun runner-task …`, or `runner-task …`).
#[derive(Debug, Clone)]
pub struct RunnerCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl RunnerCommand {
    /// A command for `subcommand args…` with a clean environment.
    pub fn command<I, S>(&self, subcommand: I) -> tokio::process::Command
    where
        I: IntoIterator<Item = S>,
        S: Into<OsString>,
    {
        let mut c = tokio::process::Command::new(&self.program);
        c.args(&self.args)
            .args(subcommand.into_iter().map(Into::into))
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            c.pre_exec(|| {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        c
    }
}

/// What happened to a job's runner, for the results side of the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerEvent {
    Started {
        job_id: String,
    },
    /// The runner is done with the job: with a result written, or not
    /// (`reason` says why).
    Stopped {
        job_id: String,
        /// The id `launch` returned.
        launch: String,
        reason: String,
    },
}

/// One runner process.
#[derive(Debug)]
struct Worker {
    child: Child,
    stdin: ChildStdin,
    stdout: Lines<BufReader<ChildStdout>>,
}

#[derive(Debug)]
pub struct ProcessLauncher {
    runner: RunnerCommand,
    blobs: DirBlobs,
    pool_label: OsString,
    permits: Arc<Semaphore>,
    workers: usize,
    idle: Arc<Mutex<Vec<Worker>>>,
    /// Jobs with a runner at work, and that runner's id.
    live: Arc<Mutex<HashMap<String, String>>>,
    launches: AtomicU64,
    events: mpsc::UnboundedSender<RunnerEvent>,
    deadline: Duration,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl ProcessLauncher {
    /// `deadline` bounds one job (a judge of many tests included).
    pub fn new(
        runner: RunnerCommand,
        blobs: DirBlobs,
        workers: usize,
        deadline: Duration,
    ) -> (ProcessLauncher, mpsc::UnboundedReceiver<RunnerEvent>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let workers = workers.max(1);
        (
            ProcessLauncher {
                pool_label: blobs.root().as_os_str().to_owned(),
                runner,
                blobs,
                permits: Arc::new(Semaphore::new(workers)),
                workers,
                idle: Arc::default(),
                live: Arc::default(),
                launches: AtomicU64::new(1),
                events: tx,
                deadline,
            },
            rx,
        )
    }

    fn spawn_worker(&self) -> std::io::Result<Worker> {
        let mut cmd = self.runner.command([
            OsString::from("worker"),
            "--pool".into(),
            self.pool_label.clone(),
        ]);
        // Runner messages go to coderun's own log.
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn()?;
        let stdin = child.stdin.take().expect("piped");
        let stdout = BufReader::new(child.stdout.take().expect("piped")).lines();
        info!(pid = child.id(), "runner started");
        Ok(Worker {
            child,
            stdin,
            stdout,
        })
    }
}

/// A job's entry in `live` while its launch is under way; removed again if
/// the launch fails before a runner took the job.
struct Claim<'a> {
    live: &'a Mutex<HashMap<String, String>>,
    job_id: &'a str,
    handed_over: bool,
}

impl<'a> Claim<'a> {
    /// Claims `job_id` for `launch_id`; the launch already at work on it,
    /// if there is one.
    fn take(
        live: &'a Mutex<HashMap<String, String>>,
        job_id: &'a str,
        launch_id: &str,
    ) -> Result<Claim<'a>, String> {
        let mut map = lock(live);
        if let Some(theirs) = map.get(job_id) {
            return Err(theirs.clone());
        }
        map.insert(job_id.to_string(), launch_id.to_string());
        Ok(Claim {
            live,
            job_id,
            handed_over: false,
        })
    }

    fn hand_over(mut self) {
        self.handed_over = true;
    }
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        if !self.handed_over {
            lock(self.live).remove(self.job_id);
        }
    }
}

/// Why a worker ended, in words for the job's record.
async fn ended(worker: &mut Worker) -> String {
    match tokio::time::timeout(Duration::from_secs(5), worker.child.wait()).await {
        Ok(Ok(status)) => match (
            status.code(),
            std::os::unix::process::ExitStatusExt::signal(&status),
        ) {
            (Some(c), _) => format!("the runner exited with code {c}"),
            (None, Some(s)) => format!("the runner was killed by signal {s}"),
            _ => "the runner ended".into(),
        },
        Ok(Err(e)) => format!("waiting for the runner failed: {e}"),
        Err(_) => {
            let _ = worker.child.kill().await;
            "the runner stopped answering and was killed".into()
        }
    }
}

#[async_trait]
impl Launcher for ProcessLauncher {
    #[instrument(skip_all, fields(job_id = %l.job_id))]
    async fn launch(&self, l: &Launch) -> PortResult<String> {
        // Launching a job whose runner is at work does nothing (a
        // redelivered message), like ECS RunTask with the same client token.
        if let Some(id) = lock(&self.live).get(&l.job_id) {
            return Ok(id.clone());
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(PortError::internal)?;
        let launch_id = format!("local-{}", self.launches.fetch_add(1, Ordering::Relaxed));
        let claim = match Claim::take(&self.live, &l.job_id, &launch_id) {
            Ok(claim) => claim,
            Err(theirs) => return Ok(theirs),
        };
        let manifest = self.blobs.path(&l.manifest_key);
        let result = self.blobs.path(&l.result_key);
        let request = format!("{}\t{}\n", manifest.display(), result.display());
        if request.matches('\t').count() != 1 || request.matches('\n').count() != 1 {
            return Err(PortError::internal(
                "blob paths must not hold tabs or newlines",
            ));
        }
        if let Some(parent) = result.parent() {
            std::fs::create_dir_all(parent).map_err(PortError::unavailable)?;
        }
        // A pooled runner may have died while idle: then a fresh one.
        let mut worker = None;
        for _ in 0..2 {
            let pooled = lock(&self.idle).pop();
            let mut w = match pooled {
                Some(w) => w,
                None => self.spawn_worker().map_err(PortError::unavailable)?,
            };
            match w.stdin.write_all(request.as_bytes()).await {
                Ok(()) => {
                    worker = Some(w);
                    break;
                }
                Err(e) => {
                    let why = ended(&mut w).await;
                    warn!(error = %e, why, "a runner was gone before its job");
                }
            }
        }
        let Some(mut worker) = worker else {
            return Err(PortError::unavailable("no runner would take the job"));
        };
        // From here the job is the runner's: its end removes it from `live`.
        claim.hand_over();
        let _ = self.events.send(RunnerEvent::Started {
            job_id: l.job_id.clone(),
        });
        let (events, live, idle, job_id, deadline, launch) = (
            self.events.clone(),
            self.live.clone(),
            self.idle.clone(),
            l.job_id.clone(),
            self.deadline,
            launch_id.clone(),
        );
        tokio::spawn(async move {
            let answer = tokio::time::timeout(deadline, worker.stdout.next_line()).await;
            let (reason, keep) = match answer {
                Ok(Ok(Some(line))) => match line.strip_prefix("done ") {
                    Some(id) if id == job_id => ("the runner finished".to_string(), true),
                    Some(other) => (format!("the runner answered for job {other}"), false),
                    None => (
                        line.strip_prefix("error ").unwrap_or(&line).to_string(),
                        true,
                    ),
                },
                Ok(Ok(None)) | Ok(Err(_)) => (ended(&mut worker).await, false),
                Err(_) => {
                    let _ = worker.child.kill().await;
                    let _ = worker.child.wait().await;
                    (
                        format!(
                            "the runner exceeded its deadline of {} s",
                            deadline.as_secs()
                        ),
                        false,
                    )
                }
            };
            if keep {
                lock(&idle).push(worker);
            }
            drop(permit);
            lock(&live).remove(&job_id);
            if events
                .send(RunnerEvent::Stopped {
                    job_id: job_id.clone(),
                    launch,
                    reason,
                })
                .is_err()
            {
                warn!(job_id, "runner stopped after the platform shut down");
            }
        });
        Ok(launch_id)
    }

    async fn problem_ref(&self, prefix: &str, _: std::time::Duration) -> PortResult<ProblemRef> {
        Ok(ProblemRef::Path(self.blobs.path(prefix)))
    }

    fn workers(&self) -> Option<(usize, usize)> {
        Some((
            self.workers - self.permits.available_permits(),
            self.workers,
        ))
    }
}
