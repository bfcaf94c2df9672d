//! What clients see: records shaped for the API, with hidden test data and
//! internal fields left out.

use coderun_protocol::{JobResult, RunStatus, Verdict};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::domain::*;

/// stdout/stderr kept in `GET /runs/{id}`; the full text is in the logs.
pub const EXCERPT_BYTES: usize = 64 << 10;

/// A run or submission as listed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct JobView {
    pub id: String,
    pub kind: JobKind,
    pub status: Status,
    pub language: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub problem_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    pub verdict: Option<Verdict>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    /// Runs: the worst status over the inputs.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub time_ms: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory_kb: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejudge_of: Option<String>,
    pub created_at: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
    /// Time from acceptance to the result, ms.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub latency_ms: Option<i64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub expires_at: Option<Millis>,
}

impl From<Job> for JobView {
    fn from(j: Job) -> JobView {
        JobView {
            latency_ms: j.finished_at.map(|f| f - j.created_at),
            id: j.id,
            kind: j.kind,
            status: j.status,
            language: j.language,
            problem_id: j.problem_id,
            verdict: j.verdict,
            score: j.score,
            outcome: j.outcome,
            time_ms: j.time_ms,
            memory_kb: j.memory_kb,
            error: j.error,
            session_id: j.session_id,
            rejudge_of: j.rejudge_of,
            created_at: j.created_at,
            started_at: j.started_at,
            finished_at: j.finished_at,
            expires_at: j.expires_at,
        }
    }
}

/// The result of one input of a run.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct InputView {
    pub index: u32,
    #[schema(value_type = String)]
    pub status: RunStatus,
    pub stdout: String,
    pub stderr: String,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub time_ms: u64,
    pub wall_ms: u64,
    pub memory_kb: u64,
    /// With the input's `expected_output`, when the program ran to its
    /// end: whether it printed that (trailing whitespace of lines and of
    /// the end aside, as Judge0 compares).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub output_matches: Option<bool>,
}

/// `GET /runs/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct RunView {
    #[serde(flatten)]
    pub job: JobView,
    pub source: String,
    /// The program's other files, when it has any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::requests::FileRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_output: Option<String>,
    pub results: Vec<InputView>,
    /// The sandbox layers that were in force.
    pub isolation: Vec<String>,
}

fn excerpt(s: &str) -> (String, bool) {
    if s.len() <= EXCERPT_BYTES {
        return (s.to_string(), false);
    }
    let mut end = EXCERPT_BYTES;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    (s[..end].to_string(), true)
}

