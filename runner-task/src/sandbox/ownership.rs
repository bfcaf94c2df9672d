//! Who may enter a run's directories on the host: they are lent to the
//! run's uid for the run and given back to root afterwards.
//!
//! In the full profile a run sees only what is mounted into its own root,
//! so only a box it compiles into needs its uid. In the restricted profile
//! (Fargate) every run shares the host's file system and, possibly without
//! Landlock, can read whatever its uid may reach by path — and paths are no
//! secret (`/proc/PID/cmdline` shows every process's arguments). There,
//! ownership and modes are the wall: at rest a box or private directory is
//! root's with mode 0700; during a run it opens to that run's uid alone.

use std::os::unix::fs::{lchown, PermissionsExt};
use std::path::{Path, PathBuf};

use super::SandboxError;

/// How a directory is lent to a run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Loan {
    /// A box the run compiles into: the whole tree becomes the run's.
    Tree,
    /// A box the run only executes: readable through its group (the run's
    /// gid), never writable, so it cannot change what later runs execute.
    Read,
    /// The run's own directory (a validator's files and feedback).
    Own,
}

/// The directories lent to one run; given back by [`Lent::give_back`] or,
/// at the latest, when dropped (a run whose start failed).
#[derive(Debug, Default)]
pub(super) struct Lent {
    dirs: Vec<(PathBuf, Loan)>,
    restricted: bool,
}

impl Lent {
    /// Lends `box_dir` (writable or not) and `private` to `uid`.
    /// `restricted`: whether other runs share this file system.
    pub fn lend(
        box_dir: Option<&(PathBuf, bool)>,
        private: &[PathBuf],
        uid: u32,
        restricted: bool,
    ) -> Result<Lent, SandboxError> {
        let mut lent = Lent {
            dirs: Vec::new(),
            restricted,
        };
        if let Some((dir, writable)) = box_dir {
            match (writable, restricted) {
                (true, _) => lent.add(dir, Loan::Tree, uid)?,
                (false, true) => lent.add(dir, Loan::Read, uid)?,
                // Seen only inside the run's own root.
                (false, false) => {}
            }
        }
        if restricted {
            for dir in private {
                lent.add(dir, Loan::Own, uid)?;
            }
        }
        Ok(lent)
    }

    fn add(&mut self, dir: &Path, loan: Loan, uid: u32) -> Result<(), SandboxError> {
        // Recorded first: a loan that fails half-way is still given back.
        self.dirs.push((dir.to_path_buf(), loan));
        let err = |source| SandboxError::Create {
            what: "box ownership",
            source,
        };
        match loan {
            Loan::Tree => chown_tree(dir, uid),
            Loan::Read => {
                std::os::unix::fs::chown(dir, Some(0), Some(uid)).map_err(err)?;
                set_mode(dir, 0o750)
            }
            Loan::Own => {
                std::os::unix::fs::chown(dir, Some(uid), Some(uid)).map_err(err)?;
                set_mode(dir, 0o700)
            }
        }
    }

    /// Root's again; mode 0700 in the restricted profile (in the full one
    /// the slots' unprivileged uids mount boxes from the host: modes stay).
    pub fn give_back(&mut self) {
        for (dir, loan) in std::mem::take(&mut self.dirs) {
            let dir = &dir;
            let _ =
                match loan {
                    Loan::Tree => chown_tree(dir, 0),
                    Loan::Read | Loan::Own => std::os::unix::fs::chown(dir, Some(0), Some(0))
                        .map_err(|source| SandboxError::Create {
                            what: "box ownership",
                            source,
                        }),
                };
            if self.restricted {
                let _ = set_mode(dir, 0o700);
            }
        }
    }
}

impl Drop for Lent {
    fn drop(&mut self) {
        self.give_back();
    }
}

fn set_mode(dir: &Path, mode: u32) -> Result<(), SandboxError> {
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(mode)).map_err(|source| {
        SandboxError::Create {
            what: "box ownership",
            source,
        }
    })
}

/// Gives `path` and everything below it to `uid` (and the group `uid`);
/// symbolic links are changed themselves, never followed.
pub(super) fn chown_tree(path: &Path, uid: u32) -> Result<(), SandboxError> {
    let err = |source| SandboxError::Create {
        what: "box ownership",
        source,
    };
    lchown(path, Some(uid), Some(uid)).map_err(err)?;
    if path.is_dir() && !path.is_symlink() {
        for e in std::fs::read_dir(path).map_err(err)? {
            chown_tree(&e.map_err(err)?.path(), uid)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn owner(p: &Path) -> (u32, u32, u32) {
        let m = std::fs::metadata(p).unwrap();
        (m.uid(), m.gid(), m.mode() & 0o7777)
    }

    #[test]
    fn restricted_loans_open_to_one_uid_and_close_again() {
        let t = tempfile::tempdir().unwrap();
        let (bx, own) = (t.path().join("box"), t.path().join("own"));
        for d in [&bx, &own] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(bx.join("prog"), "x").unwrap();
        let mut lent = Lent::lend(
            Some(&(bx.clone(), false)),
            std::slice::from_ref(&own),
            4242,
            true,
        )
        .unwrap();
        assert_eq!(owner(&bx), (0, 4242, 0o750));
        assert_eq!(owner(&own), (4242, 4242, 0o700));
        // A read-only box's files stay root's: the run cannot replace them.
        assert_eq!(owner(&bx.join("prog")).0, 0);
        lent.give_back();
        assert_eq!(owner(&bx), (0, 0, 0o700));
        assert_eq!(owner(&own), (0, 0, 0o700));

        let mut lent = Lent::lend(Some(&(bx.clone(), true)), &[], 4242, true).unwrap();
        assert_eq!(owner(&bx.join("prog")).0, 4242);
        lent.give_back();
        assert_eq!(owner(&bx.join("prog")).0, 0);
        assert_eq!(owner(&bx), (0, 0, 0o700));
    }
}
