//! The local launcher: `runner-task job` as child processes, at most
//! `workers` at once. Manifests and results are files in the blob
//! directory. A runner dies with coderun (parent-death signal), and its
//! sandbox dies with it.

use std::collections::HashSet;
use std::ffi::OsString;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use coderun_core::error::PortError;
use coderun_core::ports::{Launch, Launcher, PortResult};
use runner_task::protocol::ProblemRef;
use tokio::io::AsyncReadExt;
use tokio::sync::{mpsc, Semaphore};
use tracing::{info, warn};

use crate::blobs::DirBlobs;

/// How to start the runner: a program and the arguments before the
/// subcommand (`coderun runner-task --work-dir …`, or `runner-task …`).
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

/// What happened to a runner, for the results side of the platform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RunnerEvent {
    Started { job_id: String },
    Stopped { job_id: String, reason: String },
}

#[derive(Debug)]
pub struct ProcessLauncher {
    runner: RunnerCommand,
    blobs: DirBlobs,
    permits: Arc<Semaphore>,
    workers: usize,
    live: Arc<Mutex<HashSet<String>>>,
    events: mpsc::UnboundedSender<RunnerEvent>,
    deadline: Duration,
}

/// Keeps the end of a runner's stderr for the failure reason.
const STDERR_TAIL: usize = 2048;

impl ProcessLauncher {
    /// `deadline` bounds one runner (a judge of many tests included).
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
                runner,
                blobs,
                permits: Arc::new(Semaphore::new(workers)),
                workers,
                live: Arc::default(),
                events: tx,
                deadline,
            },
            rx,
        )
    }
}

#[async_trait]
impl Launcher for ProcessLauncher {
    async fn launch(&self, l: &Launch) -> PortResult<()> {
        // Launching a job whose runner is alive does nothing (a redelivered
        // message), like ECS RunTask with the same client token.
        if self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .contains(&l.job_id)
        {
            return Ok(());
        }
        let permit = self
            .permits
            .clone()
            .acquire_owned()
            .await
            .map_err(PortError::internal)?;
        if !self
            .live
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(l.job_id.clone())
        {
            return Ok(());
        }
        let manifest = self.blobs.path(&l.manifest_key);
        let result = self.blobs.path(&l.result_key);
        if let Some(parent) = result.parent() {
            std::fs::create_dir_all(parent).map_err(PortError::unavailable)?;
        }
        let mut cmd = self.runner.command([
            OsString::from("job"),
            "--manifest".into(),
            manifest.into_os_string(),
            "--result".into(),
            result.into_os_string(),
        ]);
        cmd.stdout(Stdio::null()).stderr(Stdio::piped());
        let mut child = match cmd.spawn() {
            Ok(c) => c,
            Err(e) => {
                self.live
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .remove(&l.job_id);
                return Err(PortError::unavailable(e));
            }
        };
        info!(job_id = %l.job_id, pid = child.id(), "runner started");
        let _ = self.events.send(RunnerEvent::Started {
            job_id: l.job_id.clone(),
        });
        let (events, live, job_id, deadline) = (
            self.events.clone(),
            self.live.clone(),
            l.job_id.clone(),
            self.deadline,
        );
        tokio::spawn(async move {
            let mut stderr = child.stderr.take();
            let read_tail = async move {
                let mut buf = Vec::new();
                if let Some(s) = stderr.as_mut() {
                    let _ = s.read_to_end(&mut buf).await;
                }
                buf
            };
            let waited = tokio::time::timeout(deadline, async {
                let (status, tail) = tokio::join!(child.wait(), read_tail);
                (status, tail)
            })
            .await;
            let reason = match waited {
                Err(_) => {
                    let _ = child.kill().await;
                    format!(
                        "the runner exceeded its deadline of {} s",
                        deadline.as_secs()
                    )
                }
                Ok((Err(e), _)) => format!("waiting for the runner failed: {e}"),
                Ok((Ok(status), tail)) => {
                    let start = tail.len().saturating_sub(STDERR_TAIL);
                    let tail = String::from_utf8_lossy(&tail[start..]).trim().to_string();
                    let how = match (
                        status.code(),
                        std::os::unix::process::ExitStatusExt::signal(&status),
                    ) {
                        (Some(c), _) => format!("the runner exited with code {c}"),
                        (None, Some(s)) => format!("the runner was killed by signal {s}"),
                        _ => "the runner ended".to_string(),
                    };
                    if tail.is_empty() {
                        how
                    } else {
                        format!("{how}: {tail}")
                    }
                }
            };
            drop(permit);
            live.lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&job_id);
            if events
                .send(RunnerEvent::Stopped {
                    job_id: job_id.clone(),
                    reason,
                })
                .is_err()
            {
                warn!(job_id, "runner stopped after the platform shut down");
            }
        });
        Ok(())
    }

    async fn problem_ref(&self, prefix: &str) -> PortResult<ProblemRef> {
        Ok(ProblemRef::Path(self.blobs.path(prefix)))
    }

    fn workers(&self) -> Option<(usize, usize)> {
        Some((
            self.workers - self.permits.available_permits(),
            self.workers,
        ))
    }
}
