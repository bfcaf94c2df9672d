//! The sandbox's file system: a fresh, minimal, read-only root made of a
//! skeleton directory (the mount points, a few symlinks and /etc files),
//! the toolchain paths bound read-only from the host, a few device nodes, a
//! private /proc, the job's box directory and a fresh writable /tmp.
//!
//! The skeleton is made once on the host for each set of mount points
//! ([`Skeletons`]); a run binds it read-only as its root and mounts the
//! rest on it. The plan is computed in the parent (allocation allowed) and
//! executed in the child as a list of system calls (no allocation).
//!
//! A plan's first part needs nothing of its run (the skeleton, the
//! toolchain, devices, /proc, an empty /tmp): a slot's warm PID 1 mounts
//! its last run's ahead of its command ([`Plan::mount_ahead`]); the run's
//! own binds (its box, anything writable or in /tmp) and the pivot follow
//! when the command comes, if that part is the same
//! ([`Plan::finish_but_detach`]). A slot that ran the same plan twice in a
//! row (one program's tests) has its next PID 1 put all of it up ahead,
//! pivot and old root's detach included ([`Plan::execute_ahead`]), for a
//! run whose plan is the same, its own binds the same directories
//! ([`Plan::key`]).

use std::collections::HashMap;
use std::ffi::CStr;
use std::hash::{Hash, Hasher};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};
use std::sync::Mutex;

use super::arena::Arena;
use super::sys::{
    self, SysResult, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};
use super::SandboxError;

/// A host path shown inside the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bind {
    pub host: PathBuf,
    pub inside: PathBuf,
    pub writable: bool,
}

impl Bind {
    /// The same path inside as on the host, read-only.
    pub fn same(path: impl Into<PathBuf>) -> Bind {
        let p = path.into();
        Bind {
            host: p.clone(),
            inside: p,
            writable: false,
        }
    }
}

/// One step of building the root.
#[derive(Debug, Clone, Copy)]
enum Op<'a> {
    MakePrivate,
    /// The skeleton, bound onto itself read-only: the new root.
    Root(&'a CStr),
    Tmpfs {
        target: &'a CStr,
        data: &'a CStr,
    },
    /// A mount point made at run time: below the scratch directory, which
    /// is fresh each run.
    Mkdir(&'a CStr),
    Touch(&'a CStr),
    Bind {
        src: &'a CStr,
        dst: &'a CStr,
        attrs: u64,
    },
    Proc(&'a CStr),
}

/// The prepared mount sequence for one run, laid out in the slot's arena.
#[derive(Debug, Clone, Copy)]
pub struct Plan<'a> {
    ops: &'a [Op<'a>],
    /// `ops[..ahead]` need nothing of the run.
    ahead: usize,
    root: &'a CStr,
    /// Which directory or file each of the run's own binds is (device,
    /// inode, change time): a path removed and made again is another.
    own_ids: &'a [[u64; 4]],
}

/// Devices a program may use; bound from the host's /dev.
pub(super) const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

/// The [`DEVICES`] this host has, looked up once.
fn host_devices() -> &'static [&'static str] {
    static FOUND: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    FOUND.get_or_init(|| {
        DEVICES
            .iter()
            .copied()
            .filter(|dev| Path::new("/dev").join(dev).exists())
            .collect()
    })
}

/// The scratch directory inside: a fresh tmpfs each run.
const SCRATCH: &str = "/tmp";

/// Changes whenever what a skeleton holds changes: old ones are not reused.
const SKELETON_VERSION: u32 = 1;

fn path<'a>(arena: &'a Arena, p: &Path) -> Result<&'a CStr, SandboxError> {
    arena.cstr(p.as_os_str().as_bytes())
}

fn under(root: &Path, inside: &Path) -> PathBuf {
    let rel: PathBuf = inside
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    root.join(rel)
}

/// A mount point in a skeleton: a directory, or an empty file for a file.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct MountPoint {
    inside: PathBuf,
    dir: bool,
}

/// The skeletons of one runner's work directory, made on first use.
#[derive(Debug)]
pub struct Skeletons {
    dir: PathBuf,
    made: Mutex<HashMap<u64, PathBuf>>,
    /// What each host path a toolchain shows is (a directory or not), or
    /// None where it is missing: looked up once, as the runner's image does
    /// not change while it runs.
    kinds: Mutex<HashMap<PathBuf, Option<bool>>>,
}

