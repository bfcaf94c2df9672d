//! Judging: a compiled submission against a package's tests, with the
//! built-in checker, a sandboxed custom validator, or an interactive
//! validator connected by pipes; verdicts and scores per test and overall.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::checker::Judgement;
use crate::lang;
use crate::package::{Kind, Package, TestCase};
use crate::protocol::{JudgeResult, TestResult, Verdict};
use crate::runner::{classify_runtime_oom, Program, RunError, Runner};
use crate::sandbox::{Bind, Limits, Outcome, Status, Stdin, Stdout};

/// Exit codes of the Problem Package Format's output validators.
const VALIDATOR_AC: i32 = 42;
const VALIDATOR_WA: i32 = 43;

/// How one submission is judged.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// The time limit in force (the package's, derived, or overridden).
    pub time_limit_ms: u64,
    /// Stop at the first failed test (pass-fail problems).
    pub stop_on_failure: bool,
}

/// A package ready for judging: its validator compiled once.
#[derive(Debug)]
pub struct Problem<'p> {
    pub package: &'p Package,
    validator: Option<Program>,
}

/// The validator failed: the package is broken, not the submission.
fn validator_error(why: String) -> RunError {
    RunError::Validator(why)
}

impl<'p> Problem<'p> {
    /// Compiles the package's output validator, if it has one.
    pub fn prepare(runner: &Runner, package: &'p Package) -> Result<Problem<'p>, RunError> {
        let validator = match &package.validator {
            None => None,
            Some(path) => Some(compile_validator(runner, path)?),
        };
        Ok(Problem { package, validator })
    }

    /// Run limits for a submission under `time_limit_ms`.
    pub fn limits(&self, time_limit_ms: u64) -> Limits {
        let p = self.package;
        Limits {
            time_ms: time_limit_ms,
            wall_time_ms: 0,
            memory_mb: p.memory_mb.clamp(1, Limits::MAX_MEMORY_MB),
            output_bytes: (p.output_mb << 20).clamp(1, Limits::MAX_OUTPUT_BYTES),
            stack_mb: Limits::DEFAULT_STACK_MB.min(p.memory_mb.max(1)),
            ..Limits::default()
        }
    }

    /// Judges a compiled submission.
    pub fn judge(
        &self,
        runner: &Runner,
        program: &Program,
        opts: Options,
    ) -> Result<JudgeResult, RunError> {
        let pkg = self.package;
        let limits = self.limits(opts.time_limit_ms);
        let mut result = JudgeResult {
            verdict: Verdict::AC,
            score: None,
            max_score: None,
            compile_output: program
                .compile
                .as_ref()
                .map(|c| c.output.clone())
                .unwrap_or_default(),
            tests: Vec::new(),
            time_ms: 0,
            memory_kb: 0,
            time_limit_ms: limits.time_ms,
            memory_limit_mb: limits.memory_mb,
            error: None,
            isolation: runner.sandbox.layers().to_vec(),
        };
        if !program.compiled() {
            result.verdict = Verdict::CE;
            return Ok(result);
        }
        let scoring = pkg.kind == Kind::Scoring;
        // Each test's sandbox is set up while the one before runs (its
        // program waits until it is started), where a second slot allows;
        // interactive tests take two slots at once and go one by one.
        let interactive = pkg.kind == Kind::Interactive;
        let ahead = runner.sandbox.can_park();
        let park = |test: &TestCase| -> Result<crate::sandbox::Running<'_>, RunError> {
            let input = File::open(&test.input).map_err(RunError::Box)?;
            runner.park(program, limits, &[], Stdin::Fd(input.into()), None)
        };
        let mut next = None;
        for (i, test) in pkg.tests.iter().enumerate() {
            let t = if interactive {
                let (outcome, judged) = self.interact(runner, program, test, limits)?;
                self.result_of(test, outcome, judged)
            } else {
                let mut current = match next.take() {
                    Some(parked) => parked,
                    None => park(test)?,
                };
                current.start()?;
                if ahead {
                    next = pkg.tests.get(i + 1).map(park).transpose()?;
                }
                let out = runner.finish(program, current)?;
                self.test_result(runner, test, out)?
            };
            result.time_ms = result.time_ms.max(t.time_ms);
            result.memory_kb = result.memory_kb.max(t.memory_kb);
            let failed = t.verdict != Verdict::AC;
            if failed && result.verdict == Verdict::AC {
                result.verdict = t.verdict;
            }
            result.tests.push(t);
            if failed && opts.stop_on_failure && !scoring {
                break;
            }
        }
        if scoring {
            let (score, max) = self.score(&result.tests);
            result.score = Some(score);
            result.max_score = Some(max);
            if result.verdict != Verdict::AC
                && score > 0.0
                && !matches!(result.verdict, Verdict::IE)
            {
                result.verdict = Verdict::PA;
            }
        }
        Ok(result)
    }