fn layers(result: Option<&JobResult>) -> Vec<String> {
    result
        .and_then(|r| r.runner.as_ref())
        .map(|info| {
            info.isolation
                .iter()
                .filter_map(|l| serde_json::to_value(l).ok())
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl RunView {
    pub fn new(job: Job, source: String, result: Option<&JobResult>) -> RunView {
        let results = result
            .map(|r| {
                r.runs
                    .iter()
                    .enumerate()
                    .map(|(i, run)| {
                        let (stdout, stdout_truncated) = excerpt(&run.stdout);
                        let (stderr, stderr_truncated) = excerpt(&run.stderr);
                        InputView {
                            index: i as u32,
                            status: run.status,
                            stdout,
                            stderr,
                            stdout_truncated,
                            stderr_truncated,
                            exit_code: run.exit_code,
                            signal: run.signal,
                            time_ms: run.time_ms,
                            wall_ms: run.wall_ms,
                            memory_kb: run.memory_kb,
                            output_matches: run.output_matches,
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        RunView {
            // From the compile step, or (interpreters checking syntax at
            // start-up) from the runs that found a syntax error.
            compile_output: result
                .and_then(|r| {
                    r.compile
                        .as_ref()
                        .map(|c| c.output.clone())
                        .or_else(|| r.runs.iter().find_map(|run| run.compile_output.clone()))
                })
                .filter(|c| !c.is_empty())
                .map(|c| excerpt(&c).0),
            isolation: layers(result),
            job: job.into(),
            source,
            files: Vec::new(),
            results,
        }
    }
}

/// One test of a submission. Hidden tests show verdict, time and memory:
/// never data, and checker messages only to setters.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct TestView {
    pub name: String,
    pub group: String,
    pub sample: bool,
    #[schema(value_type = String)]
    pub verdict: Verdict,
    pub time_ms: u64,
    pub memory_kb: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
}

/// `GET /submissions/{id}`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct SubmissionView {
    #[serde(flatten)]
    pub job: JobView,
    pub source: String,
    /// The program's other files, when it has any.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<crate::requests::FileRequest>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_score: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub compile_output: Option<String>,
    pub tests: Vec<TestView>,
    pub isolation: Vec<String>,
}

impl SubmissionView {
    pub fn new(
        job: Job,
        source: String,
        result: Option<&JobResult>,
        setter: bool,
    ) -> SubmissionView {
        let judge = result.and_then(|r| r.judge.as_ref());
        let tests = judge
            .map(|j| {
                j.tests
                    .iter()
                    .map(|t| {
                        let sample = t.group == "sample";
                        TestView {
                            name: t.name.clone(),
                            group: t.group.clone(),
                            sample,
                            verdict: t.verdict,
                            time_ms: t.time_ms,
                            memory_kb: t.memory_kb,
                            score: t.score,
                            message: if sample || setter {
                                t.message.clone()
                            } else {
                                None
                            },
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        SubmissionView {
            max_score: judge.and_then(|j| j.max_score),
            compile_output: judge
                .map(|j| j.compile_output.clone())
                .filter(|c| !c.is_empty())
                .map(|c| excerpt(&c).0),
            isolation: layers(result),
            job: job.into(),
            source,
            files: Vec::new(),
            tests,
        }
    }
}

/// `GET /me`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct Profile {
    pub user: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub roles: Vec<Role>,
    pub solved: u32,
    pub attempted: u32,
    pub submissions: u32,
    pub problems: Vec<ProblemStats>,
}

/// `GET /admin/queue`.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct QueueStatus {
    pub queued: u64,
    pub starting: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    /// Age of the oldest unfinished job, ms.
    pub oldest_age_ms: Option<i64>,
    pub busy_workers: u64,
    pub workers: u64,
}

/// Which text of a run `GET /runs/{id}/logs` pages through.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, Serialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum LogStream {
    #[default]
    Stdout,
    Stderr,
    Compile,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogQuery {
    pub stream: LogStream,
    pub input: u32,
    pub cursor: Option<String>,
    pub limit: u32,
}

/// A page of log lines (each keeps its `\n`).
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct LogPage {
    pub status: Status,
    pub lines: Vec<String>,
    /// Where the next page starts; absent once the run is over and read.
    pub next_cursor: Option<String>,
    /// The run is over and every line has been read.
    pub complete: bool,
}

/// A problem as listed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProblemSummary {
    pub id: String,
    pub title: String,
    pub kind: ProblemKind,
    pub time_limit_ms: u64,
    pub memory_mb: u64,
    /// The largest submission, KiB, where the problem sets one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code_limit_kib: Option<u64>,
    pub test_count: u32,
    pub version: u64,
}

impl From<&Problem> for ProblemSummary {
    fn from(p: &Problem) -> ProblemSummary {
        ProblemSummary {
            id: p.id.clone(),
            title: p.title.clone(),
            kind: p.kind,
            time_limit_ms: p.time_limit_ms,
            memory_mb: p.memory_mb,
            code_limit_kib: p.code_limit_kib,
            test_count: p.test_count,
            version: p.version,
        }
    }
}

/// `GET /problems/{id}`: statement, limits and samples; no hidden data.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ProblemView {
    #[serde(flatten)]
    pub summary: ProblemSummary,
    pub statement: String,
    pub samples: Vec<Sample>,
    pub author: String,
    pub created_at: Millis,
    pub updated_at: Millis,
}

impl From<&Problem> for ProblemView {
    fn from(p: &Problem) -> ProblemView {
        ProblemView {
            summary: p.into(),
            statement: p.statement.clone(),
            samples: p.samples.clone(),
            author: p.author.clone(),
            created_at: p.created_at,
            updated_at: p.updated_at,
        }
    }
}

/// A problem import that a runner verifies (`GET /imports/{id}`): QUEUED or
/// STARTING while it waits, COMPLETED with `outcome` `saved` (then
/// `version` and the verification `report`) or `rejected` (then `error`),
/// FAILED when the platform failed.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct ImportView {
    pub id: String,
    pub problem_id: String,
    pub status: Status,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub outcome: Option<String>,
    /// The version stored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<serde_json::Value>,
    pub created_at: Millis,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub finished_at: Option<Millis>,
}

impl ImportView {
    pub fn new(job: Job, result: Option<&JobResult>) -> ImportView {
        let saved = job.outcome.as_deref() == Some("saved");
        ImportView {
            version: job.problem_version.filter(|_| saved),
            problem_id: job.problem_id.unwrap_or_default(),
            id: job.id,
            status: job.status,
            outcome: job.outcome,
            error: job.error,
            report: result.and_then(|r| r.verify.clone()),
            created_at: job.created_at,
            finished_at: job.finished_at,
        }
    }
}
