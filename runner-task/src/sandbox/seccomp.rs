//! The seccomp filter: a deny-list of system calls that a judged program never
//! needs and that widen the kernel surface or reach outside the sandbox.
//!
//! The BPF program is compiled once per runner (it does not depend on the
//! run) and installed in each child just before `execve`.

use super::sys::{check, SysResult};

// Classic BPF opcodes (linux/filter.h).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;

const SECCOMP_RET_ALLOW: u32 = 0x7fff_0000;
const SECCOMP_RET_ERRNO: u32 = 0x0005_0000;
const SECCOMP_RET_KILL_PROCESS: u32 = 0x8000_0000;
const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
const X32_SYSCALL_BIT: u32 = 0x4000_0000;

// Offsets in `struct seccomp_data`.
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const fn off_arg_lo(i: u32) -> u32 {
    16 + 8 * i
}

/// All namespace-creating clone flags.
const CLONE_NS_FLAGS: u32 = (libc::CLONE_NEWNS
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWCGROUP) as u32;

/// What the filter does with one system call.
#[derive(Debug, Clone, Copy)]
enum Rule {
    /// Always fails with this errno.
    Deny(i64, i32),
    /// Fails with EACCES unless argument 0 equals the value (socket domains).
    AllowOnlyArg0(i64, u32),
    /// Fails with EPERM when argument 0 has any of these bits (clone flags).
    DenyArg0Bits(i64, u32),
    /// Fails with EPERM when argument 1 equals the value (ioctl requests).
    DenyArg1(i64, u32),
}

fn rules() -> Vec<Rule> {
    use libc::*;
    let mut rules = vec![
        // Network: only local (AF_UNIX) sockets; no inet, netlink or raw packets.
        Rule::AllowOnlyArg0(SYS_socket, AF_UNIX as u32),
        Rule::AllowOnlyArg0(SYS_socketpair, AF_UNIX as u32),
        // No new namespaces: unshare/setns outright, clone with namespace
        // flags, and clone3 as "not implemented" so that libcs fall back to
        // clone, whose flags a filter can inspect.
        Rule::Deny(SYS_unshare, EPERM),
        Rule::Deny(SYS_setns, EPERM),
        Rule::DenyArg0Bits(SYS_clone, CLONE_NS_FLAGS),
        Rule::Deny(SYS_clone3, ENOSYS),
        // Terminal injection.
        Rule::DenyArg1(SYS_ioctl, TIOCSTI as u32),
        Rule::DenyArg1(SYS_ioctl, TIOCLINUX as u32),
    ];
    let denied: &[i64] = &[
        SYS_ptrace,
        SYS_process_vm_readv,
        SYS_process_vm_writev,
        SYS_mount,
        SYS_umount2,
        SYS_pivot_root,
        SYS_chroot,
        SYS_move_mount,
        SYS_open_tree,
        SYS_fsopen,
        SYS_fsconfig,
        SYS_fsmount,
        SYS_fspick,
        SYS_mount_setattr,
        SYS_bpf,
        SYS_keyctl,
        SYS_add_key,
        SYS_request_key,
        SYS_perf_event_open,
        SYS_kexec_load,
        SYS_kexec_file_load,
        SYS_init_module,
        SYS_finit_module,
        SYS_delete_module,
        SYS_reboot,
        SYS_swapon,
        SYS_swapoff,
        SYS_acct,
        SYS_quotactl,
        SYS_syslog,
        SYS_userfaultfd,
        SYS_io_uring_setup,
        SYS_io_uring_enter,
        SYS_io_uring_register,
        SYS_open_by_handle_at,
        SYS_name_to_handle_at,
        SYS_settimeofday,
        SYS_clock_settime,
        SYS_clock_adjtime,
        SYS_adjtimex,
        SYS_sethostname,
        SYS_setdomainname,
        SYS_vhangup,
        SYS_fanotify_init,
        SYS_pidfd_getfd,
        SYS_lookup_dcookie,
        SYS_personality,
    ];
    rules.extend(denied.iter().map(|&nr| Rule::Deny(nr, EPERM)));
    #[cfg(target_arch = "x86_64")]
    rules.extend(
        [SYS_iopl, SYS_ioperm, SYS_uselib]
            .iter()
            .map(|&nr| Rule::Deny(nr, EPERM)),
    );
    rules
}

