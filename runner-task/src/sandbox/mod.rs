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
//! * Each idle slot holds its next run's PID 1, cloned ahead (`warm_up`):
//!   a run sends it its command, laid out in the slot's arena (`arena`),
//!   instead of cloning one.
//!
//! One file per mechanism: [`mounts`], [`cgroup`], [`seccomp`], [`landlock`];
//! [`sys`] holds the raw system calls. The limits, layers and profiles are
//! the protocol's ([`coderun_protocol`]): results record them.

mod arena;
pub mod cgroup;
pub mod child;
pub mod landlock;
pub mod mounts;
pub mod seccomp;
mod spawner;
pub mod sys;

mod meter;
mod monitor;
mod ownership;
mod probe;

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Condvar, Mutex};
use std::time::Instant;

pub use coderun_protocol::{Layer, LimitError, Limits, Profile};
pub use monitor::{Outcome, Status};
pub use mounts::Bind;
pub use probe::Probe;

use child::{Prepared, INSIDE_ID};
use landlock::Access;

/// A platform failure: the sandbox could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("isolation below the required minimum ({required}): {missing}")]
    InsufficientIsolation { required: Profile, missing: String },
    #[error("creating the sandbox's {what}: {source}")]
    Create {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the sandboxed process: {0}")]
    Clone(#[source] sys::Errno),
    #[error("sandbox setup failed at step {step:?}: {errno}")]
    Setup {
        step: child::Step,
        errno: sys::Errno,
    },
    #[error("supervising the sandboxed process: {0}")]
    Supervise(#[source] std::io::Error),
    #[error("invalid limits: {0}")]
    Limits(#[from] LimitError),
    #[error("invalid command: {0}")]
    Command(String),
}

/// Options chosen by the operator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Refuse to run below this profile.
    pub min_isolation: Profile,
    /// Use the restricted profile even where full isolation is possible.
    pub force_restricted: bool,
    /// Concurrent runs (each gets a pooled slot).
    pub slots: usize,
    /// First host uid used for sandboxed programs; each slot takes two.
    /// 0 leases a range no other runner process on this host holds.
    pub uid_base: u32,
    /// Where the runner keeps its root skeletons and scratch directories.
    pub work_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_isolation: Profile::Full,
            force_restricted: false,
            slots: 2,
            uid_base: 0,
            work_dir: std::env::temp_dir().join("coderun-sandbox"),
        }
    }
}

/// Where a run's input comes from.
#[derive(Debug)]
pub enum Stdin {
    Null,
    /// These bytes (held in a sealed in-memory file, so nothing blocks).
    Bytes(Vec<u8>),
    /// An open file or pipe.
    Fd(OwnedFd),
}

/// Where a run's standard output goes.
#[derive(Debug)]
pub enum Stdout {
    /// Captured (within the output limit) into [`Outcome::stdout`].
    Capture,
    /// Another process's pipe (interactive problems); not counted.
    Fd(OwnedFd),
}

/// One program to run.
#[derive(Debug)]
pub struct Command {
    /// Executable path as seen inside; `{box}` and `{tmp}` are replaced by
    /// the box and scratch directories of the profile in force.
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    /// Host paths to show (read-only) besides the box.
    pub binds: Vec<Bind>,
    /// The job's directory, shown as `{box}`: writable while compiling.
    pub box_dir: Option<(PathBuf, bool)>,
    /// Host directories only this run's uid may enter while it runs (in the
    /// restricted profile; root's, mode 0700, before and after): a
    /// validator's copies of the test's files and its feedback directory.
    pub private: Vec<PathBuf>,
    pub limits: Limits,
    /// Memory actually enforced, bytes (the limit plus a runtime's overhead).
    pub memory_bytes: u64,
    /// Without cgroups, cap the address space (false: the data segment, for
    /// runtimes that reserve far more address space than they use).
    pub limit_address_space: bool,
    pub stdin: Stdin,
    pub stdout: Stdout,
    /// Files that get stdout and stderr as they arrive (what is kept of
    /// them, within the output limit), for live logs.
    pub live: Option<[std::fs::File; 2]>,
    /// Probe runs stop after the setup, before `execve`.
    probe: bool,
    /// Set up, then wait for [`Running::start`] before the program starts
    /// (the full profile): a judge prepares the next test's sandbox while
    /// the current test runs.
    pub parked: bool,
}

