//! `runner-task verify`: judges every example submission of a package and
//! reports where the verdict differs from the directory it sits in — what a
//! problem setter runs before publishing. Derives the time limit when the
//! package states none.

use serde::Serialize;

use crate::judge::{self, Problem};
use crate::lang;
use crate::package::Package;
use crate::protocol::{JudgeResult, Verdict};
use crate::runner::{RunError, Runner};

/// The limit used to time accepted submissions when none is known yet.
const TIMING_LIMIT_MS: u64 = 10_000;

/// One submission's outcome.
#[derive(Debug, Clone, Serialize)]
pub struct Row {
    pub submission: String,
    pub expected: Option<Verdict>,
    pub verdict: Verdict,
    pub score: Option<f64>,
    pub time_ms: u64,
    pub agrees: bool,
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
}

/// Verifies `pkg`; `time_limit_ms` overrides the package's limit.
pub fn verify(
    runner: &Runner,
    pkg: &Package,
    time_limit_ms: Option<u64>,
    progress: &mut dyn FnMut(&Row),
) -> Result<Report, RunError> {
    let problem = Problem::prepare(runner, pkg)?;
    let mut programs = Vec::new();
    for sub in &pkg.submissions {
        let name = sub
            .path
            .strip_prefix(&pkg.dir)
            .unwrap_or(&sub.path)
            .display()
            .to_string();
        let expected = Verdict::from_submission_dir(&sub.expected);
        let compiled = match lang::by_extension(&sub.path) {
            None => Err(format!("no language for {name}")),
            Some(l) => match runner.toolchain(l.id) {
                Err(e) => Err(e.to_string()),
                Ok(tc) => std::fs::read(&sub.path)
                    .map_err(|e| e.to_string())
                    .and_then(|src| runner.prepare(tc, &src).map_err(|e| e.to_string())),
            },
        };
        programs.push((name, expected, compiled));
    }

    // The time limit: stated, overridden, or derived from accepted runs.
    let mut derived = false;
    let time_limit_ms = match time_limit_ms.or(pkg.time_limit_ms) {
        Some(t) => t,
        None => {
            let mut slowest = 0;
            for (_, expected, program) in &programs {
                if let (Some(Verdict::AC), Ok(p)) = (expected, program) {
                    let opts = judge::Options {
                        time_limit_ms: TIMING_LIMIT_MS,
                        stop_on_failure: true,
                    };
                    let r = problem.judge(runner, p, opts)?;
                    slowest = slowest.max(r.tests.iter().map(|t| t.time_ms).max().unwrap_or(0));
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
    for (name, expected, program) in programs {
        let row = match program {
            Err(error) => Row {
                submission: name,
                expected,
                verdict: Verdict::IE,
                score: None,
                time_ms: 0,
                agrees: false,
                error: Some(error),
            },
            Ok(p) => {
                // Time-limit submissions must fail even with the safety factor.
                let limit = if expected == Some(Verdict::TLE) {
                    ((time_limit_ms as f64 * pkg.time_limit_to_tle) as u64)
                        .min(crate::sandbox::Limits::MAX_TIME_MS)
                } else {
                    time_limit_ms
                };
                let opts = judge::Options {
                    time_limit_ms: limit,
                    stop_on_failure: true,
                };
                let (verdict, score, time_ms, error) = match problem.judge(runner, &p, opts) {
                    Ok(JudgeResult {
                        verdict,
                        score,
                        time_ms,
                        ..
                    }) => (verdict, score, time_ms, None),
                    Err(e) => (Verdict::IE, None, 0, Some(e.to_string())),
                };
                Row {
                    agrees: Some(verdict) == expected,
                    submission: name,
                    expected,
                    verdict,
                    score,
                    time_ms,
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
    })
}
