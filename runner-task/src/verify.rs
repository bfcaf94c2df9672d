//! `runner-task verify`: judges every example submission of a package and
//! reports where the verdict differs from the directory it sits in — what a
//! problem setter runs before publishing. Derives the time limit when the
//! package states none.

use serde::Serialize;

use crate::judge::{self, Problem};
use crate::package::expectations::{Judged, Requirement, Verdicts};
use crate::package::{Kind, Package, Submission};
use crate::protocol::{JudgeResult, Verdict};
use crate::runner::{ProgramFiles, RunError, Runner};

/// The limit used to time accepted submissions when none is known yet.
const TIMING_LIMIT_MS: u64 = 10_000;

/// One submission's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub submission: String,
    /// What it is expected to do: the verdict its directory names (legacy
    /// packages, and directories such as `compile_error`), or its
    /// requirements (`permitted AC, WA, required WA; secret/g1: permitted
    /// AC`). None: nothing is expected of it.
    pub expected: Option<String>,
    pub verdict: Verdict,
    pub score: Option<f64>,
    pub time_ms: u64,
    pub agrees: bool,
    /// What of its expectations it did not do.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub unmet: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The whole report.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub problem: String,
    pub time_limit_ms: u64,
    pub time_limit_derived: bool,
    pub submissions: Vec<Row>,
    pub disagreements: Vec<Row>,
    pub input_validation: InputValidation,
    /// The answer validators' (`answer_validators/`) on every answer.
    pub answer_validation: InputValidation,
}

/// Every input validator run on every test's input.
#[derive(Debug, Clone, Default, Serialize)]
pub struct InputValidation {
    /// The validators run, by name.
    pub validators: Vec<String>,
    /// Inputs checked (each by every validator).
    pub inputs: usize,
    /// Inputs a validator did not accept, and validators that could not
    /// run at all.
    pub failures: Vec<ValidationFailure>,
    /// Validators of kinds coderun does not run (Checktestdata, VIVA).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub not_run: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct ValidationFailure {
    pub validator: String,
    /// The test whose input it refused (none: the validator itself failed).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub test: Option<String>,
    pub message: String,
}

impl Report {
    /// Whether the package is as its setter says: every submission gets
    /// its expected verdict and every input is valid.
    pub fn is_consistent(&self) -> bool {
        self.disagreements.is_empty()
            && self.input_validation.failures.is_empty()
            && self.answer_validation.failures.is_empty()
    }
}

/// What a data validator checks: every test's input (`input_validators/`),
/// or every test's answer (`answer_validators/`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    Inputs,
    Answers,
}

/// Runs every input validator on every test's input (its standard input),
/// with the test's `input_validator_args` followed by its `args`; or every
/// answer validator on every test's answer (its standard input), with the
/// test's input file as its argument (not for interactive and multi-pass
/// problems, whose `.ans` is no answer). Exit 42: valid.
pub fn validate_data(
    runner: &Runner,
    pkg: &Package,
    checked: Checked,
) -> Result<InputValidation, RunError> {
    let validators: &[std::path::PathBuf] = match checked {
        Checked::Inputs => &pkg.input_validators,
        // An interactive or multi-pass problem's `.ans` is no answer.
        Checked::Answers if pkg.kind == Kind::Interactive || pkg.multi_pass => &[],
        Checked::Answers => &pkg.answer_validators,
    };
    let preferred = ["__main__", "validator", "validate"];
    let mut report = InputValidation {
        inputs: pkg.tests.len(),
        ..InputValidation::default()
    };
    for path in validators {
        let name = path
            .file_stem()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        if path.extension().is_some_and(|e| e == "ctd" || e == "viva") {
            report.not_run.push(name);
            continue;
        }
        report.validators.push(name.clone());
        let fail = |test: Option<&str>, message: String| ValidationFailure {
            validator: name.clone(),
            test: test.map(str::to_string),
            message,
        };
        let program = match crate::judge::compile_package_program(runner, pkg, path, &preferred) {
            Ok(program) => program,
            Err(RunError::Validator(why)) => {
                report.failures.push(fail(None, why));
                continue;
            }
            Err(e) => return Err(e),
        };
        for test in &pkg.tests {
            let out = match checked {
                Checked::Inputs => {
                    let mut args = test.input_validator_args.of(&name);
                    args.extend(test.args.iter().cloned());
                    let input = std::fs::File::open(&test.input).map_err(RunError::Box)?;
                    // In a working directory with the test's files.
                    let own = match &test.files {
                        Some(files) => Some(runner.with_files(&program, files)?),
                        None => None,
                    };
                    runner.run(
                        own.as_ref().unwrap_or(&program),
                        crate::judge::package_validator_limits(pkg),
                        &args,
                        crate::sandbox::Stdin::Fd(input.into()),
                    )?
                }
                Checked::Answers => crate::judge::check_answer(runner, pkg, &program, test)?,
            };
            if out.exit_code != Some(42) {
                let said = String::from_utf8_lossy(if out.stderr.is_empty() {
                    &out.stdout
                } else {
                    &out.stderr
                });
                let said: String = said.chars().take(500).collect();
                let how = match out.exit_code {
                    Some(code) => format!("exit code {code}"),
                    None => format!("{:?}", out.status),
                };
                report
                    .failures
                    .push(fail(Some(&test.name), format!("{how}: {}", said.trim())));
            }
        }
    }
    Ok(report)
}

