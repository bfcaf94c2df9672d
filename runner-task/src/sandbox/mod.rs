//! The sandbox: runs one untrusted program with every isolation layer the host
//! allows, enforces its limits, and reports what happened.
//!
//! * [`Sandbox::new`] probes the host once and decides the profile: `full`
//!   (namespaces, pivot_root, cgroups, …) or `restricted` (no namespaces, as on
//!   Fargate). Below the required minimum it refuses to start and names what
//!   is missing.
//! * [`Sandbox::spawn`] starts a program (the child-side checklist is in
//!   [`child`]); [`Running::wait`] enforces the limits and returns an
//!   [`Outcome`]. A program's failure is an outcome; only a platform failure
//!   is an `Err`.
//! * Each idle slot holds its next run's PID 1, cloned ahead (`warm_up`),
//!   which mounts the last run's root while it waits (see [`mounts`]), or,
//!   when the last two runs had the same walls, puts them all up and
//!   serves only a run with the same: a run sends it its command, laid out
//!   in the slot's arena (`arena`), instead of cloning one.
//!
//! One file per mechanism: [`mounts`], [`cgroup`], [`seccomp`], [`landlock`];
//! [`sys`] holds the raw system calls. The limits, layers and profiles are
//! the protocol's ([`coderun_protocol`]): results record them.

mod arena;
mod birth;
pub mod cgroup;
pub mod child;
pub mod landlock;
pub mod mounts;
pub mod seccomp;
mod slot;
mod spawn;
mod spawner;
pub mod sys;

mod command;
mod error;
mod meter;
mod monitor;
mod ownership;
mod probe;

use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Condvar, Mutex};

pub use coderun_protocol::{Layer, LimitError, Limits, Profile};
pub use command::{Command, Options, Stdin, Stdout};
pub use error::SandboxError;
pub use monitor::{Outcome, Status};
pub use mounts::Bind;
pub use probe::Probe;
pub use slot::UIDS_PER_LEASE;

use slot::{lease_uids, Slot, Warm, WarmDone, WarmRun};

/// The sandbox of one runner process.
#[derive(Debug)]
pub struct Sandbox {
    profile: Profile,
    layers: Vec<Layer>,
    filter: Option<seccomp::Filter>,
    /// Full profile: `filter` in the two parts a warm PID 1 installs, one
    /// ahead of its command and one once its root is up (see
    /// [`seccomp::Filter::split`]).
    split_filter: Option<(seccomp::Filter, seccomp::Filter)>,
    landlock: Option<landlock::Policy>,
    slots: Mutex<Vec<Slot>>,
    /// What the runner writes on its way to a run (see [`Hot`]).
    hot: Arc<Hot>,
    slot_freed: Condvar,
    opts: Options,
    skeletons: mounts::Skeletons,
    own_netns: Option<OwnedFd>,
    is_root: bool,
    /// The runner holds CAP_SETPCAP (restricted: programs' bounding sets
    /// are emptied; see `child::restricted`).
    drop_bounding_set: bool,
    /// Restricted profile: the host's directories any uid may write to,
    /// metered and cleaned after each run (see `meter`).
    shared_writable: Arc<[PathBuf]>,
    /// Held for the sandbox's lifetime: our uids are ours alone.
    _uid_lease: Option<File>,
}

