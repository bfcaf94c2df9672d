//! Probing the host once: which isolation layers can this runner apply?
//!
//! Layers are not assumed from kernel versions or configuration files: each
//! is tried (a throw-away child installs the seccomp filter, a probe run goes
//! through the whole `full` setup and stops before `execve`).

use std::fs;
use std::os::fd::OwnedFd;

use super::{cgroup, sys, Command, Layer, Limits, Profile, SandboxError, Slot};

const NAMESPACES: [Layer; 7] = [
    Layer::UserNamespace,
    Layer::PidNamespace,
    Layer::NetworkNamespace,
    Layer::MountNamespace,
    Layer::IpcNamespace,
    Layer::UtsNamespace,
    Layer::PivotRoot,
];

/// What each profile cannot do without.
pub const FULL_REQUIRED: &[Layer] = &[
    Layer::UserNamespace,
    Layer::PidNamespace,
    Layer::NetworkNamespace,
    Layer::MountNamespace,
    Layer::IpcNamespace,
    Layer::UtsNamespace,
    Layer::PivotRoot,
    Layer::CgroupMemory,
    Layer::CgroupPids,
    Layer::Rlimits,
    Layer::NoNewPrivs,
    Layer::NoCapabilities,
    Layer::UnprivilegedUid,
    Layer::Seccomp,
    Layer::ScrubbedEnvironment,
    Layer::ScratchDirectory,
];
pub const RESTRICTED_REQUIRED: &[Layer] = &[
    Layer::UnprivilegedUid,
    Layer::RunTotals,
    // Without a network namespace, the filter is what keeps programs off
    // the network.
    Layer::Seccomp,
    Layer::Rlimits,
    Layer::NoNewPrivs,
    Layer::NoCapabilities,
    Layer::ProcessGroup,
    Layer::ScrubbedEnvironment,
    Layer::ScratchDirectory,
];

/// Paths every program may read in the restricted profile (besides its
/// toolchain): the dynamic loader's configuration and locale data.
pub const RESTRICTED_READABLE: &[&str] = &[
    "/etc/ld.so.cache",
    "/etc/localtime",
    "/usr/lib/locale",
    "/proc",
    "/sys/devices/system/cpu",
];

/// The probe's findings.
#[derive(Debug, Clone)]
pub struct Probe {
    pub profile: Profile,
    pub layers: Vec<Layer>,
    /// Layers that could not be applied, with the reason.
    pub unavailable: Vec<(Layer, String)>,
}

impl Probe {
    /// Names what `required` lacks, with reasons.
    pub fn missing_for(&self, required: Profile) -> String {
        let needed = match required {
            Profile::Full => FULL_REQUIRED,
            Profile::Restricted => RESTRICTED_REQUIRED,
        };
        let missing: Vec<String> = needed
            .iter()
            .filter(|l| !self.layers.contains(l))
            .map(|l| {
                let why = self
                    .unavailable
                    .iter()
                    .find(|(u, _)| u == l)
                    .map(|(_, w)| w.as_str())
                    .unwrap_or("not available");
                format!("{} ({why})", l.name())
            })
            .collect();
        missing.join("; ")
    }
}

