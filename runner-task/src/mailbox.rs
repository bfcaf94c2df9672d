//! `runner-task mailbox`: a warm runner on AWS. It holds no credentials and
//! has no route out but to S3: it waits at its current mailbox (a
//! presigned GET, see [`crate::protocol::mailbox`]), serves the job posted
//! there, and moves on to the mailbox the mail names. After an idle window
//! without mail it writes its own retirement into the mailbox, only if
//! that is still empty, and exits; if a job got there first, it serves it.
//!
//! Between jobs nothing of one job is left for the next: each run of the
//! sandbox removes its uid's processes and files (scratch, `/tmp`,
//! `/dev/shm`, …), the job's boxes and live output are removed with it,
//! and the runner's own environment holds only its first mailbox's URLs,
//! which no program's uid can read.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

use crate::job;
use crate::protocol::mailbox::{Assignment, Mail, Mailbox, MAX_MAIL_BYTES};
use crate::protocol::{JobResult, JobState};
use crate::runner::Runner;

/// How often an idle runner looks at its mailbox: often right after a job
/// (jobs come in bursts), then less, to keep an idle runner's S3 requests
/// few (see the README's cost of a warm pool).
fn poll_interval(idle_for: Duration) -> Duration {
    if idle_for < Duration::from_secs(5) {
        Duration::from_millis(100)
    } else if idle_for < Duration::from_secs(60) {
        Duration::from_millis(250)
    } else {
        Duration::from_secs(1)
    }
}

/// How long a runner keeps trying to write its retirement while S3
/// cannot be reached.
const RETIRE_GRACE: Duration = Duration::from_secs(120);

/// How often live output is sent while a program runs, at the least.
const LIVE_INTERVAL: Duration = Duration::from_millis(250);
/// The most of each stream's output sent live; the rest comes with the
/// result.
pub const MAX_LIVE_BYTES: u64 = 1 << 20;

fn agent() -> ureq::Agent {
    job::agent_with(Duration::from_secs(30))
}

/// What the runner's loop came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ended {
    /// Idle for its window: retired.
    Retired,
    /// Its mailbox said it was retired (by an earlier life of it).
    AlreadyRetired,
}

/// The runner's whole life: wait, serve, move on; retire when idle. Returns
/// how many jobs it served and how it ended.
pub fn serve(
    runner: &Runner,
    id: &str,
    first: Mailbox,
    idle: Duration,
) -> anyhow::Result<(u64, Ended)> {
    let http = agent();
    let mut at = first;
    let mut idle = idle;
    let mut served = 0;
    loop {
        let mail = match wait(&http, id, &at, idle)? {
            Some(mail) => mail,
            None => return Ok((served, Ended::Retired)),
        };
        match mail {
            Mail::Job {
                job,
                next,
                idle_seconds,
            } => {
                eprintln!("runner {id}: job {}", job.job_id);
                take(runner, &http, &job);
                served += 1;
                at = next;
                idle = Duration::from_secs(idle_seconds);
            }
            Mail::Stay { next, idle_seconds } => {
                at = next;
                idle = Duration::from_secs(idle_seconds);
            }
            Mail::Retired { .. } => return Ok((served, Ended::AlreadyRetired)),
        }
    }
}

/// Waits at `at` for mail, up to `idle`; then retires there unless mail
/// arrived first. `None`: retired.
fn wait(
    http: &ureq::Agent,
    id: &str,
    at: &Mailbox,
    idle: Duration,
) -> anyhow::Result<Option<Mail>> {
    let since = Instant::now();
    loop {
        if let Some(mail) = look(http, &at.get)? {
            return Ok(Some(mail));
        }
        let idle_for = since.elapsed();
        if idle_for >= idle + RETIRE_GRACE {
            // S3 unreachable all along: leave. The platform hears of the
            // task's end and hands any job posted here to another runner.
            bail!("the mailbox could not be reached to retire");
        }
        if idle_for >= idle {
            let body = serde_json::to_vec(&Mail::Retired {
                runner: id.to_string(),
            })?;
            match http
                .put(&at.put)
                .header("if-none-match", "*")
                .header("content-type", "application/json")
                .send(&body[..])
            {
                Ok(_) => return Ok(None),
                // 412: mail got there first. 409: a write racing ours;
                // either way the mailbox says what happened.
                Err(ureq::Error::StatusCode(412 | 409)) => continue,
                Err(e) if job::passing(&e) => {}
                Err(e) => return Err(e).context("retiring at the mailbox"),
            }
        }
        std::thread::sleep(poll_interval(idle_for));
    }
}

