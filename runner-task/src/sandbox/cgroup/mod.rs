//! Control groups: one pooled cgroup per worker slot, limiting memory and
//! processes and accounting CPU for the whole process tree of a run.
//!
//! Creating and removing a cgroup per run costs milliseconds; a slot's cgroup
//! is created once and only its limits and counters are reset between runs.
//! On v2 each run is born in a small leaf of its own under the slot, made
//! while the slot's previous run is judged or its next PID 1 is warmed, so
//! that the leaf's `memory.peak` is that run's alone (see [`Runs`]).
//! Both hierarchies are supported: v1 (separate `memory`, `pids`, `cpuacct`
//! mounts) and v2 (one unified tree), whichever has the controllers. The file
//! system root is injected so the logic can be tested against a directory.

use std::fs;
use std::io;
use std::os::fd::{AsRawFd, BorrowedFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

mod layout;
pub use layout::{delegate, Layout};

/// Counters read at the start of a run, to compare with at the end.
#[derive(Debug, Clone, Copy, Default)]
pub struct Baseline {
    oom_kills: u64,
    cpu_ns: u64,
}

/// What the cgroup saw of one run.
#[derive(Debug, Clone, Copy, Default)]
pub struct Usage {
    /// The kernel's OOM killer acted inside the slot during the run.
    pub oom_killed: bool,
    /// CPU consumed by all processes of the run, nanoseconds.
    pub cpu_ns: u64,
    /// v2: the most memory the run held at once, bytes: its processes'
    /// pages, its files and the kernel's memory for them, as charged to its
    /// leaf (`memory.peak`, or the supervisor's samples before Linux 5.19).
    pub peak_bytes: Option<u64>,
    /// v1: the most the slot's memory held during the run, if that came to
    /// its limit (see [`Slot::reached_limit`]), bytes.
    pub reached_limit: Option<u64>,
}

/// v2: the leaves of a slot's runs, `run-N`. The slot's own `memory.peak`
/// would be the highest of every run it held (before Linux 6.12 it cannot
/// be reset), while a fresh leaf's is its run's. The slot keeps the limits,
/// the events and `cgroup.kill`, which all count its leaves too.
#[derive(Debug, Default)]
struct Runs {
    made: std::cell::Cell<u64>,
    /// The leaf of the newest birth: the slot's current or next run.
    current: std::cell::RefCell<Option<PathBuf>>,
    /// Leaves of earlier runs not yet removed: the last processes of a
    /// killed run may take a moment to leave.
    ended: std::cell::RefCell<Vec<PathBuf>>,
    /// The kernel has `memory.peak` (Linux 5.19+).
    has_peak: std::cell::Cell<bool>,
    /// Without it: the most of `memory.current` the supervisor saw.
    sampled: std::cell::Cell<u64>,
}

/// Leaves of ended runs a slot may hold before it refuses new runs: some
/// process of each survived `cgroup.kill`.
const MAX_ENDED_RUNS: usize = 64;

/// One worker slot's cgroup(s).
#[derive(Debug)]
pub struct Slot {
    dirs: Vec<PathBuf>,
    memory: PathBuf,
    pids: PathBuf,
    v2: bool,
    /// Limits written last (memory bytes, processes): each write to a
    /// cgroup file costs, and consecutive runs usually share limits.
    written: std::cell::Cell<Option<(u64, u64)>>,
    /// v1: the slot's OOM notifications, when the kernel's OOM killer is
    /// kept out of it (see [`watch_oom`]). v2: `memory.events`, which the
    /// kernel marks (POLLPRI) when the slot reaches `memory.high` or
    /// `memory.max` or its OOM killer acts.
    oom_events: Option<OwnedFd>,
    /// v2: the counters of `memory.events` last read.
    v2_events: std::cell::Cell<(u64, u64, u64)>,
    /// v2: the runs' leaves, where the kernel lets the slot have children
    /// with the memory controller; otherwise runs are born in the slot.
    runs: Option<Runs>,
    /// The CPU counter: `cpuacct.usage` (v1) or `cpu.stat` (v2).
    cpu_usage: Option<Held>,
    /// v1: `memory.max_usage_in_bytes` and `memory.kmem.usage_in_bytes`.
    max_usage: Option<Held>,
    kmem_usage: Option<Held>,
}

/// A cgroup file read or written at every run, kept open: opening one
/// costs a path walk and the kernel's allocations (some 8 µs here), and a
/// run reads these several times.
#[derive(Debug)]
struct Held {
    path: PathBuf,
    file: std::cell::OnceCell<Option<fs::File>>,
}

impl Held {
    fn new(path: PathBuf) -> Held {
        Held {
            path,
            file: Default::default(),
        }
    }

    fn file(&self) -> Option<&fs::File> {
        self.file
            .get_or_init(|| {
                let rw = fs::OpenOptions::new()
                    .read(true)
                    .write(true)
                    .open(&self.path);
                rw.or_else(|_| fs::File::open(&self.path)).ok()
            })
            .as_ref()
    }

    /// The file's text, read from its start (the kernel makes it anew).
    fn read<'b>(&self, buf: &'b mut [u8]) -> Option<&'b str> {
        use std::os::unix::fs::FileExt;
        let n = self.file()?.read_at(buf, 0).ok()?;
        std::str::from_utf8(&buf[..n]).ok()
    }

    fn read_u64(&self) -> Option<u64> {
        let mut buf = [0u8; 64];
        self.read(&mut buf)?.trim().parse().ok()
    }

    fn read_key(&self, key: &str) -> Option<u64> {
        let mut buf = [0u8; 1024];
        find_key(self.read(&mut buf)?, key)
    }

    fn write(&self, value: &str) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        let file = self.file().ok_or_else(|| {
            io::Error::new(io::ErrorKind::NotFound, self.path.display().to_string())
        })?;
        file.write_at(value.as_bytes(), 0).map(drop)
    }
}

