//! Starting a run: the parent's side as a checklist ([`Sandbox::spawn_in`],
//! each step named), and what the steps make: the run's places, its
//! command laid out for the child, its streams, its limits.

use std::ffi::CStr;
use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Instant;

use super::birth::{clone_plain, let_go, AssertSend, Birth};
use super::child::{self, Prepared, INSIDE_ID};
use super::landlock::Access;
use super::slot::{Ahead, Slot};
use super::{
    arena, cgroup, meter, monitor, mounts, ownership, probe, spawner, sys, unique_name, Bind,
    Command, Limits, Profile, Sandbox, SandboxError, Stdin, Stdout,
};

/// A Landlock policy and the paths it opens, as the child applies them.
type LandlockRules<'a> = (&'a super::landlock::Policy, &'a [(&'a CStr, Access)]);

/// Inside paths of the full profile.
const BOX_INSIDE: &str = "/box";
const TMP_INSIDE: &str = "/tmp";

impl Sandbox {
    /// Starts `cmd` in `slot`: the parent's side of a run's start, step by
    /// step (the child's is `child`). What is made here for the child is
    /// laid out in the slot's arena, where the child reads it without
    /// allocating.
    pub(super) fn spawn_in(
        &self,
        slot: &mut Slot,
        cmd: Command,
    ) -> Result<monitor::Parts, SandboxError> {
        let full = self.profile == Profile::Full;
        // 0. A PID 1 cloned ahead (see `warm_up`) is taken first, and woken
        //    (its command is on its way): it was cloned with the last run's
        //    plan in the arena, which is laid out anew only once it is made.
        self.hot.caller(slot.index);
        let mut warm = if full { slot.take_warm() } else { None };
        if let Some(w) = &warm {
            w.wake()?;
        }
        let spare = warm.as_mut().and_then(|w| w.spare.take());
        slot.arena.reset();
        *slot.ahead.get_mut() = None;
        let slot: &Slot = slot;
        let arena = &slot.arena;
        let (_, host_user) = self.host_ids(slot.index);
        let limits = cmd.limits;

        // 1. Where the run's files are: /box and /tmp of its own root, or
        //    (restricted) the host's box directory and a scratch of its own.
        let scratch = if full {
            None
        } else {
            Some(self.make_scratch(slot)?)
        };
        let places = Places::new(scratch.as_deref(), cmd.box_dir.as_ref());
        // 2. The file system: its mounts and its Landlock rules.
        let binds = self.binds(&cmd.binds, cmd.box_dir.as_ref());
        let own = cmd.binds.len();
        let (mounts, landlock) = self.file_system(arena, &binds, own, &limits, &places.tmp)?;
        //    The plan's first part is what the slot's next PID 1 mounts
        //    ahead, all of the walls if this run's are the last one's
        //    again; the warm one did that with the last run's.
        let mut ahead = None;
        if let Some(plan) = mounts {
            let key = plan.ahead_key();
            let walls_key = walls_key(plan, landlock);
            let (mut repeat, mut stale) = (false, false);
            if let Some(last) = warm.as_ref().and_then(|w| w.mounted_ahead()) {
                repeat = last.walls_key == walls_key;
                // One with all of another run's walls up serves none of ours.
                stale = last.whole && !repeat;
                let same = if last.whole { repeat } else { last.key == key };
                ahead = Some((arena.cstr(last.root.to_bytes())?, same));
            }
            if stale {
                // Dropped, it is killed: this run is born cold.
                (warm, ahead) = (None, None);
            }
            let walls = arena.put(child::Walls {
                mounts: plan,
                ahead,
                landlock,
            })?;
            *slot.ahead.borrow_mut() = Some(Ahead {
                walls: (walls as *const child::Walls).cast(),
                key,
                walls_key,
                root: plan.root().to_owned(),
                whole: repeat,
            });
            //    A warm PID 1 is sent them now, and puts them up while the
            //    rest is made here.
            if let Some(w) = &mut warm {
                w.send_walls(arena, walls)?;
            }
        }
        // 3. What to execute, and the limits the kernel keeps per process.
        let exec = Exec::lay_out(arena, &cmd, &places)?;
        let rlimits = arena.slice(&self.rlimits(&cmd, slot.cgroup.is_some()))?;
        // 4. Its streams (the child's ends are closed once it is born).
        let streams = Streams::open(cmd.stdin, cmd.stdout, spare)?;
        // 5. A warm PID 1 has its own report pipe and identity; a cold one
        //    gets a report pipe and waits on `sync` until its identity is
        //    mapped. A parked program waits on `gate` until the judge lets
        //    it go.
        let report = if warm.is_some() { None } else { Some(pipe()?) };
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
        // 6. The box and private directories are the run's uid's until it
        //    ends (see `ownership`; given back by monitor::finish).
        let lent = ownership::Lent::lend(cmd.box_dir.as_ref(), &cmd.private, host_user, !full)?;
        // 7. Who it runs as: in its own user namespace, the slot's program
        //    id (a runner that is not root can map only its own uid, as the
        //    namespace's root: the program keeps that capability-less id);
        //    restricted, the slot's host uid.
        let id = match (full, self.is_root) {
            (true, true) => INSIDE_ID,
            (true, false) => 0,
            (false, _) => host_user,
        };
        let prepared = Prepared {
            program: exec.program,
            argv: exec.argv,
            envp: exec.envp,
            cwd: exec.cwd,
            rlimits,
            uid: id,
            gid: id,
            stdin: streams.stdin.as_raw_fd(),
            stdout: streams.stdout.as_raw_fd(),
            stderr: streams.stderr.as_raw_fd(),
            // A warm run fills these in with what it receives.
            report: report.as_ref().map_or(-1, |(_, w)| w.as_raw_fd()),
            sync: sync.as_ref().map(|(r, _)| r.as_raw_fd()),
            sync_parent_end: sync.as_ref().map(|(_, w)| w.as_raw_fd()),
            gate: gate.as_ref().map(|(r, _)| r.as_raw_fd()),
            gate_parent_end: gate.as_ref().map(|(_, w)| w.as_raw_fd()),
            mounts,
            ahead,
            landlock,
            seccomp: match self.filter() {
                Some(f) => Some(arena.slice(f.program())?),
                None => None,
            },
            probe_only: cmd.probe,
            drop_bounding_set: self.drop_bounding_set,
        };
        // 8. The slot's cgroup limits; its counters start here.
        let spawner = if full { slot.spawner() } else { None };
        let mut baseline = limit_slot(slot, cmd.memory_bytes, &limits, spawner.is_some())?;
        // 9. Born: a warm PID 1 is sent the rest of its command, a cold one
        //    is cloned into its namespaces, a restricted run is forked. The
        //    CPU the runner spent starting it is not the program's.
        let started = Instant::now();
        let (report_r, report_w) = report.unzip();
        let (pidfd, report) = match (warm, sync) {
            (Some(w), _) => {
                let mut fds = streams.child_fds();
                fds.extend(gate.as_ref().map(|(r, _)| r.as_raw_fd()));
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
                (pidfd, report_r.expect("a cold run has a report pipe"))
            }
            (None, None) => (
                clone_plain(&prepared)?.1,
                report_r.expect("a cold run has a report pipe"),
            ),
        };
        // 10. What the parent keeps to supervise it.
        drop(report_w);
        let (stdout, stderr) = streams.parents_ends();
        let meter = scratch
            .as_ref()
            .map(|dir| self.meter(dir, host_user, cmd.memory_bytes, &limits));
        Ok(monitor::Parts {
            pidfd,
            started,
            stdout,
            stderr,
            report,
            limits,
            memory_bytes: cmd.memory_bytes,
            baseline,
            meter,
            shared_writable: Arc::clone(&self.shared_writable),
            scratch,
            host_uid: (!full).then_some(host_user),
            lent,
            live: cmd.live,
            gate: gate.map(|(_, w)| w),
        })
    }

