//! Thin, allocation-free wrappers over the raw system calls the sandbox uses.
//!
//! Everything here may run in the child between `clone` and `execve`, where the
//! parent may have been multi-threaded: no allocation, no locks, no stdio —
//! only system calls on memory prepared before the clone.

use std::ffi::CStr;
use std::os::fd::RawFd;

/// An `errno` value; the only error a raw system call can give.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Errno(pub i32);

impl Errno {
    pub fn last() -> Self {
        // SAFETY: `__errno_location` always returns a valid thread-local pointer.
        Errno(unsafe { *libc::__errno_location() })
    }
}

impl std::fmt::Display for Errno {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", std::io::Error::from_raw_os_error(self.0))
    }
}

impl std::error::Error for Errno {}

impl From<Errno> for std::io::Error {
    fn from(e: Errno) -> Self {
        std::io::Error::from_raw_os_error(e.0)
    }
}

pub type SysResult<T> = Result<T, Errno>;

/// Turns a libc-style return value (-1 on error) into a result.
pub fn check<T: PartialOrd + Default>(ret: T) -> SysResult<T> {
    if ret < T::default() {
        Err(Errno::last())
    } else {
        Ok(ret)
    }
}

pub fn mount(
    src: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> SysResult<()> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is either null or a valid NUL-terminated string.
    check(unsafe { libc::mount(p(src), target.as_ptr(), p(fstype), flags, p(data).cast()) })
        .map(drop)
}

/// `struct mount_attr` of `mount_setattr(2)`.
#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

pub const MOUNT_ATTR_RDONLY: u64 = 0x1;
pub const MOUNT_ATTR_NOSUID: u64 = 0x2;
pub const MOUNT_ATTR_NODEV: u64 = 0x4;
pub const MOUNT_ATTR_NOEXEC: u64 = 0x8;

/// Sets mount attributes on `path` (optionally recursively) without touching the others,
/// which `MS_REMOUNT` cannot do for locked flags inside a user namespace.
pub fn mount_setattr(path: &CStr, set: u64, recursive: bool) -> SysResult<()> {
    let attr = MountAttr {
        attr_set: set,
        attr_clr: 0,
        propagation: 0,
        userns_fd: 0,
    };
    // SAFETY: valid path and a properly sized attribute struct.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            libc::AT_FDCWD,
            path.as_ptr(),
            if recursive {
                libc::AT_RECURSIVE as libc::c_uint
            } else {
                0
            },
            &attr as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

pub fn mkdir(path: &CStr, mode: libc::mode_t) -> SysResult<()> {
    // SAFETY: valid NUL-terminated path.
    match check(unsafe { libc::mkdir(path.as_ptr(), mode) }) {
        Err(Errno(libc::EEXIST)) => Ok(()),
        r => r.map(drop),
    }
}

pub fn open(path: &CStr, flags: libc::c_int, mode: libc::mode_t) -> SysResult<RawFd> {
    // SAFETY: valid NUL-terminated path.
    check(unsafe { libc::open(path.as_ptr(), flags | libc::O_CLOEXEC, mode as libc::c_uint) })
}

pub fn close(fd: RawFd) {
    // SAFETY: closing a descriptor we own; errors are irrelevant here.
    unsafe { libc::close(fd) };
}

/// Writes all of `buf`, retrying on short writes and EINTR.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> SysResult<()> {
    while !buf.is_empty() {
        // SAFETY: buf is a valid slice.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = Errno::last();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        buf = &buf[n as usize..];
    }
    Ok(())
}

/// Reads until `buf` is full or end of file; returns the number of bytes read.
pub fn read_full(fd: RawFd, buf: &mut [u8]) -> SysResult<usize> {
    let mut got = 0;
    while got < buf.len() {
        // SAFETY: the destination range lies within buf.
        let n = unsafe { libc::read(fd, buf[got..].as_mut_ptr().cast(), buf.len() - got) };
        if n < 0 {
            let e = Errno::last();
            if e.0 == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break;
        }
        got += n as usize;
    }
    Ok(got)
}

pub fn dup2(from: RawFd, to: RawFd) -> SysResult<()> {
    if from == to {
        // dup2 would keep FD_CLOEXEC; clear it so the descriptor survives exec.
        // SAFETY: fcntl on a descriptor number has no memory effects.
        return check(unsafe { libc::fcntl(from, libc::F_SETFD, 0) }).map(drop);
    }
    // SAFETY: plain descriptor duplication.
    check(unsafe { libc::dup2(from, to) }).map(drop)
}

// Credentials of the calling thread alone, by raw system calls: in a child
// of the multi-threaded runner, glibc's wrappers would signal each of the
// runner's threads (copied as memory, not running here) and take locks one
// of them may have held at the clone.

/// setresuid(uid, uid, uid) for this thread.
pub fn set_uid(uid: u32) -> SysResult<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresuid, uid, uid, uid) }).map(drop)
}

