//! The pooled worker slots: each with its cgroup, network namespace, uids
//! and arena, and the next run's PID 1 cloned ahead (a warm run); and the
//! lease of the host uids the slots' runs take.

use std::cell::RefCell;
use std::ffi::CString;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};

use super::birth::{let_go, socket_pair, Birth};
use super::child::{self, Prepared};
use super::spawn::{pipe, Spare};
use super::{arena, cgroup, spawner, sys, SandboxError};

/// A pooled worker slot: its cgroup, network namespace and uids.
#[derive(Debug)]
pub(super) struct Slot {
    /// First to go: its thread may still use the fields below.
    pub(super) spawner: std::sync::OnceLock<Option<spawner::Spawner>>,
    pub(super) index: usize,
    pub(super) cgroup: Option<cgroup::Slot>,
    pub(super) netns: Option<OwnedFd>,
    /// Where each run's prepared data is laid out.
    pub(super) arena: arena::Arena,
    /// The slot's next PID 1, cloned ahead (see `Sandbox::warm_up`).
    pub(super) warm: Arc<(Mutex<Warm>, Condvar)>,
    /// What the last run's plan lets the next PID 1 mount ahead.
    pub(super) ahead: RefCell<Option<Ahead>>,
}

impl Slot {
    /// The spawner thread is started at the slot's first full-profile run
    /// (none if it could not be: runs are then moved into the cgroups one
    /// by one, on v1).
    pub(super) fn new(index: usize, cgroup: Option<cgroup::Slot>) -> std::io::Result<Slot> {
        Ok(Slot {
            spawner: std::sync::OnceLock::new(),
            index,
            cgroup,
            netns: None,
            arena: arena::Arena::new()?,
            warm: Arc::new((Mutex::new(Warm::Idle), Condvar::new())),
            ahead: RefCell::new(None),
        })
    }

    /// The warm run waiting in this slot, if any and alive; waits for one
    /// being made.
    pub(super) fn take_warm(&self) -> Option<WarmRun> {
        let (state, made) = &*self.warm;
        let mut st = state.lock().unwrap_or_else(|e| e.into_inner());
        while matches!(*st, Warm::Making) {
            st = made.wait(st).unwrap_or_else(|e| e.into_inner());
        }
        match std::mem::replace(&mut *st, Warm::Idle) {
            Warm::Ready(w) if w.alive() => Some(w),
            _ => None,
        }
    }

    /// The thread that clones this slot's runs (inside its cgroups: on v1
    /// the thread lives there, on v2 its clones are born there by
    /// `CLONE_INTO_CGROUP`) and warms its next run up.
    pub(super) fn spawner(&self) -> Option<&spawner::Spawner> {
        let cg = self.cgroup.as_ref()?;
        self.spawner
            .get_or_init(|| spawner::Spawner::start(cg).ok())
            .as_ref()
    }
}

/// A slot's next PID 1 (see `Sandbox::warm_up`).
#[derive(Debug)]
pub(super) enum Warm {
    Idle,
    Making,
    Ready(WarmRun),
}

/// Sets a slot's warm state when dropped, and wakes whoever waits for it.
pub(super) struct WarmDone(pub(super) Arc<(Mutex<Warm>, Condvar)>, pub(super) Warm);

impl WarmDone {
    pub(super) fn set(mut self, state: Warm) {
        self.1 = state;
    }
}

impl Drop for WarmDone {
    fn drop(&mut self) {
        let (state, made) = &*self.0;
        *state.lock().unwrap_or_else(|e| e.into_inner()) =
            std::mem::replace(&mut self.1, Warm::Idle);
        made.notify_all();
    }
}

/// A slot's last walls, whose mount plan its next PID 1 mounts the first
/// part of ahead of its command (see [`super::mounts::Plan::mount_ahead`]), or
/// all of them if `whole`: where they lie in the slot's arena (valid in a
/// PID 1 cloned before the arena is laid out anew), what that first part
/// is ([`super::mounts::Plan::ahead_key`]), what all of them are (see
/// `spawn::walls_key`), and the plan's root.
#[derive(Debug)]
pub(super) struct Ahead {
    pub walls: *const child::Walls<'static>,
    pub key: Vec<u8>,
    pub walls_key: Vec<u8>,
    pub root: CString,
    /// The run before had the same walls: the slot likely runs them
    /// again (the tests of one judged program), and its next PID 1 puts
    /// them all up ahead, then serves only a run with the same.
    pub whole: bool,
}

