//! The restricted profile's totals: where no cgroup counts a run's memory
//! and no private tmpfs bounds its files (Fargate), the runner measures
//! them itself, over every process and every file of the run's uid, and
//! ends the run when a total passes its limit.
//!
//! * Memory: the anonymous memory of each process of the uid, summed
//!   (`RssAnon`; near the limit the proportional `Pss_Anon`, so that pages
//!   a fork shares are counted once).
//! * Scratch: the blocks of the run's scratch directory, of whatever the
//!   uid made in the host's shared writable directories (`/tmp`,
//!   `/dev/shm`, …), and of files the uid's processes hold open after
//!   deleting them; and the number of those files.
//!
//! Reading another uid's `/proc/PID/fd` and `smaps_rollup` takes
//! CAP_SYS_PTRACE (the one capability a Fargate task may add): without it
//! the profile lacks [`super::Layer::RunTotals`] and refuses to run.
//!
//! Sampling costs a walk of `/proc` and of the run's files, so samples are
//! spaced by at least [`MIN_INTERVAL`] and by twenty times the last one's
//! cost: at most about 5% of a core, however many files a run makes.

use std::collections::HashSet;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// The shortest time between two samples.
pub const MIN_INTERVAL: Duration = Duration::from_millis(10);

/// What a run may use in total.
#[derive(Debug, Clone, Copy)]
pub struct Totals {
    pub memory_bytes: u64,
    pub scratch_bytes: u64,
    pub scratch_files: u64,
}

/// What a sample found over the limits, if anything.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Over {
    /// The processes' memory, bytes.
    Memory(u64),
    /// Scratch bytes or files.
    Scratch,
}

/// One run's meter.
#[derive(Debug)]
pub struct Meter {
    uid: u32,
    scratch: PathBuf,
    shared: Arc<[PathBuf]>,
    limits: Totals,
    next: Instant,
    /// The most memory seen, bytes.
    pub peak_memory: u64,
}

impl Meter {
    pub fn new(uid: u32, scratch: PathBuf, shared: Arc<[PathBuf]>, limits: Totals) -> Meter {
        Meter {
            uid,
            scratch,
            shared,
            limits,
            next: Instant::now() + MIN_INTERVAL,
            peak_memory: 0,
        }
    }

    /// How long until the next sample is due.
    pub fn due_in(&self) -> Duration {
        self.next.saturating_duration_since(Instant::now())
    }

    /// Samples if one is due.
    pub fn check(&mut self) -> Option<Over> {
        let start = Instant::now();
        if start < self.next {
            return None;
        }
        let over = self.sample(true);
        let cost = start.elapsed();
        self.next = Instant::now() + (cost * 20).max(MIN_INTERVAL);
        over
    }

    /// Measures now, whatever the schedule. Without `processes` only the
    /// files are measured (a run that has ended: what it left behind).
    pub fn sample(&mut self, processes: bool) -> Option<Over> {
        let procs = if processes {
            processes_of(self.uid)
        } else {
            Vec::new()
        };
        let mut memory: u64 = procs.iter().map(|p| p.rss_anon).sum();
        if memory > self.limits.memory_bytes {
            // Pages shared by forks count in each process's RSS: near the
            // limit, count them once.
            memory = procs
                .iter()
                .map(|p| pss_anon(p.pid).unwrap_or(p.rss_anon))
                .sum();
        }
        self.peak_memory = self.peak_memory.max(memory);
        if memory > self.limits.memory_bytes {
            return Some(Over::Memory(memory));
        }
        let mut files = Files::new(self.limits.scratch_files);
        files.walk(&self.scratch, None);
        for dir in self.shared.iter() {
            files.walk(dir, Some(self.uid));
        }
        for p in &procs {
            files.deleted_open(p.pid);
        }
        if files.bytes > self.limits.scratch_bytes || files.count > self.limits.scratch_files {
            return Some(Over::Scratch);
        }
        None
    }
}

#[derive(Debug)]
struct Process {
    pid: u32,
    rss_anon: u64,
}

/// Processes whose real uid is `uid`, with their anonymous memory.
fn processes_of(uid: u32) -> Vec<Process> {
    let mut found = Vec::new();
    let Ok(entries) = std::fs::read_dir("/proc") else {
        return found;
    };
    for e in entries.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else {
            continue;
        };
        // `status` is readable for every process, dumpable or not.
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let field = |name: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(name))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if field("Uid:") == Some(u64::from(uid)) {
            found.push(Process {
                pid,
                rss_anon: field("RssAnon:").unwrap_or(0) << 10,
            });
        }
    }
    found
}

/// A process's proportional share of anonymous memory, bytes.
fn pss_anon(pid: u32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).ok()?;
    let kb = text
        .lines()
        .find_map(|l| l.strip_prefix("Pss_Anon:"))?
        .split_whitespace()
        .next()?
        .parse::<u64>()
        .ok()?;
    Some(kb << 10)
}