impl Skeletons {
    pub fn new(dir: PathBuf) -> Skeletons {
        Skeletons {
            dir,
            made: Mutex::new(HashMap::new()),
            kinds: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a toolchain's host path is a directory (None: missing).
    fn kind(&self, host: &Path) -> Option<bool> {
        let mut kinds = self.kinds.lock().expect("skeletons poisoned");
        if let Some(kind) = kinds.get(host) {
            return *kind;
        }
        let kind = std::fs::metadata(host).ok().map(|m| m.is_dir());
        kinds.insert(host.to_path_buf(), kind);
        kind
    }

    /// The skeleton with these mount points (plus the fixed ones).
    fn get(&self, points: &[MountPoint]) -> std::io::Result<PathBuf> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (SKELETON_VERSION, points).hash(&mut h);
        let key = h.finish();
        let mut made = self.made.lock().expect("skeletons poisoned");
        if let Some(p) = made.get(&key) {
            return Ok(p.clone());
        }
        let path = self.dir.join(format!("{key:016x}"));
        if !path.is_dir() {
            // Built aside and renamed into place: another runner sharing
            // the work directory may be making the same one.
            let tmp = self.dir.join(format!(".{key:016x}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&tmp);
            make_skeleton(&tmp, points)?;
            if let Err(e) = std::fs::rename(&tmp, &path) {
                let _ = std::fs::remove_dir_all(&tmp);
                if !path.is_dir() {
                    return Err(e);
                }
            }
        }
        made.insert(key, path.clone());
        Ok(path)
    }
}

fn make_skeleton(root: &Path, points: &[MountPoint]) -> std::io::Result<()> {
    use std::os::unix::fs::{symlink, DirBuilderExt, PermissionsExt};
    let mkdir = |p: &Path| {
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o755)
            .create(p)
    };
    let file = |p: &Path, contents: &[u8]| -> std::io::Result<()> {
        std::fs::write(p, contents)?;
        std::fs::set_permissions(p, std::fs::Permissions::from_mode(0o644))
    };
    mkdir(root)?;
    std::fs::set_permissions(root, std::fs::Permissions::from_mode(0o755))?;
    // Merged-/usr hosts have /bin -> usr/bin and the like: mirror them.
    for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
        if let Ok(target) = std::fs::read_link(Path::new("/").join(top)) {
            symlink(target, root.join(top))?;
        }
    }
    for dir in ["proc", "dev", "tmp", "etc"] {
        mkdir(&root.join(dir))?;
    }
    for dev in host_devices() {
        file(&root.join("dev").join(dev), b"")?;
    }
    for (name, target) in [
        ("fd", "/proc/self/fd"),
        ("stdin", "/proc/self/fd/0"),
        ("stdout", "/proc/self/fd/1"),
        ("stderr", "/proc/self/fd/2"),
    ] {
        symlink(target, root.join("dev").join(name))?;
    }
    file(
        &root.join("etc/passwd"),
        b"root:x:0:0:root:/:/bin/sh\nrunner:x:1000:1000:runner:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n",
    )?;
    file(
        &root.join("etc/group"),
        b"root:x:0:\nrunner:x:1000:\nnogroup:x:65534:\n",
    )?;
    file(&root.join("etc/hosts"), b"127.0.0.1 localhost\n")?;
    for m in points {
        let at = under(root, &m.inside);
        if m.dir {
            mkdir(&at)?;
        } else {
            if let Some(parent) = at.parent() {
                mkdir(parent)?;
            }
            if !at.exists() {
                file(&at, b"")?;
            }
        }
    }
    Ok(())
}

impl<'a> Plan<'a> {
    /// Builds the plan for these binds (those whose host path is missing
    /// are left out: optional toolchain paths) on a skeleton from
    /// `skeletons`, in `arena`. `binds[own..]` are the run's own (its box):
    /// they, any writable bind or one in /tmp, and every bind after the
    /// first such are mounted by the run itself, after the rest.
    pub(super) fn new(
        arena: &'a Arena,
        skeletons: &Skeletons,
        binds: &[Bind],
        own: usize,
        scratch_bytes: u64,
        scratch_inodes: u64,
    ) -> Result<&'a Plan<'a>, SandboxError> {
        let in_scratch = |b: &Bind| b.inside.starts_with(SCRATCH);
        let own = binds
            .iter()
            .position(|b| b.writable || in_scratch(b))
            .map_or(own, |i| i.min(own));
        // The run's own binds (its box) are looked at each time.
        let mut own_ids = Vec::new();
        let present: Vec<(&Bind, bool, bool)> = binds
            .iter()
            .enumerate()
            .filter_map(|(i, b)| {
                let dir = if i < own {
                    skeletons.kind(&b.host)?
                } else {
                    use std::os::unix::fs::MetadataExt;
                    let m = std::fs::metadata(&b.host).ok()?;
                    own_ids.push([m.dev(), m.ino(), m.ctime() as u64, m.ctime_nsec() as u64]);
                    m.is_dir()
                };
                Some((b, dir, i >= own))
            })
            .collect();
        let points: Vec<MountPoint> = present
            .iter()
            .filter(|(b, _, _)| !in_scratch(b))
            .map(|(b, dir, _)| MountPoint {
                inside: b.inside.clone(),
                dir: *dir,
            })
            .collect();
        let root = skeletons
            .get(&points)
            .map_err(|source| SandboxError::Create {
                what: "root skeleton",
                source,
            })?;
        let data = format!("size={scratch_bytes},nr_inodes={scratch_inodes},mode=1777");
        let root_c = path(arena, &root)?;
        let mut ops = vec![
            Op::MakePrivate,
            Op::Root(root_c),
            // Scratch first, so that binds below /tmp (a work directory
            // there) land on top of it rather than being hidden by it.
            Op::Tmpfs {
                target: path(arena, &root.join("tmp"))?,
                data: arena.cstr(data.as_bytes())?,
            },
        ];
        // The run's own binds (a suffix of them) go after the devices and
        // /proc, which no bind lies below or above.
        let mut own_ops = Vec::new();
        for (b, dir, is_own) in &present {
            let to = if *is_own { &mut own_ops } else { &mut ops };
            let dst = under(&root, &b.inside);
            if in_scratch(b) {
                // Each missing directory on the way, then the point itself.
                let mut at = root.join(&SCRATCH[1..]);
                let rel = b.inside.strip_prefix(SCRATCH).expect("below scratch");
                let parents: Vec<_> = rel.components().collect();
                for (i, c) in parents.iter().enumerate() {
                    at.push(c);
                    if i + 1 < parents.len() || *dir {
                        to.push(Op::Mkdir(path(arena, &at)?));
                    } else {
                        to.push(Op::Touch(path(arena, &at)?));
                    }
                }
            }
            let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
            if !b.writable {
                attrs |= MOUNT_ATTR_RDONLY;
            }
            to.push(Op::Bind {
                src: path(arena, &b.host)?,
                dst: path(arena, &dst)?,
                attrs,
            });
        }
        for dev in host_devices() {
            let inside = Path::new("/dev").join(dev);
            ops.push(Op::Bind {
                src: path(arena, &inside)?,
                dst: path(arena, &under(&root, &inside))?,
                attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
            });
        }
        ops.push(Op::Proc(path(arena, &root.join("proc"))?));
        let ahead = ops.len();
        ops.extend(own_ops);
        let plan = Plan {
            ops: arena.slice(&ops)?,
            ahead,
            root: root_c,
            own_ids: arena.slice(&own_ids)?,
        };
        arena.put(plan)
    }

