//! Landlock: an unprivileged file-system (and, from ABI 4, TCP) policy the
//! program cannot lift. Defence in depth under the mount namespace, and the
//! main file-system boundary in the `restricted` profile.

use std::ffi::CStr;

use super::sys::{check, close, open, Errno, SysResult};

const SYS_LANDLOCK_CREATE_RULESET: libc::c_long = 444;
const SYS_LANDLOCK_ADD_RULE: libc::c_long = 445;
const SYS_LANDLOCK_RESTRICT_SELF: libc::c_long = 446;
const LANDLOCK_CREATE_RULESET_VERSION: u32 = 1;
const LANDLOCK_RULE_PATH_BENEATH: u32 = 1;

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REMOVE_DIR: u64 = 1 << 4;
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_DIR: u64 = 1 << 7;
const MAKE_REG: u64 = 1 << 8;
const MAKE_SOCK: u64 = 1 << 9;
const MAKE_FIFO: u64 = 1 << 10;
const MAKE_BLOCK: u64 = 1 << 11;
const MAKE_SYM: u64 = 1 << 12;
const REFER: u64 = 1 << 13; // ABI 2
const TRUNCATE: u64 = 1 << 14; // ABI 3
const IOCTL_DEV: u64 = 1 << 15; // ABI 5

const NET_BIND_TCP: u64 = 1 << 0; // ABI 4
const NET_CONNECT_TCP: u64 = 1 << 1;
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0; // ABI 6
const SCOPE_SIGNAL: u64 = 1 << 1;

/// Rights a path can be given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Read files and directories, execute programs.
    ReadExec,
    /// Everything, including creating and removing files (scratch space).
    ReadWrite,
    /// Read and write existing files only (device nodes such as /dev/null).
    ReadWriteFiles,
}

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version of the running kernel, or `None` when Landlock is
/// not compiled in or not enabled at boot.
pub fn abi_version() -> Option<u32> {
    // SAFETY: the version query takes no pointers.
    let v = unsafe {
        libc::syscall(
            SYS_LANDLOCK_CREATE_RULESET,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            LANDLOCK_CREATE_RULESET_VERSION,
        )
    };
    (v > 0).then_some(v as u32)
}

/// A policy prepared before the clone; applied in the child by [`Policy::apply`].
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    fs_all: u64,
    net: u64,
    scoped: u64,
}

impl Policy {
    pub fn for_abi(abi: u32) -> Policy {
        let mut fs_all = EXECUTE
            | WRITE_FILE
            | READ_FILE
            | READ_DIR
            | REMOVE_DIR
            | REMOVE_FILE
            | MAKE_CHAR
            | MAKE_DIR
            | MAKE_REG
            | MAKE_SOCK
            | MAKE_FIFO
            | MAKE_BLOCK
            | MAKE_SYM;
        if abi >= 2 {
            fs_all |= REFER;
        }
        if abi >= 3 {
            fs_all |= TRUNCATE;
        }
        if abi >= 5 {
            fs_all |= IOCTL_DEV;
        }
        let net = if abi >= 4 {
            NET_BIND_TCP | NET_CONNECT_TCP
        } else {
            0
        };
        let scoped = if abi >= 6 {
            SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
        } else {
            0
        };
        Policy {
            fs_all,
            net,
            scoped,
        }
    }

    fn rights(&self, access: Access) -> u64 {
        match access {
            Access::ReadExec => EXECUTE | READ_FILE | READ_DIR,
            Access::ReadWrite => self.fs_all & !(MAKE_CHAR | MAKE_BLOCK | IOCTL_DEV),
            Access::ReadWriteFiles => (READ_FILE | WRITE_FILE | TRUNCATE | IOCTL_DEV) & self.fs_all,
        }
    }

    /// Restricts the calling thread to `paths`; TCP is denied outright and
    /// abstract sockets and signals are scoped to the sandbox where the kernel
    /// supports it. Async-signal-safe.
    pub fn apply(&self, paths: &[(&CStr, Access)]) -> SysResult<()> {
        let ruleset = self.ruleset(paths)?;
        let result = restrict(ruleset);
        close(ruleset);
        result
    }

    /// The ruleset of [`Policy::apply`], to restrict several processes
    /// with (see [`restrict`]); the caller closes it. Async-signal-safe.
    pub fn ruleset(&self, paths: &[(&CStr, Access)]) -> SysResult<i32> {
        let attr = RulesetAttr {
            handled_access_fs: self.fs_all,
            handled_access_net: self.net,
            scoped: self.scoped,
        };
        // SAFETY: attr is a valid ruleset description of the given size.
        let ruleset = check(unsafe {
            libc::syscall(
                SYS_LANDLOCK_CREATE_RULESET,
                &attr as *const RulesetAttr,
                std::mem::size_of::<RulesetAttr>(),
                0u32,
            )
        })? as i32;
        match self.add_rules(ruleset, paths) {
            Ok(()) => Ok(ruleset),
            Err(e) => {
                close(ruleset);
                Err(e)
            }
        }
    }

    fn add_rules(&self, ruleset: i32, paths: &[(&CStr, Access)]) -> SysResult<()> {
        for &(path, access) in paths {
            let fd = match open(path, libc::O_PATH, 0) {
                Ok(fd) => fd,
                // An optional path that does not exist gets no rule.
                Err(Errno(libc::ENOENT)) => continue,
                Err(e) => return Err(e),
            };
            let is_dir = {
                // SAFETY: zeroed stat is a valid out-parameter for fstat.
                let mut st: libc::stat = unsafe { std::mem::zeroed() };
                // SAFETY: fd is open; st is a valid pointer.
                unsafe {
                    libc::fstat(fd, &mut st) == 0 && st.st_mode & libc::S_IFMT == libc::S_IFDIR
                }
            };
            let mut allowed = self.rights(access);
            if !is_dir {
                // Directory-only rights on a file are rejected by the kernel.
                allowed &= EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;
            }
            let rule = PathBeneathAttr {
                allowed_access: allowed,
                parent_fd: fd,
            };
            // SAFETY: rule is a valid path-beneath attribute for this call.
            let r = check(unsafe {
                libc::syscall(
                    SYS_LANDLOCK_ADD_RULE,
                    ruleset,
                    LANDLOCK_RULE_PATH_BENEATH,
                    &rule as *const PathBeneathAttr,
                    0u32,
                )
            });
            close(fd);
            r?;
        }
        Ok(())
    }
}

/// Restricts the calling thread with a ruleset from [`Policy::ruleset`]
/// (`no_new_privs` must be set). Async-signal-safe.
pub fn restrict(ruleset: i32) -> SysResult<()> {
    // SAFETY: restricting ourselves with a ruleset descriptor we hold.
    check(unsafe { libc::syscall(SYS_LANDLOCK_RESTRICT_SELF, ruleset, 0u32) }).map(drop)
}
