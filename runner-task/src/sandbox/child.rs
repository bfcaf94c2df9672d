//! The child side of a run: everything between `clone` and `execve`, as one
//! ordered checklist per profile. No allocation happens here (the parent may
//! be multi-threaded); every input was prepared by the parent in [`Prepared`].
//!
//! A failed step is reported to the parent on the report pipe as (step,
//! errno) and the child exits with [`SETUP_FAILED`]; the parent turns that
//! into a sandbox error, never into a verdict against the user.

use std::ffi::CStr;
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, AtomicUsize, Ordering};

use super::landlock::{self, Access};
use super::mounts;
use super::seccomp;
use super::sys::{self, Errno, SysResult};

/// Exit code of a child whose setup failed (the report pipe says why).
pub const SETUP_FAILED: i32 = 125;
/// Inside the namespaces, the program runs as this uid and gid.
pub const INSIDE_ID: u32 = 1000;

/// Steps of the setup, as reported on failure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    WaitForParent = 1,
    FileSystem,
    Hostname,
    BoundingSet,
    Groups,
    Gid,
    Uid,
    Capabilities,
    Rlimits,
    NoNewPrivs,
    Landlock,
    Stdio,
    Seccomp,
    Fork,
    Exec,
    SessionLeader,
    Chdir,
    OomScore,
    ParentDeath,
    Gate,
    Request,
}

impl Step {
    pub fn from_u32(v: u32) -> Option<Step> {
        use Step::*;
        [
            WaitForParent,
            FileSystem,
            Hostname,
            BoundingSet,
            Groups,
            Gid,
            Uid,
            Capabilities,
            Rlimits,
            NoNewPrivs,
            Landlock,
            Stdio,
            Seccomp,
            Fork,
            Exec,
            SessionLeader,
            Chdir,
            OomScore,
            ParentDeath,
            Gate,
            Request,
        ]
        .into_iter()
        .find(|s| *s as u32 == v)
    }
}

/// Message kinds on the report pipe; every message is [`MSG_LEN`] bytes.
pub const MSG_SETUP_ERROR: u32 = 1;
pub const MSG_EXIT: u32 = 2;
/// The program exited and nothing else of the run is left: its PID 1 had no
/// other process in its namespace, and only exits after this.
pub const MSG_EXIT_ALONE: u32 = 3;
pub const MSG_LEN: usize = 40;