/// setresgid(gid, gid, gid) for this thread.
pub fn set_gid(gid: u32) -> SysResult<()> {
    // SAFETY: integer arguments only.
    check(unsafe { libc::syscall(libc::SYS_setresgid, gid, gid, gid) }).map(drop)
}

/// The capability header of capget/capset, version 3 (two data words).
#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

const LINUX_CAPABILITY_VERSION_3: u32 = 0x2008_0522;

/// One word of capability sets, as capget/capset take them.
#[repr(C)]
#[derive(Debug, Clone, Copy, Default)]
pub struct CapData {
    pub effective: u32,
    pub permitted: u32,
    pub inheritable: u32,
}

/// Sets this thread's capability sets. Async-signal-safe.
pub fn set_capabilities(data: [CapData; 2]) -> SysResult<()> {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    // SAFETY: header and two data entries as capset(2) expects for v3.
    check(unsafe { libc::syscall(libc::SYS_capset, &header, data.as_ptr()) }).map(drop)
}

/// Capability numbers (linux/capability.h).
pub const CAP_SETPCAP: u32 = 8;
pub const CAP_SYS_PTRACE: u32 = 19;

/// Whether this thread holds `cap` in its effective set.
pub fn has_capability(cap: u32) -> bool {
    let header = CapHeader {
        version: LINUX_CAPABILITY_VERSION_3,
        pid: 0,
    };
    let mut data = [CapData::default(); 2];
    // SAFETY: header and room for two data entries, as capget(2) fills for v3.
    let ok = unsafe { libc::syscall(libc::SYS_capget, &header, data.as_mut_ptr()) } == 0;
    ok && cap < 64 && data[(cap / 32) as usize].effective & (1 << (cap % 32)) != 0
}

/// No supplementary groups for this thread.
pub fn clear_groups() -> SysResult<()> {
    // SAFETY: an empty list.
    check(unsafe { libc::syscall(libc::SYS_setgroups, 0usize, std::ptr::null::<libc::gid_t>()) })
        .map(drop)
}

pub fn prctl(option: libc::c_int, arg2: libc::c_ulong) -> SysResult<()> {
    // SAFETY: the options used here take integer arguments only.
    check(unsafe {
        libc::prctl(
            option,
            arg2,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
            0 as libc::c_ulong,
        )
    })
    .map(drop)
}

pub fn setrlimit(resource: u32, soft: u64, hard: u64) -> SysResult<()> {
    let lim = libc::rlimit {
        rlim_cur: soft,
        rlim_max: hard,
    };
    // SAFETY: a valid rlimit struct on the stack.
    check(unsafe { libc::setrlimit(resource as _, &lim) }).map(drop)
}

/// Closes every descriptor from `first` upwards.
pub fn close_from(first: RawFd) {
    // SAFETY: close_range only closes descriptors; no memory is touched.
    unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            0,
        )
    };
}

/// Clears FD_CLOEXEC-free inheritance for descriptors above `first` by marking
/// them close-on-exec (used when the closer still needs them until exec).
pub fn cloexec_from(first: RawFd) -> SysResult<()> {
    const CLOSE_RANGE_CLOEXEC: libc::c_uint = 1 << 2;
    // SAFETY: close_range with CLOEXEC only flips descriptor flags.
    check(unsafe {
        libc::syscall(
            libc::SYS_close_range,
            first as libc::c_uint,
            libc::c_uint::MAX,
            CLOSE_RANGE_CLOEXEC,
        )
    })
    .map(drop)
}

pub fn exit(code: i32) -> ! {
    // SAFETY: _exit never returns and runs no user-space destructors or atexit
    // handlers, which must not run in a forked child.
    unsafe { libc::_exit(code) }
}

/// `fork()` without glibc's atfork handlers, which could deadlock on locks
/// held by threads that do not exist in the child.
pub fn raw_fork() -> SysResult<libc::pid_t> {
    // SAFETY: clone with only SIGCHLD and no new stack behaves like fork; the
    // child continues on a copy of this stack and only makes system calls.
    check(unsafe {
        libc::syscall(
            libc::SYS_clone,
            libc::SIGCHLD as libc::c_ulong,
            0usize,
            0usize,
            0usize,
            0usize,
        )
    })
    .map(|p| p as libc::pid_t)
}

pub fn pipe_cloexec() -> SysResult<(RawFd, RawFd)> {
    let mut fds = [0; 2];
    // SAFETY: fds has room for two descriptors.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) })?;
    Ok((fds[0], fds[1]))
}