// SAFETY: the walls' address is only read in a child's copy of the arena.
unsafe impl Send for Ahead {}

/// A PID 1 cloned before its command: in its namespaces and cgroups with
/// its identity, waiting on `request` (see `child::warm`).
#[derive(Debug)]
pub(super) struct WarmRun {
    pid: libc::pid_t,
    /// pidfd, request socket, report pipe; taken when the run starts.
    fds: Option<(OwnedFd, OwnedFd, OwnedFd)>,
    /// Signalled as its command is being made (see
    /// `child::wait_for_command`).
    wake: OwnedFd,
    /// The plan it mounts the first part of ahead.
    ahead: Option<Ahead>,
    /// How much of the arena's image it was sent (its command's walls).
    sent: usize,
    /// Its run's streams, made ahead.
    pub(super) spare: Option<Spare>,
}

impl WarmRun {
    pub(super) fn start(
        birth: &Birth,
        arena: *mut u8,
        arena_len: usize,
        arena_used: usize,
        ahead: Option<Ahead>,
        seccomp: Option<[(usize, usize); 2]>,
    ) -> Result<WarmRun, SandboxError> {
        let (rep_r, rep_w) = pipe()?;
        let (sync_r, sync_w) = pipe()?;
        let (req_parent, req_child) = socket_pair()?;
        let wake = eventfd()?;
        let start = child::WarmStart {
            report: rep_w.as_raw_fd(),
            sync: sync_r.as_raw_fd(),
            sync_parent_end: sync_w.as_raw_fd(),
            request: req_child.as_raw_fd(),
            request_parent_end: req_parent.as_raw_fd(),
            wake: wake.as_raw_fd(),
            arena,
            arena_len,
            arena_used,
            seccomp: seccomp.map_or([(std::ptr::null(), 0); 2], |parts| {
                parts.map(|(p, n)| (p as *const libc::sock_filter, n))
            }),
            ahead: ahead.as_ref().map_or(std::ptr::null(), |a| a.walls),
            whole: ahead.as_ref().is_some_and(|a| a.whole),
        };
        let (pid, pidfd) = birth.clone_run(|| child::warm(&start))?;
        drop((rep_w, sync_r, req_child));
        let run = WarmRun {
            pid,
            fds: Some((pidfd, req_parent, rep_r)),
            wake,
            ahead,
            sent: 0,
            // Made after it was cloned: not among its descriptors.
            spare: Spare::make().ok(),
        };
        // On failure, dropping the run kills it.
        birth.write_id_maps(pid)?;
        let_go(&sync_w)?;
        Ok(run)
    }

    /// The plan it mounts the first part of ahead of its command.
    pub(super) fn mounted_ahead(&self) -> Option<&Ahead> {
        self.ahead.as_ref()
    }

