//! How long a runner may take for a job once it has started, from the
//! limits it enforces: what the job's presigned URLs must outlive (after
//! the task's start), and no longer.

use std::time::Duration;

use crate::limits::validator_limits;
use crate::Limits;

/// Downloads, uploads and the runner's own start-up.
const SLACK: Duration = Duration::from_secs(60);
/// No job is given longer: its URLs would outlive any judge's patience.
pub const MAX: Duration = Duration::from_secs(2 * 3600);

fn ms(ms: u64) -> Duration {
    Duration::from_millis(ms)
}

fn compile() -> Duration {
    ms(crate::lang::compile_limits().wall_ms())
}

/// A playground run of `inputs` inputs.
pub fn run(limits: &Limits, inputs: u32) -> Duration {
    (SLACK + compile() + ms(limits.wall_ms()) * inputs.max(1)).min(MAX)
}

/// A submission judged on `tests` tests (each maybe checked by a
/// validator, which has its own limits).
pub fn judge(time_limit_ms: u64, tests: u32) -> Duration {
    let run = Limits {
        time_ms: time_limit_ms.clamp(1, Limits::MAX_TIME_MS),
        ..Limits::default()
    };
    // A package may give its validator up to the longest time a run has.
    let validator = Limits {
        time_ms: Limits::MAX_TIME_MS,
        ..validator_limits()
    };
    let per_test = ms(run.wall_ms()) + ms(validator.wall_ms());
    (SLACK + compile() * 2 + per_test * tests.max(1)).min(MAX)
}

/// A package verified: every reference submission on every test.
pub fn verify() -> Duration {
    MAX
}
