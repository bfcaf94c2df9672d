//! Where a runner's slots go: the host's cgroup hierarchies as this
//! process sees them (v1 or v2), and on v2 a subtree it may use, found or
//! made from wherever it was started.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use super::{listed, write};

/// Where the controllers live on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Layout {
    V1 {
        memory: PathBuf,
        pids: PathBuf,
        cpuacct: Option<PathBuf>,
    },
    V2 {
        /// Where slots are made: see [`delegate`].
        dir: PathBuf,
        /// The unified hierarchy's mount point.
        mount: PathBuf,
    },
}

impl Layout {
    /// Finds the cgroup directories this process belongs to, from the texts
    /// of `/proc/self/mountinfo` and `/proc/self/cgroup`. v1 wins when it has
    /// both memory and pids (a v2 tree is then mounted without them).
    pub fn discover(mountinfo: &str, self_cgroup: &str) -> Option<Layout> {
        let mut v1 = Vec::new();
        let mut v2 = None;
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let l: Vec<&str> = left.split(' ').collect();
            let r: Vec<&str> = right.split(' ').collect();
            if l.len() < 5 || r.len() < 3 {
                continue;
            }
            let (root, mount_point) = (l[3], l[4]);
            match r[0] {
                "cgroup" => {
                    for ctrl in r[2].split(',') {
                        v1.push((ctrl.to_string(), root.to_string(), mount_point.to_string()));
                    }
                }
                "cgroup2" => v2 = Some((root.to_string(), mount_point.to_string())),
                _ => {}
            }
        }
        let own_path = |controller: &str| -> Option<String> {
            self_cgroup.lines().find_map(|l| {
                let mut parts = l.splitn(3, ':');
                let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
                let matches = if controller.is_empty() {
                    ctrls.is_empty()
                } else {
                    ctrls.split(',').any(|c| c == controller)
                };
                matches.then(|| path.to_string())
            })
        };
        let join = |root: &str, mount: &str, path: &str| -> PathBuf {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(path)
                .trim_start_matches('/');
            Path::new(mount).join(rel)
        };
        let v1_dir = |ctrl: &str| -> Option<PathBuf> {
            let (_, root, mount) = v1.iter().find(|(c, _, _)| c == ctrl)?;
            Some(join(root, mount, &own_path(ctrl)?))
        };
        if let (Some(memory), Some(pids)) = (v1_dir("memory"), v1_dir("pids")) {
            return Some(Layout::V1 {
                memory,
                pids,
                cpuacct: v1_dir("cpuacct"),
            });
        }
        let (root, mount) = v2?;
        let dir = join(&root, &mount, &own_path("")?);
        Some(Layout::V2 {
            dir,
            mount: mount.into(),
        })
    }

    /// The layout with a v2 tree's `dir` moved to a subtree this runner may
    /// make its slots in (see [`delegate`]); v1 as it is.
    pub fn delegated(self, is_root: bool) -> Result<Layout, String> {
        match self {
            Layout::V2 { dir, mount } => Ok(Layout::V2 {
                dir: delegate(&dir, &mount, is_root, std::process::id())?,
                mount,
            }),
            v1 => Ok(v1),
        }
    }

    /// Reads the live host's layout.
    pub fn of_this_process() -> Option<Layout> {
        let mountinfo = fs::read_to_string("/proc/self/mountinfo").ok()?;
        let cgroup = fs::read_to_string("/proc/self/cgroup").ok()?;
        Layout::discover(&mountinfo, &cgroup)
    }
}

/// The controllers a slot needs; `cpu` is welcome (CPU time is counted in
/// `cpu.stat` without it).
const V2_NEEDED: [&str; 2] = ["memory", "pids"];

/// Enables the needed controllers (and `cpu` where available) for the
/// children of `dir`.
fn enable(dir: &Path) -> io::Result<()> {
    let available = listed(dir, "cgroup.controllers");
    let enabled = listed(dir, "cgroup.subtree_control");
    let wanted: Vec<String> = V2_NEEDED
        .iter()
        .chain(&["cpu"])
        .filter(|c| available.iter().any(|a| a == *c) && !enabled.iter().any(|e| e == *c))
        .map(|c| format!("+{c}"))
        .collect();
    if wanted.is_empty() {
        return Ok(());
    }
    write(&dir.join("cgroup.subtree_control"), &wanted.join(" "))
}