impl Command {
    pub fn new(program: impl Into<String>, limits: Limits) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: "{tmp}".into(),
            binds: Vec::new(),
            box_dir: None,
            private: Vec::new(),
            memory_bytes: limits.memory_mb << 20,
            limits,
            limit_address_space: true,
            stdin: Stdin::Null,
            stdout: Stdout::Capture,
            live: None,
            probe: false,
            parked: false,
        }
    }
}

/// A pooled worker slot: its cgroup, network namespace and uids.
#[derive(Debug)]
struct Slot {
    /// First to go: its thread may still use the fields below.
    spawner: std::sync::OnceLock<Option<spawner::Spawner>>,
    index: usize,
    cgroup: Option<cgroup::Slot>,
    netns: Option<OwnedFd>,
    /// Where each run's prepared data is laid out.
    arena: arena::Arena,
    /// The slot's next PID 1, cloned ahead (see `Sandbox::warm_up`).
    warm: Arc<(Mutex<Warm>, Condvar)>,
}

impl Slot {
    /// The spawner thread is started at the slot's first full-profile run
    /// (none if it could not be: runs are then moved into the cgroups one
    /// by one, on v1).
    fn new(index: usize, cgroup: Option<cgroup::Slot>) -> std::io::Result<Slot> {
        Ok(Slot {
            spawner: std::sync::OnceLock::new(),
            index,
            cgroup,
            netns: None,
            arena: arena::Arena::new()?,
            warm: Arc::new((Mutex::new(Warm::Idle), Condvar::new())),
        })
    }

    /// The warm run waiting in this slot, if any and alive; waits for one
    /// being made.
    fn take_warm(&self) -> Option<WarmRun> {
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
    fn spawner(&self) -> Option<&spawner::Spawner> {
        let cg = self.cgroup.as_ref()?;
        self.spawner
            .get_or_init(|| spawner::Spawner::start(cg).ok())
            .as_ref()
    }
}

/// The sandbox of one runner process.
#[derive(Debug)]
pub struct Sandbox {
    profile: Profile,
    layers: Vec<Layer>,
    filter: Option<seccomp::Filter>,
    landlock: Option<landlock::Policy>,
    slots: Mutex<Vec<Slot>>,
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

/// Inside paths of the full profile.
const BOX_INSIDE: &str = "/box";
const TMP_INSIDE: &str = "/tmp";

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
            landlock: landlock_abi.map(landlock::Policy::for_abi),
            slots: Mutex::new(Vec::new()),
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
        sandbox.profile = probe.profile;
        if probe.profile == Profile::Restricted {
            sandbox.filter = Some(seccomp::Filter::compile(seccomp::Ipc::Shared));
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

    fn give_slot(&self, slot: Slot) {
        self.warm_up(&slot);
        self.slots.lock().expect("slot pool poisoned").push(slot);
        self.slot_freed.notify_one();
    }

    /// Clones the slot's next PID 1 ahead of its command, on the slot's
    /// spawner thread while the caller goes on: namespaces, identity maps
    /// and cgroups are in place when the command comes, and only the file
    /// system and what follows remain (see `child::warm`).
    fn warm_up(&self, slot: &Slot) {
        if self.profile != Profile::Full {
            return;
        }
        let Some(spawner) = slot.spawner() else {
            return;
        };
        let birth = self.birth(slot);
        let store = Arc::clone(&slot.warm);
        let arena = (slot.arena.base() as usize, slot.arena.capacity());
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
            let state = match WarmRun::start(&birth, arena.0 as *mut u8, arena.1) {
                Ok(w) => Warm::Ready(w),
                Err(_) => Warm::Idle,
            };
            done.set(state);
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
                self.give_slot(slot);
                Err(e)
            }
        }
    }

    /// Runs `cmd` to completion.
    pub fn run(&self, cmd: Command) -> Result<Outcome, SandboxError> {
        self.spawn(cmd)?.wait()
    }