impl Sandbox {
    /// Probes the host, prepares the slots, and checks the minimum isolation.
    pub fn new(mut opts: Options) -> Result<Sandbox, SandboxError> {
        let create = |what| move |source| SandboxError::Create { what, source };
        std::fs::create_dir_all(&opts.work_dir).map_err(create("work directory"))?;
        // Sandboxed setup runs as an unprivileged host uid that must be able
        // to reach the box directories below (but not list them).
        std::fs::set_permissions(
            &opts.work_dir,
            std::os::unix::fs::PermissionsExt::from_mode(0o711),
        )
        .map_err(create("work directory"))?;
        let skeletons = opts.work_dir.join("skeletons");
        std::fs::create_dir_all(&skeletons).map_err(create("root skeletons"))?;
        // SAFETY: geteuid has no failure mode.
        let is_root = unsafe { libc::geteuid() } == 0;
        let uid_lease = if opts.uid_base == 0 {
            let (base, lease) = lease_uids().map_err(create("uid lease"))?;
            opts.uid_base = base;
            Some(lease)
        } else {
            None
        };
        let filter = seccomp::Filter::compile(seccomp::Ipc::Private);
        let landlock_abi = landlock::abi_version();
        let mut sandbox = Sandbox {
            profile: Profile::Restricted,
            layers: Vec::new(),
            filter: Some(filter),
            split_filter: Some(seccomp::Filter::split(seccomp::Ipc::Private)),
            landlock: landlock_abi.map(landlock::Policy::for_abi),
            slots: Mutex::new(Vec::new()),
            hot: Arc::default(),
            slot_freed: Condvar::new(),
            skeletons: mounts::Skeletons::new(skeletons),
            own_netns: None,
            is_root,
            drop_bounding_set: sys::has_capability(sys::CAP_SETPCAP),
            shared_writable: Arc::from(Vec::new()),
            opts,
            _uid_lease: uid_lease,
        };
        let probe = probe::run(&mut sandbox)?;
        sandbox.hot = Arc::new(Hot::new(&sandbox.slots.lock().expect("fresh mutex")));
        sandbox.profile = probe.profile;
        if probe.profile == Profile::Restricted {
            sandbox.filter = Some(seccomp::Filter::compile(seccomp::Ipc::Shared));
            sandbox.split_filter = None;
            sandbox.shared_writable = meter::shared_writable().into();
        }
        sandbox.layers = probe.layers.clone();
        if sandbox.profile < sandbox.opts.min_isolation {
            return Err(SandboxError::InsufficientIsolation {
                required: sandbox.opts.min_isolation,
                missing: probe.missing_for(sandbox.opts.min_isolation),
            });
        }
        Ok(sandbox)
    }

    pub fn profile(&self) -> Profile {
        self.profile
    }

    /// The layers applied to every run.
    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    fn has(&self, layer: Layer) -> bool {
        self.layers.contains(&layer)
    }

    /// The seccomp filter in force, whole.
    fn filter(&self) -> Option<&seccomp::Filter> {
        self.filter.as_ref().filter(|_| self.has(Layer::Seccomp))
    }

    /// The parts of the filter in force that a warm PID 1 installs, one
    /// ahead of its command and one once its root is up.
    fn filter_ahead(&self) -> Option<&(seccomp::Filter, seccomp::Filter)> {
        self.split_filter
            .as_ref()
            .filter(|_| self.has(Layer::Seccomp))
    }

    fn take_slot(&self) -> Slot {
        let mut slots = self.slots.lock().expect("slot pool poisoned");
        loop {
            // The longest idle first: its next run had the most time to
            // warm up.
            if !slots.is_empty() {
                return slots.remove(0);
            }
            slots = self.slot_freed.wait(slots).expect("slot pool poisoned");
        }
    }

    /// Returns `slot` to the pool; its last run's PID 1, if still
    /// `exiting`, is gone before the next run there starts.
    fn give_slot(&self, slot: Slot, exiting: Option<monitor::Exiting>) {
        self.warm_up(&slot, exiting);
        self.slots.lock().expect("slot pool poisoned").push(slot);
        self.slot_freed.notify_one();
    }