    /// The run's walls on the file system, laid out in the arena: its mount
    /// plan (its own root, full profile) and its Landlock rules.
    fn file_system<'a>(
        &self,
        arena: &'a arena::Arena,
        binds: &[Bind],
        own: usize,
        limits: &Limits,
        tmp: &str,
    ) -> Result<(Option<&'a mounts::Plan<'a>>, Option<LandlockRules<'a>>), SandboxError> {
        let mounts = if self.profile == Profile::Full {
            Some(mounts::Plan::new(
                arena,
                &self.skeletons,
                binds,
                own,
                limits.file_size_bytes,
                scratch_files(limits),
            )?)
        } else {
            None
        };
        let landlock = match &self.landlock {
            Some(policy) => {
                let mut paths = Vec::new();
                for (p, access) in self.landlock_paths(binds, tmp) {
                    paths.push((arena.cstr(p.as_os_str().as_bytes())?, access));
                }
                Some((arena.put(*policy)?, arena.slice(&paths)?))
            }
            None => None,
        };
        Ok((mounts, landlock))
    }

    /// The restricted profile's meter of the run's totals (see `meter`).
    fn meter(&self, scratch: &Path, uid: u32, memory_bytes: u64, limits: &Limits) -> meter::Meter {
        meter::Meter::new(
            uid,
            scratch.to_path_buf(),
            Arc::clone(&self.shared_writable),
            meter::Totals {
                memory_bytes,
                scratch_bytes: limits.file_size_bytes,
                scratch_files: scratch_files(limits),
            },
        )
    }

    /// The host paths the run sees: the command's, and its box (at /box of
    /// its own root; restricted, a bind only grants Landlock access to the
    /// host path itself).
    fn binds(&self, binds: &[Bind], box_dir: Option<&(PathBuf, bool)>) -> Vec<Bind> {
        let mut binds = binds.to_vec();
        if let Some((host, writable)) = box_dir {
            binds.push(Bind {
                host: host.clone(),
                inside: if self.profile == Profile::Full {
                    BOX_INSIDE.into()
                } else {
                    host.clone()
                },
                writable: *writable,
            });
        }
        binds
    }
}

