//! What a caller asks of the sandbox: its options and one run's command.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use super::{Bind, Limits, Profile};

/// Options chosen by the operator.
#[derive(Debug, Clone)]
pub struct Options {
    /// Refuse to run below this profile.
    pub min_isolation: Profile,
    /// Use the restricted profile even where full isolation is possible.
    pub force_restricted: bool,
    /// Concurrent runs (each gets a pooled slot).
    pub slots: usize,
    /// First host uid used for sandboxed programs; each slot takes two.
    /// 0 leases a range no other runner process on this host holds.
    pub uid_base: u32,
    /// Where the runner keeps its root skeletons and scratch directories.
    pub work_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            min_isolation: Profile::Full,
            force_restricted: false,
            slots: 2,
            uid_base: 0,
            work_dir: std::env::temp_dir().join("coderun-sandbox"),
        }
    }
}

/// Where a run's input comes from.
#[derive(Debug)]
pub enum Stdin {
    Null,
    /// These bytes (held in a sealed in-memory file, so nothing blocks).
    Bytes(Vec<u8>),
    /// An open file or pipe.
    Fd(OwnedFd),
}

/// Where a run's standard output goes.
#[derive(Debug)]
pub enum Stdout {
    /// Captured (within the output limit) into [`Outcome::stdout`].
    Capture,
    /// Another process's pipe (interactive problems); not counted.
    Fd(OwnedFd),
}

/// One program to run.
#[derive(Debug)]
pub struct Command {
    /// Executable path as seen inside; `{box}` and `{tmp}` are replaced by
    /// the box and scratch directories of the profile in force.
    pub program: String,
    pub args: Vec<String>,
    pub env: Vec<(String, String)>,
    pub cwd: String,
    /// Host paths to show (read-only) besides the box.
    pub binds: Vec<Bind>,
    /// The job's directory, shown as `{box}`: writable while compiling.
    pub box_dir: Option<(PathBuf, bool)>,
    /// Host directories only this run's uid may enter while it runs (in the
    /// restricted profile; root's, mode 0700, before and after): a
    /// validator's copies of the test's files and its feedback directory.
    pub private: Vec<PathBuf>,
    pub limits: Limits,
    /// Memory actually enforced, bytes (the limit plus a runtime's overhead).
    pub memory_bytes: u64,
    /// Without cgroups, cap the address space (false: the data segment, for
    /// runtimes that reserve far more address space than they use).
    pub limit_address_space: bool,
    pub stdin: Stdin,
    pub stdout: Stdout,
    /// Files that get stdout and stderr as they arrive (what is kept of
    /// them, within the output limit), for live logs.
    pub live: Option<[std::fs::File; 2]>,
    /// Probe runs stop after the setup, before `execve`.
    pub(super) probe: bool,
    /// Set up, then wait for [`Running::start`] before the program starts
    /// (the full profile): a judge prepares the next test's sandbox while
    /// the current test runs.
    pub parked: bool,
}

impl Command {
    pub fn new(program: impl Into<String>, limits: Limits) -> Command {
        Command {
            program: program.into(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: "{tmp}".into(),
            binds: Vec::new(),
            box_dir: None,
            private: Vec::new(),
            memory_bytes: limits.memory_mb << 20,
            limits,
            limit_address_space: true,
            stdin: Stdin::Null,
            stdout: Stdout::Capture,
            live: None,
            probe: false,
            parked: false,
        }
    }
}