/// Files counted so far; each inode once.
struct Files {
    bytes: u64,
    count: u64,
    seen: HashSet<(u64, u64)>,
    /// Past this many files the walk stops (the run is over its limit).
    cap: u64,
}

impl Files {
    fn new(cap: u64) -> Files {
        Files {
            bytes: 0,
            count: 0,
            seen: HashSet::new(),
            cap,
        }
    }

    fn add(&mut self, m: &std::fs::Metadata) {
        if self.seen.insert((m.dev(), m.ino())) {
            self.bytes += m.blocks() * 512;
            self.count += 1;
        }
    }

    /// Everything below `dir`; with `owner`, only the entries of `dir` that
    /// `owner` made (a shared directory).
    fn walk(&mut self, dir: &Path, owner: Option<u32>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            if self.count > self.cap {
                return;
            }
            let Ok(m) = e.metadata() else { continue };
            if owner.is_some_and(|uid| m.uid() != uid) {
                continue;
            }
            self.add(&m);
            if m.is_dir() {
                self.walk(&e.path(), None);
            }
        }
    }

    /// Files `pid` holds open that no directory lists any more.
    fn deleted_open(&mut self, pid: u32) {
        let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
            return;
        };
        for fd in fds.flatten() {
            let deleted = std::fs::read_link(fd.path())
                .is_ok_and(|t| t.as_os_str().as_encoded_bytes().ends_with(b" (deleted)"));
            if !deleted {
                continue;
            }
            // The magic link opens the file itself.
            if let Ok(m) = std::fs::metadata(fd.path()) {
                if m.is_file() && m.nlink() == 0 {
                    self.add(&m);
                }
            }
        }
    }
}

/// Removes what `uid` left in the shared writable directories: entries it
/// owns (with everything below them). The uid's processes are gone.
pub fn clean_shared(shared: &[PathBuf], uid: u32) {
    for dir in shared {
        let Ok(entries) = std::fs::read_dir(dir) else {
            continue;
        };
        for e in entries.flatten() {
            let Ok(m) = e.metadata() else { continue };
            if m.uid() != uid {
                continue;
            }
            let _ = if m.is_dir() {
                std::fs::remove_dir_all(e.path())
            } else {
                std::fs::remove_file(e.path())
            };
        }
    }
}

/// The host's directories any uid may write to (world-writable, on a
/// writable file system), among those programs are known to use.
pub fn shared_writable() -> Vec<PathBuf> {
    let mut dirs: Vec<PathBuf> = Vec::new();
    let candidates = [
        PathBuf::from("/tmp"),
        PathBuf::from("/var/tmp"),
        PathBuf::from("/dev/shm"),
        PathBuf::from("/dev/mqueue"),
        PathBuf::from("/run/lock"),
        PathBuf::from("/var/lock"),
        std::env::temp_dir(),
    ];
    for c in candidates {
        let Ok(real) = c.canonicalize() else { continue };
        let writable = std::fs::metadata(&real).is_ok_and(|m| m.is_dir() && m.mode() & 0o002 != 0);
        if writable && !read_only_mount(&real) && !dirs.contains(&real) {
            dirs.push(real);
        }
    }
    dirs
}

fn read_only_mount(dir: &Path) -> bool {
    let Ok(c) = std::ffi::CString::new(dir.as_os_str().as_encoded_bytes()) else {
        return true;
    };
    // SAFETY: a zeroed statvfs is a valid out-parameter.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid path and out-pointer.
    let r = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    r != 0 || st.f_flag & libc::ST_RDONLY != 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn files_count_blocks_once_and_only_the_owners_in_shared_dirs() {
        let t = tempfile::tempdir().unwrap();
        let scratch = t.path().join("scratch");
        std::fs::create_dir_all(scratch.join("sub")).unwrap();
        std::fs::write(scratch.join("a"), vec![1u8; 64 << 10]).unwrap();
        std::fs::hard_link(scratch.join("a"), scratch.join("sub/a")).unwrap();
        let mut f = Files::new(100);
        f.walk(&scratch, None);
        // "a" once (a hard link is the same inode) and the directory.
        assert_eq!(f.count, 2);
        assert!(f.bytes >= 64 << 10 && f.bytes < 128 << 10, "{}", f.bytes);
        // A shared directory: nothing here is owned by uid 4242.
        let mut g = Files::new(100);
        g.walk(t.path(), Some(4242));
        assert_eq!(g.count, 0);
    }

    #[test]
    fn a_deleted_open_file_still_counts() {
        use std::io::Write;
        let t = tempfile::tempdir().unwrap();
        let path = t.path().join("gone");
        let mut file = std::fs::File::create(&path).unwrap();
        file.write_all(&vec![7u8; 256 << 10]).unwrap();
        file.sync_all().unwrap();
        std::fs::remove_file(&path).unwrap();
        let mut f = Files::new(100);
        f.deleted_open(std::process::id());
        assert!(f.bytes >= 256 << 10, "{}", f.bytes);
        drop(file);
    }
}
