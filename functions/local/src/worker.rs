//! The local loops around the core's unit functions: the dispatcher takes
//! queue messages one by one (`Platform::dispatch`), the results side
//! handles runner events (`mark_running`, `runner_stopped`), and the pruner
//! removes expired runs. On AWS the same functions run in Lambdas.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use coderun_core::Platform;
use coderun_embedded::{LocalQueue, RunnerEvent};
use tokio::sync::mpsc;
use tracing::{error, warn};

/// Deliveries of one message before its job fails (the local DLQ).
pub const MAX_RECEIVES: u32 = 5;

/// Dispatches queue messages until the process ends.
pub async fn dispatch_loop(platform: Arc<Platform>, queue: LocalQueue) {
    loop {
        let msg = match queue.receive().await {
            Ok(m) => m,
            Err(e) => {
                error!(error = %e, "reading the queue failed");
                tokio::time::sleep(Duration::from_secs(1)).await;
                continue;
            }
        };
        let outcome = platform.dispatch(&msg.job_id).await;
        let settled = match outcome {
            Ok(_) => queue.ack(&msg.job_id).await,
            Err(e) if msg.receives >= MAX_RECEIVES => {
                warn!(job_id = %msg.job_id, error = %e, "dispatch failed for the last time");
                let reason = format!("no runner could be started after {MAX_RECEIVES} tries: {e}");
                match platform.fail(&msg.job_id, &reason).await {
                    Ok(()) => queue.ack(&msg.job_id).await,
                    Err(e) => {
                        error!(job_id = %msg.job_id, error = %e, "failing the job failed");
                        queue
                            .retry_later(&msg.job_id, Duration::from_secs(30))
                            .await
                    }
                }
            }
            Err(e) => {
                let delay = Duration::from_secs(1 << msg.receives.min(5));
                warn!(job_id = %msg.job_id, error = %e, ?delay, "dispatch failed; retrying");
                queue.retry_later(&msg.job_id, delay).await
            }
        };
        if let Err(e) = settled {
            error!(job_id = %msg.job_id, error = %e, "settling the queue message failed");
        }
    }
}

/// Applies runner events; each in its own task, since a relaunch may wait
/// for a free runner slot.
pub async fn events_loop(
    platform: Arc<Platform>,
    mut events: mpsc::UnboundedReceiver<RunnerEvent>,
) {
    while let Some(ev) = events.recv().await {
        let platform = platform.clone();
        tokio::spawn(async move {
            let (job_id, r) = match ev {
                RunnerEvent::Started { job_id } => {
                    let r = platform.mark_running(&job_id).await;
                    (job_id, r)
                }
                RunnerEvent::Stopped {
                    job_id,
                    launch,
                    reason,
                } => {
                    // A relaunch may fail for a while (no runner starts):
                    // retry, then give the job up with the reason.
                    let mut r = platform
                        .runner_stopped(&job_id, Some(&launch), &reason)
                        .await;
                    for attempt in 0..5 {
                        let Err(e) = &r else { break };
                        warn!(job_id, error = %e, attempt, "handling a stopped runner failed; retrying");
                        tokio::time::sleep(Duration::from_secs(1 << attempt)).await;
                        r = platform
                            .runner_stopped(&job_id, Some(&launch), &reason)
                            .await;
                    }
                    if let Err(e) = &r {
                        let why = format!("the job could not be relaunched: {e}; last: {reason}");
                        r = platform.fail(&job_id, &why).await;
                    }
                    (job_id, r)
                }
            };
            if let Err(e) = r {
                error!(job_id, error = %e, "handling a runner event failed");
            }
        });
    }
}

/// Prunes expired playground runs, and scratch boxes left by runners that
/// were killed, every `every`.
pub async fn prune_loop(
    platform: Arc<Platform>,
    every: Duration,
    boxes: PathBuf,
    stale_after: Duration,
) {
    loop {
        tokio::time::sleep(every).await;
        match platform.prune().await {
            Ok(0) => {}
            Ok(n) => tracing::info!(runs = n, "pruned expired runs"),
            Err(e) => warn!(error = %e, "pruning failed"),
        }
        let dir = boxes.clone();
        match tokio::task::spawn_blocking(move || sweep(&dir, stale_after)).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(boxes = n, "removed stale scratch boxes"),
            Err(e) => warn!(error = %e, "sweeping scratch boxes failed"),
        }
    }
}

/// Removes the entries of `dir` not modified for `stale_after` (no live
/// runner keeps a box longer than its deadline); returns how many.
pub fn sweep(dir: &Path, stale_after: Duration) -> usize {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return 0;
    };
    let mut removed = 0;
    for e in entries.flatten() {
        let old = e
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.elapsed().ok())
            .is_some_and(|age| age > stale_after);
        if old {
            let path = e.path();
            let r = if path.is_dir() {
                std::fs::remove_dir_all(&path)
            } else {
                std::fs::remove_file(&path)
            };
            match r {
                Ok(()) => removed += 1,
                Err(err) => {
                    warn!(path = %path.display(), error = %err, "removing a stale box failed")
                }
            }
        }
    }
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sweep_removes_only_stale_entries() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("box-old/sub")).unwrap();
        std::fs::write(dir.path().join("box-old/sub/f"), "x").unwrap();
        std::fs::create_dir(dir.path().join("box-new")).unwrap();
        let old = std::time::SystemTime::now() - Duration::from_secs(7200);
        let f = std::fs::File::open(dir.path().join("box-old")).unwrap();
        f.set_modified(old).unwrap();
        assert_eq!(sweep(dir.path(), Duration::from_secs(3600)), 1);
        assert!(!dir.path().join("box-old").exists());
        assert!(dir.path().join("box-new").exists());
        assert_eq!(sweep(&dir.path().join("missing"), Duration::ZERO), 0);
    }
}
