//! The sandbox's file system: a fresh, minimal, read-only root made of a small
//! tmpfs, the toolchain paths bound read-only from the host, a few device
//! nodes, a private /proc, the job's box directory and a fresh writable /tmp.
//!
//! The plan is computed in the parent (allocation allowed) and executed in the
//! child as a list of system calls (no allocation).

use std::ffi::{CStr, CString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path, PathBuf};

use super::sys::{
    self, SysResult, MOUNT_ATTR_NODEV, MOUNT_ATTR_NOEXEC, MOUNT_ATTR_NOSUID, MOUNT_ATTR_RDONLY,
};

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
#[derive(Debug)]
enum Op {
    MakePrivate,
    Tmpfs {
        target: CString,
        data: CString,
    },
    Mkdir(CString),
    Symlink {
        target: CString,
        link: CString,
    },
    Touch(CString),
    Bind {
        src: CString,
        dst: CString,
        attrs: u64,
    },
    Proc(CString),
    WriteFile {
        path: CString,
        contents: Vec<u8>,
    },
    RootReadOnly(CString),
}

/// The prepared mount sequence for one run.
#[derive(Debug)]
pub struct Plan {
    ops: Vec<Op>,
    root: CString,
}

/// Devices a program may use; bound from the host's /dev.
pub(super) const DEVICES: &[&str] = &["null", "zero", "full", "random", "urandom"];

fn cstr(p: &Path) -> CString {
    CString::new(p.as_os_str().as_bytes()).expect("paths have no NUL bytes")
}

fn under(root: &Path, inside: &Path) -> PathBuf {
    let rel: PathBuf = inside
        .components()
        .filter(|c| matches!(c, Component::Normal(_)))
        .collect();
    root.join(rel)
}

impl Plan {
    /// Builds the plan for a root at host directory `root` (an empty
    /// directory, mounted over only inside the child's mount namespace).
    pub fn new(root: &Path, binds: &[Bind], scratch_bytes: u64, scratch_inodes: u64) -> Plan {
        let mut ops = vec![
            Op::MakePrivate,
            Op::Tmpfs {
                target: cstr(root),
                data: c"size=1m,nr_inodes=4096,mode=0755".to_owned(),
            },
        ];
        let mut dirs: Vec<PathBuf> = Vec::new();
        let mkdir_p = |ops: &mut Vec<Op>, dirs: &mut Vec<PathBuf>, inside: &Path| {
            let mut cur = PathBuf::from("/");
            for c in inside.components() {
                if let Component::Normal(n) = c {
                    cur.push(n);
                    if !dirs.contains(&cur) {
                        dirs.push(cur.clone());
                        ops.push(Op::Mkdir(cstr(&under(root, &cur))));
                    }
                }
            }
        };
        // Merged-/usr hosts have /bin -> usr/bin and the like: mirror them.
        for top in ["bin", "sbin", "lib", "lib32", "lib64", "libx32"] {
            let host = Path::new("/").join(top);
            if let Ok(target) = std::fs::read_link(&host) {
                ops.push(Op::Symlink {
                    target: cstr(&target),
                    link: cstr(&under(root, &host)),
                });
                dirs.push(host);
            }
        }
        for dir in ["/proc", "/dev", "/tmp", "/etc"] {
            mkdir_p(&mut ops, &mut dirs, Path::new(dir));
        }
        // Scratch first, so that binds below /tmp (a work directory there)
        // land on top of it rather than being hidden by it.
        ops.push(Op::Tmpfs {
            target: cstr(&root.join("tmp")),
            data: CString::new(format!(
                "size={scratch_bytes},nr_inodes={scratch_inodes},mode=1777"
            ))
            .expect("no NUL"),
        });
        for b in binds {
            let Ok(meta) = std::fs::metadata(&b.host) else {
                continue; // optional toolchain paths may be absent
            };
            let dst = under(root, &b.inside);
            if meta.is_dir() {
                mkdir_p(&mut ops, &mut dirs, &b.inside);
            } else {
                if let Some(parent) = b.inside.parent() {
                    mkdir_p(&mut ops, &mut dirs, parent);
                }
                ops.push(Op::Touch(cstr(&dst)));
            }
            let mut attrs = MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
            if !b.writable {
                attrs |= MOUNT_ATTR_RDONLY;
            }
            ops.push(Op::Bind {
                src: cstr(&b.host),
                dst: cstr(&dst),
                attrs,
            });
        }
        for dev in DEVICES {
            let inside = Path::new("/dev").join(dev);
            if !inside.exists() {
                continue;
            }
            let dst = cstr(&under(root, &inside));
            ops.push(Op::Touch(dst.clone()));
            ops.push(Op::Bind {
                src: cstr(&inside),
                dst,
                attrs: MOUNT_ATTR_NOSUID | MOUNT_ATTR_NOEXEC,
            });
        }
        for (name, target) in [
            ("fd", "/proc/self/fd"),
            ("stdin", "/proc/self/fd/0"),
            ("stdout", "/proc/self/fd/1"),
            ("stderr", "/proc/self/fd/2"),
        ] {
            ops.push(Op::Symlink {
                target: cstr(Path::new(target)),
                link: cstr(&under(root, &Path::new("/dev").join(name))),
            });
        }
        ops.push(Op::Proc(cstr(&root.join("proc"))));
        ops.push(Op::WriteFile {
            path: cstr(&root.join("etc/passwd")),
            contents: b"root:x:0:0:root:/:/bin/sh\nrunner:x:1000:1000:runner:/tmp:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n".to_vec(),
        });
        ops.push(Op::WriteFile {
            path: cstr(&root.join("etc/group")),
            contents: b"root:x:0:\nrunner:x:1000:\nnogroup:x:65534:\n".to_vec(),
        });
        ops.push(Op::WriteFile {
            path: cstr(&root.join("etc/hosts")),
            contents: b"127.0.0.1 localhost\n".to_vec(),
        });
        ops.push(Op::RootReadOnly(cstr(root)));
        Plan {
            ops,
            root: cstr(root),
        }
    }