/// SIGKILL to a process by its pidfd (no pid reuse can misdirect it).
pub fn pidfd_kill(pidfd: RawFd) -> SysResult<()> {
    // SAFETY: a signal by descriptor touches no memory of ours.
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd,
            libc::SIGKILL,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

pub fn kill(pid: libc::pid_t, sig: libc::c_int) -> SysResult<()> {
    // SAFETY: sending a signal touches no memory.
    check(unsafe { libc::kill(pid, sig) }).map(drop)
}

/// CLOCK_MONOTONIC in nanoseconds: one clock for every process on the host
/// (the sandbox creates no time namespace). Async-signal-safe.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// Room for the control message of [`send_with_fds`]: up to 4 descriptors.
const FD_CMSG_SPACE: usize = 64;

/// Sends `bufs`, one after the other, with these descriptors attached
/// (SCM_RIGHTS): in one call, which wakes a waiting reader once.
pub fn send_with_fds(sock: RawFd, bufs: [&[u8]; 2], fds: &[RawFd]) -> SysResult<()> {
    assert!(fds.len() <= 4 && !bufs[0].is_empty());
    let mut control = [0u64; FD_CMSG_SPACE / 8];
    let fd_bytes = std::mem::size_of_val(fds);
    let mut iov = bufs.map(|b| libc::iovec {
        iov_base: b.as_ptr() as *mut libc::c_void,
        iov_len: b.len(),
    });
    // SAFETY: zeroed msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    if !fds.is_empty() {
        msg.msg_control = control.as_mut_ptr().cast();
        // SAFETY: CMSG_SPACE is a pure computation.
        msg.msg_controllen = unsafe { libc::CMSG_SPACE(fd_bytes as u32) } as usize;
        // SAFETY: the control buffer holds one header and the descriptors.
        unsafe {
            let cmsg = libc::CMSG_FIRSTHDR(&msg);
            (*cmsg).cmsg_level = libc::SOL_SOCKET;
            (*cmsg).cmsg_type = libc::SCM_RIGHTS;
            (*cmsg).cmsg_len = libc::CMSG_LEN(fd_bytes as u32) as usize;
            std::ptr::copy_nonoverlapping(fds.as_ptr(), libc::CMSG_DATA(cmsg).cast(), fds.len());
        }
    }
    // SAFETY: msg is fully initialised.
    let mut sent = check(unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) })? as usize;
    // A stream socket may take part of it; the descriptors went along.
    for buf in bufs {
        let taken = sent.min(buf.len());
        write_all(sock, &buf[taken..])?;
        sent -= taken;
    }
    Ok(())
}

/// Receives into `head`, then `rest`, what is there (at least one byte
/// unless the peer closed) and up to 4 descriptors, close-on-exec: (bytes,
/// descriptors). Async-signal-safe.
pub fn recv_with_fds(
    sock: RawFd,
    head: &mut [u8],
    rest: &mut [u8],
    fds: &mut [RawFd; 4],
) -> SysResult<(usize, usize)> {
    let mut control = [0u64; FD_CMSG_SPACE / 8];
    let mut iov = [head, rest].map(|b| libc::iovec {
        iov_base: b.as_mut_ptr().cast(),
        iov_len: b.len(),
    });
    // SAFETY: zeroed msghdr is valid; the pointers set below outlive the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = iov.len() as _;
    msg.msg_control = control.as_mut_ptr().cast();
    msg.msg_controllen = FD_CMSG_SPACE;
    let n = loop {
        // SAFETY: msg describes valid buffers.
        match check(unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) }) {
            Err(Errno(libc::EINTR)) => continue,
            r => break r? as usize,
        }
    };
    let mut count = 0;
    // SAFETY: walking the control messages the kernel wrote into `control`.
    unsafe {
        let mut cmsg = libc::CMSG_FIRSTHDR(&msg);
        while !cmsg.is_null() {
            if (*cmsg).cmsg_level == libc::SOL_SOCKET && (*cmsg).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cmsg).cast::<RawFd>();
                let len = ((*cmsg).cmsg_len - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..len {
                    let fd = data.add(i).read_unaligned();
                    if count < fds.len() {
                        fds[count] = fd;
                        count += 1;
                    } else {
                        close(fd);
                    }
                }
            }
            cmsg = libc::CMSG_NXTHDR(&msg, cmsg);
        }
    }
    if msg.msg_flags & libc::MSG_CTRUNC != 0 {
        return Err(Errno(libc::EPROTO));
    }
    Ok((n, count))
}

/// A system call of two arguments that returns the kernel's result as is
/// (`-errno` on failure) and touches no `errno`: for a thread that shares
/// its creator's thread-local storage (see `child`).
///
/// # Safety
/// The arguments must be valid for system call `nr`.
#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
pub unsafe fn raw_syscall2(nr: libc::c_long, a: usize, b: usize) -> isize {
    let ret: isize;
    #[cfg(target_arch = "x86_64")]
    // SAFETY: the caller's; the kernel clobbers rcx and r11.
    unsafe {
        std::arch::asm!(
            "syscall",
            inlateout("rax") nr as isize => ret,
            in("rdi") a,
            in("rsi") b,
            lateout("rcx") _,
            lateout("r11") _,
            options(nostack),
        );
    }
    #[cfg(target_arch = "aarch64")]
    // SAFETY: the caller's.
    unsafe {
        std::arch::asm!(
            "svc 0",
            in("x8") nr,
            inlateout("x0") a as isize => ret,
            in("x1") b,
            options(nostack),
        );
    }
    ret
}