/// Verifies `pkg`; `time_limit_ms` overrides the package's limit.
pub fn verify(
    runner: &Runner,
    pkg: &Package,
    time_limit_ms: Option<u64>,
    progress: &mut dyn FnMut(&Row),
) -> Result<Report, RunError> {
    let problem = Problem::prepare(runner, pkg)?;
    let input_validation = validate_data(runner, pkg, Checked::Inputs)?;
    let answer_validation = validate_data(runner, pkg, Checked::Answers)?;
    let mut programs = Vec::new();
    for sub in &pkg.submissions {
        let name = sub
            .path
            .strip_prefix(&pkg.dir)
            .unwrap_or(&sub.path)
            .display()
            .to_string();
        let expected = Expected::of(sub);
        // A file, or a directory judged as one program.
        let mut oversize = None;
        let compiled = submission_files(sub).and_then(|files| {
            let files = files.with_constants(pkg);
            let size = files.source.len() + files.extra.iter().map(|(_, c)| c.len()).sum::<usize>();
            if let Some(kib) = pkg.code_kib.filter(|kib| size as u64 > kib * 1024) {
                oversize = Some(format!("it is {size} bytes, above limits.code ({kib} KiB)"));
            }
            let tc = runner.toolchain(files.lang.id).map_err(|e| e.to_string())?;
            problem
                .prepare_submission(runner, tc, &files.source, &files.extra)
                .map_err(|e| e.to_string())
        });
        programs.push((name, expected, compiled, oversize));
    }

    // The time limit: stated, overridden, or derived from accepted runs.
    let mut derived = false;
    let time_limit_ms = match time_limit_ms.or(pkg.time_limit_ms) {
        Some(t) => t,
        None => {
            let mut slowest = 0;
            for (_, expected, program, _) in &programs {
                if let (true, Ok(p)) = (expected.bounds_from_below(), program) {
                    let opts = judge::Options {
                        time_limit_ms: TIMING_LIMIT_MS,
                        stop_on_failure: true,
                    };
                    let r = problem.judge(runner, p, opts)?;
                    let timed = r.tests.iter().filter(|t| expected.times(&t.name));
                    slowest = slowest.max(timed.map(|t| t.time_ms).max().unwrap_or(0));
                }
            }
            let t = pkg.derive_time_limit_ms(slowest);
            pkg.remember_time_limit(t)
                .map_err(|e| RunError::Box(std::io::Error::other(e.to_string())))?;
            derived = true;
            t
        }
    };

    let mut rows = Vec::new();
    for (name, expected, program, oversize) in programs {
        let row = match program {
            Err(error) => Row {
                submission: name,
                expected: expected.describe(),
                verdict: Verdict::IE,
                score: None,
                time_ms: 0,
                agrees: false,
                unmet: vec!["it could not be built".into()],
                error: Some(error),
            },
            Ok(p) => {
                // Time-limit submissions must fail even with the safety factor.
                let limit = if expected.bounds_from_above() {
                    ((time_limit_ms as f64 * pkg.time_limit_to_tle) as u64)
                        .min(crate::sandbox::Limits::MAX_TIME_MS)
                } else {
                    time_limit_ms
                };
                // Requirements are about every test; a directory's verdict
                // is the first failure's.
                let opts = judge::Options {
                    time_limit_ms: limit,
                    stop_on_failure: !matches!(expected, Expected::Requirements(_)),
                };
                let (result, error) = match problem.judge(runner, &p, opts) {
                    Ok(r) => (Some(r), None),
                    Err(e) => (None, Some(e.to_string())),
                };
                let mut unmet = match &result {
                    Some(r) => expected.unmet(r),
                    None => vec!["judging it failed".into()],
                };
                unmet.extend(oversize);
                let (verdict, score, time_ms) = result
                    .as_ref()
                    .map_or((Verdict::IE, None, 0), |r| (r.verdict, r.score, r.time_ms));
                Row {
                    agrees: unmet.is_empty(),
                    submission: name,
                    expected: expected.describe(),
                    verdict,
                    score,
                    time_ms,
                    unmet,
                    error,
                }
            }
        };
        progress(&row);
        rows.push(row);
    }
    let disagreements = rows.iter().filter(|r| !r.agrees).cloned().collect();
    Ok(Report {
        problem: pkg.name.clone(),
        time_limit_ms,
        time_limit_derived: derived,
        submissions: rows,
        disagreements,
        input_validation,
        answer_validation,
    })
}