    /// A run's outcome checked against the test's answer.
    fn test_result(
        &self,
        runner: &Runner,
        test: &TestCase,
        out: Outcome,
    ) -> Result<TestResult, RunError> {
        let judged = if out.status == Status::Ok {
            Some(self.check(runner, test, &out.stdout)?)
        } else {
            None
        };
        Ok(self.result_of(test, out, judged))
    }

    fn result_of(&self, test: &TestCase, outcome: Outcome, judged: Option<Checked>) -> TestResult {
        let (verdict, score, message) = match (outcome.status, judged) {
            (
                Status::Ok,
                Some(Checked {
                    verdict,
                    score,
                    message,
                    ..
                }),
            ) => (verdict, score, message),
            // Interactive: a validator that rejected before the submission
            // ended decides, whatever the broken pipe then did to the
            // submission.
            (
                _,
                Some(Checked {
                    verdict: Verdict::WA,
                    score,
                    message,
                    first: true,
                }),
            ) => (Verdict::WA, score, message),
            (status, _) => (status_verdict(status), None, None),
        };
        TestResult {
            name: test.name.clone(),
            group: test.group.clone(),
            verdict,
            time_ms: outcome.time_ms,
            memory_kb: outcome.memory_kb,
            score,
            message,
        }
    }

    /// Compares output with the answer, by the built-in checker or the
    /// package's validator.
    fn check(&self, runner: &Runner, test: &TestCase, output: &[u8]) -> Result<Checked, RunError> {
        let Some(validator) = &self.validator else {
            let answer = std::fs::read(&test.answer).map_err(RunError::Box)?;
            return Ok(match self.package.compare.check(output, &answer) {
                Judgement::Accepted => Checked::new(Verdict::AC),
                Judgement::Wrong(why) => Checked {
                    message: Some(why),
                    ..Checked::new(Verdict::WA)
                },
            });
        };
        let files = ValidatorFiles::new(runner, test)?;
        let cmd = self.validator_command(
            runner,
            validator,
            &files,
            Stdin::Bytes(output.to_vec()),
            Stdout::Capture,
        );
        let out = runner.sandbox.run(cmd)?;
        files.verdict(&out)
    }

    fn validator_command(
        &self,
        runner: &Runner,
        validator: &Program,
        files: &ValidatorFiles,
        stdin: Stdin,
        stdout: Stdout,
    ) -> crate::sandbox::Command {
        let mut args = vec![
            files.input.display().to_string(),
            files.answer.display().to_string(),
            format!("{}/", files.feedback.display()),
        ];
        args.extend(self.package.validator_args.iter().cloned());
        let mut cmd = runner.command(validator, validator_limits(), &args, stdin, stdout);
        cmd.binds.push(Bind::same(&files.input));
        cmd.binds.push(Bind::same(&files.answer));
        cmd.binds.push(Bind {
            host: files.feedback.clone(),
            inside: files.feedback.clone(),
            writable: true,
        });
        cmd.private.push(files.dir.clone());
        cmd
    }