    /// What [`mount_ahead`](Self::mount_ahead) mounts, as bytes: a warm PID
    /// 1's mounts serve a run whose plan has the same.
    pub(super) fn ahead_key(&self) -> Vec<u8> {
        key(&self.ops[..self.ahead])
    }

    /// The whole root, as bytes: what [`execute_ahead`](Self::execute_ahead)
    /// puts up serves a run whose plan has the same, its own binds the same
    /// directories and files (not only the same paths).
    pub(super) fn key(&self) -> Vec<u8> {
        let mut key = key(self.ops);
        key.extend_from_slice(self.root.to_bytes_with_nul());
        for id in self.own_ids {
            for v in id {
                key.extend_from_slice(&v.to_ne_bytes());
            }
        }
        key
    }

    /// The new root's path on the host (where [`detach`] finds it).
    pub(super) fn root(&self) -> &'a CStr {
        self.root
    }

    /// Mounts the part that needs nothing of the run. Runs in a warm PID 1,
    /// before its command comes.
    pub fn mount_ahead(&self) -> SysResult<()> {
        run(&self.ops[..self.ahead])
    }

    /// The rest, after [`mount_ahead`](Self::mount_ahead) of a plan with
    /// the same `ahead_key`, and the pivot into the new root, on which the
    /// old one stays until [`detach_old_root`] takes it down: nothing of
    /// the run's own may execute before. Runs in the child.
    pub fn finish_but_detach(&self) -> SysResult<()> {
        run(&self.ops[self.ahead..])?;
        pivot(self.root)
    }

    /// Executes the whole plan and pivots into the new root. Runs in the
    /// child.
    pub fn execute(&self) -> SysResult<()> {
        run(self.ops)?;
        pivot_into(self.root)
    }