/// Writes the run's limits to the slot's cgroup, if it has one, and
/// snapshots its counters.
fn limit_slot(
    slot: &Slot,
    memory_bytes: u64,
    limits: &Limits,
    spawner: bool,
) -> Result<Option<cgroup::Baseline>, SandboxError> {
    let Some(cg) = &slot.cgroup else {
        return Ok(None);
    };
    // One above RLIMIT_NPROC (see `rlimits`): the rlimit is checked early
    // in fork, the pids controller only after the address space was copied,
    // and a fork bomb failing that late piles up kernel memory (freed after
    // an RCU grace period) until the memory limit kills it: the pids limit
    // is only the backstop. The spawner thread is one more task in the slot.
    let processes = limits.processes + 2 + u64::from(spawner);
    cg.prepare(memory_bytes, processes)
        .map(Some)
        .map_err(|source| SandboxError::Create {
            what: "cgroup limits",
            source,
        })
}

impl Sandbox {
    /// What cloning a run's PID 1 in `slot` needs, owned (see [`Birth`]).
    pub(super) fn birth(&self, slot: &Slot) -> Result<Birth, SandboxError> {
        let (host_root, host_user) = self.host_ids(slot.index);
        let cgroup_v2 = match &slot.cgroup {
            Some(cg) => cg.birth_dir().map_err(|source| SandboxError::Create {
                what: "cgroup for the run",
                source,
            })?,
            None => None,
        };
        Ok(Birth {
            slot_netns: slot.netns.as_ref().map(|f| f.as_raw_fd()),
            own_netns: self.own_netns.as_ref().map(|f| f.as_raw_fd()),
            cgroup_v2,
            is_root: self.is_root,
            host_root,
            host_user,
        })
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
        let birth = self.birth(slot)?;
        // Born in the slot's cgroups: by CLONE_INTO_CGROUP (v2) or from the
        // spawner thread (v1). Otherwise moved there before it runs.
        let attach = slot
            .cgroup
            .as_ref()
            .filter(|c| spawner.is_none() && !c.is_v2());
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
            // Inside the private root everything visible may be read. Its
            // /dev, read-only, holds the devices and links into /proc
            // alone: one rule covers them.
            v.push(("/".into(), Access::ReadExec));
            v.push(("/dev".into(), Access::ReadWriteFiles));
        } else {
            for b in binds.iter().filter(|b| !b.writable) {
                v.push((b.inside.clone(), Access::ReadExec));
            }
            for p in probe::RESTRICTED_READABLE {
                v.push((p.into(), Access::ReadExec));
            }
            for dev in mounts::DEVICES {
                v.push((Path::new("/dev").join(dev), Access::ReadWriteFiles));
            }
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

/// Where a run's box and scratch are, as its program sees them.
struct Places {
    box_at: String,
    tmp: String,
}

impl Places {
    fn new(scratch: Option<&Path>, box_dir: Option<&(PathBuf, bool)>) -> Places {
        match scratch {
            None => Places {
                box_at: BOX_INSIDE.into(),
                tmp: TMP_INSIDE.into(),
            },
            Some(s) => Places {
                box_at: box_dir
                    .map(|(p, _)| p.display().to_string())
                    .unwrap_or_default(),
                tmp: s.display().to_string(),
            },
        }
    }

    /// A command's string with `{box}` and `{tmp}` replaced.
    fn subst(&self, s: &str) -> String {
        s.replace("{box}", &self.box_at).replace("{tmp}", &self.tmp)
    }
}

/// What to execute, laid out in the slot's arena.
struct Exec<'a> {
    program: &'a CStr,
    argv: &'a [*const libc::c_char],
    envp: &'a [*const libc::c_char],
    cwd: &'a CStr,
}

impl<'a> Exec<'a> {
    fn lay_out(
        arena: &'a arena::Arena,
        cmd: &Command,
        places: &Places,
    ) -> Result<Exec<'a>, SandboxError> {
        let program = arena.cstr(places.subst(&cmd.program).as_bytes())?;
        let mut argv = vec![program.as_ptr()];
        for a in &cmd.args {
            argv.push(arena.cstr(places.subst(a).as_bytes())?.as_ptr());
        }
        argv.push(std::ptr::null());
        let mut envp = Vec::with_capacity(cmd.env.len() + 1);
        for (k, v) in &cmd.env {
            envp.push(
                arena
                    .cstr(format!("{k}={}", places.subst(v)).as_bytes())?
                    .as_ptr(),
            );
        }
        envp.push(std::ptr::null());
        Ok(Exec {
            program,
            argv: arena.slice(&argv)?,
            envp: arena.slice(&envp)?,
            cwd: arena.cstr(places.subst(&cmd.cwd).as_bytes())?,
        })
    }
}

