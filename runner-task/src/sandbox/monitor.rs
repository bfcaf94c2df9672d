//! The parent side of a run: watches time, output and the process tree,
//! kills the run when a limit is crossed, and turns what it saw into an
//! [`Outcome`].

use std::io::Read;
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use super::child::{self, MSG_EXIT, MSG_EXIT_ALONE, MSG_LEN, MSG_SETUP_ERROR};
use super::{cgroup, sys, Layer, Limits, SandboxError};

/// How a run ended, from the sandbox's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// Exited with code 0 within every limit.
    #[serde(rename = "OK")]
    Ok,
    /// CPU or wall-clock time limit exceeded.
    #[serde(rename = "TLE")]
    Tle,
    /// Memory limit exceeded.
    #[serde(rename = "MLE")]
    Mle,
    /// Output (stdout + stderr) or file-size limit exceeded.
    #[serde(rename = "OLE")]
    Ole,
    /// Non-zero exit code or killed by a signal.
    #[serde(rename = "RE")]
    Re,
}

/// What happened in one run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Outcome {
    pub status: Status,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    /// CPU time (user + system) of the program and its children, ms.
    pub time_ms: u64,
    pub wall_ms: u64,
    /// The most memory the run held, KiB. With a cgroup v2 slot, all of
    /// its processes and files at once (its leaf's `memory.peak`); else its
    /// largest process's, or, when it ended for its memory, what filled the
    /// cgroup or passed the restricted profile's total.
    pub memory_kb: u64,
    #[serde(skip)]
    pub stdout: Vec<u8>,
    #[serde(skip)]
    pub stderr: Vec<u8>,
    /// Layers in force for this run.
    pub isolation: Vec<Layer>,
    /// When the program ended (CLOCK_MONOTONIC, ns): reported by the run's
    /// init in the full profile, else when the supervisor saw it. Orders the
    /// two sides of an interactive run.
    #[serde(skip)]
    pub ended_ns: u64,
}

/// Why the supervisor killed a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kill {
    Wall,
    Cpu,
    Output,
    /// The program's memory filled its cgroup (v1, see `cgroup::watch_oom`),
    /// or its processes' total passed the limit (restricted, see `meter`).
    Memory,
    /// Its files passed the scratch limit (restricted, see `meter`).
    Scratch,
}

/// Everything the parent holds of a started run.
#[derive(Debug)]
pub(super) struct Parts {
    pub pidfd: OwnedFd,
    pub started: Instant,
    pub stdout: Option<OwnedFd>,
    pub stderr: OwnedFd,
    pub report: OwnedFd,
    pub limits: Limits,
    pub memory_bytes: u64,
    pub baseline: Option<cgroup::Baseline>,
    /// Restricted profile: the run's scratch directory and uid, its meter,
    /// and the host's shared writable directories it is cleaned from.
    pub scratch: Option<PathBuf>,
    pub meter: Option<super::meter::Meter>,
    pub shared_writable: std::sync::Arc<[PathBuf]>,
    pub host_uid: Option<u32>,
    /// Directories lent to the run's uid, to give back to root.
    pub lent: super::ownership::Lent,
    /// Live copies of stdout and stderr.
    pub live: Option<[std::fs::File; 2]>,
    /// A parked run's gate: the program starts when it is written.
    pub gate: Option<OwnedFd>,
}

/// Starts a parked run's program: from now on its wall time and its CPU
/// count (not the setup done before).
pub(super) fn open_gate(
    parts: &mut Parts,
    cgroup: Option<&cgroup::Slot>,
) -> Result<(), SandboxError> {
    let Some(gate) = parts.gate.take() else {
        return Ok(());
    };
    if let (Some(cg), Some(base)) = (cgroup, parts.baseline.as_mut()) {
        cg.rebase_cpu(base);
    }
    parts.started = Instant::now();
    // A run whose setup failed is gone already (EPIPE): its report, read
    // when it is waited for, says which step failed.
    let _ = sys::write_all(gate.as_raw_fd(), b"s");
    Ok(())
}