fn read_u64(path: &Path) -> Option<u64> {
    fs::read_to_string(path).ok()?.trim().parse().ok()
}

fn write(path: &Path, value: &str) -> io::Result<()> {
    fs::write(path, value).map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", path.display())))
}

fn read_key(path: &Path, key: &str) -> Option<u64> {
    find_key(&fs::read_to_string(path).ok()?, key)
}

/// The value of `key` in a cgroup file's "key value" lines.
fn find_key(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let (k, v) = l.split_once(' ')?;
        (k == key).then(|| v.trim().parse().ok())?
    })
}

impl Slot {
    /// Creates (or adopts) the slot's cgroup `name` under the layout's dirs.
    pub fn create(layout: &Layout, name: &str) -> io::Result<Slot> {
        match layout {
            Layout::V1 {
                memory,
                pids,
                cpuacct,
            } => {
                let m = memory.join(name);
                let p = pids.join(name);
                let c = cpuacct.as_ref().map(|c| c.join(name));
                let mut dirs = vec![m.clone(), p.clone()];
                dirs.extend(c.clone());
                for d in &dirs {
                    fs::create_dir_all(d)?;
                }
                // Swap would hide memory use from the limit.
                let _ = write(&m.join("memory.swappiness"), "0");
                let oom_events = watch_oom(&m).ok();
                Ok(Slot {
                    dirs,
                    cpu_usage: c.map(|c| Held::new(c.join("cpuacct.usage"))),
                    max_usage: Some(Held::new(m.join("memory.max_usage_in_bytes"))),
                    kmem_usage: Some(Held::new(m.join("memory.kmem.usage_in_bytes"))),
                    memory: m,
                    pids: p,
                    v2: false,
                    written: Default::default(),
                    oom_events,
                    v2_events: Default::default(),
                    runs: None,
                })
            }
            Layout::V2 { dir, .. } => {
                let d = dir.join(name);
                fs::create_dir_all(&d)?;
                // Adopted from a runner that died: its runs go first.
                empty_tree(&d);
                // Swap would hide memory use from the limit.
                let _ = write(&d.join("memory.swap.max"), "0");
                let runs = write(&d.join("cgroup.subtree_control"), "+memory")
                    .is_ok()
                    .then(Runs::default);
                let events = fs::File::open(d.join("memory.events"))
                    .ok()
                    .map(OwnedFd::from);
                Ok(Slot {
                    dirs: vec![d.clone()],
                    cpu_usage: Some(Held::new(d.join("cpu.stat"))),
                    max_usage: None,
                    kmem_usage: None,
                    memory: d.clone(),
                    pids: d,
                    v2: true,
                    written: Default::default(),
                    oom_events: events,
                    v2_events: Default::default(),
                    runs,
                })
            }
        }
    }