    fn spawn_in(&self, slot: &mut Slot, cmd: Command) -> Result<monitor::Parts, SandboxError> {
        slot.arena.reset();
        let slot: &Slot = slot;
        let arena = &slot.arena;
        let full = self.profile == Profile::Full;
        let scratch = if full {
            None
        } else {
            Some(self.make_scratch(slot)?)
        };
        let (box_at, tmp_at) = match (&scratch, &cmd.box_dir) {
            (None, _) => (BOX_INSIDE.to_string(), TMP_INSIDE.to_string()),
            (Some(s), b) => (
                b.as_ref()
                    .map(|(p, _)| p.display().to_string())
                    .unwrap_or_default(),
                s.display().to_string(),
            ),
        };
        let subst = |s: &str| s.replace("{box}", &box_at).replace("{tmp}", &tmp_at);

        let program = arena.cstr(subst(&cmd.program).as_bytes())?;
        let mut argv = vec![program.as_ptr()];
        for a in &cmd.args {
            argv.push(arena.cstr(subst(a).as_bytes())?.as_ptr());
        }
        argv.push(std::ptr::null());
        let mut envp = Vec::with_capacity(cmd.env.len() + 1);
        for (k, v) in &cmd.env {
            envp.push(arena.cstr(format!("{k}={}", subst(v)).as_bytes())?.as_ptr());
        }
        envp.push(std::ptr::null());
        let argv = arena.slice(&argv)?;
        let envp = arena.slice(&envp)?;
        let cwd = arena.cstr(subst(&cmd.cwd).as_bytes())?;

        let limits = cmd.limits;
        let (_, host_user) = self.host_ids(slot.index);
        let rlimits = arena.slice(&self.rlimits(&cmd, slot.cgroup.is_some()))?;

        // Streams: the child's ends are closed in the parent after the clone.
        let stdin_fd = match cmd.stdin {
            Stdin::Null => open_null()?,
            Stdin::Bytes(b) => memfd_with(&b)?,
            Stdin::Fd(fd) => fd,
        };
        let (out_r, out_w) = match cmd.stdout {
            Stdout::Capture => {
                let (r, w) = pipe()?;
                (Some(r), w)
            }
            Stdout::Fd(fd) => (None, fd),
        };
        let (err_r, err_w) = pipe()?;
        // A warm run (see `warm_up`) was cloned with its own report pipe and
        // identity: it needs no go signal.
        let warm = if full { slot.take_warm() } else { None };
        let (rep_r, rep_w) = match &warm {
            Some(_) => (None, None),
            None => {
                let (r, w) = pipe()?;
                (Some(r), Some(w))
            }
        };

        // File system: the box and private directories are this run's
        // uid's until the run ends (see `ownership`; given back by
        // monitor::finish).
        let lent = ownership::Lent::lend(cmd.box_dir.as_ref(), &cmd.private, host_user, !full)?;
        let mut binds = cmd.binds.clone();
        if let Some((host, writable)) = &cmd.box_dir {
            // Mounted at /box in the full profile; in the restricted one a
            // bind only grants Landlock access to the host path itself.
            binds.push(Bind {
                host: host.clone(),
                inside: if full {
                    BOX_INSIDE.into()
                } else {
                    host.clone()
                },
                writable: *writable,
            });
        }
        let plan = if full {
            Some(mounts::Plan::new(
                arena,
                &self.skeletons,
                &binds,
                limits.file_size_bytes,
                scratch_files(&limits),
            )?)
        } else {
            None
        };
        let landlock = match &self.landlock {
            Some(policy) => {
                let mut paths = Vec::new();
                for (p, access) in self.landlock_paths(&binds, &tmp_at) {
                    paths.push((arena.cstr(p.as_os_str().as_bytes())?, access));
                }
                Some((arena.put(*policy)?, arena.slice(&paths)?))
            }
            None => None,
        };
        let sync = if full && warm.is_none() {
            Some(pipe()?)
        } else {
            None
        };
        let gate = if full && cmd.parked {
            Some(pipe()?)
        } else {
            None
        };

        let (uid, gid) = if full {
            // A runner that is not root can map only its own uid, as root
            // of the namespace: the program then keeps that (capability-less) id.
            let id = if self.is_root { INSIDE_ID } else { 0 };
            (id, id)
        } else {
            (host_user, host_user)
        };
        let prepared = Prepared {
            program,
            argv,
            envp,
            cwd,
            rlimits,
            uid,
            gid,
            stdin: stdin_fd.as_raw_fd(),
            stdout: out_w.as_raw_fd(),
            stderr: err_w.as_raw_fd(),
            // A warm run fills these in with what it receives.
            report: rep_w.as_ref().map_or(-1, |w| w.as_raw_fd()),
            sync: sync.as_ref().map(|(r, _)| r.as_raw_fd()),
            sync_parent_end: sync.as_ref().map(|(_, w)| w.as_raw_fd()),
            gate: gate.as_ref().map(|(r, _)| r.as_raw_fd()),
            gate_parent_end: gate.as_ref().map(|(_, w)| w.as_raw_fd()),
            mounts: plan,
            landlock,
            seccomp: match self.filter.as_ref().filter(|_| self.has(Layer::Seccomp)) {
                Some(f) => Some(arena.slice(f.program())?),
                None => None,
            },
            probe_only: cmd.probe,
            drop_bounding_set: self.drop_bounding_set,
        };

        let spawner = if full { slot.spawner() } else { None };
        let mut baseline = match &slot.cgroup {
            // One above RLIMIT_NPROC (see `rlimits`): the rlimit is checked
            // early in fork, the pids controller only after the address space
            // was copied, and a fork bomb failing that late piles up kernel
            // memory (freed after an RCU grace period) until the memory limit
            // kills it: the pids limit is only the backstop.
            // The spawner thread is one more task in the slot.
            Some(cg) => Some(
                cg.prepare(
                    cmd.memory_bytes,
                    limits.processes + 2 + u64::from(spawner.is_some()),
                )
                .map_err(|source| SandboxError::Create {
                    what: "cgroup limits",
                    source,
                })?,
            ),
            None => None,
        };
        let started = Instant::now();
        let (pidfd, report) = match (warm, sync) {
            (Some(w), _) => {
                let gate_r = gate.as_ref().map(|(r, _)| r.as_raw_fd());
                let mut fds = vec![stdin_fd.as_raw_fd(), out_w.as_raw_fd(), err_w.as_raw_fd()];
                fds.extend(gate_r);
                let (pidfd, report) = w.request(arena, prepared, &fds)?;
                if let (Some(cg), Some(base)) = (&slot.cgroup, &mut baseline) {
                    cg.rebase_cpu(base);
                }
                (pidfd, report)
            }
            (None, Some((r, w))) => {
                let pidfd = self.start_full(slot, spawner, &prepared, w)?;
                drop(r);
                if let (Some(cg), Some(base), Some(_)) = (&slot.cgroup, &mut baseline, spawner) {
                    cg.rebase_cpu(base);
                }
                (pidfd, rep_r.expect("a cold run has a report pipe"))
            }
            (None, None) => (
                clone_plain(&prepared)?.1,
                rep_r.expect("a cold run has a report pipe"),
            ),
        };
        drop((stdin_fd, out_w, err_w, rep_w));
        let gate = gate.map(|(r, w)| {
            drop(r);
            w
        });
        Ok(monitor::Parts {
            pidfd,
            started,
            stdout: out_r,
            stderr: err_r,
            report,
            limits,
            memory_bytes: cmd.memory_bytes,
            baseline,
            meter: scratch.as_ref().map(|dir| {
                meter::Meter::new(
                    host_user,
                    dir.clone(),
                    Arc::clone(&self.shared_writable),
                    meter::Totals {
                        memory_bytes: cmd.memory_bytes,
                        scratch_bytes: limits.file_size_bytes,
                        scratch_files: scratch_files(&limits),
                    },
                )
            }),
            shared_writable: Arc::clone(&self.shared_writable),
            scratch,
            host_uid: (!full).then_some(host_user),
            lent,
            live: cmd.live,
            gate,
        })
    }