/// How often CPU use of the whole tree is checked while nothing else happens.
const CPU_POLL: Duration = Duration::from_millis(25);

struct Streams {
    fds: Vec<(OwnedFd, usize)>, // (fd, index into bufs)
    bufs: [Vec<u8>; 2],
    cap: u64,
    live: Option<[std::fs::File; 2]>,
}

impl Streams {
    fn total(&self) -> u64 {
        (self.bufs[0].len() + self.bufs[1].len()) as u64
    }

    /// Reads what is available on `fd`; returns false at end of file.
    /// Marks an overflow by returning Err(()).
    fn read_one(&mut self, i: usize) -> Result<bool, ()> {
        let (fd, b) = (&self.fds[i].0, self.fds[i].1);
        let mut chunk = [0u8; 64 * 1024];
        // SAFETY: reading into a local buffer.
        let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
        if n <= 0 {
            return Ok(n < 0 && sys::Errno::last().0 == libc::EINTR);
        }
        let n = n as usize;
        let room = self.cap.saturating_sub(self.total()) as usize;
        let kept = &chunk[..n.min(room)];
        self.bufs[b].extend_from_slice(kept);
        if let Some(files) = &mut self.live {
            // Best effort: live logs are a convenience, the outcome is the record.
            let _ = std::io::Write::write_all(&mut files[b], kept);
        }
        if n > room {
            return Err(());
        }
        Ok(true)
    }
}

/// A run's PID 1 that reported the run over and alone (see
/// [`child::MSG_EXIT_ALONE`]) and is exiting: the verdict does not wait for
/// its namespaces to be taken down, the slot's next run does (dropping this
/// reaps it).
#[derive(Debug)]
pub(super) struct Exiting(OwnedFd);

impl Drop for Exiting {
    fn drop(&mut self) {
        let _ = reap(&self.0);
    }
}