/// Everything the child needs, computed before the clone and laid out in
/// the slot's arena (see `arena`): plain data whose every pointer is into the
/// arena (nothing of the runner's own structures, which may have moved since
/// a warm run was cloned).
#[derive(Debug, Clone, Copy)]
pub struct Prepared<'a> {
    pub program: &'a CStr,
    /// NULL-terminated.
    pub argv: &'a [*const libc::c_char],
    pub envp: &'a [*const libc::c_char],
    pub cwd: &'a CStr,
    pub rlimits: &'a [(u32, u64, u64)],
    pub uid: u32,
    pub gid: u32,
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub report: RawFd,
    /// Full profile only: the parent's "go" pipe and the mount plan.
    pub sync: Option<RawFd>,
    /// The parent's end of the sync pipe: our copy of it must go first, or
    /// a parent that died before releasing us would leave us waiting forever.
    pub sync_parent_end: Option<RawFd>,
    /// A parked run: set up, PID 1 waits here until the runner starts the
    /// program (and closes its copy of the runner's end first).
    pub gate: Option<RawFd>,
    pub gate_parent_end: Option<RawFd>,
    pub mounts: Option<&'a mounts::Plan<'a>>,
    /// A warm PID 1 that mounted a plan's first part ahead: that plan's
    /// root, and whether the part is this run's.
    pub ahead: Option<(&'a CStr, bool)>,
    pub landlock: Option<(&'a landlock::Policy, &'a [(&'a CStr, Access)])>,
    /// The seccomp program (see [`seccomp::Filter`]), where a warm PID 1
    /// has not installed it (see [`Walls`]).
    pub seccomp: Option<&'a [libc::sock_filter]>,
    /// Probe runs stop after the setup instead of executing a program.
    pub probe_only: bool,
    /// Restricted profile: whether the runner may empty the program's
    /// bounding set (it holds CAP_SETPCAP).
    pub drop_bounding_set: bool,
}

/// Where setup errors go: the report pipe, wherever it is at the moment
/// (its own number, then fd 3 after [`setup_stdio`]). Each child has its own
/// copy of this memory.
static REPORT: AtomicI32 = AtomicI32::new(-1);

/// Full profile: the Landlock ruleset PID 1 builds once, before it starts
/// the program (a warm one as soon as its file system is up), for both of
/// them (the program's side shares this memory until it executes).
static RULESET: AtomicI32 = AtomicI32::new(-1);

fn report_error(step: Step, e: Errno) -> ! {
    let mut msg = [0u8; MSG_LEN];
    msg[0..4].copy_from_slice(&MSG_SETUP_ERROR.to_ne_bytes());
    msg[4..8].copy_from_slice(&(step as u32).to_ne_bytes());
    msg[8..12].copy_from_slice(&e.0.to_ne_bytes());
    let _ = sys::write_all(REPORT.load(Ordering::Relaxed), &msg);
    sys::exit(SETUP_FAILED)
}

/// Runs `result`; on error reports the step and exits.
fn step<T>(step: Step, result: SysResult<T>) -> T {
    match result {
        Ok(v) => v,
        Err(e) => report_error(step, e),
    }
}

/// The `full` profile, in the order the layers must go on. Never returns.
pub fn full(p: &Prepared) -> ! {
    REPORT.store(p.report, Ordering::Relaxed);
    // 1. The parent writes our uid/gid maps and puts us in the slot cgroup;
    //    until it says so we have no identity to act with.
    if let Some(fd) = p.sync_parent_end {
        sys::close(fd);
    }
    step(
        Step::WaitForParent,
        wait_for_parent(p.sync.expect("full profile has a sync pipe")),
    );
    seal();
    // 3. A minimal read-only root: toolchain, box, scratch /tmp, /proc, /dev.
    let plan = p.mounts.expect("full profile has a mount plan");
    step(Step::FileSystem, file_system(plan, p.ahead, false));
    set_up(p)
}

/// Step 2, what needs nothing of the run (a warm run takes it before its
/// command comes): act as the namespace's root (mapped to an unprivileged
/// host uid) so that the files made later have an owner the kernel can
/// represent; die with the runner (as PID 1 our death ends the namespace;
/// set after the uid change, which clears it); our own host name in our own
/// UTS namespace; and a bounding set that can never grant a capability
/// again (emptied while we still hold CAP_SETPCAP; our effective
/// capabilities, which the mounts need, stay until the identity switch).
fn seal() {
    step(Step::Gid, sys::set_gid(0));
    step(Step::Uid, sys::set_uid(0));
    step(Step::ParentDeath, die_with_parent());
    step(Step::Hostname, sethostname(c"coderun"));
    step(Step::BoundingSet, drop_bounding_set());
}

/// How a warm run's PID 1 starts (see `warm`): its own descriptors, made
/// before it was cloned, and the slot's arena, where its command arrives.
#[derive(Debug, Clone, Copy)]
pub struct WarmStart {
    pub report: RawFd,
    pub sync: RawFd,
    pub sync_parent_end: RawFd,
    pub request: RawFd,
    pub request_parent_end: RawFd,
    /// An eventfd the runner signals as it starts on our command.
    pub wake: RawFd,
    pub arena: *mut u8,
    pub arena_len: usize,
    /// How much of the arena the slot's last command took: about what
    /// this one's will.
    pub arena_used: usize,
    /// The seccomp filter in two parts (null: none), in the runner's
    /// memory, of which we have a copy: all but the mount calls, installed
    /// while we wait, and the mount calls, once our file system is up.
    pub seccomp: [(*const libc::sock_filter, usize); 2],
    /// The slot's last walls, in our copy of the arena (null: none): we
    /// mount the first part of their plan while we wait, or put all of
    /// them up if `whole`.
    pub ahead: *const Walls<'static>,
    /// The slot ran the same walls twice in a row: we put them all up
    /// ahead (the root pivoted into, the old one gone, the filter whole,
    /// the Landlock ruleset built), and serve only a run with the same.
    pub whole: bool,
}

/// Whether a warm PID 1 installed the seccomp filter but for its mount calls
/// ahead of its command (see [`warm`]).
static SECCOMP_AHEAD: AtomicBool = AtomicBool::new(false);
/// Whether PID 1 installed all of the filter before it starts the program,
/// which inherits it (see [`put_up`]).
static SECCOMP_WHOLE: AtomicBool = AtomicBool::new(false);

/// What a warm PID 1 mounted ahead of its command (see [`warm`]).
static AHEAD: AtomicI32 = AtomicI32::new(AHEAD_NONE);
const AHEAD_NONE: i32 = 0;
/// The first part of the last plan.
const AHEAD_WHOLE: i32 = 1;
/// Some of it: taken down when the command comes.
const AHEAD_PARTIAL: i32 = 2;
/// All of the last plan, pivoted into (see [`WarmStart::whole`]).
const AHEAD_ALL: i32 = 3;

/// A warm run's command comes in two messages, each a header (the length
/// of the arena's image so far, then the offset of what was laid out last,
/// both u64) and the part of the image not sent before: first the run's
/// [`Walls`], then the [`Prepared`] with the run's descriptors (stdin,
/// stdout, stderr, and a parked run's gate).
pub const REQUEST_HEADER: usize = 16;
pub const REQUEST_FDS: usize = 4;

/// What a warm PID 1 is sent first: the run's walls, which it puts up (see
/// [`put_up`]) while the runner lays out the rest of the command. The
/// longest part of a run's start then goes on beside the runner's.
#[derive(Debug, Clone, Copy)]
pub struct Walls<'a> {
    pub mounts: &'a mounts::Plan<'a>,
    /// See [`Prepared::ahead`].
    pub ahead: Option<(&'a CStr, bool)>,
    pub landlock: Option<(&'a landlock::Policy, &'a [(&'a CStr, Access)])>,
}

/// How long a warm run spins for what comes within tens of microseconds
/// (each part of its command once it is on its way, see
/// [`wait_for_command`]; its old root's detach) before it sleeps: a CPU
/// left idle wakes about as slowly under a hypervisor.
const SPIN_FOR_PART_NS: u64 = 1_000_000;

/// A warm run's PID 1: cloned with its identity but before its command
/// was known; mounts the slot's last run's root ahead (see
/// [`mounts::Plan::mount_ahead`]), waits for the command, then goes on as
/// [`full`] does. Never returns.
pub fn warm(w: &WarmStart) -> ! {
    sys::close(w.sync_parent_end);
    sys::close(w.request_parent_end);
    // Only our own descriptors stay: the runner's others (other slots'
    // pipes among them) must not be held open while we wait.
    let [report, sync, request, wake] = step(
        Step::Stdio,
        keep_only([w.report, w.sync, w.request, w.wake]),
    );
    REPORT.store(report, Ordering::Relaxed);
    step(Step::WaitForParent, wait_for_parent(sync));
    seal();
    // SAFETY: the runner's walls at this address in our copy of the arena,
    // which was not being laid out anew when we were cloned.
    let last = unsafe { w.ahead.as_ref() };
    if let Some(walls) = last {
        AHEAD.store(AHEAD_PARTIAL, Ordering::Relaxed);
        if w.whole {
            match walls.mounts.execute_ahead() {
                Ok(()) => AHEAD.store(AHEAD_ALL, Ordering::Relaxed),
                // Neither this run's root nor the host's: we serve none.
                Err(false) => sys::exit(SETUP_FAILED),
                Err(true) => {}
            }
        } else if walls.mounts.mount_ahead().is_ok() {
            AHEAD.store(AHEAD_WHOLE, Ordering::Relaxed);
        }
    }
    prefault(w.arena, w.arena_used.min(w.arena_len));
    // The filter but for the mount calls we still make (the rest follows
    // them, in `put_up`, or now if we make none).
    if let Some(ahead) = filter_part(w.seccomp[0]) {
        SECCOMP_AHEAD.store(seccomp::install(ahead).is_ok(), Ordering::Relaxed);
    }
    if AHEAD.load(Ordering::Relaxed) == AHEAD_ALL {
        build_walls_ahead(
            last.and_then(|walls| walls.landlock),
            filter_part(w.seccomp[1]),
        );
    }
    prefer_programs_ahead();
    step(Step::Request, wait_for_command(wake));
    spin_for(request);
    let (walls, walls_len) = step(Step::Request, receive_walls(request, w.arena, w.arena_len));
    // A failure is reported once the whole command is here: the runner is
    // still sending it.
    let up = put_up(walls, filter_part(w.seccomp[1]));
    spin_for(request);
    let p = step(
        Step::Request,
        receive(request, report, w.arena, w.arena_len, walls_len),
    );
    if let Err((s, e)) = up {
        report_error(s, e);
    }
    set_up(p)
}

/// With all of the last run's walls up ahead (see [`WarmStart::whole`]),
/// what else of them needs no command: the rest of the seccomp filter and
/// the Landlock ruleset. What fails here is tried again in [`put_up`].
fn build_walls_ahead(
    landlock: Option<(&landlock::Policy, &[(&CStr, Access)])>,
    rest: Option<&[libc::sock_filter]>,
) {
    if let (true, Some(rest)) = (SECCOMP_AHEAD.load(Ordering::Relaxed), rest) {
        SECCOMP_WHOLE.store(seccomp::install(rest).is_ok(), Ordering::Relaxed);
    }
    if let Some(Ok(ruleset)) = landlock.map(|(policy, paths)| policy.ruleset(paths)) {
        RULESET.store(ruleset, Ordering::Relaxed);
    }
}

/// One part of the runner's split filter, of which we have a copy.
fn filter_part(
    (program, len): (*const libc::sock_filter, usize),
) -> Option<&'static [libc::sock_filter]> {
    // SAFETY: the runner's compiled filter, alive as long as the sandbox.
    (!program.is_null()).then(|| unsafe { std::slice::from_raw_parts(program, len) })
}

/// A warm PID 1's walls: the run's root (the old one taken down aside,
/// see [`detach_aside`]), then what of the seccomp filter we did not
/// install ahead (we make no mount call after the root is up: the program
/// inherits all of it) and the Landlock ruleset.
fn put_up(walls: &Walls, rest: Option<&[libc::sock_filter]>) -> Result<(), (Step, Errno)> {
    file_system(walls.mounts, walls.ahead, true).map_err(|e| (Step::FileSystem, e))?;
    let whole = SECCOMP_WHOLE.load(Ordering::Relaxed);
    if let (true, false, Some(rest)) = (SECCOMP_AHEAD.load(Ordering::Relaxed), whole, rest) {
        seccomp::install(rest).map_err(|e| (Step::Seccomp, e))?;
        SECCOMP_WHOLE.store(true, Ordering::Relaxed);
    }
    // Built ahead from the same rules (the runner's walls match ours).
    let built = RULESET.load(Ordering::Relaxed) >= 0;
    if let (Some((policy, paths)), false) = (walls.landlock, built) {
        let ruleset = policy.ruleset(paths).map_err(|e| (Step::Landlock, e))?;
        RULESET.store(ruleset, Ordering::Relaxed);
    }
    Ok(())
}

/// The thread of a warm PID 1 that takes its old root down (see
/// [`detach_aside`]): its id until it exits, when the kernel clears it and
/// wakes its waiters (`CLONE_CHILD_CLEARTID`); then its result.
static ASIDE_TID: AtomicI32 = AtomicI32::new(0);
static ASIDE_RESULT: AtomicI32 = AtomicI32::new(0);
const ASIDE_STACK: usize = 16 * 1024;
#[repr(C, align(16))]
struct AsideStack([u8; ASIDE_STACK]);
static mut ASIDE_STACK_MEM: AsideStack = AsideStack([0; ASIDE_STACK]);

/// Takes down the old root that the pivot left on top of the new one, on a
/// thread of ours while we go on. The detach waits for an RCU grace period
/// (tens of microseconds: a kernel thread woken on another CPU), which
/// then passes while we install the seccomp filter, build the Landlock
/// ruleset, take the rest of the command and start the program, whose
/// side waits for it ([`old_root_gone`]) before it executes. The thread
/// makes one raw system call and exits: it shares our memory and our
/// thread-local storage (`errno` too), and our file system view.
fn detach_aside() -> SysResult<()> {
    extern "C" fn detach(_: *mut libc::c_void) -> libc::c_int {
        // SAFETY: a valid path; nothing here touches errno or our stack.
        let r = unsafe {
            sys::raw_syscall2(
                libc::SYS_umount2,
                mounts::DETACH_TARGET.as_ptr() as usize,
                libc::MNT_DETACH as usize,
            )
        };
        ASIDE_RESULT.store(r as i32, Ordering::Release);
        0
    }
    ASIDE_RESULT.store(0, Ordering::Relaxed);
    ASIDE_TID.store(1, Ordering::Release);
    // SAFETY: the thread runs on its own stack (used by nobody else: one
    // thread at a time, waited for before we execute or exit), and the
    // kernel clears the id word at its exit.
    let tid = unsafe {
        let stack = std::ptr::addr_of_mut!(ASIDE_STACK_MEM).cast::<u8>();
        libc::clone(
            detach,
            stack.add(ASIDE_STACK).cast(),
            libc::CLONE_VM
                | libc::CLONE_FS
                | libc::CLONE_FILES
                | libc::CLONE_SIGHAND
                | libc::CLONE_THREAD
                | libc::CLONE_SYSVSEM
                | libc::CLONE_CHILD_CLEARTID,
            std::ptr::null_mut(),
            std::ptr::null_mut::<libc::pid_t>(),
            std::ptr::null_mut::<libc::c_void>(),
            ASIDE_TID.as_ptr(),
        )
    };
    if tid < 0 {
        // Here, then.
        ASIDE_TID.store(0, Ordering::Release);
        return mounts::detach_old_root();
    }
    Ok(())
}

/// Waits until the old root is down, if [`detach_aside`] took it down: the
/// program must never see it.
fn old_root_gone() -> SysResult<()> {
    spin_until(|| ASIDE_TID.load(Ordering::Acquire) == 0);
    loop {
        let tid = ASIDE_TID.load(Ordering::Acquire);
        if tid == 0 {
            break;
        }
        // SAFETY: waits while the word still holds `tid`; the kernel wakes
        // shared-futex waiters when it clears it.
        unsafe {
            libc::syscall(
                libc::SYS_futex,
                ASIDE_TID.as_ptr(),
                libc::FUTEX_WAIT,
                tid,
                std::ptr::null::<libc::timespec>(),
            )
        };
    }
    match ASIDE_RESULT.load(Ordering::Acquire) {
        0 => Ok(()),
        r => Err(Errno(-r)),
    }
}

/// Spins until `sock` has something to read (see [`spin_until`]).
fn spin_for(sock: RawFd) {
    spin_until(|| {
        let mut pfd = libc::pollfd {
            fd: sock,
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: one valid pollfd, no waiting.
        unsafe { libc::poll(&mut pfd, 1, 0) != 0 }
    });
}

/// Spins, yielding the CPU, until `ready` says so or [`SPIN_FOR_PART_NS`]
/// has passed; the caller then sleeps for what it waits for, if need be.
fn spin_until(mut ready: impl FnMut() -> bool) {
    let until = sys::monotonic_ns() + SPIN_FOR_PART_NS;
    while !ready() && sys::monotonic_ns() < until {
        // SAFETY: no arguments.
        unsafe { libc::sched_yield() };
    }
}

/// Bytes of stack the setup uses below [`warm`]'s frame, the program's
/// start included (see [`PROGRAM_STACK`]).
const SETUP_STACK: usize = PROGRAM_STACK + 96 * 1024;
const PAGE: usize = 4096;

/// Takes the page faults of the run's start ahead of its command. We are a
/// copy of the runner whose pages stay shared until written: the first
/// write to each stack page the setup uses, and to each page of the arena
/// the command arrives in, copies that page (some 50 faults, each a few
/// microseconds under a hypervisor).
fn prefault(arena: *mut u8, arena_used: usize) {
    touch_stack();
    for at in (0..arena_used).step_by(PAGE) {
        // SAFETY: within our copy of the arena; the byte keeps its value.
        unsafe {
            let p = arena.add(at);
            std::ptr::write_volatile(p, std::ptr::read_volatile(p));
        }
    }
}

/// Writes each page of the stacks the setup will use: ours, and the top of
/// [`detach_aside`]'s.
#[inline(never)]
fn touch_stack() {
    // SAFETY: within the static; nothing runs on it yet.
    unsafe {
        let aside = std::ptr::addr_of_mut!(ASIDE_STACK_MEM).cast::<u8>();
        std::ptr::write_volatile(aside.add(ASIDE_STACK - 1), 0);
    }
    let mut stack = [0u8; SETUP_STACK];
    for at in (0..SETUP_STACK).step_by(PAGE) {
        // SAFETY: within the array.
        unsafe { std::ptr::write_volatile(stack.as_mut_ptr().add(at), 0) };
    }
    std::hint::black_box(&stack);
}

/// Moves these descriptors to 0, 1, 2… in order and closes every other one.
fn keep_only<const N: usize>(fds: [RawFd; N]) -> SysResult<[RawFd; N]> {
    let mut high = [0; N];
    for (h, fd) in high.iter_mut().zip(fds) {
        // SAFETY: duplicating a descriptor.
        *h = sys::check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) })?;
    }
    for (to, fd) in high.into_iter().enumerate() {
        // SAFETY: duplicating onto a low number, close-on-exec.
        sys::check(unsafe { libc::dup3(fd, to as RawFd, libc::O_CLOEXEC) })?;
    }
    sys::close_from(N as RawFd);
    Ok(std::array::from_fn(|i| i as RawFd))
}

/// Sleeps until the runner's eventfd `wake` says our command is on its
/// way: it signals as it starts laying the command out, so that our
/// wake-up (tens of microseconds for a CPU left idle under a hypervisor)
/// passes while it does. Not the request socket itself: its wake-up is a
/// synchronous one, which the scheduler answers by queueing us on the
/// runner's CPU behind the runner, which is not about to sleep.
fn wait_for_command(wake: RawFd) -> SysResult<()> {
    let mut n = [0u8; 8];
    match sys::read_full(wake, &mut n)? {
        8 => {
            sys::close(wake);
            Ok(())
        }
        _ => Err(Errno(libc::EPROTO)),
    }
}

/// Where a request's header says its image ends and its value is, if a
/// `T` fits there in an arena of `arena_len` bytes, past the `from` bytes
/// sent before.
fn request_place<T>(
    header: &[u8; REQUEST_HEADER],
    from: usize,
    arena_len: usize,
) -> SysResult<(usize, usize)> {
    let word =
        |i: usize| u64::from_ne_bytes(header[i..i + 8].try_into().expect("8 bytes")) as usize;
    let (len, offset) = (word(0), word(8));
    let fits = offset
        .checked_add(std::mem::size_of::<T>())
        .is_some_and(|end| from <= offset && end <= len && len <= arena_len);
    if !fits || offset % std::mem::align_of::<T>() != 0 {
        return Err(Errno(libc::EPROTO));
    }
    Ok((len, offset))
}

/// Reads the run's [`Walls`] into our copy of the arena, at the address the
/// runner laid them out at; returns them and the image's length so far.
fn receive_walls(
    sock: RawFd,
    arena: *mut u8,
    arena_len: usize,
) -> SysResult<(&'static Walls<'static>, usize)> {
    let mut header = [0u8; REQUEST_HEADER];
    match sys::read_full(sock, &mut header)? {
        // The runner let us go unused.
        0 => sys::exit(SETUP_FAILED),
        REQUEST_HEADER => {}
        _ => return Err(Errno(libc::EPROTO)),
    }
    let (len, offset) = request_place::<Walls>(&header, 0, arena_len)?;
    // Exactly this much: what follows is the next message, descriptors
    // and all.
    // SAFETY: our copy of the arena mapping has `arena_len` bytes.
    let image = unsafe { std::slice::from_raw_parts_mut(arena, len) };
    if sys::read_full(sock, image)? != len {
        return Err(Errno(libc::EPROTO));
    }
    // SAFETY: the runner laid `Walls` out at this (aligned, checked)
    // offset, with every pointer into the arena at this same address or
    // into data made before we were cloned.
    Ok((
        unsafe { &*(arena.add(offset) as *const Walls<'static>) },
        len,
    ))
}

/// Reads the rest of the run's command into our copy of the arena, after
/// the `from` bytes of its walls, and returns it with the received
/// descriptors.
fn receive(
    sock: RawFd,
    report: RawFd,
    arena: *mut u8,
    arena_len: usize,
    from: usize,
) -> SysResult<&'static mut Prepared<'static>> {
    let mut header = [0u8; REQUEST_HEADER];
    let mut fds = [-1; REQUEST_FDS];
    // The header and as much of the image as came with it, which lands in
    // its place in the arena (sent in one message: one wake-up).
    // SAFETY: our copy of the arena mapping has `arena_len` bytes, of which
    // the first `from` came before.
    let rest = unsafe { std::slice::from_raw_parts_mut(arena.add(from), arena_len - from) };
    let (got, nfds) = sys::recv_with_fds(sock, &mut header, rest, &mut fds)?;
    if got == 0 {
        // The runner let us go unused.
        sys::exit(SETUP_FAILED);
    }
    let in_header = got.min(REQUEST_HEADER);
    if sys::read_full(sock, &mut header[in_header..])? + in_header != REQUEST_HEADER || nfds < 3 {
        return Err(Errno(libc::EPROTO));
    }
    let came = got - in_header;
    let (len, offset) = request_place::<Prepared>(&header, from, arena_len)?;
    if came > len - from {
        return Err(Errno(libc::EPROTO));
    }
    // SAFETY: our copy of the arena mapping has `arena_len` bytes.
    let image = unsafe { std::slice::from_raw_parts_mut(arena.add(from), len - from) };
    if sys::read_full(sock, &mut image[came..])? != len - from - came {
        return Err(Errno(libc::EPROTO));
    }
    sys::close(sock);
    // SAFETY: the runner laid a `Prepared` out at this (aligned, checked)
    // offset, with every pointer into the arena at this same address or
    // into data made before we were cloned.
    let p = unsafe { &mut *(arena.add(offset) as *mut Prepared<'static>) };
    p.stdin = fds[0];
    p.stdout = fds[1];
    p.stderr = fds[2];
    p.gate = (nfds > 3).then_some(fds[3]);
    p.report = report;
    p.sync = None;
    p.sync_parent_end = None;
    p.gate_parent_end = None;
    Ok(p)
}

/// The full profile once the file system is up, identity in place.
fn set_up(p: &Prepared) -> ! {
    // A parked run waits here, set up, until the runner lets it go (or,
    // gone or giving up, closes the gate).
    if let Some(fd) = p.gate_parent_end {
        sys::close(fd);
    }
    if let Some(fd) = p.gate {
        step(Step::Gate, wait_for_parent(fd));
    }
    // 4. Standard streams in place, the report pipe at fd 3, nothing else.
    step(Step::Stdio, setup_stdio(p));
    runner_alive();
    if p.probe_only {
        confine(p);
        sys::exit(0);
    }
    // 5. PID 1 of the namespace starts the program (PID 2, or 3 after a
    //    warm PID 1's detach thread); both are then confined: identity,
    //    limits, file-system policy, seccomp last.
    init(p, Some(confine), |p| {
        let oom = match OOM_FD.load(Ordering::Relaxed) {
            fd if fd >= 0 => give_back_oom_score(fd),
            _ => prefer_for_oom_kill(),
        };
        step(Step::OomScore, oom);
        confine(p);
        step(Step::FileSystem, old_root_gone());
        exec(p)
    })
}

/// The run's root, on what a warm PID 1 mounted ahead where it is the same
/// (else that is taken down first), and the pivot into it; the old root
/// then taken down `aside` (see [`detach_aside`]) or here.
fn file_system(plan: &mounts::Plan, ahead_of: Option<(&CStr, bool)>, aside: bool) -> SysResult<()> {
    let ahead = AHEAD.load(Ordering::Relaxed);
    if ahead != AHEAD_NONE {
        // The runner says what a warm PID 1 mounted; fail closed if not.
        let (root, same) = ahead_of.ok_or(Errno(libc::EPROTO))?;
        if ahead == AHEAD_ALL {
            // Up already: only a run with the same walls is sent to us.
            return if same {
                Ok(())
            } else {
                Err(Errno(libc::EPROTO))
            };
        }
        if same && ahead == AHEAD_WHOLE {
            plan.finish_but_detach()?;
            return if aside {
                detach_aside()
            } else {
                mounts::detach_old_root()
            };
        }
        mounts::detach(root)?;
    }
    plan.execute()
}

/// Everything after the namespaces, for PID 1 and the program alike.
fn confine(p: &Prepared) {
    lock_down(p);
    install_seccomp(p);
}

/// A warm PID 1's own OOM score file, open (-1: none), and the score it
/// had, as read from it: see [`prefer_programs_ahead`].
static OOM_FD: AtomicI32 = AtomicI32::new(-1);
static OOM_BEFORE: AtomicU64 = AtomicU64::new(0);
static OOM_BEFORE_LEN: AtomicUsize = AtomicUsize::new(0);

/// [`prefer_for_oom_kill`] ahead of the command, for a warm PID 1: we take
/// the program's score ourselves, which it inherits, and keep our score
/// file open. The program's side, before it executes, gives us back our
/// own through that file (see [`give_back_oom_score`]): lowering a score
/// to no less than it was needs no privilege either. A failure leaves it
/// to the program's side as in a cold run.
fn prefer_programs_ahead() {
    if sys::prctl(libc::PR_SET_DUMPABLE, 1).is_err() {
        return;
    }
    let raised = (|| {
        let fd = sys::open(
            c"/proc/self/oom_score_adj",
            libc::O_RDWR | libc::O_CLOEXEC,
            0,
        )?;
        let mut before = [0u8; 8];
        let n = sys::read_full(fd, &mut before);
        let raised = match n {
            Ok(n) if n > 0 && n < before.len() => {
                OOM_BEFORE.store(u64::from_ne_bytes(before), Ordering::Relaxed);
                OOM_BEFORE_LEN.store(n, Ordering::Relaxed);
                sys::write_all(fd, b"1000")
            }
            Ok(_) => Err(Errno(libc::EPROTO)),
            Err(e) => Err(e),
        };
        match raised {
            Ok(()) => Ok(fd),
            Err(e) => {
                sys::close(fd);
                Err(e)
            }
        }
    })();
    // Not dumpable again: our /proc files are the host's root's.
    if sys::prctl(libc::PR_SET_DUMPABLE, 0).is_err() {
        sys::exit(SETUP_FAILED);
    }
    if let Ok(fd) = raised {
        OOM_FD.store(fd, Ordering::Relaxed);
    }
}

/// The program's side of [`prefer_programs_ahead`]: PID 1 (whose memory we
/// share, suspended until we execute) gets its own score back.
fn give_back_oom_score(fd: RawFd) -> SysResult<()> {
    let before = OOM_BEFORE.load(Ordering::Relaxed).to_ne_bytes();
    let len = OOM_BEFORE_LEN.load(Ordering::Relaxed);
    sys::write_all(fd, &before[..len])
}

/// Makes the program and everything it starts the OOM killer's first
/// choice (raising the score needs no privilege). Otherwise the reporting
/// parent, a copy of the runner and larger than a fork bomb's processes,
/// would be picked: the run would end without a report. On a host without
/// cgroups it also keeps the runner alive ahead of any program.
fn prefer_for_oom_kill() -> SysResult<()> {
    // Our credential changes made us non-dumpable, which hands our /proc
    // files to the host's root; dumpable again, they are ours to write. The
    // uid switch that follows makes us non-dumpable once more.
    sys::prctl(libc::PR_SET_DUMPABLE, 1)?;
    let fd = sys::open(c"/proc/self/oom_score_adj", libc::O_WRONLY, 0)?;
    let r = sys::write_all(fd, b"1000");
    sys::close(fd);
    r
}

/// SIGKILL when the runner dies (see [`runner_alive`] for a runner that
/// died before this).
fn die_with_parent() -> SysResult<()> {
    sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as libc::c_ulong)
}

/// Stops here if the runner died before the parent-death signal was armed:
/// nobody would collect this run. Once the standard streams are in place
/// the report pipe's read end is the runner's alone, so a write end with no
/// reader left means the runner is gone.
fn runner_alive() {
    let mut pfd = libc::pollfd {
        fd: REPORT_FD,
        events: libc::POLLOUT,
        revents: 0,
    };
    // SAFETY: one valid pollfd, no timeout.
    let n = unsafe { libc::poll(&mut pfd, 1, 0) };
    if n == 1 && pfd.revents & libc::POLLERR != 0 {
        sys::exit(SETUP_FAILED);
    }
}

/// The `restricted` profile (no namespaces: Fargate). Never returns.
pub fn restricted(p: &Prepared) -> ! {
    REPORT.store(p.report, Ordering::Relaxed);
    // 1. Our own session and process group, apart from the runner's.
    // SAFETY: setsid has no memory effects.
    step(Step::SessionLeader, sys::check(unsafe { libc::setsid() }));
    // The reporting parent dies with the runner; the program, under another
    // uid, is killed by uid by the runner that next leases that range.
    step(Step::ParentDeath, die_with_parent());
    // 2. Standard streams for the program, the report pipe at fd 3.
    step(Step::Stdio, setup_stdio(p));
    runner_alive();
    // 3. A reporting parent for the program. It keeps the runner's uid, so
    //    the program (another uid) can neither signal it nor stop it from
    //    reporting; it runs only this code and never executes anything.
    init(p, None, |p| {
        // 4. The program: first in line for the OOM killer, capabilities
        //    cannot be regained, then identity, limits, file-system policy,
        //    and seccomp last.
        step(Step::OomScore, prefer_for_oom_kill());
        // Without CAP_SETPCAP (a Fargate task drops it) the bounding set
        // stays: no_new_privs, set below before any execve, already keeps
        // the program from gaining a capability through one.
        if p.drop_bounding_set {
            step(Step::BoundingSet, drop_bounding_set());
        } else {
            step(Step::BoundingSet, clear_ambient());
        }
        lock_down(p);
        install_seccomp(p);
        exec(p)
    })
}

/// An unprivileged identity without supplementary groups, no capabilities,
/// resource limits, no_new_privs, Landlock, and the working directory.
fn lock_down(p: &Prepared) {
    // No supplementary groups: the runner's (root's) groups must not leak.
    step(Step::Groups, sys::clear_groups());
    step(Step::Gid, sys::set_gid(p.gid));
    // This also clears the permitted and effective sets.
    step(Step::Uid, sys::set_uid(p.uid));
    step(Step::Capabilities, clear_capabilities());
    // Resource limits for every process of the run.
    for &(res, soft, hard) in p.rlimits {
        step(Step::Rlimits, sys::setrlimit(res, soft, hard));
    }
    // execve can never grant privileges again (setuid files, file caps).
    step(Step::NoNewPrivs, sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1));
    // The file system and TCP policy.
    if let Some((policy, paths)) = p.landlock {
        let shared = RULESET.load(Ordering::Relaxed);
        let restricted = if shared >= 0 {
            landlock::restrict(shared)
        } else {
            policy.apply(paths)
        };
        step(Step::Landlock, restricted);
    }
    // SAFETY: valid path.
    step(
        Step::Chdir,
        sys::check(unsafe { libc::chdir(p.cwd.as_ptr()) }),
    );
}

fn install_seccomp(p: &Prepared) {
    if SECCOMP_WHOLE.load(Ordering::Relaxed) {
        // A warm PID 1 installed it all before the program started.
        return;
    }
    if SECCOMP_AHEAD.load(Ordering::Relaxed) {
        // A part but not the rest: a step must have failed and said so.
        report_error(Step::Seccomp, Errno(libc::EPROTO));
    }
    if let Some(program) = p.seccomp {
        step(Step::Seccomp, seccomp::install(program));
    }
}

fn wait_for_parent(fd: RawFd) -> SysResult<()> {
    let mut b = [0u8; 1];
    match sys::read_full(fd, &mut b)? {
        1 => {
            sys::close(fd);
            Ok(())
        }
        // The parent gave up on us.
        _ => Err(Errno(libc::ECANCELED)),
    }
}

fn sethostname(name: &CStr) -> SysResult<()> {
    // SAFETY: valid string of the given length.
    sys::check(unsafe { libc::sethostname(name.as_ptr(), name.to_bytes().len()) }).map(drop)
}

fn drop_bounding_set() -> SysResult<()> {
    for cap in 0..64 {
        match sys::prctl(libc::PR_CAPBSET_DROP, cap) {
            Ok(()) => {}
            // Past the last capability this kernel knows.
            Err(Errno(libc::EINVAL)) => break,
            Err(e) => return Err(e),
        }
    }
    clear_ambient()
}

fn clear_ambient() -> SysResult<()> {
    // SAFETY: integer-only prctl.
    sys::check(unsafe {
        libc::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
    .map(drop)
}

fn clear_capabilities() -> SysResult<()> {
    sys::set_capabilities([sys::CapData::default(); 2])
}

fn setup_stdio(p: &Prepared) -> SysResult<()> {
    // Move everything above the standard numbers first so that no dup2
    // overwrites a descriptor still to be moved.
    let hi = |fd: RawFd| -> SysResult<RawFd> {
        // SAFETY: duplicating a descriptor.
        sys::check(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, 10) })
    };
    let (i, o, e, r) = (hi(p.stdin)?, hi(p.stdout)?, hi(p.stderr)?, hi(p.report)?);
    // These stay too, where there are (see `KEPT`).
    let mut high = [-1; KEPT.len()];
    for (h, k) in high.iter_mut().zip(KEPT) {
        let fd = k.load(Ordering::Relaxed);
        if fd >= 0 {
            *h = hi(fd)?;
        }
    }
    sys::dup2(i, 0)?;
    sys::dup2(o, 1)?;
    sys::dup2(e, 2)?;
    // SAFETY: duplicating onto fd 3, close-on-exec so the program never sees it.
    sys::check(unsafe { libc::dup3(r, REPORT_FD, libc::O_CLOEXEC) })?;
    REPORT.store(REPORT_FD, Ordering::Relaxed);
    let mut next = REPORT_FD + 1;
    for (h, k) in high.into_iter().zip(KEPT) {
        if h >= 0 {
            // SAFETY: duplicating onto the next number, close-on-exec.
            sys::check(unsafe { libc::dup3(h, next, libc::O_CLOEXEC) })?;
            k.store(next, Ordering::Relaxed);
            next += 1;
        }
    }
    sys::close_from(next);
    Ok(())
}

/// What PID 1 keeps past [`setup_stdio`], above the report pipe, until it
/// is confined: a Landlock ruleset built already and a warm PID 1's own OOM
/// score file (-1: none).
static KEPT: [&AtomicI32; 2] = [&RULESET, &OOM_FD];

/// Reports on fd 3 (the report pipe after [`setup_stdio`]).
const REPORT_FD: RawFd = 3;

fn exec(p: &Prepared) -> ! {
    // SAFETY: program, argv and envp are NUL-terminated and live until exec.
    unsafe { libc::execve(p.program.as_ptr(), p.argv.as_ptr(), p.envp.as_ptr()) };
    report_error(Step::Exec, Errno::last())
}

/// Bytes of stack for the program's side until it executes.
const PROGRAM_STACK: usize = 64 * 1024;

/// Starts `program` in a child that borrows our memory until it executes
/// (`CLONE_VM | CLONE_VFORK`, as `posix_spawn` does): nothing of the address
/// space is copied, and we are suspended until the child has executed the
/// program or exited. The child only makes system calls on its own stack
/// and changes no memory we use afterwards; what it changes of the shared
/// address space's state (the dumpable flag, see [`prefer_for_oom_kill`]) it
/// resets itself with its identity switch. The kernel does not spread the
/// child's OOM score to us, the memory's other user, for a vfork child.
fn start_program(p: &Prepared, program: fn(&Prepared) -> !) -> SysResult<libc::pid_t> {
    struct Start<'a, 'b> {
        p: &'a Prepared<'b>,
        program: fn(&Prepared) -> !,
    }
    extern "C" fn entry(arg: *mut libc::c_void) -> libc::c_int {
        // SAFETY: `arg` points at the `Start` below, alive while we run (the
        // parent is suspended until we execute or exit).
        let start = unsafe { &*(arg as *const Start) };
        (start.program)(start.p)
    }
    let start = Start { p, program };
    let mut stack = [0u8; PROGRAM_STACK];
    // SAFETY: the stack grows down from its (16-byte aligned) end and is not
    // used by us until the child no longer runs on it: CLONE_VFORK returns
    // only after its execve or exit.
    let pid = unsafe {
        let top = stack.as_mut_ptr().add(PROGRAM_STACK);
        let top = top.sub(top as usize % 16);
        libc::clone(
            entry,
            top.cast(),
            libc::CLONE_VM | libc::CLONE_VFORK | libc::SIGCHLD,
            &start as *const Start as *mut libc::c_void,
        )
    };
    sys::check(pid)
}

/// The program's reporting parent. In the full profile it is PID 1 of the
/// run's PID namespace: it starts the program as a child so that the program
/// keeps ordinary signal semantics, reaps orphans, and when it returns the
/// kernel kills whatever is left in the namespace. In both profiles it
/// reports the program's exit status, resource use and end time.
fn init(p: &Prepared, confine_self: Option<fn(&Prepared)>, program: fn(&Prepared) -> !) -> ! {
    let built = RULESET.load(Ordering::Relaxed) >= 0;
    if let (Some(_), Some((policy, paths)), false) = (confine_self, p.landlock, built) {
        RULESET.store(
            step(Step::Landlock, policy.ruleset(paths)),
            Ordering::Relaxed,
        );
    }
    let pid = match start_program(p, program) {
        Ok(pid) => pid,
        Err(e) => report_error(Step::Fork, e),
    };
    if let Some(confine) = confine_self {
        confine(p);
        for kept in KEPT {
            let fd = kept.swap(-1, Ordering::Relaxed);
            if fd >= 0 {
                sys::close(fd);
            }
        }
    }
    loop {
        let mut status = 0;
        // SAFETY: zeroed rusage is a valid out-parameter.
        let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
        // SAFETY: valid pointers to locals.
        let r = unsafe { libc::wait4(-1, &mut status, 0, &mut ru) };
        if r == pid {
            // As PID 1 every process of the run is our descendant: with no
            // child left, none is (a restricted run's orphans go to the
            // runner instead, so there this says nothing).
            let kind = if confine_self.is_some() && no_children_left() {
                MSG_EXIT_ALONE
            } else {
                MSG_EXIT
            };
            let mut msg = [0u8; MSG_LEN];
            msg[0..4].copy_from_slice(&kind.to_ne_bytes());
            msg[4..8].copy_from_slice(&status.to_ne_bytes());
            let us = |t: libc::timeval| t.tv_sec * 1_000_000 + t.tv_usec;
            msg[8..16].copy_from_slice(&us(ru.ru_utime).to_ne_bytes());
            msg[16..24].copy_from_slice(&us(ru.ru_stime).to_ne_bytes());
            msg[24..32].copy_from_slice(&ru.ru_maxrss.to_ne_bytes());
            // When the program ended, taken right here rather than when the
            // supervisor gets to look: orders the sides of interactive runs.
            msg[32..40].copy_from_slice(&sys::monotonic_ns().to_ne_bytes());
            // Our copies of the program's standard streams go now, not with
            // our exit, which first unmaps our copy of the runner's memory:
            // the runner sees the output end at once. Not before the time
            // above was taken, so that the other side of an interactive run
            // does not see this side's output end before it.
            for fd in 0..3 {
                sys::close(fd);
            }
            let _ = sys::write_all(REPORT_FD, &msg);
            sys::exit(0);
        }
        if r < 0 && Errno::last().0 != libc::EINTR {
            sys::exit(SETUP_FAILED);
        }
    }
}

/// Whether we have no child, running or ended, once the ended are reaped.
fn no_children_left() -> bool {
    loop {
        // SAFETY: no out-pointers.
        let r = unsafe {
            libc::wait4(
                -1,
                std::ptr::null_mut(),
                libc::WNOHANG,
                std::ptr::null_mut(),
            )
        };
        if r > 0 {
            continue;
        }
        return r < 0 && Errno::last().0 == libc::ECHILD;
    }
}
