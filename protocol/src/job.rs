//! The runner's contract with the platform: job manifests and results, and
//! the verdict vocabulary. JSON field names are part of the public API.

use serde::{Deserialize, Serialize};

use crate::{Layer, Limits, Profile};

/// The verdict of a submission or of one test.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Verdict {
    /// Accepted.
    AC,
    /// Partially accepted (scoring problems).
    PA,
    /// Wrong answer.
    WA,
    /// Time limit exceeded.
    TLE,
    /// Memory limit exceeded.
    MLE,
    /// Output limit exceeded.
    OLE,
    /// Run-time error (non-zero exit code or signal).
    RE,
    /// Compile error.
    CE,
    /// Internal error: the platform failed, not the submission.
    IE,
}

impl Verdict {
    /// The verdict a `submissions/<dir>/` directory of a package expects.
    pub fn from_submission_dir(dir: &str) -> Option<Verdict> {
        Some(match dir {
            "accepted" => Verdict::AC,
            "partially_accepted" => Verdict::PA,
            "wrong_answer" => Verdict::WA,
            "time_limit_exceeded" => Verdict::TLE,
            "memory_limit_exceeded" => Verdict::MLE,
            "output_limit_exceeded" => Verdict::OLE,
            "run_time_error" => Verdict::RE,
            "compile_error" => Verdict::CE,
            _ => return None,
        })
    }
}

impl Verdict {
    pub const ALL: [Verdict; 9] = [
        Verdict::AC,
        Verdict::PA,
        Verdict::WA,
        Verdict::TLE,
        Verdict::MLE,
        Verdict::OLE,
        Verdict::RE,
        Verdict::CE,
        Verdict::IE,
    ];
}

impl std::fmt::Display for Verdict {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{self:?}")
    }
}

/// Its name, as [`Display`](std::fmt::Display) writes it (`"AC"`, …).
impl std::str::FromStr for Verdict {
    type Err = String;

    fn from_str(s: &str) -> Result<Verdict, String> {
        Verdict::ALL
            .into_iter()
            .find(|v| v.to_string() == s)
            .ok_or_else(|| format!("not a verdict: {s:?}"))
    }
}

/// Status of one playground run (`runner-task run`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RunStatus {
    OK,
    TLE,
    MLE,
    OLE,
    RE,
    CE,
    IE,
}

/// What the compile phase produced.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CompileReport {
    pub ok: bool,
    /// Compiler messages (at most 64 KiB).
    pub output: String,
    pub time_ms: u64,
    pub wall_ms: u64,
    pub memory_kb: u64,
}

/// Result of one playground run.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunResult {
    pub status: RunStatus,
    pub stdout: String,
    pub stderr: String,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub time_ms: u64,
    pub wall_ms: u64,
    pub memory_kb: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile_output: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub isolation: Vec<Layer>,
    /// With an input's `expected_output`, when the program ran to its end:
    /// whether it printed that.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_matches: Option<bool>,
}

/// One test of a judged submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct TestResult {
    pub name: String,
    pub group: String,
    pub verdict: Verdict,
    pub time_ms: u64,
    pub memory_kb: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Checker feedback; shown to users for sample tests only.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// A test data group's score.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct GroupScore {
    /// `secret/<group>`.
    pub name: String,
    pub score: f64,
    /// None: unbounded.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<f64>,
}

/// Result of judging one submission.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JudgeResult {
    pub verdict: Verdict,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_score: Option<f64>,
    pub compile_output: String,
    pub tests: Vec<TestResult>,
    /// Scoring problems with test data groups: each group's score.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub groups: Vec<GroupScore>,
    /// Slowest test and largest memory, for display.
    pub time_ms: u64,
    pub memory_kb: u64,
    pub time_limit_ms: u64,
    pub memory_limit_mb: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    pub isolation: Vec<Layer>,
}

/// Largest source accepted in a manifest.
pub const MAX_SOURCE_BYTES: usize = 1 << 20;
/// Largest stdin of one playground input.
pub const MAX_STDIN_BYTES: usize = 8 << 20;
/// Playground inputs per run.
pub const MAX_INPUTS: usize = 16;
pub const MAX_ARGS: usize = 64;
/// Largest manifest document.
pub const MAX_MANIFEST_BYTES: u64 = 64 << 20;

/// One playground input.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Input {
    #[serde(default)]
    pub stdin: String,
    #[serde(default)]
    pub args: Vec<String>,
    /// What the program should print: its result says whether it did
    /// (see [`same_output`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expected_output: Option<String>,
}

/// Whether a program's output is the expected one, as Judge0 compares them:
/// spaces and tabs at the end of each line, and blank lines and spaces at
/// the end, do not count.
pub fn same_output(output: &str, expected: &str) -> bool {
    fn lines(s: &str) -> impl Iterator<Item = &str> {
        s.trim_end().split('\n').map(str::trim_end)
    }
    lines(output).eq(lines(expected))
}