/// Watches the run to its end; returns what happened, and its PID 1 if
/// that is still exiting.
pub(super) fn supervise(
    mut parts: Parts,
    cgroup: Option<&cgroup::Slot>,
) -> Result<(Outcome, Option<Exiting>), SandboxError> {
    let limits = parts.limits;
    let deadline = parts.started + Duration::from_millis(limits.wall_ms());
    let mut streams = Streams {
        fds: Vec::new(),
        bufs: [Vec::new(), Vec::new()],
        cap: limits.output_bytes,
        live: parts.live.take(),
    };
    if let Some(out) = &parts.stdout {
        streams.fds.push((dup(out)?, 0));
    }
    streams.fds.push((dup(&parts.stderr)?, 1));
    let mut open: Vec<bool> = vec![true; streams.fds.len()];
    let mut killed: Option<Kill> = None;
    let mut memory_at_oom = 0;
    // What the program did, from its reporting parent (see child::init),
    // read as it comes: PID 1 reports before it exits.
    let mut report = Vec::new();
    let mut report_open = true;
    let mut alone = false;

    loop {
        let now = Instant::now();
        if now >= deadline {
            killed = Some(out_of_time(Kill::Wall, cgroup, &mut memory_at_oom));
            break;
        }
        let mut timeout = deadline - now;
        if cgroup.is_some() {
            timeout = timeout.min(CPU_POLL);
        }
        if let Some(m) = &parts.meter {
            timeout = timeout.min(m.due_in());
        }
        let mut pfds = vec![libc::pollfd {
            fd: parts.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        for (i, (fd, _)) in streams.fds.iter().enumerate() {
            pfds.push(libc::pollfd {
                fd: if open[i] { fd.as_raw_fd() } else { -1 },
                events: libc::POLLIN,
                revents: 0,
            });
        }
        let oom_events = cgroup.and_then(|cg| cg.oom_events());
        let (oom_at, report_at) = (pfds.len(), pfds.len() + 1);
        pfds.push(libc::pollfd {
            fd: oom_events.map_or(-1, |fd| fd.as_raw_fd()),
            // An eventfd (v1) or `memory.events` (v2, marked POLLPRI).
            events: libc::POLLIN | libc::POLLPRI,
            revents: 0,
        });
        pfds.push(libc::pollfd {
            fd: if report_open {
                parts.report.as_raw_fd()
            } else {
                -1
            },
            events: libc::POLLIN,
            revents: 0,
        });
        let ms = timeout.as_millis().clamp(1, i32::MAX as u128) as i32;
        // SAFETY: pfds is a valid array of pollfd.
        let n = unsafe { libc::poll(pfds.as_mut_ptr(), pfds.len() as libc::nfds_t, ms) };
        if n < 0 && sys::Errno::last().0 != libc::EINTR {
            kill_run(&parts, cgroup);
            return Err(SandboxError::Supervise(std::io::Error::last_os_error()));
        }
        for i in 0..streams.fds.len() {
            if open[i] && pfds[i + 1].revents != 0 {
                match streams.read_one(i) {
                    Ok(more) => open[i] = more,
                    Err(()) => killed = Some(Kill::Output),
                }
            }
        }
        // The slot is full (an OOM notification on v1, `memory.events` or a
        // look at the usage on v2): a run whose own pages filled it is over
        // its memory limit.
        if let Some(cg) = cgroup {
            cg.sample_memory();
            let notified = pfds[oom_at].revents != 0 && cg.take_oom_events();
            if let Some(bytes) = (notified || cg.at_limit())
                .then(|| cg.programs_memory_at_oom())
                .flatten()
            {
                memory_at_oom = bytes;
                killed = Some(Kill::Memory);
            }
        }
        if let Some(over) = parts.meter.as_mut().and_then(|m| m.check()) {
            killed = Some(over_limit(over, &mut memory_at_oom));
        }
        if pfds[report_at].revents != 0 {
            report_open = read_report(&parts.report, &mut report);
            alone = report
                .chunks_exact(MSG_LEN)
                .any(|m| m[..4] == MSG_EXIT_ALONE.to_ne_bytes());
        }
        if killed.is_some() || alone || pfds[0].revents != 0 {
            break;
        }
        if let (Some(cg), Some(base)) = (cgroup, &parts.baseline) {
            if cg.cpu_since(base).unwrap_or(0) > limits.time_ms * 1_000_000 {
                killed = Some(out_of_time(Kill::Cpu, cgroup, &mut memory_at_oom));
                break;
            }
        }
    }
    let mut ended_ns = sys::monotonic_ns();
    // A quick run may end between samples: what it left counts too.
    if killed.is_none() {
        if let Some(over) = parts.meter.as_mut().and_then(|m| m.sample(false)) {
            killed = Some(over_limit(over, &mut memory_at_oom));
        }
    }
    // The run is over: whatever it left behind goes too, and the slot's
    // cgroup is empty before the slot is reused. Where the program ended
    // alone, only its PID 1 is left, exiting by itself.
    let alone = alone && killed.is_none();
    if !alone {
        kill_run(&parts, cgroup);
    }
    // Everything is dead: drain what the pipes still hold, within the cap.
    let drain_until = Instant::now() + Duration::from_millis(200);
    for (i, still_open) in open.iter_mut().enumerate() {
        while *still_open && Instant::now() < drain_until {
            let mut p = libc::pollfd {
                fd: streams.fds[i].0.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            if unsafe { libc::poll(&mut p, 1, 50) } <= 0 {
                break;
            }
            match streams.read_one(i) {
                Ok(more) => *still_open = more,
                Err(()) => {
                    killed.get_or_insert(Kill::Output);
                    break;
                }
            }
        }
    }
    let wall_ms = parts.started.elapsed().as_millis() as u64;
    let (wait_status, ru) = if alone {
        // Unused: the report says how the program ended.
        // SAFETY: a zeroed rusage is valid.
        (0, unsafe { std::mem::zeroed() })
    } else {
        reap(&parts.pidfd)?
    };
    let cg_usage = match (cgroup, &parts.baseline) {
        (Some(cg), Some(base)) => Some(cg.usage(base)),
        _ => None,
    };
    finish(&mut parts);

    if !alone {
        let _ = std::fs::File::from(dup(&parts.report)?).read_to_end(&mut report);
    }
    let mut program: Option<(i32, u64, u64)> = None; // (status, cpu µs, maxrss KiB)
    for msg in report.chunks_exact(MSG_LEN) {
        let word = |i: usize| u32::from_ne_bytes(msg[i..i + 4].try_into().expect("4 bytes"));
        let long = |i: usize| i64::from_ne_bytes(msg[i..i + 8].try_into().expect("8 bytes"));
        match word(0) {
            MSG_SETUP_ERROR => {
                let step = child::Step::from_u32(word(4)).unwrap_or(child::Step::Exec);
                return Err(SandboxError::Setup {
                    step,
                    errno: sys::Errno(word(8) as i32),
                });
            }
            MSG_EXIT | MSG_EXIT_ALONE => {
                let cpu = (long(8) + long(16)).max(0) as u64;
                program = Some((word(4) as i32, cpu, long(24).max(0) as u64));
                ended_ns = long(32) as u64;
            }
            _ => {}
        }
    }
    let (status, cpu_us, maxrss_kb) = match program {
        Some(p) => (Some(p.0), p.1, p.2),
        None => (
            // Only a probe run's init exits cleanly without a report.
            (killed.is_none()
                && libc::WIFEXITED(wait_status)
                && libc::WEXITSTATUS(wait_status) == 0)
                .then_some(wait_status),
            cg_usage
                .map(|u| u.cpu_ns / 1000)
                .unwrap_or_else(|| tv_us(ru.ru_utime) + tv_us(ru.ru_stime)),
            ru.ru_maxrss.max(0) as u64,
        ),
    };
    if killed.is_none() && status.is_none() {
        // init ended without a report: it can only have been killed from
        // outside the sandbox (the OOM killer or an operator).
        if !cg_usage.is_some_and(|u| u.oom_killed) {
            return Err(SandboxError::Supervise(std::io::Error::other(format!(
                "the run's init process ended without a report (wait status {wait_status:#x})"
            ))));
        }
    }
    let time_ms = cpu_us.div_ceil(1000);
    let exit_code = status
        .filter(|s| libc::WIFEXITED(*s))
        .map(|s| libc::WEXITSTATUS(s));
    let signal = status
        .filter(|s| libc::WIFSIGNALED(*s))
        .map(|s| libc::WTERMSIG(s))
        .or(killed.map(|_| libc::SIGKILL));
    let failed = exit_code != Some(0);
    // Where the kernel's OOM killer could not be kept out of a v1 slot, a
    // kill of its means the run filled it. (v1 keeps the killer out, and
    // v2 throttles at the limit: the supervisor decides from the program's
    // own pages, `Kill::Memory`. A v2 OOM kill above the limit's headroom
    // is kernel memory, a fork bomb's: never the program's MLE.)
    let oom = cg_usage.is_some_and(|u| u.oom_killed)
        && killed.is_none()
        && cgroup.is_some_and(|c| !c.is_v2());
    let near_memory_cap =
        cgroup.is_none() && failed && maxrss_kb * 1024 >= parts.memory_bytes / 10 * 8;
    // A crash where the kernel's allocations fail: the slot was full.
    let crashed_at_limit = cg_usage
        .and_then(|u| u.reached_limit)
        .filter(|_| killed.is_none() && matches!(signal, Some(libc::SIGSEGV | libc::SIGBUS)));
    if let Some(bytes) = crashed_at_limit {
        memory_at_oom = memory_at_oom.max(bytes);
    }
    let metered_peak = parts.meter.as_ref().map_or(0, |m| m.peak_memory);
    let status =
        if matches!(killed, Some(Kill::Output | Kill::Scratch)) || signal == Some(libc::SIGXFSZ) {
            Status::Ole
        } else if oom
            || killed == Some(Kill::Memory)
            || maxrss_kb * 1024 > parts.memory_bytes
            || near_memory_cap
            || crashed_at_limit.is_some()
        {
            Status::Mle
        } else if matches!(killed, Some(Kill::Cpu | Kill::Wall))
            || signal == Some(libc::SIGXCPU)
            || time_ms > limits.time_ms
        {
            Status::Tle
        } else if failed {
            Status::Re
        } else {
            Status::Ok
        };
    let [stdout, stderr] = streams.bufs;
    let exiting = alone.then(|| Exiting(parts.pidfd));
    let outcome = Outcome {
        status,
        exit_code,
        signal,
        time_ms,
        wall_ms,
        // A run ended for its memory used what filled its cgroup.
        memory_kb: [
            maxrss_kb,
            memory_at_oom / 1024,
            metered_peak / 1024,
            cg_usage.and_then(|u| u.peak_bytes).unwrap_or(0) / 1024,
        ]
        .into_iter()
        .max()
        .unwrap_or(0),
        stdout,
        stderr,
        isolation: Vec::new(),
        ended_ns,
    };
    Ok((outcome, exiting))
}

/// Reads what the report pipe holds onto `report`; false at its end.
fn read_report(fd: &OwnedFd, report: &mut Vec<u8>) -> bool {
    let mut chunk = [0u8; 4 * MSG_LEN];
    // SAFETY: reading into a local buffer; the pipe was said readable.
    let n = unsafe { libc::read(fd.as_raw_fd(), chunk.as_mut_ptr().cast(), chunk.len()) };
    if n > 0 {
        report.extend_from_slice(&chunk[..n as usize]);
    }
    n > 0 || (n < 0 && sys::Errno::last().0 == libc::EINTR)
}

/// What a run out of time ends as: over its memory limit if it spent its
/// time pressed against it (see `Slot::programs_memory_at_time_out`).
fn out_of_time(kill: Kill, cgroup: Option<&cgroup::Slot>, memory_at_oom: &mut u64) -> Kill {
    match cgroup.and_then(|cg| cg.programs_memory_at_time_out()) {
        Some(bytes) => {
            *memory_at_oom = bytes;
            Kill::Memory
        }
        None => kill,
    }
}

/// What a meter's finding ends a run as.
fn over_limit(over: super::meter::Over, memory_at_oom: &mut u64) -> Kill {
    match over {
        super::meter::Over::Memory(bytes) => {
            *memory_at_oom = bytes;
            Kill::Memory
        }
        super::meter::Over::Scratch => Kill::Scratch,
    }
}

fn tv_us(t: libc::timeval) -> u64 {
    (t.tv_sec * 1_000_000 + t.tv_usec).max(0) as u64
}

fn dup(fd: &OwnedFd) -> Result<OwnedFd, SandboxError> {
    fd.try_clone().map_err(SandboxError::Supervise)
}

/// Kills every process of the run.
fn kill_run(parts: &Parts, cgroup: Option<&cgroup::Slot>) {
    if let Some(uid) = parts.host_uid {
        // Restricted: the program's reporting parent keeps the runner's uid
        // and survives this, so it still reports what the program used.
        kill_uid(uid);
        let mut p = libc::pollfd {
            fd: parts.pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd; bounded wait for the report to be written.
        unsafe { libc::poll(&mut p, 1, 1000) };
    }
    let _ = sys::pidfd_kill(parts.pidfd.as_raw_fd());
    if let Some(cg) = cgroup {
        // In the full profile the PID namespace dies with its init; this
        // catches anything that reached the cgroup otherwise.
        cg.kill_all();
    }
}

/// Kills every process running as `uid`: a helper takes the uid and sends
/// SIGKILL to everything it may signal. Processes of a run cannot change
/// their uid, so none escapes.
///
/// One pass reaches them all: `kill(-1)` walks the processes under the
/// lock a fork needs to make its child visible, and a fork whose parent
/// has a fatal signal pending fails, so a child is either seen by the pass
/// or never born. Its return value cannot say when nothing is left (it
/// counts the processes it may not signal too), and looping on it walked
/// the host's process list 10,000 times after every restricted run. The
/// dead are reaped by their parents, or by the runner (`reap_orphans`).
fn kill_uid(uid: u32) {
    let Ok(pid) = sys::raw_fork() else { return };
    if pid == 0 {
        // SAFETY: credential change and signals in a fresh child.
        unsafe {
            if sys::set_gid(uid).is_err() || sys::set_uid(uid).is_err() {
                libc::_exit(1);
            }
            // A second pass after others ran costs microseconds.
            for _ in 0..2 {
                libc::kill(-1, libc::SIGKILL);
                libc::sched_yield();
            }
            libc::_exit(0);
        }
    }
    let mut status = 0;
    // SAFETY: waiting for our own helper.
    unsafe { libc::waitpid(pid, &mut status, 0) };
}

/// Waits for the run's first process and collects its resource use.
fn reap(pidfd: &OwnedFd) -> Result<(i32, libc::rusage), SandboxError> {
    const P_PIDFD: libc::idtype_t = 3;
    // SAFETY: zeroed siginfo and rusage are valid out-parameters.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: as above.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    loop {
        // SAFETY: waitid with valid out-pointers (the raw call takes rusage).
        let r = unsafe {
            libc::syscall(
                libc::SYS_waitid,
                P_PIDFD,
                pidfd.as_raw_fd(),
                &mut info as *mut libc::siginfo_t,
                libc::WEXITED,
                &mut ru as *mut libc::rusage,
            )
        };
        if r == 0 {
            break;
        }
        if sys::Errno::last().0 != libc::EINTR {
            return Err(SandboxError::Supervise(std::io::Error::last_os_error()));
        }
    }
    // SAFETY: the kernel filled in a SIGCHLD siginfo.
    let (code, value) = unsafe { (info.si_code, info.si_status()) };
    let status = match code {
        libc::CLD_EXITED => (value & 0xff) << 8,
        _ => value & 0x7f,
    };
    Ok((status, ru))
}

/// Cleanup after a run has ended: orphans, scratch, lent directories.
fn finish(parts: &mut Parts) {
    if let Some(uid) = parts.host_uid {
        reap_orphans(uid);
        super::meter::clean_shared(&parts.shared_writable, uid);
    }
    if let Some(dir) = &parts.scratch {
        let _ = std::fs::remove_dir_all(dir);
    }
    parts.lent.give_back();
}

/// Reaps zombies of `uid` that were re-parented to the runner (it is a
/// child subreaper in the restricted profile); zombies would otherwise count
/// against the uid's process limit in the next run.
fn reap_orphans(uid: u32) {
    // Killed processes become zombies a moment later: wait for them, bounded.
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let mut left = false;
        for pid in children() {
            let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
            let owner = status
                .lines()
                .find_map(|l| l.strip_prefix("Uid:"))
                .and_then(|l| l.split_whitespace().next())
                .and_then(|u| u.parse::<u32>().ok());
            if owner != Some(uid) {
                continue;
            }
            // SAFETY: reaping our own child if it has exited.
            if unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) } == 0 {
                left = true;
            }
        }
        if !left || Instant::now() >= deadline {
            break;
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    reap_orphans_peek(uid);
}

/// Children of every thread of this process.
fn children() -> Vec<libc::pid_t> {
    let mut pids = Vec::new();
    for task in std::fs::read_dir("/proc/self/task")
        .into_iter()
        .flatten()
        .flatten()
    {
        let text = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
        pids.extend(
            text.split_whitespace()
                .filter_map(|p| p.parse::<libc::pid_t>().ok()),
        );
    }
    pids
}

/// Fallback where /proc/<pid>/task/<tid>/children is not available.
fn reap_orphans_peek(uid: u32) {
    loop {
        // SAFETY: zeroed siginfo is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: peeking (WNOWAIT) at any exited child.
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: reading the fields the kernel filled in.
        let (pid, child_uid) = unsafe { (info.si_pid(), info.si_uid()) };
        if r != 0 || pid == 0 || child_uid != uid {
            return;
        }
        // SAFETY: reaping that zombie.
        unsafe { libc::waitpid(pid, std::ptr::null_mut(), libc::WNOHANG) };
    }
}

/// Ends a run nobody waited for.
pub(super) fn abandon(mut parts: Parts, cgroup: Option<&cgroup::Slot>) {
    kill_run(&parts, cgroup);
    let _ = reap(&parts.pidfd);
    finish(&mut parts);
}