    /// What cloning a run's PID 1 in `slot` needs, owned (see [`Birth`]).
    fn birth(&self, slot: &Slot) -> Birth {
        let (host_root, host_user) = self.host_ids(slot.index);
        Birth {
            slot_netns: slot.netns.as_ref().map(|f| f.as_raw_fd()),
            own_netns: self.own_netns.as_ref().map(|f| f.as_raw_fd()),
            cgroup_v2: slot
                .cgroup
                .as_ref()
                .and_then(|c| c.v2_dir())
                .map(Path::to_path_buf),
            is_root: self.is_root,
            host_root,
            host_user,
        }
    }

    /// Clones the run's PID 1 into its namespaces and lets it go (identity
    /// maps, cgroup), on the slot's spawner thread when it has one: the run
    /// then sets itself up while the caller is woken.
    fn start_full(
        &self,
        slot: &Slot,
        spawner: Option<&spawner::Spawner>,
        p: &Prepared,
        go: OwnedFd,
    ) -> Result<OwnedFd, SandboxError> {
        let birth = self.birth(slot);
        // Born in the slot's cgroups: by CLONE_INTO_CGROUP (v2) or from the
        // spawner thread (v1). Otherwise moved there before it runs.
        let attach = slot
            .cgroup
            .as_ref()
            .filter(|c| spawner.is_none() && c.v2_dir().is_none());
        let start = move || {
            let (pid, pidfd) = birth.clone_run(|| child::full(p))?;
            let released = birth.write_id_maps(pid).and_then(|()| {
                if let Some(cg) = attach {
                    cg.attach(pid).map_err(|source| SandboxError::Create {
                        what: "cgroup membership",
                        source,
                    })?;
                }
                let_go(&go)
            });
            match released {
                Ok(()) => Ok(pidfd),
                Err(e) => {
                    let _ = sys::kill(pid, libc::SIGKILL);
                    // SAFETY: reaping our own child.
                    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
                    Err(e)
                }
            }
        };
        match spawner {
            Some(s) => {
                let start = AssertSend(start);
                s.run(move || {
                    let start = start;
                    AssertSend((start.0)())
                })
                .map(|r| r.0)
                .unwrap_or_else(|| Err(SandboxError::Clone(sys::Errno(libc::ECHILD))))
            }
            None => start(),
        }
    }