    /// Runs the submission and the validator connected by two pipes.
    fn interact(
        &self,
        runner: &Runner,
        program: &Program,
        test: &TestCase,
        limits: Limits,
    ) -> Result<(Outcome, Option<Checked>), RunError> {
        let validator = self
            .validator
            .as_ref()
            .ok_or_else(|| validator_error("interactive problem without a validator".into()))?;
        let files = ValidatorFiles::new(runner, test)?;
        let (to_sub_r, to_sub_w) = pipe()?;
        let (to_val_r, to_val_w) = pipe()?;
        let vcmd = self.validator_command(
            runner,
            validator,
            &files,
            Stdin::Fd(to_val_r),
            Stdout::Fd(to_sub_w),
        );
        let scmd = runner.command(
            program,
            limits,
            &[],
            Stdin::Fd(to_sub_r),
            Stdout::Fd(to_val_w),
        );
        let v = runner.sandbox.spawn(vcmd)?;
        let s = runner.sandbox.spawn(scmd)?;
        let (vout, sout) = std::thread::scope(|scope| {
            let vh = scope.spawn(move || v.wait());
            let sout = s.wait();
            (vh.join().expect("validator wait panicked"), sout)
        });
        let sout = classify_runtime_oom(program.lang(), sout?);
        let vout = vout?;
        let mut checked = files.verdict(&vout)?;
        checked.first = vout.ended_ns <= sout.ended_ns;
        Ok((sout, Some(checked)))
    }

    /// Score of a scoring problem: per secret group, then summed.
    fn score(&self, tests: &[TestResult]) -> (f64, f64) {
        let mut by_group: BTreeMap<&str, Vec<&TestResult>> = BTreeMap::new();
        for t in tests.iter().filter(|t| t.group != "sample") {
            by_group.entry(t.group.as_str()).or_default().push(t);
        }
        let all_secret: Vec<&TestCase> = self.package.tests.iter().filter(|t| !t.sample).collect();
        let mut score = 0.0;
        let mut max = 0.0;
        for (group, results) in by_group {
            let total = all_secret
                .iter()
                .filter(|t| t.group == group)
                .count()
                .max(1) as f64;
            let rule = self.package.groups.iter().find(|g| g.name == group);
            let test_score = |t: &TestResult| {
                if t.verdict == Verdict::AC {
                    t.score.unwrap_or(1.0)
                } else {
                    0.0
                }
            };
            let passed = results.iter().filter(|t| t.verdict == Verdict::AC).count() as f64;
            match rule.and_then(|r| r.score.map(|s| (s, r.aggregate_min))) {
                Some((s, true)) => {
                    max += s;
                    if passed == total {
                        score += s;
                    }
                }
                Some((s, false)) => {
                    max += s;
                    score += s * passed / total;
                }
                None => {
                    max += total;
                    score += results.iter().map(|t| test_score(t)).sum::<f64>();
                }
            }
        }
        (score, max)
    }
}

fn status_verdict(s: Status) -> Verdict {
    match s {
        Status::Ok => Verdict::AC,
        Status::Tle => Verdict::TLE,
        Status::Mle => Verdict::MLE,
        Status::Ole => Verdict::OLE,
        Status::Re => Verdict::RE,
    }
}

pub use coderun_protocol::limits::validator_limits;

fn pipe() -> Result<(OwnedFd, OwnedFd), RunError> {
    let (r, w) = std::io::pipe().map_err(RunError::Box)?;
    Ok((r.into(), w.into()))
}

/// A checker's decision with the validator's extras.
#[derive(Debug)]
struct Checked {
    verdict: Verdict,
    score: Option<f64>,
    message: Option<String>,
    /// Interactive: the validator ended before the submission.
    first: bool,
}

impl Checked {
    fn new(verdict: Verdict) -> Checked {
        Checked {
            verdict,
            score: None,
            message: None,
            first: false,
        }
    }
}

/// What one validator run reads and writes, in a directory of its own: the
/// test's input and answer (hard links, or copies) and the feedback
/// directory (judgemessage.txt, score.txt). The package's own paths are
/// never shown to a sandboxed process: a package may sit where only root
/// can enter, and every process's arguments can be read by any other. In the
/// restricted profile the directory is the validator's uid's alone while it
/// runs (see `sandbox::Command::private`), so a submission running beside
/// an interactive validator reads no answer and forges no feedback.
struct ValidatorFiles {
    dir: PathBuf,
    input: PathBuf,
    answer: PathBuf,
    feedback: PathBuf,
}