    /// Clones the slot's next PID 1 ahead of its command, on the slot's
    /// spawner thread while the caller goes on: namespaces, identity maps
    /// and cgroups are in place when the command comes, and only the file
    /// system and what follows remain (see `child::warm`). The last run's
    /// PID 1 is reaped first (dropping `exiting`), there or here.
    fn warm_up(&self, slot: &Slot, exiting: Option<monitor::Exiting>) {
        if self.profile != Profile::Full {
            return;
        }
        let Some(spawner) = slot.spawner() else {
            return;
        };
        let Ok(birth) = self.birth(slot) else {
            return; // the run will be born cold, and say why
        };
        let store = Arc::clone(&slot.warm);
        let hot = Arc::clone(&self.hot);
        // The arena still holds the last run's command.
        let arena = (
            slot.arena.base() as usize,
            slot.arena.capacity(),
            slot.arena.image().len(),
        );
        // Taken, not copied: the slot's next run records its own plan.
        let ahead = slot.ahead.borrow_mut().take();
        // Lives as long as the sandbox; the clone has its copy.
        let seccomp = self
            .filter_ahead()
            .map(|parts| [&parts.0, &parts.1].map(|f| (f.program().as_ptr() as usize, f.len())));
        {
            let mut st = store.0.lock().unwrap_or_else(|e| e.into_inner());
            if !matches!(*st, Warm::Idle) {
                return;
            }
            *st = Warm::Making;
        }
        // Whatever becomes of the job (run, failed, or dropped unrun with a
        // spawner that is gone), the slot is not left waiting.
        let done = WarmDone(store, Warm::Idle);
        spawner.submit(move || {
            drop(exiting);
            let state = match WarmRun::start(
                &birth,
                arena.0 as *mut u8,
                arena.1,
                arena.2,
                ahead,
                seccomp,
            ) {
                Ok(w) => Warm::Ready(w),
                Err(_) => Warm::Idle,
            };
            done.set(state);
            hot.populate();
        });
    }

    fn host_ids(&self, slot: usize) -> (u32, u32) {
        let base = self.opts.uid_base + 2 * slot as u32;
        (base, base + 1)
    }

    /// Whether a run can be parked while another runs: the full profile
    /// and a second slot.
    pub fn can_park(&self) -> bool {
        self.profile == Profile::Full && self.opts.slots >= 2
    }

    /// Starts `cmd` in a free slot (waiting for one if all are busy).
    pub fn spawn(&self, cmd: Command) -> Result<Running<'_>, SandboxError> {
        cmd.limits.validate()?;
        let mut slot = self.take_slot();
        match self.spawn_in(&mut slot, cmd) {
            Ok(parts) => Ok(Running::new(self, slot, parts)),
            Err(e) => {
                if let Some(cg) = &slot.cgroup {
                    cg.kill_all();
                }
                self.give_slot(slot, None);
                Err(e)
            }
        }
    }

    /// Runs `cmd` to completion.
    pub fn run(&self, cmd: Command) -> Result<Outcome, SandboxError> {
        self.spawn(cmd)?.wait()
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if let Ok(mut slots) = self.slots.lock() {
            for s in slots.iter_mut() {
                // The spawner thread leaves the cgroups by ending (and its
                // warm run, whose parent it is, gets SIGKILL).
                s.spawner.take();
                drop(s.take_warm());
                if let Some(cg) = &s.cgroup {
                    cg.remove();
                }
            }
        }
    }
}

/// A run in progress.
#[derive(Debug)]
pub struct Running<'s> {
    sandbox: &'s Sandbox,
    slot: Option<Slot>,
    parts: Option<monitor::Parts>,
    /// Its PID 1 once it reported the run over, still exiting.
    exiting: Option<monitor::Exiting>,
}

impl<'s> Running<'s> {
    fn new(sandbox: &'s Sandbox, slot: Slot, parts: monitor::Parts) -> Self {
        Running {
            sandbox,
            slot: Some(slot),
            parts: Some(parts),
            exiting: None,
        }
    }

    /// Lets a parked run's program start (see [`Command::parked`]); its
    /// wall time and CPU count from here. Waiting starts it too.
    pub fn start(&mut self) -> Result<(), SandboxError> {
        let slot = self.slot.as_ref().expect("slot held");
        match self.parts.as_mut() {
            Some(parts) => monitor::open_gate(parts, slot.cgroup.as_ref()),
            None => Ok(()),
        }
    }