    /// v2: the cgroup a new run's PID 1 is born in (`CLONE_INTO_CGROUP`): a
    /// fresh leaf of the slot, or the slot where it can have none. Leaves
    /// of ended runs are removed on the way. None on v1.
    pub fn birth_dir(&self) -> io::Result<Option<PathBuf>> {
        if !self.v2 {
            return Ok(None);
        }
        let Some(runs) = &self.runs else {
            return Ok(Some(self.memory.clone()));
        };
        let mut ended = runs.ended.borrow_mut();
        ended.retain(|leaf| {
            fs::remove_dir(leaf).is_err_and(|e| e.kind() != io::ErrorKind::NotFound)
        });
        if ended.len() >= MAX_ENDED_RUNS {
            return Err(io::Error::other(format!(
                "{} cgroups of ended runs under {} still hold processes",
                ended.len(),
                self.memory.display()
            )));
        }
        let n = runs.made.get();
        runs.made.set(n + 1);
        let leaf = self.memory.join(format!("run-{n}"));
        fs::create_dir(&leaf)
            .map_err(|e| io::Error::new(e.kind(), format!("{}: {e}", leaf.display())))?;
        runs.has_peak.set(leaf.join("memory.peak").exists());
        runs.sampled.set(0);
        ended.extend(runs.current.replace(Some(leaf.clone())));
        Ok(Some(leaf))
    }

    /// v2 on kernels without `memory.peak`: samples the run's memory now
    /// (the supervisor calls this as it polls).
    pub fn sample_memory(&self) {
        let Some(runs) = self.runs.as_ref().filter(|r| !r.has_peak.get()) else {
            return;
        };
        if let Some(now) = runs
            .current
            .borrow()
            .as_ref()
            .and_then(|leaf| read_u64(&leaf.join("memory.current")))
        {
            runs.sampled.set(runs.sampled.get().max(now));
        }
    }

    /// v2: the most memory the current run held at once, bytes.
    fn run_peak(&self) -> Option<u64> {
        let runs = self.runs.as_ref()?;
        let peak = runs
            .current
            .borrow()
            .as_ref()
            .and_then(|leaf| read_u64(&leaf.join("memory.peak")));
        peak.or(Some(runs.sampled.get()).filter(|b| *b > 0))
    }

    /// Sets this run's limits and snapshots the counters.
    pub fn prepare(&self, memory_bytes: u64, processes: u64) -> io::Result<Baseline> {
        self.drain_kernel_memory(memory_bytes);
        if self.written.get() == Some((memory_bytes, processes)) {
            // Unchanged since the last run of this slot.
        } else if self.v2 {
            // v2 has no way to keep the OOM killer out. The limit is where
            // the slot is throttled (`memory.high`: reclaim and sleep, no
            // kill), and the supervisor ends the run when what filled it is
            // the program's own pages; the hard limit above it leaves room
            // for kernel memory a fork bomb's failed forks hold until an
            // RCU grace period frees it, so that the OOM killer, which
            // would take whichever process is largest, stays out.
            let high = self.memory.join("memory.high");
            let max = self.memory.join("memory.max");
            let hard = (memory_bytes + v2_headroom(memory_bytes)).to_string();
            // memory.high never above memory.max at any step.
            write(&max, &hard)?;
            write(&high, &memory_bytes.to_string())?;
            write(&self.pids.join("pids.max"), &processes.to_string())?;
        } else {
            let limit = self.memory.join("memory.limit_in_bytes");
            let memsw = self.memory.join("memory.memsw.limit_in_bytes");
            // memsw must stay >= the memory limit at every step.
            if memsw.exists() {
                let _ = write(&memsw, "-1");
            }
            write_memory_limit(&limit, memory_bytes)?;
            if memsw.exists() {
                write(&memsw, &memory_bytes.to_string())?;
            }
            write(&self.pids.join("pids.max"), &processes.to_string())?;
        }
        self.written.set(Some((memory_bytes, processes)));
        // What the end of the last run signalled is not this run's, nor
        // the most it held.
        self.take_oom_events();
        if let Some(max_usage) = &self.max_usage {
            let _ = max_usage.write("0");
        }
        Ok(Baseline {
            oom_kills: self.oom_kills(),
            cpu_ns: self.cpu_ns().unwrap_or(0),
        })
    }

