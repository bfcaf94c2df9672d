//! The seccomp filter: a deny-list of system calls that a judged program never
//! needs and that widen the kernel surface or reach outside the sandbox.
//!
//! The BPF program is compiled once per runner (it depends on the profile,
//! not on the run) and installed in each child just before `execve`. A
//! warm PID 1 installs all of it but the mount calls ahead of its command
//! (see [`Filter::split`]), and the program only those.

use super::sys::{check, SysResult};

// Classic BPF opcodes (linux/filter.h).
const BPF_LD_W_ABS: u16 = 0x20;
const BPF_JEQ_K: u16 = 0x15;
const BPF_JGE_K: u16 = 0x35;
const BPF_JSET_K: u16 = 0x45;
const BPF_RET_K: u16 = 0x06;
const BPF_JA: u16 = 0x05;

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

/// Whether the programs share an IPC namespace with anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipc {
    /// Each run has its own IPC namespace (the full profile).
    Private,
    /// Runs share the runner's IPC namespace (the restricted profile).
    Shared,
}

fn rules(ipc: Ipc) -> Vec<Rule> {
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
    rules.extend(
        MOUNT_CALLS
            .iter()
            .chain(denied)
            .map(|&nr| Rule::Deny(nr, EPERM)),
    );
    if ipc == Ipc::Shared {
        // System V objects outlive their creator, are seen by every later
        // job of the same uid, and a shared memory segment is memory outside
        // every per-process limit: without an IPC namespace of its own a run
        // makes none. (POSIX shared memory lives in /dev/shm, which the
        // runner meters and cleans like scratch.)
        rules.extend([SYS_shmget, SYS_semget, SYS_msgget].map(|nr| Rule::Deny(nr, EPERM)));
    }
    #[cfg(target_arch = "x86_64")]
    rules.extend(
        [SYS_iopl, SYS_ioperm, SYS_uselib]
            .iter()
            .map(|&nr| Rule::Deny(nr, EPERM)),
    );
    rules
}

/// The mount calls, denied: those a run's PID 1 still makes after its
/// command (its file system's), and their kin.
const MOUNT_CALLS: &[i64] = &[
    libc::SYS_mount,
    libc::SYS_umount2,
    libc::SYS_pivot_root,
    libc::SYS_chroot,
    libc::SYS_move_mount,
    libc::SYS_open_tree,
    libc::SYS_fsopen,
    libc::SYS_fsconfig,
    libc::SYS_fsmount,
    libc::SYS_fspick,
    libc::SYS_mount_setattr,
];

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

fn ret_errno(e: i32) -> libc::sock_filter {
    stmt(BPF_RET_K, SECCOMP_RET_ERRNO | (e as u32 & 0xffff))
}

impl Rule {
    fn nr(&self) -> i64 {
        match *self {
            Rule::Deny(nr, _)
            | Rule::AllowOnlyArg0(nr, _)
            | Rule::DenyArg0Bits(nr, _)
            | Rule::DenyArg1(nr, _) => nr,
        }
    }
}

/// What one system call gets, its number already matched: always ends in a
/// return.
fn block(rules: &[Rule]) -> Vec<libc::sock_filter> {
    let mut b = Vec::new();
    for rule in rules {
        match *rule {
            Rule::Deny(_, errno) => {
                b.push(ret_errno(errno));
                return b;
            }
            Rule::AllowOnlyArg0(_, value) => {
                b.extend([
                    stmt(BPF_LD_W_ABS, off_arg_lo(0)),
                    jump(BPF_JEQ_K, value, 1, 0),
                    ret_errno(libc::EACCES),
                    stmt(BPF_RET_K, SECCOMP_RET_ALLOW),
                ]);
                return b;
            }
            Rule::DenyArg0Bits(_, bits) => b.extend([
                stmt(BPF_LD_W_ABS, off_arg_lo(0)),
                jump(BPF_JSET_K, bits, 0, 1),
                ret_errno(libc::EPERM),
            ]),
            Rule::DenyArg1(_, value) => b.extend([
                stmt(BPF_LD_W_ABS, off_arg_lo(1)),
                jump(BPF_JEQ_K, value, 0, 1),
                ret_errno(libc::EPERM),
            ]),
        }
    }
    b.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
    b
}