    /// Executes the plan and pivots into the new root. Runs in the child.
    pub fn execute(&self) -> SysResult<()> {
        for op in &self.ops {
            match op {
                Op::MakePrivate => {
                    sys::mount(None, c"/", None, libc::MS_REC | libc::MS_PRIVATE, None)?
                }
                Op::Tmpfs { target, data } => sys::mount(
                    Some(c"tmpfs"),
                    target,
                    Some(c"tmpfs"),
                    libc::MS_NOSUID | libc::MS_NODEV,
                    Some(data),
                )?,
                Op::Mkdir(p) => sys::mkdir(p, 0o755)?,
                Op::Symlink { target, link } => sys::symlink(target, link)?,
                Op::Touch(p) => sys::close(sys::open(p, libc::O_WRONLY | libc::O_CREAT, 0o644)?),
                Op::Bind { src, dst, attrs } => {
                    sys::mount(Some(src), dst, None, libc::MS_BIND | libc::MS_REC, None)?;
                    sys::mount_setattr(dst, *attrs, true)?;
                }
                Op::Proc(target) => sys::mount(
                    Some(c"proc"),
                    target,
                    Some(c"proc"),
                    libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
                    None,
                )?,
                Op::WriteFile { path, contents } => sys::write_file(path, contents, 0o644)?,
                Op::RootReadOnly(root) => sys::mount(
                    None,
                    root,
                    None,
                    libc::MS_REMOUNT
                        | libc::MS_BIND
                        | libc::MS_RDONLY
                        | libc::MS_NOSUID
                        | libc::MS_NODEV,
                    None,
                )?,
            }
        }
        pivot_into(&self.root)
    }
}

/// `pivot_root(".", ".")` then detaching the old root: no directory for the
/// old root is needed and nothing of the host stays reachable.
fn pivot_into(root: &CStr) -> SysResult<()> {
    // SAFETY: valid paths; these calls only change this process's view.
    unsafe {
        sys::check(libc::chdir(root.as_ptr()))?;
        sys::check(libc::syscall(
            libc::SYS_pivot_root,
            c".".as_ptr(),
            c".".as_ptr(),
        ))?;
        sys::check(libc::umount2(c".".as_ptr(), libc::MNT_DETACH))?;
        sys::check(libc::chdir(c"/".as_ptr()))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plan_creates_parents_once_and_skips_missing_paths() {
        let binds = [
            Bind::same("/usr/lib"),
            Bind::same("/usr/lib/nonexistent-toolchain"),
            Bind::same("/usr/include"),
        ];
        let plan = Plan::new(Path::new("/tmp/root"), &binds, 1 << 20, 100);
        let mkdirs: Vec<String> = plan
            .ops
            .iter()
            .filter_map(|o| match o {
                Op::Mkdir(p) => Some(p.to_string_lossy().into_owned()),
                _ => None,
            })
            .collect();
        assert_eq!(mkdirs.iter().filter(|p| *p == "/tmp/root/usr").count(), 1);
        assert!(!plan.ops.iter().any(|o| matches!(o, Op::Bind { src, .. } if src.to_bytes().ends_with(b"nonexistent-toolchain"))));
        assert!(matches!(plan.ops.last(), Some(Op::RootReadOnly(_))));
    }
}