/// Where a judged job's problem comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum ProblemRef {
    /// A package directory on the runner's file system.
    Path(std::path::PathBuf),
    /// A package archive (tar.gz or zip) at a presigned HTTP(S) URL.
    Url(String),
}

/// What a job asks for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case", deny_unknown_fields)]
pub enum Work {
    /// Run against the user's own inputs.
    Run {
        inputs: Vec<Input>,
        #[serde(default)]
        limits: Limits,
    },
    /// Judge against a problem's tests.
    Judge {
        problem: ProblemRef,
        /// Overrides the package's time limit.
        #[serde(default)]
        time_limit_ms: Option<u64>,
    },
    /// Verify a problem package (a setter's import): its checker builds and
    /// its reference submissions get their expected verdicts. The job's
    /// source is unused.
    Verify { problem: ProblemRef },
}

/// A job for `runner-task job`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    pub job_id: String,
    pub language: String,
    /// The program's entry point.
    pub source: String,
    /// The program's other files, beside the entry point in its directory.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::lang::SourceFile>,
    pub work: Work,
}

impl Manifest {
    /// Checks sizes and counts before anything runs.
    pub fn validate(&self) -> Result<(), String> {
        if self.job_id.is_empty()
            || self.job_id.len() > 128
            || !self
                .job_id
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-_".contains(&b))
        {
            return Err("job_id must be 1-128 characters of [A-Za-z0-9_-]".into());
        }
        if self.source.len() > MAX_SOURCE_BYTES {
            return Err(format!("source is larger than {MAX_SOURCE_BYTES} bytes"));
        }
        crate::lang::files::check_files(&self.files, MAX_SOURCE_BYTES - self.source.len())?;
        if let Work::Run { inputs, limits } = &self.work {
            if inputs.is_empty() || inputs.len() > MAX_INPUTS {
                return Err(format!("inputs: between 1 and {MAX_INPUTS} are allowed"));
            }
            for (i, input) in inputs.iter().enumerate() {
                if input.stdin.len() > MAX_STDIN_BYTES {
                    return Err(format!(
                        "inputs[{i}].stdin is larger than {MAX_STDIN_BYTES} bytes"
                    ));
                }
                if input
                    .expected_output
                    .as_ref()
                    .is_some_and(|e| e.len() > MAX_STDIN_BYTES)
                {
                    return Err(format!(
                        "inputs[{i}].expected_output is larger than {MAX_STDIN_BYTES} bytes"
                    ));
                }
                if input.args.len() > MAX_ARGS
                    || input
                        .args
                        .iter()
                        .any(|a| a.len() > 4096 || a.contains('\0'))
                {
                    return Err(format!(
                        "inputs[{i}].args: at most {MAX_ARGS} arguments of 4096 bytes, without NUL"
                    ));
                }
            }
            limits.validate().map_err(|e| e.to_string())?;
        }
        Ok(())
    }
}

/// What the runner was, for the record.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RunnerInfo {
    pub version: String,
    pub profile: Profile,
    pub isolation: Vec<Layer>,
}

/// The result document of a job.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JobResult {
    pub job_id: String,
    /// `completed` (the verdict is data) or `failed` (the platform failed).
    pub state: JobState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compile: Option<CompileReport>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub runs: Vec<RunResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub judge: Option<JudgeResult>,
    /// A verification's report (`verify::Report`). A `completed` verify job
    /// without one has `error` saying why the package was rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner: Option<RunnerInfo>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum JobState {
    Completed,
    Failed,
}

#[cfg(test)]
mod tests {
    #[test]
    fn outputs_compare_as_judge0_compares_them() {
        assert!(same_output("3\n", "3"));
        assert!(same_output("1 2 \r\n3\t\n\n\n", "1 2\n3"));
        assert!(!same_output("1\n\n2\n", "1\n2\n"));
        assert!(!same_output(" 3\n", "3\n"));
        assert!(!same_output("3\n", "4\n"));
        assert!(same_output("", "\n \n"));
    }

    use super::*;

    #[test]
    fn manifest_round_trips_and_rejects_unknown_fields() {
        let m = Manifest {
            job_id: "job-1".into(),
            language: "python3".into(),
            source: "print(1)".into(),
            files: Vec::new(),
            work: Work::Run {
                inputs: vec![Input::default()],
                limits: Limits::default(),
            },
        };
        let json = serde_json::to_string(&m).unwrap();
        assert_eq!(serde_json::from_str::<Manifest>(&json).unwrap(), m);
        let bad = json.replace("\"job_id\"", "\"extra\":1,\"job_id\"");
        assert!(serde_json::from_str::<Manifest>(&bad).is_err());
        m.validate().unwrap();
    }

    #[test]
    fn manifest_limits_are_enforced() {
        let mut m = Manifest {
            job_id: "../etc".into(),
            language: "c".into(),
            source: String::new(),
            files: Vec::new(),
            work: Work::Run {
                inputs: vec![],
                limits: Limits::default(),
            },
        };
        assert!(m.validate().unwrap_err().contains("job_id"));
        m.job_id = "ok".into();
        assert!(m.validate().unwrap_err().contains("inputs"));
    }
}