/// Probes the host and fills in the sandbox's slots.
pub(super) fn run(sb: &mut super::Sandbox) -> Result<Probe, SandboxError> {
    let mut layers = vec![
        Layer::Rlimits,
        Layer::NoNewPrivs,
        Layer::NoCapabilities,
        Layer::ScrubbedEnvironment,
        Layer::ScratchDirectory,
        Layer::ProcessGroup,
    ];
    let mut unavailable = Vec::new();

    if sb.is_root {
        layers.push(Layer::UnprivilegedUid);
    } else {
        unavailable.push((
            Layer::UnprivilegedUid,
            "the runner is not root, so it cannot give programs a uid of their own".to_string(),
        ));
    }
    match probe_seccomp(sb.filter.as_ref().expect("compiled")) {
        Ok(()) => layers.push(Layer::Seccomp),
        Err(why) => unavailable.push((Layer::Seccomp, why)),
    }
    if sb.landlock.is_some() {
        layers.push(Layer::Landlock);
    } else {
        unavailable.push((Layer::Landlock, "not enabled in this kernel".into()));
    }

    // Slots: a cgroup each where the controllers are writable. Names carry
    // the pid (to find stale ones) and an instance number (one process may
    // hold several sandboxes).
    static INSTANCES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let instance = INSTANCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut cgroup_error = None;
    let layout = match cgroup::Layout::of_this_process().map(|l| l.delegated(sb.is_root)) {
        Some(Ok(l)) => Some(l),
        Some(Err(why)) => {
            cgroup_error = Some(why);
            None
        }
        None => None,
    };
    let mut slots = Vec::new();
    for index in 0..sb.opts.slots.max(1) {
        let cg = match (&layout, &cgroup_error) {
            (Some(layout), None) => {
                let name = format!("coderun-{}-{instance}-{index}", std::process::id());
                match cgroup::Slot::create(layout, &name) {
                    Ok(s) => Some(s),
                    Err(e) => {
                        cgroup_error = Some(format!("cannot create a cgroup: {e}"));
                        None
                    }
                }
            }
            _ => None,
        };
        slots.push(Slot::new(index, cg).map_err(|source| SandboxError::Create {
            what: "slot arena",
            source,
        })?);
    }
    if let Some(layout) = &layout {
        remove_stale_cgroups(layout);
    }
    if slots.iter().all(|s| s.cgroup.is_some()) {
        layers.extend([Layer::CgroupMemory, Layer::CgroupPids]);
    } else {
        let why = cgroup_error
            .unwrap_or_else(|| "no cgroup hierarchy with memory and pids controllers".into());
        for s in &mut slots {
            if let Some(cg) = s.cgroup.take() {
                cg.remove();
            }
        }
        unavailable.push((Layer::CgroupMemory, why.clone()));
        unavailable.push((Layer::CgroupPids, why));
    }

    // Full profile: shared empty network namespaces (root only), then a
    // probe run through the whole setup.
    let mut profile = Profile::Restricted;
    if sb.opts.force_restricted {
        for l in NAMESPACES {
            unavailable.push((l, "the restricted profile was forced".into()));
        }
    } else {
        if sb.is_root {
            if let Ok(own) = fs::File::open("/proc/thread-self/ns/net") {
                sb.own_netns = Some(own.into());
                for s in &mut slots {
                    s.netns = empty_netns();
                }
            }
        }
        sb.profile = Profile::Full;
        sb.layers = layers.clone();
        *sb.slots.lock().expect("fresh mutex") = slots;
        let mut cmd = Command::new("/nonexistent", Limits::default());
        cmd.probe = true;
        match sb.run(cmd) {
            Ok(_) => {
                layers.extend(NAMESPACES);
            }
            Err(e) => {
                for l in NAMESPACES {
                    unavailable.push((l, format!("the namespace setup failed: {e}")));
                }
            }
        }
        slots = std::mem::take(&mut *sb.slots.lock().expect("fresh mutex"));
        slots.sort_by_key(|s| std::cmp::Reverse(s.index));
        if FULL_REQUIRED.iter().all(|l| layers.contains(l)) {
            profile = Profile::Full;
        }
    }
    if profile == Profile::Restricted {
        layers.retain(|l| !NAMESPACES.contains(l));
        // Totals over processes the runner does not own need their
        // open files and memory maps (see `meter`).
        if !sb.is_root {
            unavailable.push((Layer::RunTotals, "the runner is not root".into()));
        } else if sys::has_capability(sys::CAP_SYS_PTRACE) {
            layers.push(Layer::RunTotals);
        } else {
            unavailable.push((
                Layer::RunTotals,
                "the runner lacks CAP_SYS_PTRACE, needed to read its programs' open files and memory maps (add SYS_PTRACE to the task definition's capabilities)".into(),
            ));
        }
        // The restricted profile is what Fargate allows: no cgroups (its
        // limits are rlimits), even where this host would have them, so
        // that a forced restricted run is the run Fargate would make.
        for s in &mut slots {
            if let Some(cg) = s.cgroup.take() {
                cg.remove();
            }
        }
        for l in [Layer::CgroupMemory, Layer::CgroupPids] {
            if layers.contains(&l) {
                layers.retain(|x| *x != l);
                unavailable.push((l, "not part of the restricted profile".into()));
            }
        }
        // Without a mount namespace the scratch directory is a host directory
        // the runner creates per run; without a pid namespace, killing the
        // run's uid ends its processes. Reap orphans ourselves.
        let _ = sys::prctl(libc::PR_SET_CHILD_SUBREAPER, 1);
    }
    sb.profile = profile;
    *sb.slots.lock().expect("fresh mutex") = slots;
    layers.sort_by_key(|l| *l as u8);
    Ok(Probe {
        profile,
        layers,
        unavailable,
    })
}

/// A new network namespace holding only a loopback device that is down.
fn empty_netns() -> Option<OwnedFd> {
    std::thread::spawn(|| -> Option<OwnedFd> {
        // SAFETY: unshare(CLONE_NEWNET) affects only this short-lived thread.
        if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
            return None;
        }
        fs::File::open("/proc/thread-self/ns/net")
            .ok()
            .map(Into::into)
    })
    .join()
    .ok()
    .flatten()
}

fn probe_seccomp(filter: &super::seccomp::Filter) -> Result<(), String> {
    let pid = sys::raw_fork().map_err(|e| format!("fork: {e}"))?;
    if pid == 0 {
        let ok = sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1).is_ok() && filter.install().is_ok();
        sys::exit(if ok { 0 } else { 1 });
    }
    let mut status = 0;
    // SAFETY: waiting for our own child.
    unsafe { libc::waitpid(pid, &mut status, 0) };
    if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
        Ok(())
    } else {
        Err("the kernel refused to install a seccomp filter".into())
    }
}

/// Removes slot cgroups left by runners that died without cleaning up.
fn remove_stale_cgroups(layout: &cgroup::Layout) {
    let dirs = match layout {
        cgroup::Layout::V1 {
            memory,
            pids,
            cpuacct,
        } => {
            let mut v = vec![memory.clone(), pids.clone()];
            v.extend(cpuacct.clone());
            v
        }
        cgroup::Layout::V2 { dir, .. } => vec![dir.clone()],
    };
    for dir in dirs {
        let Ok(entries) = fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let Some(pid) = name
                .strip_prefix("coderun-")
                .and_then(|r| r.split('-').next())
                .and_then(|p| p.parse::<i32>().ok())
            else {
                continue;
            };
            // SAFETY: signal 0 only checks for existence.
            let alive = unsafe { libc::kill(pid, 0) } == 0 || sys::Errno::last().0 == libc::EPERM;
            if !alive {
                if matches!(layout, cgroup::Layout::V2 { .. }) {
                    cgroup::empty_tree(&e.path());
                }
                let _ = fs::remove_dir(e.path());
            }
        }
    }
}