    /// Whether it still waits (a warm run that died is not used).
    fn alive(&self) -> bool {
        let Some((pidfd, _, _)) = &self.fds else {
            return false;
        };
        let mut p = libc::pollfd {
            fd: pidfd.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no waiting.
        unsafe { libc::poll(&mut p, 1, 0) == 0 }
    }

    /// Sends the run the first part of its command, which it acts on while
    /// the rest is made: `walls`, laid out in the arena, and what of the
    /// arena's image precedes them.
    pub(super) fn send_walls(
        &mut self,
        arena: &arena::Arena,
        walls: &child::Walls,
    ) -> Result<(), SandboxError> {
        self.send(arena, arena.offset_of(walls), &[])
    }

    /// Wakes it up: its command is being made.
    pub(super) fn wake(&self) -> Result<(), SandboxError> {
        sys::write_all(self.wake.as_raw_fd(), &1u64.to_ne_bytes()).map_err(|e| {
            SandboxError::Create {
                what: "warm run's wake-up",
                source: e.into(),
            }
        })
    }

    /// Sends the run the rest of its command: what of the arena's image it
    /// was not sent yet, with `prepared` laid out last, and the run's
    /// descriptors. Returns its pidfd and report.
    pub(super) fn request(
        mut self,
        arena: &arena::Arena,
        prepared: Prepared,
        fds: &[RawFd],
    ) -> Result<(OwnedFd, OwnedFd), SandboxError> {
        if self.sent == 0 {
            // It waits for its walls first.
            return Err(SandboxError::Create {
                what: "warm run's command",
                source: std::io::Error::other("sent without its walls"),
            });
        }
        let placed = arena.put(prepared)?;
        self.send(arena, arena.offset_of(placed), fds)?;
        let (pidfd, _, report) = self.fds.take().expect("not started yet");
        Ok((pidfd, report))
    }

    /// One message of the command (see [`child::REQUEST_HEADER`]): the
    /// image from where the last one ended, the value at `offset` in it.
    fn send(
        &mut self,
        arena: &arena::Arena,
        offset: usize,
        fds: &[RawFd],
    ) -> Result<(), SandboxError> {
        let image = arena.image();
        let mut header = [0u8; child::REQUEST_HEADER];
        header[..8].copy_from_slice(&(image.len() as u64).to_ne_bytes());
        header[8..].copy_from_slice(&(offset as u64).to_ne_bytes());
        let (_, sock, _) = self.fds.as_ref().expect("not started yet");
        sys::send_with_fds(sock.as_raw_fd(), [&header, &image[self.sent..]], fds).map_err(|e| {
            SandboxError::Create {
                what: "warm run's command",
                source: e.into(),
            }
        })?;
        self.sent = image.len();
        Ok(())
    }
}

impl Drop for WarmRun {
    fn drop(&mut self) {
        if let Some((pidfd, _, _)) = self.fds.take() {
            let _ = sys::pidfd_kill(pidfd.as_raw_fd());
            // SAFETY: reaping our own child.
            unsafe { libc::waitpid(self.pid, std::ptr::null_mut(), 0) };
        }
    }
}

/// Uids per lease: two per slot.
pub const UIDS_PER_LEASE: u32 = 64;
const FIRST_LEASED_UID: u32 = 1_500_000;
const LEASES: u32 = 4096;

/// Leases a range of host uids for this process: the first of a fixed set of
/// lock files that no other process holds. Two runners sharing uids could
/// signal (and so kill) each other's programs; the lock is released when
/// the process exits, however it exits.
pub(super) fn lease_uids() -> std::io::Result<(u32, File)> {
    // /run where the host has one; else the scratch volume (a read-only
    // root may still hold /run/coderun/uids from the image's build, where
    // no lock file can be made).
    let dirs = [
        PathBuf::from("/run/coderun/uids"),
        std::env::temp_dir().join("coderun-uids"),
    ];
    let mut last = None;
    for dir in &dirs {
        match lease_in(dir) {
            Ok(Some(lease)) => return Ok(lease),
            Ok(None) => return Err(std::io::Error::other("every sandbox uid range is in use")),
            Err(e) => {
                last = Some(std::io::Error::new(
                    e.kind(),
                    format!("{}: {e}", dir.display()),
                ))
            }
        }
    }
    Err(last.expect("at least one directory was tried"))
}

/// The first free lease in `dir` (None: all are held).
fn lease_in(dir: &Path) -> std::io::Result<Option<(u32, File)>> {
    std::fs::create_dir_all(dir)?;
    for k in 0..LEASES {
        let f = std::fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(dir.join(k.to_string()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
            return Ok(Some((FIRST_LEASED_UID + k * UIDS_PER_LEASE, f)));
        }
    }
    Ok(None)
}

fn eventfd() -> Result<OwnedFd, SandboxError> {
    // SAFETY: creating a descriptor.
    let fd = sys::check(unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) }).map_err(|e| {
        SandboxError::Create {
            what: "eventfd",
            source: e.into(),
        }
    })?;
    // SAFETY: just made, owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}