/// Calls sorted by number, searched as a binary tree; numbers not in the
/// list are allowed. Expects the number in A.
fn tree(calls: &[(u32, Vec<libc::sock_filter>)]) -> Vec<libc::sock_filter> {
    if calls.len() <= 3 {
        let mut p = Vec::new();
        for (nr, block) in calls {
            let skip = u8::try_from(block.len()).expect("a block is short");
            p.push(jump(BPF_JEQ_K, *nr, 0, skip));
            p.extend_from_slice(block);
        }
        p.push(stmt(BPF_RET_K, SECCOMP_RET_ALLOW));
        return p;
    }
    let mid = calls.len() / 2;
    let (low, high) = (tree(&calls[..mid]), tree(&calls[mid..]));
    // A >= the middle number: the unconditional jump over the lower half.
    let mut p = vec![
        jump(BPF_JGE_K, calls[mid].0, 0, 1),
        stmt(BPF_JA, low.len() as u32),
    ];
    p.extend(low);
    p.extend(high);
    p
}

impl Filter {
    /// Compiles the deny-list for the architecture this binary was built for.
    ///
    /// The system call number is looked up in a binary tree of comparisons
    /// rather than a linear list: when a filter is installed the kernel runs
    /// it for every system call number to find the ones it always allows
    /// (their later calls skip the filter), so that set-up cost, paid by
    /// every run, grows with the path length: about 0.6 ms for the linear
    /// list of this deny-list, well under 0.1 ms for the tree.
    pub fn compile(ipc: Ipc) -> Filter {
        Filter::of(rules(ipc))
    }

    /// The filter of [`compile`](Self::compile) in two parts that together
    /// decide every call as it does: all but the mount calls, which a warm
    /// PID 1 installs ahead of its command (it mounts the run's file system
    /// after it), and the mount calls, which it installs once its root is
    /// up (the program inherits both). Installing a long filter costs in
    /// proportion to its size (the kernel runs it for every call number and
    /// compiles it), and this last one is small.
    pub fn split(ipc: Ipc) -> (Filter, Filter) {
        let (mounts, rest): (Vec<Rule>, Vec<Rule>) = rules(ipc)
            .into_iter()
            .partition(|r| MOUNT_CALLS.contains(&r.nr()));
        (Filter::of(rest), Filter::of(mounts))
    }

    fn of(rules: Vec<Rule>) -> Filter {
        let arch = if cfg!(target_arch = "aarch64") {
            AUDIT_ARCH_AARCH64
        } else {
            AUDIT_ARCH_X86_64
        };
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
        // One block per system call number (several rules may share one).
        let mut calls: Vec<(u32, Vec<Rule>)> = Vec::new();
        for rule in rules {
            let nr = rule.nr() as u32;
            match calls.iter_mut().find(|(n, _)| *n == nr) {
                Some((_, rs)) => rs.push(rule),
                None => calls.push((nr, vec![rule])),
            }
        }
        calls.sort_by_key(|(nr, _)| *nr);
        let calls: Vec<(u32, Vec<libc::sock_filter>)> =
            calls.iter().map(|(nr, rs)| (*nr, block(rs))).collect();
        p.extend(tree(&calls));
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
        install(&self.program)
    }

    /// The BPF program, to copy where a run finds it (see `arena`).
    pub fn program(&self) -> &[libc::sock_filter] {
        &self.program
    }
}