/// One look at a mailbox: its mail, or `None` while it is empty (or S3
/// cannot be reached for a moment).
fn look(http: &ureq::Agent, url: &str) -> anyhow::Result<Option<Mail>> {
    let resp = match http.get(url).call() {
        Ok(r) => r,
        Err(ureq::Error::StatusCode(404)) => return Ok(None),
        Err(e) if job::passing(&e) => return Ok(None),
        // 403: the URL expired or was never valid; no mail will ever come.
        Err(e) => return Err(e).context("looking at the mailbox"),
    };
    let mut bytes = Vec::new();
    resp.into_body()
        .into_reader()
        .take(MAX_MAIL_BYTES + 1)
        .read_to_end(&mut bytes)
        .context("reading the mailbox")?;
    if bytes.len() as u64 > MAX_MAIL_BYTES {
        bail!("the mail is larger than {MAX_MAIL_BYTES} bytes");
    }
    let mail: Mail = serde_json::from_slice(&bytes).context("the mail is not valid")?;
    mail.validate()
        .map_err(|e| anyhow::anyhow!("the mail is not valid: {e}"))?;
    Ok(Some(mail))
}

/// Serves one job: says it took it, runs it with its live output sent as
/// it comes, and writes its result. A job that cannot be read fails (the
/// platform's fault, said in the result); only a result that cannot be
/// written leaves the job to the platform's sweep.
fn take(runner: &Runner, http: &ureq::Agent, a: &Assignment) {
    let delays = [100, 500, 2000].map(Duration::from_millis);
    if let Err(e) = job::put_retrying(http, &a.taken, b"", &delays, "saying the job was taken") {
        eprintln!("job {}: {e:#}", a.job_id);
    }
    let result = match job::read_manifest(&a.manifest) {
        Ok(m) if m.job_id == a.job_id => with_live(&a.live, |live| {
            job::execute_live(runner, &m, live.as_deref())
        }),
        Ok(m) => failed(&a.job_id, format!("the manifest is job {}'s", m.job_id)),
        Err(e) => failed(&a.job_id, format!("{e:#}")),
    };
    if let Err(e) = job::write_result(&a.result, &result) {
        eprintln!("job {}: {e:#}", a.job_id);
    }
}

fn failed(job_id: &str, error: String) -> JobResult {
    JobResult {
        job_id: job_id.to_string(),
        state: JobState::Failed,
        compile: None,
        runs: Vec::new(),
        judge: None,
        verify: None,
        error: Some(error),
        runner: None,
    }
}

/// Runs `f` with a private directory for live output while a thread sends
/// each stream's output so far to its URL whenever it grew; the last of it
/// is sent before this returns.
fn with_live<T>(urls: &[[String; 2]], f: impl FnOnce(Option<PathBuf>) -> T) -> T {
    if urls.is_empty() {
        return f(None);
    }
    // Root's, mode 0700: no program's uid may enter.
    let Ok(dir) = tempfile::Builder::new().prefix("live-").tempdir() else {
        return f(None);
    };
    let done = Arc::new(AtomicBool::new(false));
    let sender = {
        let (dir, done, urls) = (dir.path().to_path_buf(), done.clone(), urls.to_vec());
        std::thread::spawn(move || send_live(&dir, &urls, &done))
    };
    let out = f(Some(dir.path().to_path_buf()));
    done.store(true, Ordering::SeqCst);
    let _ = sender.join();
    out
}

fn send_live(dir: &Path, urls: &[[String; 2]], done: &AtomicBool) {
    let http = agent();
    let mut sent = vec![[0u64; 2]; urls.len()];
    loop {
        let last = done.load(Ordering::SeqCst);
        let began = Instant::now();
        for (i, pair) in urls.iter().enumerate() {
            for (s, stream) in ["stdout", "stderr"].iter().enumerate() {
                let path = dir.join(format!("{i}.{stream}"));
                let len = std::fs::metadata(&path).map_or(0, |m| m.len());
                let len = len.min(MAX_LIVE_BYTES);
                if len <= sent[i][s] {
                    continue;
                }
                let mut body = Vec::with_capacity(len as usize);
                let read =
                    std::fs::File::open(&path).and_then(|f| f.take(len).read_to_end(&mut body));
                if read.is_ok() && http.put(&pair[s]).send(&body[..]).is_ok() {
                    sent[i][s] = body.len() as u64;
                }
            }
        }
        if last {
            return;
        }
        // Never more than a fifth of the time on sending.
        let pause = LIVE_INTERVAL.max(began.elapsed() * 4);
        let until = Instant::now() + pause;
        while Instant::now() < until && !done.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_idle_runner_looks_less_often_the_longer_it_waits() {
        let at = |s| poll_interval(Duration::from_secs(s));
        assert!(at(0) < at(10) && at(10) < at(120));
        assert_eq!(at(3600), Duration::from_secs(1));
    }
}