    /// [`execute`](Self::execute), in a warm PID 1 before its command
    /// comes: the slot ran this plan twice in a row, and likely runs it
    /// again. Fails with whether the old root is still ours, so that
    /// another plan can still be put up in its place (see [`detach`]).
    pub fn execute_ahead(&self) -> Result<(), bool> {
        run(self.ops).map_err(|_| true)?;
        pivot(self.root).map_err(|_| true)?;
        detach_old_root().map_err(|_| false)?;
        // SAFETY: a valid path.
        sys::check(unsafe { libc::chdir(c"/".as_ptr()) })
            .map(drop)
            .map_err(|_| false)
    }
}

/// Takes down a root mounted ahead (all of it, lazily; nothing mounted
/// there is no error).
pub fn detach(root: &CStr) -> SysResult<()> {
    // SAFETY: a valid path; this only changes this process's view.
    match sys::check(unsafe { libc::umount2(root.as_ptr(), libc::MNT_DETACH) }) {
        Err(e) if e.0 == libc::EINVAL => Ok(()),
        r => r.map(drop),
    }
}

/// Executes mount steps. Runs in the child.
fn run(ops: &[Op]) -> SysResult<()> {
    for op in ops {
        match *op {
            Op::MakePrivate => sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?,
            Op::Root(dir) => {
                sys::mount(Some(dir), dir, None, libc::MS_BIND, None)?;
                sys::mount_setattr(
                    dir,
                    MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV,
                    false,
                )?;
            }
            Op::Tmpfs { target, data } => sys::mount(
                Some(c"tmpfs"),
                target,
                Some(c"tmpfs"),
                libc::MS_NOSUID | libc::MS_NODEV,
                Some(data),
            )?,
            Op::Mkdir(p) => sys::mkdir(p, 0o755)?,
            Op::Touch(p) => sys::close(sys::open(p, libc::O_WRONLY | libc::O_CREAT, 0o644)?),
            Op::Bind { src, dst, attrs } => {
                sys::mount(Some(src), dst, None, libc::MS_BIND | libc::MS_REC, None)?;
                sys::mount_setattr(dst, attrs, true)?;
            }
            Op::Proc(target) => sys::mount(
                Some(c"proc"),
                target,
                Some(c"proc"),
                libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                None,
            )?,
        }
    }
    Ok(())
}

/// The mount steps `ops`, as bytes.
fn key(ops: &[Op]) -> Vec<u8> {
    let mut key = Vec::new();
    let mut put = |tag: u8, parts: &[&[u8]]| {
        key.push(tag);
        for p in parts {
            key.extend_from_slice(&(p.len() as u64).to_ne_bytes());
            key.extend_from_slice(p);
        }
    };
    for op in ops {
        match *op {
            Op::MakePrivate => put(0, &[]),
            Op::Root(dir) => put(1, &[dir.to_bytes()]),
            Op::Tmpfs { target, data } => put(2, &[target.to_bytes(), data.to_bytes()]),
            Op::Mkdir(p) => put(3, &[p.to_bytes()]),
            Op::Touch(p) => put(4, &[p.to_bytes()]),
            Op::Bind { src, dst, attrs } => {
                put(5, &[src.to_bytes(), dst.to_bytes(), &attrs.to_ne_bytes()])
            }
            Op::Proc(target) => put(6, &[target.to_bytes()]),
        }
    }
    key
}

/// `pivot_root(".", ".")` then detaching the old root: no directory for the
/// old root is needed and nothing of the host stays reachable.
fn pivot_into(root: &CStr) -> SysResult<()> {
    pivot(root)?;
    detach_old_root()?;
    // SAFETY: a valid path.
    sys::check(unsafe { libc::chdir(c"/".as_ptr()) }).map(drop)
}

/// `pivot_root(".", ".")` in `root`: the old root is then on top of it, and
/// the working directory the new root.
fn pivot(root: &CStr) -> SysResult<()> {
    // SAFETY: valid paths; these calls only change this process's view.
    unsafe {
        sys::check(libc::chdir(root.as_ptr()))?;
        sys::check(libc::syscall(
            libc::SYS_pivot_root,
            c".".as_ptr(),
            c".".as_ptr(),
        ))
        .map(drop)
    }
}

/// Takes down the old root that [`pivot`] left on top of the new one (from
/// the new root as working directory): lazily, but its mounts are out of
/// reach once this returns, when an RCU grace period has passed.
pub fn detach_old_root() -> SysResult<()> {
    // SAFETY: a valid path; this only changes this process's view.
    sys::check(unsafe { libc::umount2(DETACH_TARGET.as_ptr(), libc::MNT_DETACH) }).map(drop)
}