/// What verify holds a submission to.
#[derive(Debug)]
enum Expected<'p> {
    /// The verdict its directory names (the first failing test's).
    Verdict(Verdict),
    /// Requirements over its tests (2023-07 and later).
    Requirements(&'p [Requirement]),
    Nothing,
}

impl<'p> Expected<'p> {
    fn of(sub: &'p Submission) -> Expected<'p> {
        let requirements = &sub.expectations.requirements;
        if !requirements.is_empty() {
            Expected::Requirements(requirements)
        } else {
            Verdict::from_submission_dir(&sub.expected).map_or(Expected::Nothing, Expected::Verdict)
        }
    }

    fn describe(&self) -> Option<String> {
        match self {
            Expected::Verdict(v) => Some(v.to_string()),
            Expected::Requirements(rs) => Some(
                rs.iter()
                    .map(Requirement::to_string)
                    .collect::<Vec<_>>()
                    .join("; "),
            ),
            Expected::Nothing => None,
        }
    }

    /// Whether its times bound the time limit from below (it must pass
    /// within the limit with room to spare).
    fn bounds_from_below(&self) -> bool {
        match self {
            Expected::Verdict(v) => *v == Verdict::AC,
            Expected::Requirements(rs) => rs.iter().any(Requirement::bounds_from_below),
            Expected::Nothing => false,
        }
    }

    /// Whether this test's time bounds the limit from below.
    fn times(&self, test: &str) -> bool {
        match self {
            Expected::Requirements(rs) => {
                rs.iter().any(|r| r.bounds_from_below() && r.covers(test))
            }
            _ => true,
        }
    }

    /// Whether it must exceed the time limit (it is run with the safety
    /// factor on top, and must still exceed it).
    fn bounds_from_above(&self) -> bool {
        match self {
            Expected::Verdict(v) => *v == Verdict::TLE,
            Expected::Requirements(rs) => rs.iter().any(Requirement::bounds_from_above),
            Expected::Nothing => false,
        }
    }

    /// What of the expectation the judged submission did not do.
    fn unmet(&self, r: &JudgeResult) -> Vec<String> {
        match self {
            Expected::Nothing => Vec::new(),
            Expected::Verdict(v) if *v == r.verdict => Vec::new(),
            Expected::Verdict(v) => vec![format!("verdict {}, not {v}", r.verdict)],
            Expected::Requirements(_) if r.verdict == Verdict::CE => {
                vec!["it does not compile".into()]
            }
            Expected::Requirements(rs) => {
                let judged: Vec<Judged> = r
                    .tests
                    .iter()
                    .map(|t| Judged {
                        name: &t.name,
                        verdict: four(t.verdict),
                        time_ms: t.time_ms,
                        message: t.message.as_deref(),
                    })
                    .collect();
                let score = |group: Option<&str>| match group {
                    None => r.score,
                    Some(g) => r.groups.iter().find(|s| s.name == g).map(|s| s.score),
                };
                rs.iter()
                    .flat_map(|req| req.check(&judged, &score))
                    .collect()
            }
        }
    }
}

/// A verdict as the format's expectations name it: limits of memory and
/// output are run-time errors.
fn four(v: Verdict) -> Verdicts {
    match v {
        Verdict::AC | Verdict::PA => Verdicts::AC,
        Verdict::WA => Verdicts::WA,
        Verdict::TLE => Verdicts::TLE,
        _ => Verdicts::RTE,
    }
}

/// An example submission's files, in the language and with the entry
/// point `submissions.yaml` names, if it does.
fn submission_files(sub: &Submission) -> Result<ProgramFiles, String> {
    let e = &sub.expectations;
    let lang = match &e.language {
        Some(id) => Some(
            crate::lang::by_format_code(id)
                .ok_or_else(|| format!("submissions.yaml: unknown language {id:?}"))?,
        ),
        None => None,
    };
    let preferred: Vec<&str> = e.entrypoint.iter().map(String::as_str).collect();
    ProgramFiles::read_as(&sub.path, lang, &preferred)
}
