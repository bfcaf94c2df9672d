//! Judging: a compiled submission against a package's tests, with the
//! built-in checker, a sandboxed custom validator, or an interactive
//! validator connected by pipes; verdicts and scores per test and overall.

use std::collections::BTreeMap;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};

use crate::checker::Judgement;
use crate::package::checker::Compare;
use crate::package::scoring::{Reported, ScoredTest};
use crate::package::{Kind, Package, TestCase};
use crate::protocol::{GroupScore, JudgeResult, TestResult, Verdict};
use crate::runner::{classify_runtime_oom, Program, ProgramFiles, RunError, Runner};
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
    static_validator: Option<Program>,
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
            Some(path) => Some(compile_validator(runner, package, path)?),
        };
        let static_validator = match &package.static_validator {
            None => None,
            Some(path) => Some(compile_package_program(
                runner,
                package,
                path,
                &["static_validator", "validator", "validate"],
            )?),
        };
        Ok(Problem {
            package,
            validator,
            static_validator,
        })
    }

    /// Prepares (compiles) a submission with what the package's `include/`
    /// adds in its language: files beside its own, replacing those of the
    /// same name; one named as its entry point (a driver) replaces that.
    pub fn prepare_submission(
        &self,
        runner: &Runner,
        toolchain: crate::lang::Toolchain,
        source: &[u8],
        extra: &[(String, Vec<u8>)],
    ) -> Result<Program, RunError> {
        let code = crate::lang::format_code(toolchain.lang);
        let included = self
            .package
            .included_files(code)
            .map_err(|e| validator_error(e.to_string()))?;
        if included.is_empty() {
            return runner.prepare_with(toolchain, source, extra);
        }
        let entry = runner.entry_file_name(&toolchain, source);
        let mut source = source.to_vec();
        let mut files: Vec<(String, Vec<u8>)> = extra
            .iter()
            .filter(|(name, _)| !included.iter().any(|(n, _)| n == name))
            .cloned()
            .collect();
        for (name, bytes) in included {
            if name == entry {
                source = bytes;
            } else {
                files.push((name, bytes));
            }
        }
        runner.prepare_with(toolchain, &source, &files)
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
            groups: Vec::new(),
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
            runner.park(program, limits, &test.args, Stdin::Fd(input.into()), None)
        };
        let mut next = None;
        // What the validator said of each test's score (2025-09 scoring).
        let mut reported = Vec::new();
        // The static validation test cases first, on the submission's
        // files (2025-09); then the tests.
        let mut statics = 0;
        for case in &pkg.static_cases {
            let (t, said) = self.static_case(runner, program, case)?;
            let failed = t.verdict != Verdict::AC;
            if failed && result.verdict == Verdict::AC {
                result.verdict = t.verdict;
            }
            result.tests.push(t);
            reported.push(said);
            statics += 1;
            if failed && opts.stop_on_failure && !scoring {
                return Ok(result);
            }
        }
        // A test with files (`.files`) runs its own copy of the program,
        // where they are; it is not set up ahead.
        let plain = |t: &&TestCase| t.files.is_none();
        for (i, test) in pkg.tests.iter().enumerate() {
            let own = match &test.files {
                Some(files) => Some(runner.with_files(program, files)?),
                None => None,
            };
            let program = own.as_ref().unwrap_or(program);
            let (t, said) = if pkg.multi_pass {
                let (outcome, judged) = self.multi_pass(runner, program, test, limits)?;
                self.result_of(test, outcome, judged)
            } else if interactive {
                let files = ValidatorFiles::new(runner, test)?;
                let (outcome, judged) = self.interact(runner, program, test, &files, limits)?;
                self.result_of(test, outcome, judged)
            } else if own.is_some() {
                let input = File::open(&test.input).map_err(RunError::Box)?;
                let out = runner.run(program, limits, &test.args, Stdin::Fd(input.into()))?;
                self.test_result(runner, test, out)?
            } else {
                let mut current = match next.take() {
                    Some(parked) => parked,
                    None => park(test)?,
                };
                current.start()?;
                if ahead {
                    next = pkg.tests.get(i + 1).filter(plain).map(park).transpose()?;
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
            reported.push(said);
            if failed && opts.stop_on_failure && !scoring {
                break;
            }
        }
        if let Some(scoring) = &pkg.scoring {
            let tests: Vec<ScoredTest> = result
                .tests
                .iter()
                .zip(&reported)
                .enumerate()
                .map(|(i, (t, said))| ScoredTest {
                    name: &t.name,
                    group: &t.group,
                    accepted: t.verdict == Verdict::AC,
                    reported: *said,
                    is_static: i < statics,
                })
                .collect();
            let s = scoring.score(&tests).map_err(validator_error)?;
            for (t, score) in result.tests.iter_mut().zip(s.tests) {
                t.score = score;
            }
            result.groups = s
                .groups
                .into_iter()
                .map(|(name, score, max_score)| GroupScore {
                    name,
                    score,
                    max_score,
                })
                .collect();
            result.score = Some(s.score);
            result.max_score = s.max_score;
        } else if scoring {
            let (score, max) = self.score(&result.tests);
            result.score = Some(score);
            result.max_score = Some(max);
        }
        if result.verdict != Verdict::AC
            && result.score.is_some_and(|s| s > 0.0)
            && !matches!(result.verdict, Verdict::IE)
        {
            result.verdict = Verdict::PA;
        }
        Ok(result)
    }

    /// A run's outcome checked against the test's answer.
    fn test_result(
        &self,
        runner: &Runner,
        test: &TestCase,
        out: Outcome,
    ) -> Result<(TestResult, Reported), RunError> {
        let judged = if out.status == Status::Ok {
            Some(self.check(runner, test, &out.stdout)?)
        } else {
            None
        };
        Ok(self.result_of(test, out, judged))
    }

    /// A test's result, and the score its validator reported.
    fn result_of(
        &self,
        test: &TestCase,
        outcome: Outcome,
        judged: Option<Checked>,
    ) -> (TestResult, Reported) {
        let (verdict, reported, message) = match (outcome.status, judged) {
            (
                Status::Ok,
                Some(Checked {
                    verdict,
                    reported,
                    message,
                    ..
                }),
            ) => (verdict, reported, message),
            // Interactive: a validator that rejected before the submission
            // ended decides, whatever the broken pipe then did to the
            // submission.
            (
                _,
                Some(Checked {
                    verdict: Verdict::WA,
                    reported,
                    message,
                    first: true,
                }),
            ) => (Verdict::WA, reported, message),
            (status, _) => (status_verdict(status), Reported::default(), None),
        };
        let t = TestResult {
            name: test.name.clone(),
            group: test.group.clone(),
            verdict,
            time_ms: outcome.time_ms,
            memory_kb: outcome.memory_kb,
            score: reported.score.filter(|_| verdict == Verdict::AC),
            message,
        };
        (t, reported)
    }

    /// Compares output with the answer, by the built-in checker or the
    /// package's validator.
    fn check(&self, runner: &Runner, test: &TestCase, output: &[u8]) -> Result<Checked, RunError> {
        let Some(validator) = &self.validator else {
            let answer = std::fs::read(&test.answer).map_err(RunError::Box)?;
            // A group's own flags replace the package's.
            let compare = if test.validator_args.is_empty() {
                self.package.compare.clone()
            } else {
                Compare::from_flags(&test.validator_args.join(" "))
                    .map_err(|e| validator_error(e.to_string()))?
            };
            return Ok(match compare.check(output, &answer) {
                Judgement::Accepted => Checked::new(Verdict::AC),
                Judgement::Wrong(why) => Checked {
                    message: Some(why),
                    ..Checked::new(Verdict::WA)
                },
            });
        };
        let files = ValidatorFiles::new(runner, test)?;
        self.validate(runner, validator, test, &files, output)
    }

    /// The custom validator's judgement of `output`, its files and feedback
    /// directory those given.
    fn validate(
        &self,
        runner: &Runner,
        validator: &Program,
        test: &TestCase,
        files: &ValidatorFiles,
        output: &[u8],
    ) -> Result<Checked, RunError> {
        let cmd = self.validator_command(
            runner,
            validator,
            test,
            files,
            Stdin::Bytes(output.to_vec()),
            Stdout::Capture,
        );
        files.verdict(&runner.sandbox.run(cmd)?)
    }

    fn validator_command(
        &self,
        runner: &Runner,
        validator: &Program,
        test: &TestCase,
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
        args.extend(test.validator_args.iter().cloned());
        let limits = package_validator_limits(self.package);
        let mut cmd = runner.command(validator, limits, &args, stdin, stdout);
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

    /// A static validation test case: the package's static validator run
    /// on the submission's files (its box, the validator's working
    /// directory, read-only) as `language entry_point feedback_dir
    /// [args]`; it judges as an output validator does (42, 43,
    /// `score.txt`).
    fn static_case(
        &self,
        runner: &Runner,
        program: &Program,
        case: &crate::package::StaticCase,
    ) -> Result<(TestResult, Reported), RunError> {
        let validator = self.static_validator.as_ref().ok_or_else(|| {
            validator_error("a static validation test case without a static validator".into())
        })?;
        let files = ValidatorFiles::feedback_only(runner)?;
        let mut args = vec![
            crate::lang::format_code(program.lang()).to_string(),
            program.source_file(),
            format!("{}/", files.feedback.display()),
        ];
        args.extend(case.args.iter().cloned());
        let limits = package_validator_limits(self.package);
        let mut cmd = runner.command(validator, limits, &args, Stdin::Null, Stdout::Capture);
        let submission = program.box_dir().to_path_buf();
        cmd.binds.push(Bind::same(&submission));
        cmd.binds.push(Bind {
            host: files.feedback.clone(),
            inside: files.feedback.clone(),
            writable: true,
        });
        cmd.cwd = submission.display().to_string();
        cmd.private.push(files.dir.clone());
        cmd.private.push(submission);
        let out = runner.sandbox.run(cmd)?;
        let checked = files.verdict(&out)?;
        let t = TestResult {
            name: format!("{}/static_validation", case.group),
            group: case.group.clone(),
            verdict: checked.verdict,
            time_ms: out.time_ms,
            memory_kb: out.memory_kb,
            score: checked
                .reported
                .score
                .filter(|_| checked.verdict == Verdict::AC),
            message: checked.message,
        };
        Ok((t, checked.reported))
    }

    /// A multi-pass test: the submission runs, the validator judges its
    /// output (or talks with it, interactive multi-pass), and while it
    /// accepts and leaves `nextpass.in` in the feedback directory (which
    /// persists between passes), that is the next pass's input: the
    /// submission's standard input and the validator's input file. Up to
    /// the package's `validation_passes`; the limits hold for each run,
    /// the slowest and largest is the test's.
    fn multi_pass(
        &self,
        runner: &Runner,
        program: &Program,
        test: &TestCase,
        limits: Limits,
    ) -> Result<(Outcome, Option<Checked>), RunError> {
        let validator = self
            .validator
            .as_ref()
            .ok_or_else(|| validator_error("multi-pass problem without a validator".into()))?;
        let files = ValidatorFiles::new(runner, test)?;
        let passes = self.package.validation_passes;
        let next = files.feedback.join("nextpass.in");
        let (mut time_ms, mut memory_kb) = (0, 0);
        for pass in 1..=passes {
            let (mut out, checked) = if self.package.kind == Kind::Interactive {
                self.interact(runner, program, test, &files, limits)?
            } else {
                let input = File::open(&files.input).map_err(RunError::Box)?;
                let out = runner.run(program, limits, &test.args, Stdin::Fd(input.into()))?;
                let checked = match out.status {
                    Status::Ok => {
                        Some(self.validate(runner, validator, test, &files, &out.stdout)?)
                    }
                    _ => None,
                };
                (out, checked)
            };
            time_ms = time_ms.max(out.time_ms);
            memory_kb = memory_kb.max(out.memory_kb);
            (out.time_ms, out.memory_kb) = (time_ms, memory_kb);
            // The submission failed this pass (an interactive validator
            // that rejected first decides, see `result_of`).
            let Some(checked) = checked.filter(|c| out.status == Status::Ok || c.first) else {
                return Ok((out, None));
            };
            if out.status != Status::Ok {
                return Ok((out, Some(checked)));
            }
            let another = next.exists();
            if checked.verdict != Verdict::AC || !another {
                if another {
                    return Err(validator_error(
                        "left nextpass.in but did not accept the pass".into(),
                    ));
                }
                return Ok((out, Some(checked)));
            }
            if pass == passes {
                return Err(validator_error(format!(
                    "asked for a pass beyond the package's {passes} (limits.validation_passes)"
                )));
            }
            // The next pass's input; `nextpass.in` itself is gone before it.
            // (The staged input is a link or a copy: renaming over it never
            // touches the package's file.)
            std::fs::rename(&next, &files.input).map_err(RunError::Box)?;
            files.open_feedback().map_err(RunError::Box)?;
        }
        unreachable!("every pass returns or goes on to the next")
    }

    /// Runs the submission and the validator connected by two pipes.
    fn interact(
        &self,
        runner: &Runner,
        program: &Program,
        test: &TestCase,
        files: &ValidatorFiles,
        limits: Limits,
    ) -> Result<(Outcome, Option<Checked>), RunError> {
        let validator = self
            .validator
            .as_ref()
            .ok_or_else(|| validator_error("interactive problem without a validator".into()))?;
        let (to_sub_r, to_sub_w) = pipe()?;
        let (to_val_r, to_val_w) = pipe()?;
        let vcmd = self.validator_command(
            runner,
            validator,
            test,
            files,
            Stdin::Fd(to_val_r),
            Stdout::Fd(to_sub_w),
        );
        let scmd = runner.command(
            program,
            limits,
            &test.args,
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

/// An answer validator run on a test's answer (its standard input), with
/// the test's input file as its argument (a copy of its own: the package's
/// paths are never shown to a sandboxed process).
pub(crate) fn check_answer(
    runner: &Runner,
    pkg: &Package,
    validator: &Program,
    test: &TestCase,
) -> Result<Outcome, RunError> {
    let files = ValidatorFiles::new(runner, test)?;
    let answer = File::open(&files.answer).map_err(RunError::Box)?;
    let args = [files.input.display().to_string()];
    let mut cmd = runner.command(
        validator,
        package_validator_limits(pkg),
        &args,
        Stdin::Fd(answer.into()),
        Stdout::Capture,
    );
    cmd.binds.push(Bind::same(&files.input));
    cmd.private.push(files.dir.clone());
    Ok(runner.sandbox.run(cmd)?)
}

/// One run of a package's validator: the package's `validation_*` limits
/// where it states them, the system's otherwise.
pub fn package_validator_limits(pkg: &Package) -> Limits {
    let system = coderun_protocol::limits::validator_limits();
    let v = pkg.validation;
    Limits {
        time_ms: v.time_s.map_or(system.time_ms, |s| s * 1000),
        memory_mb: v.memory_mb.unwrap_or(system.memory_mb),
        output_bytes: v.output_mb.map_or(system.output_bytes, |mb| mb << 20),
        ..system
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), RunError> {
    let (r, w) = std::io::pipe().map_err(RunError::Box)?;
    Ok((r.into(), w.into()))
}

/// A checker's decision with the validator's extras.
#[derive(Debug)]
struct Checked {
    verdict: Verdict,
    /// `score.txt` and `score_multiplier.txt`.
    reported: Reported,
    message: Option<String>,
    /// Interactive: the validator ended before the submission.
    first: bool,
}

impl Checked {
    fn new(verdict: Verdict) -> Checked {
        Checked {
            verdict,
            reported: Reported::default(),
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
/// Files and directories of a feedback directory opened up between passes.
const MAX_FEEDBACK_ENTRIES: usize = 10_000;

struct ValidatorFiles {
    dir: PathBuf,
    input: PathBuf,
    answer: PathBuf,
    feedback: PathBuf,
}

impl ValidatorFiles {
    /// A scratch directory with a feedback directory the validator (a
    /// slot's uid) may write, its input and answer still to be put there.
    fn in_scratch(runner: &Runner) -> Result<ValidatorFiles, RunError> {
        use std::os::unix::fs::PermissionsExt;
        let dir = runner.scratch_dir("validate").map_err(RunError::Box)?;
        let files = ValidatorFiles {
            input: dir.join("input"),
            answer: dir.join("answer"),
            feedback: dir.join("feedback"),
            dir,
        };
        std::fs::create_dir(&files.feedback).map_err(RunError::Box)?;
        std::fs::set_permissions(&files.feedback, std::fs::Permissions::from_mode(0o777))
            .map_err(RunError::Box)?;
        Ok(files)
    }

    /// For a validator of no test (the static validator): an empty input
    /// and answer.
    fn feedback_only(runner: &Runner) -> Result<ValidatorFiles, RunError> {
        let files = Self::in_scratch(runner)?;
        std::fs::write(&files.input, b"").map_err(RunError::Box)?;
        std::fs::write(&files.answer, b"").map_err(RunError::Box)?;
        Ok(files)
    }

    fn new(runner: &Runner, test: &TestCase) -> Result<ValidatorFiles, RunError> {
        let files = Self::in_scratch(runner)?;
        stage(&test.input, &files.input)?;
        if test.answer.exists() {
            stage(&test.answer, &files.answer)?;
        } else {
            std::fs::write(&files.answer, b"").map_err(RunError::Box)?;
        }
        Ok(files)
    }

    /// Between passes: what the validator left in its feedback directory
    /// is made writable for the next pass's validator, which may run in
    /// another slot, as another uid. Symbolic links are left as they are
    /// (never followed), and so is what lies past [`MAX_FEEDBACK_ENTRIES`].
    fn open_feedback(&self) -> std::io::Result<()> {
        use std::os::unix::fs::PermissionsExt;
        let mut dirs = vec![self.feedback.clone()];
        let mut seen = 0;
        while let Some(dir) = dirs.pop() {
            for entry in std::fs::read_dir(&dir)? {
                seen += 1;
                if seen > MAX_FEEDBACK_ENTRIES {
                    return Ok(());
                }
                let path = entry?.path();
                let meta = std::fs::symlink_metadata(&path)?;
                let mode = if meta.is_dir() {
                    dirs.push(path.clone());
                    0o777
                } else if meta.is_file() {
                    0o666
                } else {
                    continue;
                };
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))?;
            }
        }
        Ok(())
    }

    /// A number the validator wrote into a feedback file, if it did.
    fn number(&self, name: &str) -> Result<Option<f64>, RunError> {
        match self.read(name) {
            Some(s) => match s.parse::<f64>() {
                Ok(n) if n.is_finite() => Ok(Some(n)),
                _ => Err(validator_error(format!("{name}: {s:?} is not a number"))),
            },
            None => Ok(None),
        }
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
        // Read whatever the verdict: a score for a rejected output is the
        // package's error in 2025-09 (see `Scoring::score`).
        let reported = Reported {
            score: self.number("score.txt")?,
            multiplier: self.number("score_multiplier.txt")?,
        };
        match out.exit_code {
            Some(VALIDATOR_AC) => Ok(Checked {
                reported,
                message,
                ..Checked::new(Verdict::AC)
            }),
            Some(VALIDATOR_WA) => Ok(Checked {
                reported,
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
fn compile_validator(runner: &Runner, pkg: &Package, path: &Path) -> Result<Program, RunError> {
    compile_package_program(
        runner,
        pkg,
        path,
        &["validator", "checker", "output_validator"],
    )
}

/// Compiles one of a package's own programs (a file or a directory, its
/// constants substituted; `preferred` stems first among several sources).
/// What is wrong with the program itself is a [`RunError::Validator`].
/// How a `build`/`run` program is built: its `build`, if any, run in its
/// directory, and its `run` (built or given) made the program.
const BUILD_SCRIPTS: &str = r#"set -e
cd "$(dirname "$0")"
if [ -f build ]; then
    cp build coderun-build && chmod 755 coderun-build && ./coderun-build
fi
if [ ! -f run ]; then
    echo "no run file (after build)" >&2
    exit 1
fi
cp run coderun-run && chmod 755 coderun-run
"#;

pub(crate) fn compile_package_program(
    runner: &Runner,
    pkg: &Package,
    path: &Path,
    preferred: &[&str],
) -> Result<Program, RunError> {
    let scripts = path.is_dir() && (path.join("build").is_file() || path.join("run").is_file());
    let files = if scripts {
        ProgramFiles::scripts(path, BUILD_SCRIPTS.as_bytes()).map_err(validator_error)?
    } else {
        ProgramFiles::read(path, preferred).map_err(validator_error)?
    }
    .with_constants(pkg);
    let tc = crate::lang::Toolchain::find(files.lang).map_err(|why| RunError::Unavailable {
        id: files.lang.id,
        why,
    })?;
    let (source, extra) = (files.source, files.extra);
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