    /// Enforces the limits until the program ends; returns what happened.
    pub fn wait(mut self) -> Result<Outcome, SandboxError> {
        self.start()?;
        let parts = self.parts.take().expect("waited once");
        let slot = self.slot.as_ref().expect("slot held");
        let (mut outcome, exiting) = monitor::supervise(parts, slot.cgroup.as_ref())?;
        self.exiting = exiting;
        outcome.isolation = self.sandbox.layers.clone();
        Ok(outcome)
    }
}

impl Drop for Running<'_> {
    fn drop(&mut self) {
        if let Some(parts) = self.parts.take() {
            // Never waited: kill the run so the slot is clean.
            monitor::abandon(parts, self.slot.as_ref().and_then(|s| s.cgroup.as_ref()));
        }
        if let Some(slot) = self.slot.take() {
            self.sandbox.give_slot(slot, self.exiting.take());
        }
    }
}

/// A name no other directory of this or an earlier process has: the pid,
/// a counter, and the clock (pids are reused after a crash).
pub fn unique_name() -> String {
    use std::sync::atomic::{AtomicU64, Ordering};
    static N: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "{}-{}-{nanos:x}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    )
}

/// What the runner writes on its way to each run: after a clone of the
/// runner (a warm PID 1, a copy of its memory), each page stays shared with
/// the clone until written, and the runner's first write to it copies it:
/// a fault of 5–10 µs under a hypervisor, some ten on the way to a run.
/// The spawner threads take those of its arenas and stacks right after
/// each clone (see [`Hot::populate`]).
#[derive(Debug, Default)]
struct Hot {
    /// Each slot's arena.
    arenas: Vec<usize>,
    /// Where the stack of the thread that last started a run in each slot
    /// was (0: none yet), by slot index.
    stacks: Vec<std::sync::atomic::AtomicUsize>,
}

impl Hot {
    /// Of each arena, what a command takes (a few KiB) and more.
    const ARENA: usize = 64 << 10;
    /// Of a stack, what making a run's command takes below the caller's
    /// frame, and the caller's own frames above it.
    const BELOW: usize = 64 << 10;
    const ABOVE: usize = 16 << 10;

    fn new(slots: &[Slot]) -> Hot {
        let n = slots.iter().map(|s| s.index + 1).max().unwrap_or(0);
        Hot {
            arenas: slots.iter().map(|s| s.arena.base() as usize).collect(),
            stacks: (0..n).map(|_| Default::default()).collect(),
        }
    }

    /// Notes where the thread starting a run in slot `index` has its stack.
    fn caller(&self, index: usize) {
        let here = 0u8;
        if let Some(at) = self.stacks.get(index) {
            at.store(std::ptr::addr_of!(here) as usize, Ordering::Relaxed);
        }
    }

    /// Makes the pages the runner writes next its own again, without
    /// touching their contents (other threads may be writing them):
    /// `MADV_POPULATE_WRITE` (Linux 5.14; older kernels, or a range not
    /// all mapped, leave the faults to the runner, as before).
    fn populate(&self) {
        for &arena in &self.arenas {
            populate_write(arena, Self::ARENA);
        }
        for at in &self.stacks {
            let sp = at.load(Ordering::Relaxed);
            if sp != 0 && !populate_write(sp.saturating_sub(Self::BELOW), Self::BELOW + Self::ABOVE)
            {
                // The stack's mapping may not reach that far down yet.
                populate_write(sp.saturating_sub(Self::BELOW / 4), Self::BELOW / 4 + 4096);
            }
        }
    }
}

fn populate_write(at: usize, len: usize) -> bool {
    const PAGE: usize = 4096;
    let lo = at & !(PAGE - 1);
    let hi = (at + len).next_multiple_of(PAGE);
    // SAFETY: only this process's page tables change, not the contents.
    unsafe { libc::madvise(lo as *mut libc::c_void, hi - lo, libc::MADV_POPULATE_WRITE) == 0 }
}