/// A compiled filter, ready to install.
#[derive(Debug, Clone)]
pub struct Filter {
    program: Vec<libc::sock_filter>,
}

fn stmt(code: u16, k: u32) -> libc::sock_filter {
    libc::sock_filter {
        code,
        jt: 0,
        jf: 0,
        k,
    }
}

fn jump(code: u16, k: u32, jt: u8, jf: u8) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}

impl Filter {
    /// Compiles the deny-list for the architecture this binary was built for.
    pub fn compile() -> Filter {
        let arch = if cfg!(target_arch = "aarch64") {
            AUDIT_ARCH_AARCH64
        } else {
            AUDIT_ARCH_X86_64
        };
        let ret_errno = |e: i32| stmt(BPF_RET_K, SECCOMP_RET_ERRNO | (e as u32 & 0xffff));
        let mut p = vec![
            // A foreign architecture's system call numbers mean other things.
            stmt(BPF_LD_W_ABS, OFF_ARCH),
            jump(BPF_JEQ_K, arch, 1, 0),
            stmt(BPF_RET_K, SECCOMP_RET_KILL_PROCESS),
            stmt(BPF_LD_W_ABS, OFF_NR),
        ];
        if cfg!(target_arch = "x86_64") {
            // The x32 ABI aliases every call under a second number.
            p.push(jump(BPF_JGE_K, X32_SYSCALL_BIT, 0, 1));
            p.push(ret_errno(libc::EPERM));
        }
        for rule in rules() {
            // Each block starts with the syscall number in A and ends in a
            // return, so blocks are independent; a mismatch skips the block.
            let block: Vec<libc::sock_filter> = match rule {
                Rule::Deny(_, errno) => vec![ret_errno(errno)],
                Rule::AllowOnlyArg0(_, value) => vec![
                    stmt(BPF_LD_W_ABS, off_arg_lo(0)),
                    jump(BPF_JEQ_K, value, 1, 0),
                    ret_errno(libc::EACCES),
                    stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
                ],
                Rule::DenyArg0Bits(_, bits) => vec![
                    stmt(BPF_LD_W_ABS, off_arg_lo(0)),
                    jump(BPF_JSET_K, bits, 0, 1),
                    ret_errno(libc::EPERM),
                    stmt(BPF_LD_W_ABS, OFF_NR),
                ],
                Rule::DenyArg1(_, value) => vec![
                    stmt(BPF_LD_W_ABS, off_arg_lo(1)),
                    jump(BPF_JEQ_K, value, 0, 1),
                    ret_errno(libc::EPERM),
                    stmt(BPF_LD_W_ABS, OFF_NR),
                ],
            };
            let nr = match rule {
                Rule::Deny(nr, _)
                | Rule::AllowOnlyArg0(nr, _)
                | Rule::DenyArg0Bits(nr, _)
                | Rule::DenyArg1(nr, _) => nr,
            };
            p.push(jump(BPF_JEQ_K, nr as u32, 0, block.len() as u8));
            p.extend(block);
        }
        p.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
        Filter { program: p }
    }

    /// Number of BPF instructions (kernel limit: 4096).
    pub fn len(&self) -> usize {
        self.program.len()
    }

    pub fn is_empty(&self) -> bool {
        self.program.is_empty()
    }

    /// Installs the filter on the calling thread (`no_new_privs` must be set).
    /// Async-signal-safe: no allocation.
    pub fn install(&self) -> SysResult<()> {
        let prog = libc::sock_fprog {
            len: self.program.len() as u16,
            filter: self.program.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prog points at our filter, which outlives the call; the
        // kernel copies it.
        check(unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER,
                0 as libc::c_uint,
                &prog as *const libc::sock_fprog,
            )
        })
        .map(drop)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn filter_fits_the_kernel_limit_and_every_jump_lands_inside() {
        let f = Filter::compile();
        assert!(f.len() < 4096);
        for (i, ins) in f.program.iter().enumerate() {
            if ins.code & 0x07 == 0x05 {
                assert!(i + 1 + (ins.jt.max(ins.jf) as usize) < f.len());
            }
        }
        assert_eq!(f.program.last().unwrap().k, SECCOMP_RET_ALLOW);
    }
}