    /// v1: before a run, waits while the slot holds more kernel memory
    /// than a quarter of the run's limit and it is still being freed, at
    /// most [`DRAIN_FOR`]. A fork bomb leaves its failed forks' task
    /// structures, freed only when an RCU grace period has passed and the
    /// kernel has got round to its callbacks, which on a busy host takes
    /// tens of milliseconds. A run started in a slot still full of them
    /// fails where no verdict can say why: with the OOM killer kept out,
    /// the kernel's own allocations over the limit fail, so the program's
    /// `execve` dies of SIGSEGV past its point of no return, or its PID 1
    /// cannot even write its report. Memory that stops going down for
    /// [`DRAIN_STALLED`] is caches (dentries and inodes of earlier runs'
    /// files), which the kernel reclaims as the run needs room.
    fn drain_kernel_memory(&self, memory_bytes: u64) {
        let enough = memory_bytes / 4;
        let mut last = self.kmem();
        if last <= enough {
            return;
        }
        let start = Instant::now();
        let mut progress = start;
        while start.elapsed() < DRAIN_FOR && progress.elapsed() < DRAIN_STALLED {
            wait_for_rcu();
            std::thread::sleep(Duration::from_millis(1));
            let now = self.kmem();
            if now <= enough {
                return;
            }
            if now < last {
                progress = Instant::now();
                last = now;
            }
        }
    }

    /// Counts the run's CPU from now: the spawner thread's own work of
    /// starting it is not the program's.
    pub fn rebase_cpu(&self, base: &mut Baseline) {
        if let Some(ns) = self.cpu_ns() {
            base.cpu_ns = ns;
        }
    }

    pub fn is_v2(&self) -> bool {
        self.v2
    }

    /// Whether threads can be placed on their own (v1).
    pub fn per_thread(&self) -> bool {
        !self.v2
    }

    /// Moves a process into the slot (every hierarchy on v1).
    pub fn attach(&self, pid: libc::pid_t) -> io::Result<()> {
        let pid = pid.to_string();
        for d in &self.dirs {
            write(&d.join("cgroup.procs"), &pid)?;
        }
        Ok(())
    }