/// A run's standard streams: the child's ends, and the parent's ends of
/// what it captures.
struct Streams {
    stdin: OwnedFd,
    stdout: OwnedFd,
    stderr: OwnedFd,
    /// Captured stdout (none when it goes to another process's pipe).
    stdout_r: Option<OwnedFd>,
    stderr_r: OwnedFd,
}

/// A run's streams made ahead, with its warm PID 1 (see `Sandbox::warm_up`):
/// an empty file for its input and pipes for its output, which it takes as
/// it needs them.
#[derive(Debug)]
pub(super) struct Spare {
    stdin: OwnedFd,
    stdout: (OwnedFd, OwnedFd),
    stderr: (OwnedFd, OwnedFd),
}

impl Spare {
    pub(super) fn make() -> Result<Spare, SandboxError> {
        Ok(Spare {
            stdin: memfd()?,
            stdout: pipe()?,
            stderr: pipe()?,
        })
    }
}

impl Streams {
    fn open(stdin: Stdin, stdout: Stdout, spare: Option<Spare>) -> Result<Streams, SandboxError> {
        let (input, out, err) = match spare {
            Some(s) => (Some(s.stdin), Some(s.stdout), Some(s.stderr)),
            None => (None, None, None),
        };
        let stdin = match stdin {
            Stdin::Null => open_null()?,
            Stdin::Bytes(b) => fill(input.map_or_else(memfd, Ok)?, &b)?,
            Stdin::Fd(fd) => fd,
        };
        let (stdout_r, stdout) = match stdout {
            Stdout::Capture => {
                let (r, w) = out.map_or_else(pipe, Ok)?;
                (Some(r), w)
            }
            Stdout::Fd(fd) => (None, fd),
        };
        let (stderr_r, stderr) = err.map_or_else(pipe, Ok)?;
        Ok(Streams {
            stdin,
            stdout,
            stderr,
            stdout_r,
            stderr_r,
        })
    }

    /// The child's ends, in order (sent to a warm PID 1).
    fn child_fds(&self) -> Vec<RawFd> {
        vec![
            self.stdin.as_raw_fd(),
            self.stdout.as_raw_fd(),
            self.stderr.as_raw_fd(),
        ]
    }

    /// The parent's ends (stdout, stderr); the child's are closed.
    fn parents_ends(self) -> (Option<OwnedFd>, OwnedFd) {
        (self.stdout_r, self.stderr_r)
    }
}

pub(super) fn pipe() -> Result<(OwnedFd, OwnedFd), SandboxError> {
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

/// An empty file in memory for a run's input (see [`fill`]).
fn memfd() -> Result<OwnedFd, SandboxError> {
    // SAFETY: creating an anonymous file with a static name.
    let fd = sys::check(unsafe {
        libc::memfd_create(
            c"stdin".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    })
    .map_err(|e| SandboxError::Create {
        what: "stdin",
        source: e.into(),
    })?;
    // SAFETY: the descriptor is new and ours.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// The input `bytes` in a [`memfd`], sealed.
fn fill(memfd: OwnedFd, bytes: &[u8]) -> Result<OwnedFd, SandboxError> {
    use std::io::{Seek, Write};
    let err = |source| SandboxError::Create {
        what: "stdin",
        source,
    };
    let mut f = File::from(memfd);
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

/// All of a run's walls, as bytes: its root (its own binds' directories and
/// files included, see [`mounts::Plan::key`]) and its Landlock rules. A
/// warm PID 1 with the last run's all up serves a run whose are the same.
fn walls_key(plan: &mounts::Plan, landlock: Option<LandlockRules>) -> Vec<u8> {
    let mut key = plan.key();
    for (path, access) in landlock.map_or(&[][..], |(_, paths)| paths) {
        key.extend_from_slice(path.to_bytes_with_nul());
        key.push(*access as u8);
    }
    key
}