/// Installs a program of [`Filter`] on the calling thread (`no_new_privs`
/// must be set). Async-signal-safe: no allocation.
pub fn install(program: &[libc::sock_filter]) -> SysResult<()> {
    let prog = libc::sock_fprog {
        len: program.len() as u16,
        filter: program.as_ptr() as *mut libc::sock_filter,
    };
    // SAFETY: prog points at the program, which outlives the call; the
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

#[cfg(test)]
mod tests {
    use super::*;

    /// Runs the filter on one call as the kernel does: (verdict, number of
    /// instructions executed).
    fn run(f: &Filter, arch: u32, nr: u32, args: [u64; 6]) -> (u32, usize) {
        let (mut a, mut pc, mut steps) = (0u32, 0usize, 0usize);
        loop {
            let ins = f.program[pc];
            steps += 1;
            pc += 1;
            match ins.code {
                BPF_LD_W_ABS => {
                    a = match ins.k {
                        OFF_NR => nr,
                        OFF_ARCH => arch,
                        k => {
                            assert_eq!(k % 8, 0, "only low halves of arguments are read");
                            args[((k - 16) / 8) as usize] as u32
                        }
                    }
                }
                BPF_JEQ_K => pc += usize::from(if a == ins.k { ins.jt } else { ins.jf }),
                BPF_JGE_K => pc += usize::from(if a >= ins.k { ins.jt } else { ins.jf }),
                BPF_JSET_K => pc += usize::from(if a & ins.k != 0 { ins.jt } else { ins.jf }),
                BPF_JA => pc += ins.k as usize,
                BPF_RET_K => return (ins.k, steps),
                c => panic!("unexpected opcode {c:#x}"),
            }
        }
    }

    fn native() -> u32 {
        if cfg!(target_arch = "aarch64") {
            AUDIT_ARCH_AARCH64
        } else {
            AUDIT_ARCH_X86_64
        }
    }

    #[test]
    fn filter_fits_the_kernel_limit_and_every_jump_lands_inside() {
        let f = Filter::compile(Ipc::Shared);
        assert!(f.len() < 4096);
        for (i, ins) in f.program.iter().enumerate() {
            if ins.code == BPF_JA {
                assert!(i + 1 + (ins.k as usize) < f.len());
            } else if ins.code & 0x07 == 0x05 {
                assert!(i + 1 + (ins.jt.max(ins.jf) as usize) < f.len());
            }
        }
    }

    #[test]
    fn every_call_number_gets_its_rule_within_a_short_path() {
        for ipc in [Ipc::Private, Ipc::Shared] {
            let f = Filter::compile(ipc);
            let rules = rules(ipc);
            every_rule_holds(&f, &rules);
        }
        let shared = Filter::compile(Ipc::Shared);
        let private = Filter::compile(Ipc::Private);
        let shmget = libc::SYS_shmget as u32;
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        assert_eq!(run(&shared, native(), shmget, [0; 6]).0, eperm);
        assert_eq!(run(&private, native(), shmget, [0; 6]).0, SECCOMP_RET_ALLOW);
    }

    fn every_rule_holds(f: &Filter, rules: &[Rule]) {
        let mut longest = 0;
        for nr in 0..1024u32 {
            let (verdict, steps) = run(f, native(), nr, [0; 6]);
            longest = longest.max(steps);
            let expected = match rules.iter().find(|r| r.nr() == i64::from(nr)) {
                Some(Rule::Deny(_, errno)) => SECCOMP_RET_ERRNO | *errno as u32,
                // Argument 0 (a socket domain) is 0 here: not AF_UNIX.
                Some(Rule::AllowOnlyArg0(..)) => SECCOMP_RET_ERRNO | libc::EACCES as u32,
                _ => SECCOMP_RET_ALLOW,
            };
            assert_eq!(verdict, expected, "system call {nr}");
        }
        // The kernel runs the filter for every number when it is installed.
        assert!(longest <= 20, "longest path {longest} instructions");
    }

    #[test]
    // Ioctl request numbers are `c_ulong` in glibc, `c_int` elsewhere.
    #[allow(clippy::unnecessary_cast)]
    fn arguments_decide_sockets_clone_and_ioctl() {
        let f = Filter::compile(Ipc::Shared);
        let call = |nr: i64, args: [u64; 6]| run(&f, native(), nr as u32, args).0;
        let eperm = SECCOMP_RET_ERRNO | libc::EPERM as u32;
        let eacces = SECCOMP_RET_ERRNO | libc::EACCES as u32;
        let unix = libc::AF_UNIX as u64;
        assert_eq!(
            call(libc::SYS_socket, [unix, 1, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        assert_eq!(
            call(libc::SYS_socketpair, [unix, 1, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        for domain in [
            libc::AF_INET,
            libc::AF_INET6,
            libc::AF_NETLINK,
            libc::AF_PACKET,
        ] {
            assert_eq!(
                call(libc::SYS_socket, [domain as u64, 1, 0, 0, 0, 0]),
                eacces
            );
        }
        let fork = libc::SIGCHLD as u64;
        assert_eq!(
            call(libc::SYS_clone, [fork, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        let vfork = (libc::CLONE_VM | libc::CLONE_VFORK) as u64 | fork;
        assert_eq!(
            call(libc::SYS_clone, [vfork, 0, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
        for ns in [libc::CLONE_NEWUSER, libc::CLONE_NEWNET, libc::CLONE_NEWNS] {
            assert_eq!(
                call(libc::SYS_clone, [ns as u64 | fork, 0, 0, 0, 0, 0]),
                eperm
            );
        }
        assert_eq!(
            call(libc::SYS_clone3, [0; 6]),
            SECCOMP_RET_ERRNO | libc::ENOSYS as u32
        );
        for denied in [libc::TIOCSTI, libc::TIOCLINUX] {
            assert_eq!(call(libc::SYS_ioctl, [1, denied as u64, 0, 0, 0, 0]), eperm);
        }
        assert_eq!(
            call(libc::SYS_ioctl, [1, libc::TCGETS as u64, 0, 0, 0, 0]),
            SECCOMP_RET_ALLOW
        );
    }

    #[test]
    fn the_split_filter_decides_every_call_as_the_whole_one() {
        // The kernel runs every installed filter and keeps the verdict of
        // the highest precedence: the lowest action, as a signed number.
        let both = |a: (u32, usize), b: (u32, usize)| {
            let action = |v: u32| (v & 0xffff_0000) as i32;
            if action(a.0) < action(b.0) {
                a.0
            } else {
                b.0
            }
        };
        for ipc in [Ipc::Private, Ipc::Shared] {
            let whole = Filter::compile(ipc);
            let (ahead, mounts) = Filter::split(ipc);
            assert!(
                mounts.len() * 4 < whole.len(),
                "{} {}",
                mounts.len(),
                whole.len()
            );
            let clone_ns = (libc::CLONE_NEWNS | libc::SIGCHLD) as u64;
            let unix = libc::AF_UNIX as u64;
            for arch in [native(), 0x4000_0003] {
                for nr in (0..1024u32).chain([X32_SYSCALL_BIT]) {
                    for args in [[0; 6], [clone_ns, 0, 0, 0, 0, 0], [unix, 1, 0, 0, 0, 0]] {
                        let split = both(run(&ahead, arch, nr, args), run(&mounts, arch, nr, args));
                        assert_eq!(
                            split,
                            run(&whole, arch, nr, args).0,
                            "{ipc:?} {arch:#x} {nr}"
                        );
                    }
                }
            }
            let mount = libc::SYS_mount as u32;
            assert_eq!(run(&ahead, native(), mount, [0; 6]).0, SECCOMP_RET_ALLOW);
        }
    }

    #[test]
    fn foreign_architectures_and_x32_numbers_are_refused() {
        let f = Filter::compile(Ipc::Shared);
        let foreign = 0x4000_0003; // AUDIT_ARCH_I386
        assert_eq!(run(&f, foreign, 0, [0; 6]).0, SECCOMP_RET_KILL_PROCESS);
        if cfg!(target_arch = "x86_64") {
            let x32_read = X32_SYSCALL_BIT;
            assert_eq!(
                run(&f, native(), x32_read, [0; 6]).0,
                SECCOMP_RET_ERRNO | libc::EPERM as u32
            );
        }
    }
}