    /// v1: readable when a task of the slot waits for memory over the limit.
    pub fn oom_events(&self) -> Option<BorrowedFd<'_>> {
        use std::os::fd::AsFd;
        self.oom_events.as_ref().map(|fd| fd.as_fd())
    }

    /// Consumes the pending OOM notifications; whether there were any (v2:
    /// whether the slot reached `memory.high` or `memory.max`, or the OOM
    /// killer acted, since the last look).
    pub fn take_oom_events(&self) -> bool {
        let Some(fd) = &self.oom_events else {
            return false;
        };
        if self.v2 {
            let now = self.memory_events(fd);
            let before = self.v2_events.replace(now);
            return now != before;
        }
        let mut count = 0u64;
        // SAFETY: reads 8 bytes into a local (the eventfd is non-blocking).
        let n = unsafe { libc::read(fd.as_raw_fd(), (&raw mut count).cast(), 8) };
        n == 8 && count > 0
    }

    /// v2: (high, max, oom_kill) of `memory.events`, read through `fd`
    /// (which re-arms its notification).
    fn memory_events(&self, fd: &OwnedFd) -> (u64, u64, u64) {
        let mut buf = [0u8; 512];
        // SAFETY: reading into a local buffer from offset 0.
        let n = unsafe { libc::pread(fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len(), 0) };
        let text = std::str::from_utf8(&buf[..n.max(0) as usize]).unwrap_or("");
        let key = |k: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(k)?.strip_prefix(' ')?.trim().parse().ok())
                .unwrap_or(0)
        };
        (key("high"), key("max"), key("oom_kill"))
    }

    /// v2: whether the slot is at its limit (`memory.high`) now.
    pub fn at_limit(&self) -> bool {
        let Some((limit, _)) = self.written.get().filter(|_| self.v2) else {
            return false;
        };
        fs::read_to_string(self.memory.join("memory.current"))
            .ok()
            .and_then(|t| t.trim().parse::<u64>().ok())
            .is_some_and(|c| c >= limit)
    }

    /// The program's own memory (its pages and files) when the slot is
    /// full, if that is what filled it rather than the kernel's. A fork
    /// bomb fills a memory cgroup with the task structures of its failed
    /// forks, which the kernel frees only after an RCU grace period: that
    /// passes by itself, and the bomb is a time-limit case like any endless
    /// loop.
    ///
    /// v1 keeps the killer out, so a full slot has nothing left to reclaim:
    /// pages filling half of it are the program's doing. On v2 a slot at
    /// `memory.high` may still hold page cache (earlier runs' files, a
    /// compiler's among them) that the kernel reclaims as the program grows,
    /// and throttling lets the program's pages pass the limit: they must
    /// reach the limit themselves.
    pub fn programs_memory_at_oom(&self) -> Option<u64> {
        let stat = self.memory.join("memory.stat");
        let user = if self.v2 {
            // Anonymous pages and tmpfs (the scratch); clean page cache is
            // reclaimed at the limit and is not the program's to count.
            read_key(&stat, "anon").unwrap_or(0) + read_key(&stat, "shmem").unwrap_or(0)
        } else {
            read_key(&stat, "rss").unwrap_or(0) + read_key(&stat, "cache").unwrap_or(0)
        };
        let over = |limit: u64| {
            if self.v2 {
                user >= limit
            } else {
                user.saturating_mul(2) >= limit
            }
        };
        match self.written.get() {
            Some((limit, _)) if !over(limit) => None,
            _ => Some(user),
        }
    }

    /// When a run runs out of time: the program's memory, if the slot sits
    /// at its limit with the program's own unreclaimable pages (anonymous
    /// and tmpfs; there is no swap) holding nearly all of it. The kernel
    /// then spends the run's time reclaiming the little left, the program's
    /// own code among it, and faulting it back: no OOM is ever declared (on
    /// v1) or the program crawls under throttling (v2), and the time limit
    /// strikes first. Such a run is over its memory limit.
    pub fn programs_memory_at_time_out(&self) -> Option<u64> {
        let (limit, _) = self.written.get()?;
        let (usage, anon) = if self.v2 {
            ("memory.current", "anon")
        } else {
            ("memory.usage_in_bytes", "rss")
        };
        let usage = read_u64(&self.memory.join(usage))?;
        let stat = self.memory.join("memory.stat");
        let own = read_key(&stat, anon).unwrap_or(0) + read_key(&stat, "shmem").unwrap_or(0);
        (usage >= limit - limit / 16 && own >= limit - limit / 8).then_some(own)
    }

    /// v1 with the OOM killer kept out: the slot's kernel memory (bytes);
    /// otherwise 0. (`memory.failcnt` would say when the limit was hit,
    /// but this kernel keeps it at 0.)
    fn kmem(&self) -> u64 {
        if self.oom_events.is_none() || self.v2 {
            return 0;
        }
        self.kmem_usage
            .as_ref()
            .and_then(Held::read_u64)
            .unwrap_or(0)
    }

    fn oom_kills(&self) -> u64 {
        if self.oom_events.is_some() && !self.v2 {
            return 0; // the killer is kept out
        }
        if self.v2 {
            read_key(&self.memory.join("memory.events"), "oom_kill").unwrap_or(0)
        } else {
            read_key(&self.memory.join("memory.oom_control"), "oom_kill").unwrap_or(0)
        }
    }

    /// CPU used by the slot since it was created, nanoseconds.
    pub fn cpu_ns(&self) -> Option<u64> {
        let usage = self.cpu_usage.as_ref()?;
        if self.v2 {
            usage.read_key("usage_usec").map(|us| us * 1000)
        } else {
            usage.read_u64()
        }
    }

    /// CPU used since `base`.
    pub fn cpu_since(&self, base: &Baseline) -> Option<u64> {
        self.cpu_ns().map(|n| n.saturating_sub(base.cpu_ns))
    }

    /// Usage of the run that started at `base`.
    pub fn usage(&self, base: &Baseline) -> Usage {
        Usage {
            oom_killed: self.oom_kills() > base.oom_kills,
            cpu_ns: self.cpu_since(base).unwrap_or(0),
            peak_bytes: self.run_peak(),
            reached_limit: self.reached_limit(),
        }
    }

    /// v1: whether the slot's memory came within a sixteenth of its limit
    /// since the run's limits were set (`memory.max_usage_in_bytes`). With
    /// the OOM killer kept out, a program's page faults wait at the limit
    /// for the supervisor, but the kernel's own allocations fail there: a
    /// process of the run may then die of SIGSEGV (an `execve` past its
    /// point of no return, a fault that needed a page table) before any
    /// OOM is signalled. Such a run ran out of memory.
    fn reached_limit(&self) -> Option<u64> {
        let (limit, _) = self.written.get().filter(|_| !self.v2)?;
        self.max_usage
            .as_ref()?
            .read_u64()
            .filter(|peak| *peak >= limit - limit / 16)
    }

    /// The processes in the slot and its runs' leaves, but never the runner
    /// itself: its spawner thread (cgroup v1) lives in the slot, which
    /// lists the runner's pid.
    pub fn pids(&self) -> Vec<libc::pid_t> {
        let me = std::process::id() as libc::pid_t;
        let mut dirs = vec![self.pids.clone()];
        if let Some(runs) = &self.runs {
            dirs.extend(runs.current.borrow().iter().cloned());
            dirs.extend(runs.ended.borrow().iter().cloned());
        }
        dirs.iter()
            .flat_map(|d| listed(d, "cgroup.procs"))
            .filter_map(|l| l.parse().ok())
            .filter(|pid| *pid != me)
            .collect()
    }

    /// The per-thread membership files (`tasks`) of a v1 slot; none on v2.
    pub fn thread_files(&self) -> Vec<PathBuf> {
        if self.v2 {
            return Vec::new();
        }
        self.dirs.iter().map(|d| d.join("tasks")).collect()
    }

    /// Kills every process left in the slot and waits until it is empty.
    pub fn kill_all(&self) {
        if self.v2 && write(&self.pids.join("cgroup.kill"), "1").is_ok() {
            return;
        }
        for _ in 0..1000 {
            let pids = self.pids();
            if pids.is_empty() {
                return;
            }
            for pid in pids {
                // SAFETY: signalling a pid; no memory is involved.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
    }

    /// Removes the slot's cgroup directories, its runs' leaves first.
    pub fn remove(&self) {
        self.kill_all();
        if self.v2 {
            empty_tree(&self.memory);
        }
        for d in &self.dirs {
            let _ = fs::remove_dir(d);
        }
    }
}

/// v2: kills whatever is left under `dir` and removes its child cgroups,
/// waiting (a bounded time) for killed processes to leave them.
pub fn empty_tree(dir: &Path) {
    let children = || -> Vec<PathBuf> {
        fs::read_dir(dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .map(|e| e.path())
            .collect()
    };
    if children().is_empty() {
        return;
    }
    let _ = write(&dir.join("cgroup.kill"), "1");
    for _ in 0..1000 {
        let left: Vec<PathBuf> = children()
            .into_iter()
            .filter(|c| {
                empty_tree(c);
                fs::remove_dir(c).is_err()
            })
            .collect();
        if left.is_empty() {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
}

/// The longest a run waits for the kernel memory of the slot's last run to
/// be freed (see `Slot::drain_kernel_memory`), and how long that memory may
/// stay where it is before it counts as caches.
const DRAIN_FOR: Duration = Duration::from_secs(2);
const DRAIN_STALLED: Duration = Duration::from_millis(250);

/// v2: room above a run's memory limit for kernel memory (see
/// `Slot::prepare`): half the limit, at least 64 MiB.
fn v2_headroom(limit: u64) -> u64 {
    (limit / 2).max(64 << 20)
}

/// Writes a v1 memory limit. One below what the slot still holds fails
/// (`EBUSY`) while the kernel cannot reclaim it: a fork bomb leaves task
/// structures that are freed only after an RCU grace period. The write is
/// tried again after grace periods, a bounded number of them.
fn write_memory_limit(path: &Path, bytes: u64) -> io::Result<()> {
    let mut tries = 0;
    loop {
        match write(path, &bytes.to_string()) {
            Err(e) if e.kind() == io::ErrorKind::ResourceBusy && tries < 50 => {
                tries += 1;
                wait_for_rcu();
            }
            done => return done,
        }
    }
}

/// Waits for an RCU grace period: `membarrier(MEMBARRIER_CMD_GLOBAL)` is
/// `synchronize_rcu()`; where it is not available, a short sleep.
fn wait_for_rcu() {
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes no pointers.
    if unsafe { libc::syscall(libc::SYS_membarrier, MEMBARRIER_CMD_GLOBAL, 0, 0) } != 0 {
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
}

/// Keeps the kernel's OOM killer out of a v1 memory cgroup and returns the
/// eventfd its OOM notifications arrive on.
///
/// The OOM killer picks a victim by size, so a fork bomb whose failed
/// forks fill the cgroup with kernel memory loses whichever process is
/// largest: sometimes a child (the run goes on), sometimes the program
/// itself (the run ends). With the killer kept out, kernel allocations
/// over the limit fail (a fork returns `ENOMEM`) and a task faulting a page
/// over the limit waits; the supervisor, woken through the eventfd, ends
/// the run as over its memory limit when the memory is the program's.
fn watch_oom(memory: &Path) -> io::Result<OwnedFd> {
    // SAFETY: eventfd creates a descriptor and touches no memory of ours.
    let raw = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC | libc::EFD_NONBLOCK) };
    if raw < 0 {
        return Err(io::Error::last_os_error());
    }
    // SAFETY: `raw` is a new descriptor that nothing else owns.
    let events = unsafe { OwnedFd::from_raw_fd(raw) };
    let control = fs::File::open(memory.join("memory.oom_control"))?;
    // The registration lasts as long as the eventfd or the cgroup.
    write(
        &memory.join("cgroup.event_control"),
        &format!("{} {}", events.as_raw_fd(), control.as_raw_fd()),
    )?;
    // Only once the supervisor hears of a waiting task may the killer go.
    write(&memory.join("memory.oom_control"), "1")?;
    Ok(events)
}

fn listed(dir: &Path, file: &str) -> Vec<String> {
    fs::read_to_string(dir.join(file))
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect()
}

/// Moves the calling thread (alone) into these `tasks` files' cgroups.
pub fn enter_thread(files: &[PathBuf]) -> io::Result<()> {
    // SAFETY: gettid has no failure mode.
    let tid = unsafe { libc::gettid() }.to_string();
    for f in files {
        write(f, &tid)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Slot `slot-0` of a v2 tree injected at `root`.
    fn v2_slot(root: &Path) -> Slot {
        let layout = Layout::V2 {
            dir: root.to_path_buf(),
            mount: root.to_path_buf(),
        };
        Slot::create(&layout, "slot-0").unwrap()
    }

    /// Slot `slot-0` of a v1 tree injected at `root`.
    fn v1_slot(root: &Path) -> Slot {
        let layout = Layout::V1 {
            memory: root.join("memory"),
            pids: root.join("pids"),
            cpuacct: None,
        };
        Slot::create(&layout, "slot-0").unwrap()
    }

    #[test]
    fn a_full_v1_slot_is_the_programs_when_its_pages_fill_half_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let slot = v1_slot(tmp.path());
        slot.prepare(64 << 20, 10).unwrap();
        let stat = tmp.path().join("memory/slot-0/memory.stat");
        // A fork bomb: the cgroup is full of kernel memory.
        fs::write(&stat, "cache 4096\nrss 1048576\nshmem 0\n").unwrap();
        assert_eq!(slot.programs_memory_at_oom(), None);
        // A memory bomb: its own pages (anonymous and files) filled it.
        fs::write(&stat, "cache 8388608\nrss 58720256\n").unwrap();
        assert_eq!(slot.programs_memory_at_oom(), Some(64 << 20));
    }

    #[test]
    fn a_run_out_of_time_at_its_memory_limit_is_over_it_when_its_pages_hold_it() {
        let tmp = tempfile::tempdir().unwrap();
        let slot = v1_slot(tmp.path());
        slot.prepare(64 << 20, 10).unwrap();
        let d = tmp.path().join("memory/slot-0");
        let at = |usage: u64, stat: &str| {
            fs::write(d.join("memory.usage_in_bytes"), usage.to_string()).unwrap();
            fs::write(d.join("memory.stat"), stat).unwrap();
            slot.programs_memory_at_time_out()
        };
        // A memory hog thrashing at the limit: its pages hold nearly all.
        assert_eq!(
            at(64 << 20, "cache 2097152\nrss 65011712\nshmem 0\n"),
            Some(62 << 20)
        );
        // A slow program with 40 MiB, the rest the page cache it reads.
        assert_eq!(
            at(64 << 20, "cache 25165824\nrss 41943040\nshmem 0\n"),
            None
        );
        // 57 MiB of its own, but the slot is not at its limit.
        assert_eq!(at(58 << 20, "cache 0\nrss 59768832\nshmem 0\n"), None);
    }

    #[test]
    fn a_full_v2_slot_is_the_programs_only_when_its_pages_reach_the_limit() {
        let tmp = tempfile::tempdir().unwrap();
        let slot = v2_slot(tmp.path());
        slot.prepare(64 << 20, 10).unwrap();
        let stat = tmp.path().join("slot-0/memory.stat");
        // 40 MiB of the program's beside a compiler's page cache: the cache
        // is reclaimed as the program grows, so this run is within its limit.
        fs::write(&stat, "anon 41943040\nfile 33554432\nshmem 0\n").unwrap();
        assert_eq!(slot.programs_memory_at_oom(), None);
        // Anonymous pages and the scratch (tmpfs) together at the limit.
        fs::write(&stat, "anon 50331648\nfile 16777216\nshmem 16777216\n").unwrap();
        assert_eq!(slot.programs_memory_at_oom(), Some(64 << 20));
    }

    #[test]
    fn slot_writes_limits_and_reads_counters_from_an_injected_root() {
        let tmp = tempfile::tempdir().unwrap();
        let slot = v2_slot(tmp.path());
        let d = tmp.path().join("slot-0");
        fs::write(d.join("memory.events"), "oom 0\noom_kill 2\n").unwrap();
        fs::write(d.join("cpu.stat"), "usage_usec 1000\n").unwrap();
        let base = slot.prepare(64 << 20, 10).unwrap();
        assert_eq!(
            fs::read_to_string(d.join("memory.high")).unwrap(),
            "67108864"
        );
        assert_eq!(
            fs::read_to_string(d.join("memory.max")).unwrap(),
            (128u64 << 20).to_string()
        );
        assert_eq!(fs::read_to_string(d.join("pids.max")).unwrap(), "10");
        fs::write(d.join("memory.events"), "oom 1\noom_kill 3\n").unwrap();
        fs::write(d.join("cpu.stat"), "usage_usec 4000\n").unwrap();
        let u = slot.usage(&base);
        assert!(u.oom_killed);
        assert_eq!(u.cpu_ns, 3_000_000);
    }

    #[test]
    fn each_v2_run_is_born_in_a_leaf_of_its_own_whose_peak_is_its() {
        let tmp = tempfile::tempdir().unwrap();
        let slot = v2_slot(tmp.path());
        let d = tmp.path().join("slot-0");
        assert_eq!(
            fs::read_to_string(d.join("cgroup.subtree_control")).unwrap(),
            "+memory"
        );
        let first = slot.birth_dir().unwrap().unwrap();
        assert_eq!(first, d.join("run-0"));
        fs::write(first.join("memory.peak"), "5242880\n").unwrap();
        fs::write(first.join("cgroup.procs"), "4242\n").unwrap();
        let base = slot.prepare(64 << 20, 10).unwrap();
        assert_eq!(slot.usage(&base).peak_bytes, Some(5 << 20));
        assert_eq!(slot.pids(), [4242]);
        // The next birth gets a fresh leaf; the ended one goes once empty.
        let second = slot.birth_dir().unwrap().unwrap();
        assert_eq!(second, d.join("run-1"));
        assert!(first.exists(), "a leaf with files is not empty here");
        fs::remove_file(first.join("memory.peak")).unwrap();
        fs::remove_file(first.join("cgroup.procs")).unwrap();
        slot.birth_dir().unwrap();
        assert!(!first.exists() && second.exists());
        // A kernel without memory.peak: the supervisor's samples.
        let third = d.join("run-2");
        fs::write(third.join("memory.current"), "3145728\n").unwrap();
        slot.sample_memory();
        fs::write(third.join("memory.current"), "1048576\n").unwrap();
        slot.sample_memory();
        assert_eq!(slot.usage(&base).peak_bytes, Some(3 << 20));
    }
}
