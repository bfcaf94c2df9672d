//! A slot's spawner thread (cgroup v1): a runner thread that lives in the
//! slot's cgroups, so that the runs it clones are born there.
//!
//! Moving a process between cgroups takes the kernel's global
//! `cgroup_threadgroup_rwsem` for writing, which first waits for an RCU
//! grace period: about 0.5 ms per run, the largest single cost of a
//! sandbox start. A child inherits its creator's cgroups, and cgroup v1
//! places threads one by one: one thread moved once, at the slot's first
//! run, saves that move on every run after it. (Cgroup v2 has
//! `CLONE_INTO_CGROUP` for the same.)
//!
//! The thread shares the runner's memory, so a closure borrowing the run's
//! prepared data can be run on it; the caller waits until it returned.
//! Memory the thread touches is charged to the runner's own cgroup (to the
//! owner of the address space), and the runner never signals itself when
//! it empties the slot (see `cgroup::Slot::pids`). A thread in the slot's
//! memory cgroup makes the whole runner a candidate when a run hits its
//! memory limit. A run's programs are the OOM killer's first choice (score
//! 1000, see `child::prefer_for_oom_kill`) and its PID 1 the next (score
//! [`child::INIT_OOM_SCORE`]); the runner takes itself out of the choice
//! (score -1000) where it may (CAP_SYS_RESOURCE). Where it may not, it
//! stays last by size: the score of PID 1 outweighs the runner's resident
//! memory as long as that is under a quarter of the run's memory limit,
//! and a run with a smaller limit is moved into the cgroups instead (see
//! [`Spawner::may_clone`]).

use std::sync::mpsc;
use std::thread::JoinHandle;

use super::{cgroup, child};

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Debug)]
pub(super) struct Spawner {
    /// The runner is out of the OOM killer's choice (score -1000).
    protected: bool,
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    /// Starts the thread and moves it into `slot`'s cgroups.
    pub fn start(slot: &cgroup::Slot) -> std::io::Result<Spawner> {
        let protected = match std::fs::write("/proc/self/oom_score_adj", "-1000") {
            Ok(()) => true,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => false,
            Err(e) => return Err(e),
        };
        let (jobs, queue) = mpsc::channel::<Job>();
        let (entered, entered_rx) = mpsc::channel::<std::io::Result<()>>();
        let dirs = slot.thread_files();
        let thread = std::thread::Builder::new()
            .name("coderun-spawner".into())
            .spawn(move || {
                let joined = cgroup::enter_thread(&dirs);
                let ok = joined.is_ok();
                let _ = entered.send(joined);
                if ok {
                    for job in queue {
                        job();
                    }
                }
            })?;
        match entered_rx.recv() {
            Ok(Ok(())) => Ok(Spawner {
                protected,
                jobs: Some(jobs),
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err(std::io::Error::other("the spawner thread died"))
            }
        }
    }

    /// Whether a run limited to `memory_bytes` may be cloned here: always
    /// when the runner is out of the OOM killer's choice; otherwise only if
    /// PID 1's score outweighs the runner's size (the OOM killer ranks by
    /// resident memory plus score × limit / 1000).
    pub fn may_clone(&self, memory_bytes: u64) -> bool {
        self.protected
            || resident_bytes().is_some_and(|rss| {
                rss.saturating_mul(1000) < memory_bytes.saturating_mul(child::INIT_OOM_SCORE) / 2
            })
    }

    /// Runs `f` on the spawner thread and returns its result.
    pub fn run<R: Send>(&self, f: impl FnOnce() -> R + Send) -> Option<R> {
        let (done, result) = mpsc::sync_channel::<R>(1);
        let job: Box<dyn FnOnce() + Send + '_> = Box::new(move || {
            let _ = done.send(f());
        });
        // SAFETY: the job may borrow from the caller's stack: it is made
        // 'static here only to cross the channel. `recv` below returns once
        // the job has run (it sent its result) or was dropped (the thread
        // died: the sender inside it dropped first), so nothing it borrows
        // is used after this function returns.
        let job: Job = unsafe { std::mem::transmute::<Box<dyn FnOnce() + Send + '_>, Job>(job) };
        self.jobs.as_ref()?.send(job).ok()?;
        result.recv().ok()
    }
}

impl Drop for Spawner {
    fn drop(&mut self) {
        // The thread ends with its queue; the cgroups can then be removed.
        self.jobs.take();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The runner's resident memory, bytes.
fn resident_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    // SAFETY: sysconf has no memory effects.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    Some(pages * u64::try_from(page).ok()?)
}