    fn rlimits(&self, cmd: &Command, cgroup: bool) -> Vec<(u32, u64, u64)> {
        let l = &cmd.limits;
        // RLIMIT_CPU counts whole seconds per process: a backstop for the
        // supervisor's precise accounting, one second above the limit.
        let cpu_s = l.time_ms.div_ceil(1000) + 1;
        let mut r = vec![
            (libc::RLIMIT_CPU, cpu_s, cpu_s + 1),
            (libc::RLIMIT_FSIZE, l.file_size_bytes, l.file_size_bytes),
            (libc::RLIMIT_NOFILE, l.open_files, l.open_files),
            (libc::RLIMIT_STACK, l.stack_mb << 20, l.stack_mb << 20),
            (libc::RLIMIT_CORE, 0, 0),
            // The program's processes and threads, plus PID 1.
            (libc::RLIMIT_NPROC, l.processes + 1, l.processes + 1),
            (libc::RLIMIT_MEMLOCK, 64 << 10, 64 << 10),
            (libc::RLIMIT_MSGQUEUE, 0, 0),
        ];
        if !cgroup {
            // Without a memory cgroup, the kernel can only cap address space
            // (or the data segment, for runtimes that reserve huge ranges);
            // the run's total is the meter's (see `meter`).
            if cmd.limit_address_space {
                r.push((libc::RLIMIT_AS, cmd.memory_bytes, cmd.memory_bytes));
            } else {
                // Thread stacks are data too, reserved whole (a JVM's dozen
                // threads of `-Xss` each): room for every thread's stack on
                // top of the heap, a backstop per process.
                let data = cmd.memory_bytes + l.processes * (l.stack_mb << 20);
                r.push((libc::RLIMIT_DATA, data, data));
            }
        }
        r
    }