/// What [`detach_old_root`] takes down: the mount on top of the working
/// directory.
pub const DETACH_TARGET: &CStr = c".";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_skeleton_holds_the_mount_points_and_is_made_once_per_set() {
        let work = tempfile::tempdir().unwrap();
        let arena = Arena::new().unwrap();
        let skeletons = Skeletons::new(work.path().to_path_buf());
        let binds = [
            Bind::same("/usr/lib"),
            Bind::same("/usr/lib/nonexistent-toolchain"),
            Bind::same("/usr/bin/env"),
            Bind {
                host: work.path().to_path_buf(),
                inside: "/box".into(),
                writable: true,
            },
        ];
        let plan = Plan::new(&arena, &skeletons, &binds, 3, 1 << 20, 100).unwrap();
        let root = PathBuf::from(plan.root.to_str().unwrap());
        assert!(root.join("usr/lib").is_dir());
        assert!(root.join("usr/bin/env").is_file());
        assert!(root.join("box").is_dir());
        assert!(root.join("etc/passwd").is_file());
        assert!(!root.join("usr/lib/nonexistent-toolchain").exists());
        assert!(!plan.ops.iter().any(|o| matches!(o, Op::Bind { src, .. } if src.to_bytes().ends_with(b"nonexistent-toolchain"))));
        // The same mount points reuse it; others get their own.
        let again = Plan::new(&arena, &skeletons, &binds, 3, 1 << 20, 100).unwrap();
        assert_eq!(again.root, plan.root);
        let other = Plan::new(&arena, &skeletons, &binds[..1], 1, 1 << 20, 100).unwrap();
        assert_ne!(other.root, plan.root);
        // A second runner sharing the directory finds it in place.
        let fresh = Skeletons::new(work.path().to_path_buf());
        assert_eq!(
            Plan::new(&arena, &fresh, &binds, 3, 1 << 20, 100)
                .unwrap()
                .root,
            plan.root
        );
    }

    #[test]
    fn what_is_mounted_ahead_needs_nothing_of_the_run() {
        let work = tempfile::tempdir().unwrap();
        let boxes = [work.path().join("a"), work.path().join("b")];
        let arena = Arena::new().unwrap();
        let skeletons = Skeletons::new(work.path().join("skeletons"));
        let plan_for = |box_dir: &Path, writable_lib: bool| {
            std::fs::create_dir_all(box_dir).unwrap();
            let binds = [
                Bind::same("/usr/lib"),
                Bind {
                    writable: writable_lib,
                    ..Bind::same("/usr/bin")
                },
                Bind::same("/etc/hostname"),
                Bind {
                    host: box_dir.to_path_buf(),
                    inside: "/box".into(),
                    writable: false,
                },
            ];
            Plan::new(&arena, &skeletons, &binds, 3, 1 << 20, 100).unwrap()
        };
        let (a, b) = (plan_for(&boxes[0], false), plan_for(&boxes[1], false));
        // The box is the run's own, mounted last, and not in the key.
        let mounts_box = |ops: &[Op], dir: &Path| {
            ops.iter().any(|o| matches!(o, Op::Bind { src, .. } if src.to_bytes() == dir.as_os_str().as_bytes()))
        };
        assert!(!mounts_box(&a.ops[..a.ahead], &boxes[0]));
        assert!(mounts_box(&a.ops[a.ahead..], &boxes[0]));
        assert!(matches!(a.ops[a.ahead - 1], Op::Proc(_)));
        assert_eq!(a.ahead_key(), b.ahead_key());
        // All of it is another's, and so is a box made again at its path.
        assert_ne!(a.key(), b.key());
        assert_eq!(a.key(), plan_for(&boxes[0], false).key());
        std::fs::remove_dir(&boxes[0]).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(10));
        assert_ne!(a.key(), plan_for(&boxes[0], false).key());
        // A writable bind, and every bind after it, are the run's own.
        let w = plan_for(&boxes[0], true);
        assert_eq!(
            w.ops[w.ahead..]
                .iter()
                .filter(|o| matches!(o, Op::Bind { .. }))
                .count(),
            3
        );
        assert_ne!(w.ahead_key(), a.ahead_key());
        // Another scratch size is another key.
        let binds = [Bind::same("/usr/lib")];
        let small = Plan::new(&arena, &skeletons, &binds, 1, 1 << 20, 100).unwrap();
        let large = Plan::new(&arena, &skeletons, &binds, 1, 2 << 20, 100).unwrap();
        assert_ne!(small.ahead_key(), large.ahead_key());
    }
}
