//! Benchmark of the sandbox's cost (figures printed, never asserted):
//! medians of N runs of a static C binary and of `python3 -c pass`, bare,
//! under bubblewrap with comparable isolation, and under our full profile,
//! the three taken in turns; the same in the restricted profile (the layers
//! Fargate allows) against bare;
//! the judge's overhead per test on a 200-test problem; and every
//! language's starter program (it reads a name, greets it) run bare with
//! its run command against the same program in the sandbox.
//!
//! `scripts/bench` builds it in release mode and installs bubblewrap.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use std::io::Write;

use runner_task::judge::{self, Problem};
use runner_task::lang::LANGUAGES;
use runner_task::package::Package;
use runner_task::runner::{Program, Runner};
use runner_task::sandbox::{self, Limits, Sandbox, Stdin};

/// A positive count from the environment variable `var`, else `default`.
fn count_from_env(var: &str, default: usize) -> usize {
    std::env::var(var)
        .ok()
        .and_then(|n| n.parse().ok())
        .filter(|n| *n > 0)
        .unwrap_or(default)
}

/// Runs per median: 200, or `CODERUN_BENCH_RUNS` (fewer under emulation,
/// see `scripts/host-test bench-cgroup-v2`).
fn runs() -> usize {
    count_from_env("CODERUN_BENCH_RUNS", 200)
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn time(mut f: impl FnMut()) -> Duration {
    settle();
    for _ in 0..10 {
        f(); // warm-up
    }
    median(
        (0..runs())
            .map(|_| {
                let t = Instant::now();
                f();
                t.elapsed()
            })
            .collect(),
    )
}

/// Medians of the ways of running one program, measured in turns (each
/// round in another order) so that they share the machine's load of the
/// moment, which on a shared virtual machine drifts within seconds.
fn time_in_turns<const N: usize>(mut ways: [&mut dyn FnMut(); N]) -> [Duration; N] {
    settle();
    for _ in 0..10 {
        for f in ways.iter_mut() {
            f(); // warm-up
        }
    }
    let mut times: [Vec<Duration>; N] = std::array::from_fn(|_| Vec::new());
    for round in 0..runs() {
        for k in 0..N {
            let i = (round + k) % N;
            let t = Instant::now();
            ways[i]();
            times[i].push(t.elapsed());
        }
    }
    times.map(median)
}

/// Waits for the kernel's deferred work of the block before (namespaces
/// torn down after their processes exited, network namespaces above all)
/// so that it is not charged to the next block.
fn settle() {
    std::thread::sleep(Duration::from_secs(2));
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn bare(argv: &[&str]) {
    let st = Command::new(argv[0])
        .args(&argv[1..])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success());
}

/// One run of `program` in `runner`'s sandbox with the default limits; it
/// must exit 0.
fn sandboxed(runner: &Runner, program: &Program) {
    let o = runner
        .run(program, Limits::default(), &[], Stdin::Null)
        .unwrap();
    assert_eq!(o.exit_code, Some(0));
}

/// Runs per language in the start-up table: 20, or
/// `CODERUN_BENCH_LANGUAGE_RUNS` (the JVM's and the BEAM's take a tenth of
/// a second or more each).
fn language_runs() -> usize {
    count_from_env("CODERUN_BENCH_LANGUAGE_RUNS", 20)
}

/// The starter's run command as the sandbox would run it, on the host:
/// the same argv and environment, `{box}` the program's directory and
/// `{tmp}` a scratch directory; it greets "world" from its stdin.
fn bare_starter(runner: &Runner, program: &Program, scratch: &Path) -> impl FnMut() {
    let cmd = runner.command(
        program,
        Limits::default(),
        &[],
        Stdin::Null,
        sandbox::Stdout::Capture,
    );
    let fill = |s: &str| {
        s.replace("{box}", program.box_dir().to_str().unwrap())
            .replace("{tmp}", scratch.to_str().unwrap())
    };
    let exe = fill(&cmd.program);
    let args: Vec<String> = cmd.args.iter().map(|a| fill(a)).collect();
    let env: Vec<(String, String)> = cmd.env.iter().map(|(k, v)| (k.clone(), fill(v))).collect();
    let id = program.lang().id;
    move || {
        let mut child = Command::new(&exe)
            .args(&args)
            .env_clear()
            .envs(env.iter().cloned())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(b"world\n").unwrap();
        let out = child.wait_with_output().unwrap();
        assert_eq!(out.stdout, b"Hello, world!\n", "{id} bare");
    }
}

/// The starter in the sandbox.
fn sandboxed_starter(runner: &Runner, program: &Program) {
    let o = runner
        .run(
            program,
            Limits::default(),
            &[],
            Stdin::Bytes(b"world\n".to_vec()),
        )
        .unwrap();
    assert_eq!(o.stdout, b"Hello, world!\n", "{}", program.lang().id);
}

/// The pause before each timed run of [`time_pair`].
const QUIET: Duration = Duration::from_millis(3);

/// Medians of `n` runs of each way, taken in turns.
fn time_pair(n: usize, a: &mut dyn FnMut(), b: &mut dyn FnMut()) -> [Duration; 2] {
    for _ in 0..3 {
        a();
        b();
    }
    let (mut ta, mut tb) = (Vec::new(), Vec::new());
    for round in 0..n {
        let order: [(&mut dyn FnMut(), &mut Vec<Duration>); 2] = if round % 2 == 0 {
            [(&mut *a, &mut ta), (&mut *b, &mut tb)]
        } else {
            [(&mut *b, &mut tb), (&mut *a, &mut ta)]
        };
        for (f, times) in order {
            // Each starts once what the sandbox does in the background
            // after a run (its next PID 1 made ready, the last one's
            // namespaces taken down) is done, so that it is not charged to
            // the next measurement, bare or not; spinning, as a CPU left
            // idle wakes slower (in this VM, by as much as a bare start).
            let quiet = Instant::now();
            while quiet.elapsed() < QUIET {
                std::hint::spin_loop();
            }
            let t = Instant::now();
            f();
            times.push(t.elapsed());
        }
    }
    [median(ta), median(tb)]
}

/// Every language's starter, bare against sandboxed.
fn languages(runner: &Runner) {
    let scratch = tempfile::tempdir().unwrap();
    println!();
    println!(
        "start-up of each language's starter (reads a name, greets it), median of {} runs each, taken in turns (ms)",
        language_runs()
    );
    println!(
        "  coderun: the same program again, as each test of a judged submission after the first two on a slot;"
    );
    println!(
        "  another: a new program each run (its box not the slot's last one), as in the playground, against bare runs of its own"
    );
    println!(
        "{:<12} {:<22} {:>9} {:>9} {:>12} {:>9} {:>12}",
        "language", "release", "bare", "coderun", "coderun/bare", "another", "another/bare"
    );
    settle();
    // `CODERUN_BENCH_LANGUAGES=lua,bash` measures only those.
    let only = std::env::var("CODERUN_BENCH_LANGUAGES").unwrap_or_default();
    for lang in LANGUAGES
        .iter()
        .filter(|l| only.is_empty() || only.split(',').any(|id| id == l.id))
    {
        // Three copies: taken in turn, none is ever a slot's last one (the
        // two slots take runs in turn too).
        let copies: Vec<Program> = (0..3)
            .map(|_| {
                let program = runner
                    .prepare(runner.toolchain(lang.id).unwrap(), lang.hello.as_bytes())
                    .unwrap();
                assert!(program.compiled(), "{}: {:?}", lang.id, program.compile);
                program
            })
            .collect();
        let program = &copies[0];
        let mut bare = bare_starter(runner, program, scratch.path());
        let [b, o] = time_pair(language_runs(), &mut bare, &mut || {
            sandboxed_starter(runner, program)
        });
        let mut next = 0;
        let [b2, a] = time_pair(language_runs(), &mut bare, &mut || {
            next = (next + 1) % copies.len();
            sandboxed_starter(runner, &copies[next])
        });
        println!(
            "{:<12} {:<22} {:>9.2} {:>9.2} {:>11.2}x {:>9.2} {:>11.2}x",
            lang.id,
            lang.release,
            ms(b),
            ms(o),
            ms(o) / ms(b),
            ms(a),
            ms(a) / ms(b2)
        );
    }
}

/// The layers `runner`'s sandbox applies, by name.
fn layers(runner: &Runner) -> Vec<String> {
    runner.sandbox.layers().iter().map(|l| l.name()).collect()
}

fn bwrap(box_dir: &Path, argv: &[&str]) {
    // The same kinds of isolation bwrap offers: all namespaces, a minimal
    // read-only root, /proc, /dev, a tmpfs /tmp, no new privileges.
    let mut c = Command::new("bwrap");
    c.args([
        "--unshare-all",
        "--die-with-parent",
        "--new-session",
        "--ro-bind",
        "/usr",
        "/usr",
        "--symlink",
        "usr/lib",
        "/lib",
        "--symlink",
        "usr/lib64",
        "/lib64",
        "--symlink",
        "usr/bin",
        "/bin",
    ]);
    c.arg("--ro-bind").arg(box_dir).arg("/box");
    c.args([
        "--proc",
        "/proc",
        "--dev",
        "/dev",
        "--tmpfs",
        "/tmp",
        "--chdir",
        "/tmp",
        "--clearenv",
        "--",
    ]);
    let st = c
        .args(argv)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(st.success(), "bwrap failed");
}

fn main() {
    let work = tempfile::tempdir().unwrap();
    let sb = Sandbox::new(sandbox::Options {
        work_dir: work.path().join("work"),
        ..sandbox::Options::default()
    })
    .expect("the full profile is needed for this benchmark");
    let runner = Runner::new(sb, &work.path().join("work")).unwrap();
    if std::env::args().any(|a| a == "--languages") {
        languages(&runner);
        return;
    }

    // A static C binary that does nothing.
    let c = runner
        .prepare(runner.toolchain("c").unwrap(), b"int main(void){return 0;}")
        .unwrap();
    let exe = c.box_dir().join("main");
    let exe_s = exe.to_str().unwrap();
    let [c_bare, c_bwrap, c_ours] = time_in_turns([
        &mut || bare(&[exe_s]),
        &mut || bwrap(c.box_dir(), &["/box/main"]),
        &mut || sandboxed(&runner, &c),
    ]);

    // python3 -c pass.
    let py = runner
        .prepare(runner.toolchain("python3").unwrap(), b"pass\n")
        .unwrap();
    let python = ["/usr/bin/python3", "-B", "-I", "-c", "pass"];
    let [py_bare, py_bwrap, py_ours] = time_in_turns([
        &mut || bare(&python),
        &mut || bwrap(py.box_dir(), &python),
        &mut || sandboxed(&runner, &py),
    ]);

    println!(
        "sandbox start-up, median of {} runs each, taken in turns (ms)",
        runs()
    );
    println!(
        "{:<26} {:>8} {:>8} {:>8} {:>12} {:>12}",
        "", "bare", "bwrap", "coderun", "coderun/bare", "coderun/bwrap"
    );
    for (name, b, w, o) in [
        ("static C binary", c_bare, c_bwrap, c_ours),
        ("python3 -c pass", py_bare, py_bwrap, py_ours),
    ] {
        println!(
            "{name:<26} {:>8.2} {:>8.2} {:>8.2} {:>11.2}x {:>11.2}x",
            ms(b),
            ms(w),
            ms(o),
            ms(o) / ms(b),
            ms(o) / ms(w)
        );
    }
    println!("coderun layers: {:?}", layers(&runner));

    // The restricted profile: what a Fargate runner applies (no namespaces
    // or cgroups there), on the same programs.
    let restricted = Sandbox::new(sandbox::Options {
        min_isolation: sandbox::Profile::Restricted,
        force_restricted: true,
        work_dir: work.path().join("restricted"),
        ..sandbox::Options::default()
    })
    .expect("the restricted profile");
    let restricted = Runner::new(restricted, &work.path().join("restricted")).unwrap();
    let rc = restricted
        .prepare(
            restricted.toolchain("c").unwrap(),
            b"int main(void){return 0;}",
        )
        .unwrap();
    let rexe = rc.box_dir().join("main");
    let rexe_s = rexe.to_str().unwrap();
    let [rc_bare, rc_ours] =
        time_in_turns([&mut || bare(&[rexe_s]), &mut || sandboxed(&restricted, &rc)]);
    let rpy = restricted
        .prepare(restricted.toolchain("python3").unwrap(), b"pass\n")
        .unwrap();
    let [rpy_bare, rpy_ours] =
        time_in_turns([&mut || bare(&python), &mut || sandboxed(&restricted, &rpy)]);
    println!();
    println!(
        "restricted profile (Fargate), median of {} runs each, taken in turns (ms)",
        runs()
    );
    println!(
        "{:<26} {:>8} {:>8} {:>12}",
        "", "bare", "coderun", "coderun/bare"
    );
    for (name, b, o) in [
        ("static C binary", rc_bare, rc_ours),
        ("python3 -c pass", rpy_bare, rpy_ours),
    ] {
        println!(
            "{name:<26} {:>8.2} {:>8.2} {:>11.2}x",
            ms(b),
            ms(o),
            ms(o) / ms(b)
        );
    }
    println!("restricted layers: {:?}", layers(&restricted));

    // Judge overhead: a 200-test problem whose solution copies its input.
    let pkg_dir = work.path().join("echo");
    std::fs::create_dir_all(pkg_dir.join("data/secret")).unwrap();
    std::fs::write(
        pkg_dir.join("problem.yaml"),
        "name: echo\nlimits:\n  time_limit: 1\n  memory: 64\n",
    )
    .unwrap();
    for i in 0..200 {
        std::fs::write(
            pkg_dir.join(format!("data/secret/{i:03}.in")),
            format!("{i}\n"),
        )
        .unwrap();
        std::fs::write(
            pkg_dir.join(format!("data/secret/{i:03}.ans")),
            format!("{i}\n"),
        )
        .unwrap();
    }
    let pkg = Package::load(&pkg_dir).unwrap();
    let problem = Problem::prepare(&runner, &pkg).unwrap();
    let echo = runner
        .prepare(runner.toolchain("c").unwrap(), b"#include <unistd.h>\nint main(void){char b[64];int n=read(0,b,64);if(n>0)write(1,b,n);return 0;}")
        .unwrap();
    let echo_bare = time(|| bare(&[echo.box_dir().join("main").to_str().unwrap()]));
    let opts = judge::Options {
        time_limit_ms: 1000,
        stop_on_failure: true,
    };
    let mut totals = Vec::new();
    for _ in 0..5 {
        let t = Instant::now();
        let r = problem.judge(&runner, &echo, opts).unwrap();
        totals.push(t.elapsed());
        assert_eq!(r.verdict, runner_task::protocol::Verdict::AC);
        assert_eq!(r.tests.len(), 200);
    }
    let total = median(totals);
    let overhead = (ms(total) - 200.0 * ms(echo_bare)) / 200.0;
    println!();
    println!("judge, 200 tests (median of 5): total {:.1} ms; the program's own run (bare) {:.2} ms; judge overhead per test {:.2} ms", ms(total), ms(echo_bare), overhead);

    languages(&runner);
}