    fn landlock_paths(&self, binds: &[Bind], tmp_at: &str) -> Vec<(PathBuf, Access)> {
        let mut v = Vec::new();
        if self.profile == Profile::Full {
            // Inside the private root everything visible may be read.
            v.push(("/".into(), Access::ReadExec));
        } else {
            for b in binds.iter().filter(|b| !b.writable) {
                v.push((b.inside.clone(), Access::ReadExec));
            }
            for p in probe::RESTRICTED_READABLE {
                v.push((p.into(), Access::ReadExec));
            }
        }
        for dev in mounts::DEVICES {
            v.push((Path::new("/dev").join(dev), Access::ReadWriteFiles));
        }
        v.push((tmp_at.into(), Access::ReadWrite));
        for b in binds.iter().filter(|b| b.writable) {
            v.push((b.inside.clone(), Access::ReadWrite));
        }
        v
    }

    fn make_scratch(&self, slot: &Slot) -> Result<PathBuf, SandboxError> {
        let dir = self
            .opts
            .work_dir
            .join(format!("scratch-{}-{}", slot.index, unique_name()));
        std::fs::create_dir(&dir).map_err(|source| SandboxError::Create {
            what: "scratch directory",
            source,
        })?;
        let (_, user) = self.host_ids(slot.index);
        let err = |source| SandboxError::Create {
            what: "scratch directory",
            source,
        };
        std::os::unix::fs::chown(&dir, Some(user), Some(user)).map_err(err)?;
        // The run's alone: another run's uid may not even look in.
        std::fs::set_permissions(&dir, std::os::unix::fs::PermissionsExt::from_mode(0o700))
            .map_err(err)?;
        Ok(dir)
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
}

impl<'s> Running<'s> {
    fn new(sandbox: &'s Sandbox, slot: Slot, parts: monitor::Parts) -> Self {
        Running {
            sandbox,
            slot: Some(slot),
            parts: Some(parts),
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
        let mut outcome = monitor::supervise(parts, slot.cgroup.as_ref())?;
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
            self.sandbox.give_slot(slot);
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
fn lease_uids() -> std::io::Result<(u32, File)> {
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

fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let (r, w) = sys::pipe_cloexec().map_err(|e| SandboxError::Create {
        what: "pipe",
        source: e.into(),
    })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(r), OwnedFd::from_raw_fd(w)) })
}

fn open_null() -> Result<OwnedFd, SandboxError> {
    File::open("/dev/null")
        .map(OwnedFd::from)
        .map_err(|source| SandboxError::Create {
            what: "stdin",
            source,
        })
}

fn memfd_with(bytes: &[u8]) -> Result<OwnedFd, SandboxError> {
    use std::io::{Seek, Write};
    let err = |source| SandboxError::Create {
        what: "stdin",
        source,
    };
    // SAFETY: creating an anonymous file with a static name.
    let fd = sys::check(unsafe {
        libc::memfd_create(
            c"stdin".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    })
    .map_err(|e| err(e.into()))?;
    // SAFETY: the descriptor is new and ours.
    let mut f = unsafe { File::from_raw_fd(fd) };
    f.write_all(bytes).map_err(err)?;
    f.rewind().map_err(err)?;
    // Sealed: the program can read its input but not change it.
    // SAFETY: fcntl on our own descriptor.
    unsafe {
        libc::fcntl(
            f.as_raw_fd(),
            libc::F_ADD_SEALS,
            libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL,
        )
    };
    Ok(f.into())
}

/// Files a run's scratch may hold: one per 4 KiB page of its size, and some.
fn scratch_files(limits: &Limits) -> u64 {
    limits.file_size_bytes / 4096 + 64
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

#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;

/// Lets the run's prepared data (raw pointers into buffers the caller keeps
/// alive) be read by the spawner thread while the caller waits for it.
/// What cloning a run's PID 1 needs of the sandbox and its slot, owned and
/// plain, so that a slot's spawner thread can warm a run up on its own.
/// The descriptors belong to the sandbox and its slots, which outlive every
/// spawner thread (see `Slot` and `Sandbox::drop`).
#[derive(Debug, Clone)]
struct Birth {
    slot_netns: Option<RawFd>,
    own_netns: Option<RawFd>,
    cgroup_v2: Option<PathBuf>,
    is_root: bool,
    host_root: u32,
    host_user: u32,
}

impl Birth {
    /// Clones PID 1 into fresh user, pid, mount, ipc and uts namespaces and
    /// the slot's network namespace (and cgroup, on v2); `child` runs there.
    fn clone_run(&self, child: impl FnOnce()) -> Result<(libc::pid_t, OwnedFd), SandboxError> {
        let mut flags = libc::CLONE_NEWUSER
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWNS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWUTS
            | libc::CLONE_PIDFD;
        // A slot's empty network namespace is reused (creating one per run
        // costs more than the rest of the setup); runs in a slot never overlap
        // and the run's processes all die before the slot is reused.
        let joined = match (self.slot_netns, self.own_netns) {
            (Some(ns), Some(_)) => {
                // SAFETY: joining a namespace by descriptor affects this thread only.
                sys::check(unsafe { libc::setns(ns, libc::CLONE_NEWNET) })
                    .map_err(SandboxError::Clone)?;
                true
            }
            _ => {
                flags |= libc::CLONE_NEWNET;
                false
            }
        };
        let cgroup_fd = match &self.cgroup_v2 {
            Some(dir) => Some(File::open(dir).map_err(|source| SandboxError::Create {
                what: "cgroup directory",
                source,
            })?),
            None => None,
        };
        let result = clone3(
            flags as u64,
            cgroup_fd.as_ref().map(|f| f.as_raw_fd()),
            child,
        );
        if let (true, Some(own)) = (joined, self.own_netns) {
            // SAFETY: returning this thread to the runner's own namespace.
            if unsafe { libc::setns(own, libc::CLONE_NEWNET) } != 0 {
                // A thread stuck in the empty namespace would break the
                // runner's own network use: better to stop loudly.
                panic!(
                    "cannot return to the runner's network namespace: {}",
                    sys::Errno::last()
                );
            }
        }
        result.map_err(SandboxError::Clone)
    }

    /// The new user namespace's identities: root and the program's user,
    /// each mapped to the slot's own unprivileged host uid.
    fn write_id_maps(&self, pid: libc::pid_t) -> Result<(), SandboxError> {
        let io = |what| move |source| SandboxError::Create { what, source };
        let (uid_map, gid_map) = if self.is_root {
            let map = format!("0 {} 1\n{INSIDE_ID} {} 1\n", self.host_root, self.host_user);
            (map.clone(), map)
        } else {
            // A runner that is not root maps only itself, as the namespace's root.
            // SAFETY: getuid/getgid cannot fail.
            let (u, g) = unsafe { (libc::getuid(), libc::getgid()) };
            let _ = std::fs::write(format!("/proc/{pid}/setgroups"), "deny");
            (format!("0 {u} 1\n"), format!("0 {g} 1\n"))
        };
        std::fs::write(format!("/proc/{pid}/uid_map"), uid_map).map_err(io("uid map"))?;
        std::fs::write(format!("/proc/{pid}/gid_map"), gid_map).map_err(io("gid map"))
    }
}

/// Lets a cloned PID 1 go on, its identity in place.
fn let_go(go: &OwnedFd) -> Result<(), SandboxError> {
    sys::write_all(go.as_raw_fd(), b"g").map_err(|e| SandboxError::Create {
        what: "start signal",
        source: e.into(),
    })
}

/// A slot's next PID 1 (see `Sandbox::warm_up`).
#[derive(Debug)]
enum Warm {
    Idle,
    Making,
    Ready(WarmRun),
}

/// Sets a slot's warm state when dropped, and wakes whoever waits for it.
struct WarmDone(Arc<(Mutex<Warm>, Condvar)>, Warm);

impl WarmDone {
    fn set(mut self, state: Warm) {
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

/// A PID 1 cloned before its command: in its namespaces and cgroups with
/// its identity, waiting on `request` (see `child::warm`).
#[derive(Debug)]
struct WarmRun {
    pid: libc::pid_t,
    /// pidfd, request socket, report pipe; taken when the run starts.
    fds: Option<(OwnedFd, OwnedFd, OwnedFd)>,
}

impl WarmRun {
    fn start(birth: &Birth, arena: *mut u8, arena_len: usize) -> Result<WarmRun, SandboxError> {
        let (rep_r, rep_w) = pipe()?;
        let (sync_r, sync_w) = pipe()?;
        let (req_parent, req_child) = socket_pair()?;
        let start = child::WarmStart {
            report: rep_w.as_raw_fd(),
            sync: sync_r.as_raw_fd(),
            sync_parent_end: sync_w.as_raw_fd(),
            request: req_child.as_raw_fd(),
            request_parent_end: req_parent.as_raw_fd(),
            arena,
            arena_len,
        };
        let (pid, pidfd) = birth.clone_run(|| child::warm(&start))?;
        drop((rep_w, sync_r, req_child));
        let run = WarmRun {
            pid,
            fds: Some((pidfd, req_parent, rep_r)),
        };
        // On failure, dropping the run kills it.
        birth.write_id_maps(pid)?;
        let_go(&sync_w)?;
        Ok(run)
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

    /// Sends the run its command: the arena's image, with `prepared` laid
    /// out last, and the run's descriptors. Returns its pidfd and report.
    fn request(
        mut self,
        arena: &arena::Arena,
        prepared: Prepared,
        fds: &[RawFd],
    ) -> Result<(OwnedFd, OwnedFd), SandboxError> {
        let placed = arena.put(prepared)?;
        let offset = arena.offset_of(placed);
        let image = arena.image();
        let mut header = [0u8; child::REQUEST_HEADER];
        header[..8].copy_from_slice(&(image.len() as u64).to_ne_bytes());
        header[8..].copy_from_slice(&(offset as u64).to_ne_bytes());
        let (_, sock, _) = self.fds.as_ref().expect("not started yet");
        sys::send_with_fds(sock.as_raw_fd(), &header, fds)
            .and_then(|()| sys::write_all(sock.as_raw_fd(), image))
            .map_err(|e| SandboxError::Create {
                what: "warm run's command",
                source: e.into(),
            })?;
        let (pidfd, _, report) = self.fds.take().expect("not started yet");
        Ok((pidfd, report))
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

fn socket_pair() -> Result<(OwnedFd, OwnedFd), SandboxError> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    sys::check(unsafe {
        libc::socketpair(
            libc::AF_UNIX,
            libc::SOCK_STREAM | libc::SOCK_CLOEXEC,
            0,
            fds.as_mut_ptr(),
        )
    })
    .map_err(|e| SandboxError::Create {
        what: "socket pair",
        source: e.into(),
    })?;
    // SAFETY: both descriptors were just created and are owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

struct AssertSend<T>(T);
// SAFETY: the caller blocks until the spawner returned (Spawner::run), and
// the data is only read meanwhile.
unsafe impl<T> Send for AssertSend<T> {}

/// `clone3` with fork semantics; runs `child` in the child (never returns).
fn clone3(
    flags: u64,
    cgroup: Option<RawFd>,
    child: impl FnOnce(),
) -> Result<(libc::pid_t, OwnedFd), sys::Errno> {
    let mut pidfd: RawFd = -1;
    let mut args = CloneArgs {
        flags,
        pidfd: &mut pidfd as *mut RawFd as u64,
        exit_signal: libc::SIGCHLD as u64,
        ..CloneArgs::default()
    };
    if let Some(fd) = cgroup {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: with no stack given, clone3 behaves like fork: the child runs on
    // a copy of this stack and only makes async-signal-safe system calls
    // before execve or _exit (see `child`).
    let pid = sys::check(unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &args as *const CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    })?;
    if pid == 0 {
        child();
        sys::exit(child::SETUP_FAILED);
    }
    // SAFETY: the kernel stored a fresh pidfd for us.
    Ok((pid as libc::pid_t, unsafe { OwnedFd::from_raw_fd(pidfd) }))
}

/// A fork (no namespaces) for the restricted profile.
fn clone_plain(p: &Prepared) -> Result<(libc::pid_t, OwnedFd), SandboxError> {
    let pid = sys::raw_fork().map_err(SandboxError::Clone)?;
    if pid == 0 {
        child::restricted(p);
    }
    // SAFETY: pidfd_open on our own child, which cannot be reaped before we wait.
    let fd = sys::check(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
        .map_err(SandboxError::Clone)?;
    // SAFETY: a fresh descriptor.
    Ok((pid, unsafe { OwnedFd::from_raw_fd(fd as RawFd) }))
}
