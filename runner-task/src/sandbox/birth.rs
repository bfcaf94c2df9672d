//! A run's birth: its PID 1 cloned into fresh namespaces (and its cgroup,
//! by `CLONE_INTO_CGROUP`), its identity mapped, and let go; or, in the
//! restricted profile, a plain fork.

use std::fs::File;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::PathBuf;

use super::child::{self, Prepared, INSIDE_ID};
use super::{sys, SandboxError};

/// What cloning a run's PID 1 needs of the sandbox and its slot, owned and
/// plain, so that a slot's spawner thread can warm a run up on its own.
/// The descriptors belong to the sandbox and its slots, which outlive every
/// spawner thread (see `Slot` and `Sandbox::drop`).
#[derive(Debug, Clone)]
pub(super) struct Birth {
    pub(super) slot_netns: Option<RawFd>,
    pub(super) own_netns: Option<RawFd>,
    pub(super) cgroup_v2: Option<PathBuf>,
    pub(super) is_root: bool,
    pub(super) host_root: u32,
    pub(super) host_user: u32,
}

impl Birth {
    /// Clones PID 1 into fresh user, pid, mount, ipc and uts namespaces and
    /// the slot's network namespace (and cgroup, on v2); `child` runs there.
    pub(super) fn clone_run(
        &self,
        child: impl FnOnce(),
    ) -> Result<(libc::pid_t, OwnedFd), SandboxError> {
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
    pub(super) fn write_id_maps(&self, pid: libc::pid_t) -> Result<(), SandboxError> {
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
pub(super) fn let_go(go: &OwnedFd) -> Result<(), SandboxError> {
    sys::write_all(go.as_raw_fd(), b"g").map_err(|e| SandboxError::Create {
        what: "start signal",
        source: e.into(),
    })
}

pub(super) fn socket_pair() -> Result<(OwnedFd, OwnedFd), SandboxError> {
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

/// Lets the run's prepared data (raw pointers into buffers the caller keeps
/// alive) be read by the spawner thread while the caller waits for it.
pub(super) struct AssertSend<T>(pub(super) T);
// SAFETY: the caller blocks until the spawner returned (Spawner::run), and
// the data is only read meanwhile.
unsafe impl<T> Send for AssertSend<T> {}

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
pub(super) fn clone_plain(p: &Prepared) -> Result<(libc::pid_t, OwnedFd), SandboxError> {
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
