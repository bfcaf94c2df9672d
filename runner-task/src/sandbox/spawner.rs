//! A slot's spawner thread: a runner thread that clones the slot's runs and
//! warms its next one up. On cgroup v1 it lives in the slot's cgroups, so
//! that the runs it clones are born there; on v2 they are born there by
//! `CLONE_INTO_CGROUP`, and the thread stays where it is.
//!
//! Moving a process between cgroups takes the kernel's global
//! `cgroup_threadgroup_rwsem` for writing, which waits for an RCU grace
//! period unless another move came just before: 0.5 ms and more in
//! back-to-back runs, 6-15 ms measured here for a run after a pause (a
//! playground run, a Python program), the largest single cost of a sandbox
//! start. A child inherits its creator's cgroups, and cgroup v1
//! places threads one by one: one thread moved once, at the slot's first
//! run, saves that move on every run after it. (Cgroup v2 has
//! `CLONE_INTO_CGROUP` for the same.)
//!
//! The thread shares the runner's memory, so a closure borrowing the run's
//! prepared data can be run on it; the caller waits until it returned.
//! Memory the thread touches is charged to the runner's own cgroup (to the
//! owner of the address space), and the runner never signals itself when
//! it empties the slot (see `cgroup::Slot::pids`). Nor can a run that fills
//! its memory take the runner down: the memory cgroup's OOM killer chooses
//! among the processes whose leader is in the cgroup (it iterates thread
//! group leaders), and the runner's leader is not; checked on this host
//! with a 300 MB process whose one thread sat in a 100 MB cgroup where a
//! child allocated without end: the child was killed, the process was not
//! even listed.

use std::sync::mpsc;
use std::thread::JoinHandle;

use super::cgroup;

type Job = Box<dyn FnOnce() + Send + 'static>;

#[derive(Debug)]
pub(super) struct Spawner {
    jobs: Option<mpsc::Sender<Job>>,
    thread: Option<JoinHandle<()>>,
}

impl Spawner {
    /// Starts the thread and moves it into `slot`'s cgroups.
    pub fn start(slot: &cgroup::Slot) -> std::io::Result<Spawner> {
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

    /// Runs `job` on the spawner thread, after the jobs before it, without
    /// waiting; false if the thread is gone.
    pub fn submit(&self, job: impl FnOnce() + Send + 'static) -> bool {
        self.jobs
            .as_ref()
            .is_some_and(|jobs| jobs.send(Box::new(job)).is_ok())
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