impl ValidatorFiles {
    fn new(runner: &Runner, test: &TestCase) -> Result<ValidatorFiles, RunError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = runner.scratch_dir("validate").map_err(RunError::Box)?;
        let files = ValidatorFiles {
            input: dir.join("input"),
            answer: dir.join("answer"),
            feedback: dir.join("feedback"),
            dir,
        };
        stage(&test.input, &files.input)?;
        if test.answer.exists() {
            stage(&test.answer, &files.answer)?;
        } else {
            std::fs::write(&files.answer, b"").map_err(RunError::Box)?;
        }
        std::fs::create_dir(&files.feedback).map_err(RunError::Box)?;
        // The validator runs as a slot's uid.
        std::fs::set_permissions(&files.feedback, std::fs::Permissions::from_mode(0o777))
            .map_err(RunError::Box)?;
        Ok(files)
    }

    fn read(&self, name: &str) -> Option<String> {
        let mut s = std::fs::read_to_string(self.feedback.join(name)).ok()?;
        s.truncate(4096);
        Some(s.trim().to_string()).filter(|s| !s.is_empty())
    }

    fn verdict(&self, out: &Outcome) -> Result<Checked, RunError> {
        let message = self.read("judgemessage.txt");
        match (out.status, out.exit_code) {
            (Status::Ok, _) | (Status::Re, Some(VALIDATOR_AC | VALIDATOR_WA)) => {}
            (status, _) => {
                return Err(validator_error(format!(
                    "ended with {status:?} (exit {:?}, signal {:?}): {}",
                    out.exit_code,
                    out.signal,
                    String::from_utf8_lossy(&out.stderr[..out.stderr.len().min(2000)])
                )))
            }
        }
        match out.exit_code {
            Some(VALIDATOR_AC) => {
                let score = match self.read("score.txt") {
                    Some(s) => Some(s.parse::<f64>().map_err(|_| {
                        validator_error(format!("score.txt: {s:?} is not a number"))
                    })?),
                    None => None,
                };
                Ok(Checked {
                    score,
                    message,
                    ..Checked::new(Verdict::AC)
                })
            }
            Some(VALIDATOR_WA) => Ok(Checked {
                message,
                ..Checked::new(Verdict::WA)
            }),
            other => Err(validator_error(format!(
                "exit code {other:?} (expected 42 or 43)"
            ))),
        }
    }
}

/// A test file shown to a validator: a hard link where the file is readable
/// by anyone (its inode's mode stays the wall), else a copy readable by
/// anyone (a setter's 0600 file, or another file system).
fn stage(from: &Path, to: &Path) -> Result<(), RunError> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(from).map_err(RunError::Box)?;
    if meta.permissions().mode() & 0o004 != 0 && std::fs::hard_link(from, to).is_ok() {
        return Ok(());
    }
    std::fs::copy(from, to).map_err(RunError::Box)?;
    std::fs::set_permissions(to, std::fs::Permissions::from_mode(0o644)).map_err(RunError::Box)
}

impl Drop for ValidatorFiles {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Compiles a validator directory (or single file): the main source is the
/// one recognised file, or the one named validator/checker/main; the other
/// files (headers such as testlib.h) go along into the box.
fn compile_validator(runner: &Runner, path: &Path) -> Result<Program, RunError> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(RunError::Box)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .collect();
        v.sort();
        v
    } else {
        vec![path.to_path_buf()]
    };
    let sources: Vec<&PathBuf> = files
        .iter()
        .filter(|f| lang::by_extension(f).is_some())
        .collect();
    let main = match sources.as_slice() {
        [one] => *one,
        many => many
            .iter()
            .find(|f| {
                let stem = f.file_stem().unwrap_or_default().to_string_lossy();
                ["validator", "checker", "main", "output_validator"].contains(&stem.as_ref())
            })
            .copied()
            .ok_or_else(|| {
                validator_error(format!(
                    "cannot tell the main source among {} files in {}",
                    many.len(),
                    path.display()
                ))
            })?,
    };
    let language = lang::by_extension(main).expect("filtered above");
    let tc = runner.toolchain(language.id)?;
    let source = std::fs::read(main).map_err(RunError::Box)?;
    let extra: Vec<(String, Vec<u8>)> = files
        .iter()
        .filter(|f| *f != main)
        .filter_map(|f| {
            Some((
                f.file_name()?.to_string_lossy().into_owned(),
                std::fs::read(f).ok()?,
            ))
        })
        .collect();
    let program = runner.prepare_with(tc, &source, &extra)?;
    if !program.compiled() {
        return Err(validator_error(format!(
            "does not compile: {}",
            program
                .compile
                .as_ref()
                .map(|c| c.output.as_str())
                .unwrap_or_default()
        )));
    }
    Ok(program)
}
