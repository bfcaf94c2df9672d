//! Shared set-up: a runner per profile with its own uids and work directory.

use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use runner_task::runner::{Program, Runner};
use runner_task::sandbox::{self, Limits, Outcome, Profile, Sandbox, Stdin};

pub struct TestRunner {
    pub runner: Runner,
    /// The host uids the runs' programs (and their PID 1, once confined)
    /// run as: the second of each slot's two. The first is a slot's root,
    /// which a slot's warm PID 1, not yet any run's, keeps until its
    /// command comes.
    pub uids: Vec<u32>,
    _dir: tempfile::TempDir,
}

/// A runner of the given profile whose sandboxed uids no other test uses.
pub fn runner(profile: Profile) -> TestRunner {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    let uid_base = 2_000_000 + n * 100;
    let dir = tempfile::tempdir().unwrap();
    let opts = sandbox::Options {
        min_isolation: profile,
        force_restricted: profile == Profile::Restricted,
        slots: 2,
        uid_base,
        work_dir: dir.path().join("work"),
    };
    let sb =
        Sandbox::new(opts).unwrap_or_else(|e| panic!("this host cannot sandbox ({profile}): {e}"));
    assert_eq!(sb.profile(), profile);
    let runner = Runner::new(sb, &dir.path().join("work")).unwrap();
    TestRunner {
        runner,
        uids: vec![uid_base + 1, uid_base + 3],
        _dir: dir,
    }
}

impl TestRunner {
    /// Compiles `source` in `lang`; it must compile.
    pub fn compile(&self, lang: &str, source: &str) -> Program {
        let tc = self.runner.toolchain(lang).unwrap();
        let program = self.runner.prepare(tc, source.as_bytes()).unwrap();
        assert!(
            program.compiled(),
            "test program does not compile: {:?}",
            program.compile
        );
        program
    }

    /// Compiles `source` in `lang` and runs it once.
    pub fn run(&self, lang: &str, source: &str, limits: Limits, args: &[&str]) -> Outcome {
        let program = self.compile(lang, source);
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let profile = self.runner.sandbox.profile();
        self.runner
            .run(&program, limits, &args, Stdin::Null)
            .unwrap_or_else(|e| panic!("{lang} ({profile}): {e}"))
    }

    /// Runs `program` `times` times in a row (each slot's first run is
    /// cold, its later ones warm); each must print `expected`.
    pub fn runs_print(&self, program: &Program, times: usize, expected: &str) {
        let profile = self.runner.sandbox.profile();
        for _ in 0..times {
            let out = self
                .runner
                .run(program, Limits::default(), &[], Stdin::Null)
                .unwrap();
            assert_eq!(
                String::from_utf8_lossy(&out.stdout),
                expected,
                "{profile}: {out:?}"
            );
        }
    }

    /// Processes on the host that run as one of this runner's program uids.
    pub fn leftovers(&self) -> Vec<u32> {
        processes_of(&self.uids)
    }

    /// Nothing of a finished run is left: no process of a program uid,
    /// except a run's PID 1 on its way out. That one reports the run over
    /// only once it has no process left in its namespace, and then exits,
    /// which takes its namespaces down; the verdict does not wait for that,
    /// the slot's next run does. It must be gone in a moment, all the same.
    pub fn assert_host_clean(&self) {
        let left = self.leftovers();
        let others: Vec<u32> = left.iter().copied().filter(|p| !init_or_gone(*p)).collect();
        assert!(
            others.is_empty(),
            "sandboxed processes outlived their run: {others:?}"
        );
        let deadline = Instant::now() + Duration::from_millis(scaled(5_000));
        let mut exiting = left;
        while !exiting.is_empty() && Instant::now() < deadline {
            std::thread::sleep(Duration::from_millis(1));
            exiting.retain(|p| std::path::Path::new(&format!("/proc/{p}")).exists());
        }
        assert!(
            exiting.is_empty(),
            "a finished run's PID 1 did not exit: {exiting:?}"
        );
    }
}

/// Whether `pid` is PID 1 of its own namespace, a run's init (a program
/// can make no PID namespace), or gone.
fn init_or_gone(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/status")).map_or(true, |s| {
        s.lines()
            .find_map(|l| l.strip_prefix("NSpid:"))
            .and_then(|l| l.split_whitespace().last())
            == Some("1")
    })
}

/// Processes on the host running as one of these uids.
pub fn processes_of(uids: &[u32]) -> Vec<u32> {
    let mut found = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(e.path().join("status")) else {
            continue;
        };
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().next())
            .and_then(|u| u.parse::<u32>().ok());
        if uid.is_some_and(|u| uids.contains(&u)) {
            found.push(pid);
        }
    }
    found
}

/// How much slower than a real machine this host runs the tests: 1, or
/// `CODERUN_TEST_SLOWDOWN` (`scripts/host-test` sets it under qemu's
/// software emulation, where a program takes ten times its CPU time or
/// more). Time limits and the waits tests allow scale by it.
pub fn slowdown() -> u64 {
    std::env::var("CODERUN_TEST_SLOWDOWN")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1)
        .max(1)
}

/// `ms` of a real machine's time on this host.
pub fn scaled(ms: u64) -> u64 {
    ms * slowdown()
}

pub fn limits(time_ms: u64, memory_mb: u64) -> Limits {
    Limits {
        time_ms: scaled(time_ms).min(Limits::MAX_TIME_MS),
        memory_mb,
        ..Limits::default()
    }
}

pub fn problems_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/problems")
}

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_runner-task")
}