/// cgroup v2: finds or makes a subtree where this runner may create its
/// slots, with the memory and pids controllers enabled for them, from
/// wherever it was started (`own`: its cgroup). A v2 cgroup with processes
/// cannot hand controllers to children (the root excepted), and a login
/// session's or a service's cgroup usually has processes:
///
/// 1. alone in its cgroup (a systemd unit with `Delegate=yes`, a
///    container's only process): the runner moves itself into a leaf of its
///    own (`coderun-PID-runner`) and makes its slots beside it;
/// 2. root: a `coderun` cgroup under the hierarchy's root, shared by the
///    host's runners (each names its slots by its pid);
/// 3. root in a cgroup namespace whose root holds processes (a container):
///    those move into a leaf (`coderun-init`) first, then as 2.
///
/// Otherwise it says what the host must allow.
pub fn delegate(own: &Path, mount: &Path, is_root: bool, me: u32) -> Result<PathBuf, String> {
    let available = listed(mount, "cgroup.controllers");
    let missing: Vec<&str> = V2_NEEDED
        .iter()
        .copied()
        .filter(|c| !available.iter().any(|a| a == c))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "the cgroup v2 {} controller{} not available on this host ({}/cgroup.controllers lists {:?}): boot without disabling it",
            missing.join(" and "),
            if missing.len() > 1 { "s are" } else { " is" },
            mount.display(),
            available.join(" ")
        ));
    }
    // Moved into its leaf by an earlier sandbox of this process: the slots
    // of every sandbox it makes go beside that leaf, not ever deeper.
    let leaf_name = format!("coderun-{me}-runner");
    if let Some(parent) = own.parent().filter(|_| own.ends_with(&leaf_name)) {
        return Ok(parent.to_path_buf());
    }
    let procs = listed(own, "cgroup.procs");
    let own_has = listed(own, "cgroup.controllers");
    let alone = procs == [me.to_string()];
    if own != mount && alone && V2_NEEDED.iter().all(|c| own_has.iter().any(|a| a == c)) {
        let leaf = own.join(&leaf_name);
        let moved = fs::create_dir_all(&leaf)
            .and_then(|()| write(&leaf.join("cgroup.procs"), &me.to_string()))
            .and_then(|()| enable(own));
        match moved {
            Ok(()) => return Ok(own.to_path_buf()),
            // Back where it was; the next way may still work.
            Err(_) => {
                let _ = write(&own.join("cgroup.procs"), &me.to_string());
                let _ = fs::remove_dir(&leaf);
            }
        }
    }
    if !is_root {
        return Err(format!(
            "cgroup v2: {} is shared with other processes and the runner is not root; start it alone in a delegated cgroup (for example `systemd-run --scope -p Delegate=yes …`, or a unit with Delegate=yes)",
            own.display()
        ));
    }
    let base = mount.join("coderun");
    let shared = || -> io::Result<PathBuf> {
        enable(mount)?;
        fs::create_dir_all(&base)?;
        enable(&base)?;
        Ok(base.clone())
    };
    match shared() {
        Ok(dir) => Ok(dir),
        // A namespace's root with processes cannot enable controllers.
        Err(e) if e.kind() == io::ErrorKind::ResourceBusy => {
            let init = mount.join("coderun-init");
            fs::create_dir_all(&init).map_err(|e| format!("{}: {e}", init.display()))?;
            for pid in listed(mount, "cgroup.procs") {
                // Kernel threads stay where they are.
                let _ = write(&init.join("cgroup.procs"), &pid);
            }
            shared().map_err(|e| {
                format!(
                    "cgroup v2: enabling controllers under {}: {e}",
                    mount.display()
                )
            })
        }
        Err(e) => Err(format!("cgroup v2: preparing {}: {e}", base.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MOUNTINFO_V1: &str = "\
30 25 0:26 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755
34 30 0:30 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
35 30 0:31 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
36 30 0:32 / /sys/fs/cgroup/cpu,cpuacct rw,relatime - cgroup cgroup rw,cpu,cpuacct
37 30 0:33 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";
    const CGROUP_V1: &str = "\
4:memory:/jobs/a
8:pids:/
2:cpu,cpuacct:/jobs
0::/
";

    #[test]
    fn v1_layout_joins_mount_points_with_own_paths() {
        let l = Layout::discover(MOUNTINFO_V1, CGROUP_V1).unwrap();
        assert_eq!(
            l,
            Layout::V1 {
                memory: "/sys/fs/cgroup/memory/jobs/a".into(),
                pids: "/sys/fs/cgroup/pids".into(),
                cpuacct: Some("/sys/fs/cgroup/cpu,cpuacct/jobs".into()),
            }
        );
    }

    #[test]
    fn v2_layout_when_v1_lacks_the_controllers() {
        let mi = "40 30 0:40 / /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n";
        let l = Layout::discover(mi, "0::/user.slice/run-1.scope\n").unwrap();
        assert_eq!(
            l,
            Layout::V2 {
                dir: "/sys/fs/cgroup/user.slice/run-1.scope".into(),
                mount: "/sys/fs/cgroup".into(),
            }
        );
    }

    /// A v2 tree as the kernel shows it: directories with their files.
    fn v2_tree(root: &Path, dirs: &[(&str, &str, &str)]) {
        for (dir, controllers, procs) in dirs {
            let d = root.join(dir);
            fs::create_dir_all(&d).unwrap();
            fs::write(d.join("cgroup.controllers"), controllers).unwrap();
            fs::write(d.join("cgroup.subtree_control"), "").unwrap();
            fs::write(d.join("cgroup.procs"), procs).unwrap();
        }
    }

    #[test]
    fn a_runner_alone_in_a_delegated_cgroup_keeps_it() {
        let t = tempfile::tempdir().unwrap();
        v2_tree(
            t.path(),
            &[
                ("", "cpu memory pids io", "1\n"),
                ("svc", "memory pids", "42\n"),
            ],
        );
        let dir = delegate(&t.path().join("svc"), t.path(), false, 42).unwrap();
        assert_eq!(dir, t.path().join("svc"));
        // It moved itself into a leaf and enabled the controllers there.
        let leaf = t.path().join("svc/coderun-42-runner/cgroup.procs");
        assert_eq!(fs::read_to_string(leaf).unwrap(), "42");
        assert_eq!(
            fs::read_to_string(t.path().join("svc/cgroup.subtree_control")).unwrap(),
            "+memory +pids"
        );
        // The process's next sandbox finds itself in that leaf.
        let again = delegate(&t.path().join("svc/coderun-42-runner"), t.path(), false, 42);
        assert_eq!(again.unwrap(), t.path().join("svc"));
    }

    #[test]
    fn a_shared_session_cgroup_sends_root_to_its_own_subtree() {
        let t = tempfile::tempdir().unwrap();
        v2_tree(
            t.path(),
            &[
                ("", "cpu memory pids", "1\n"),
                ("user.slice/session.scope", "cpu memory pids", "7\n42\n"),
            ],
        );
        let own = t.path().join("user.slice/session.scope");
        // Not root: it says what the host must allow.
        let err = delegate(&own, t.path(), false, 42).unwrap_err();
        assert!(err.contains("Delegate=yes"), "{err}");
        // Root: a subtree of its own under the root, controllers enabled.
        // (A directory made here has no control files, unlike cgroupfs.)
        let dir = delegate(&own, t.path(), true, 42).unwrap();
        assert_eq!(dir, t.path().join("coderun"));
        assert_eq!(
            fs::read_to_string(t.path().join("cgroup.subtree_control")).unwrap(),
            "+memory +pids +cpu"
        );
    }

    #[test]
    fn a_missing_controller_is_named() {
        let t = tempfile::tempdir().unwrap();
        v2_tree(t.path(), &[("", "cpu io pids", "1\n")]);
        let err = delegate(t.path(), t.path(), true, 42).unwrap_err();
        assert!(err.contains("memory controller is not available"), "{err}");
    }
}
