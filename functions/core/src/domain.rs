//! The records coderun keeps, and the status machine of a job.

use coderun_protocol::Limits;
use coderun_protocol::Verdict;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// Milliseconds since the Unix epoch.
pub type Millis = i64;

/// Where a job is in its life. A verdict (even TLE) is data on a
/// `COMPLETED` job; `FAILED` means the platform failed, never the program.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Queued,
    Starting,
    Running,
    Completed,
    Failed,
}

impl Status {
    pub const ALL: [Status; 5] = [
        Status::Queued,
        Status::Starting,
        Status::Running,
        Status::Completed,
        Status::Failed,
    ];

    /// The status machine: `QUEUED → STARTING → RUNNING → COMPLETED | FAILED`,
    /// never backwards. A job may skip `RUNNING` (its result arrived before
    /// anyone saw it start) and may fail from any unfinished status.
    pub fn can_become(self, next: Status) -> bool {
        use Status::*;
        matches!(
            (self, next),
            (Queued, Starting)
                | (Starting, Running)
                | (Starting | Running, Completed)
                | (Queued | Starting | Running, Failed)
        )
    }

    pub fn is_final(self) -> bool {
        matches!(self, Status::Completed | Status::Failed)
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => "QUEUED",
            Status::Starting => "STARTING",
            Status::Running => "RUNNING",
            Status::Completed => "COMPLETED",
            Status::Failed => "FAILED",
        }
    }

    pub fn parse(s: &str) -> Option<Status> {
        Status::ALL.into_iter().find(|st| st.as_str() == s)
    }
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A playground run, a judged submission, or the verification of an
/// imported problem package where the API cannot run it in place (AWS):
/// all go through the same queue, launcher and results handler.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum JobKind {
    Run,
    Submission,
    Import,
}

impl JobKind {
    pub const ALL: [JobKind; 3] = [JobKind::Run, JobKind::Submission, JobKind::Import];

    pub fn as_str(self) -> &'static str {
        match self {
            JobKind::Run => "run",
            JobKind::Submission => "submission",
            JobKind::Import => "import",
        }
    }

    pub fn parse(s: &str) -> Option<JobKind> {
        JobKind::ALL.into_iter().find(|k| k.as_str() == s)
    }
}

/// The language recorded on import jobs; launchers start the runner that
/// has every toolchain for it.
pub const PACKAGE_LANGUAGE: &str = "package";

/// The stored record of a run or submission. Sources, inputs, outputs and
/// logs live in blobs (`sources/{id}`, `jobs/{id}/…`, `results/{id}/…`), so
/// the record stays small.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Job {
    pub id: String,
    pub kind: JobKind,
    /// The owner (`sub` of the token).
    pub user: String,
    pub language: String,
    pub status: Status,
    /// Submissions: the problem judged, and its version at submission time.
    pub problem_id: Option<String>,
    pub problem_version: Option<u64>,
    /// Runs started from a code session.
    pub session_id: Option<String>,
    /// Submissions re-judged from another one.
    pub rejudge_of: Option<String>,
    /// Runs: the limits asked for; the number of inputs.
    pub limits: Option<Limits>,
    pub input_count: u32,
    /// Submissions: the verdict and score once `COMPLETED`.
    pub verdict: Option<Verdict>,
    pub score: Option<f64>,
    /// Runs: the worst status of its inputs (`OK`, `TLE`, …).
    pub outcome: Option<String>,
    /// Largest CPU time and memory over the tests or inputs.
    pub time_ms: Option<u64>,
    pub memory_kb: Option<u64>,
    /// Launches that ended without a result (runner crashes).
    pub attempts: u32,
    /// The runner of the current attempt, once started (an ECS task ARN,
    /// a local runner's id): a redelivered message does not start another,
    /// and the end of an older one is not taken for this one's.
    #[serde(default)]
    pub launch: Option<String>,
    /// Why the job `FAILED`.
    pub error: Option<String>,
    pub callback_url: Option<String>,
    /// The API whose shape the callback takes (a run made through Judge0's
    /// API gets Judge0's `PUT`); none: coderun's own signed `POST`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub callback_as: Option<CallbackAs>,
    pub created_at: Millis,
    pub started_at: Option<Millis>,
    pub finished_at: Option<Millis>,
    /// Playground runs expire (records and blobs are pruned).
    pub expires_at: Option<Millis>,
}

impl Job {
    /// A job just accepted: queued, nothing run or decided yet.
    pub fn queued(id: String, kind: JobKind, user: &str, language: &str, now: Millis) -> Job {
        Job {
            id,
            kind,
            user: user.to_string(),
            language: language.to_string(),
            status: Status::Queued,
            problem_id: None,
            problem_version: None,
            session_id: None,
            rejudge_of: None,
            limits: None,
            input_count: 0,
            verdict: None,
            score: None,
            outcome: None,
            time_ms: None,
            memory_kb: None,
            attempts: 0,
            launch: None,
            error: None,
            callback_url: None,
            callback_as: None,
            created_at: now,
            started_at: None,
            finished_at: None,
            expires_at: None,
        }
    }

    pub fn source_key(&self) -> String {
        format!("sources/{}", self.id)
    }
    /// A program's files beside its entry point (JSON), when it has any.
    pub fn files_key(&self) -> String {
        format!("jobs/{}/files.json", self.id)
    }
    pub fn request_key(&self) -> String {
        format!("jobs/{}/request.json", self.id)
    }
    pub fn manifest_key(&self) -> String {
        format!("jobs/{}/manifest.json", self.id)
    }
    pub fn result_key(&self) -> String {
        format!("results/{}/result.json", self.id)
    }
    /// What a playground run has written so far of one input's stream
    /// (`stdout` or `stderr`), beside its result: the runner's `live/`.
    pub fn live_key(&self, input: u32, stream: &str) -> String {
        format!("results/{}/live/{input}.{stream}", self.id)
    }
    /// An import job's package, as a runner fetches it (`{prefix}.tar.gz`).
    pub fn staged_package_prefix(&self) -> String {
        format!("imports/{}", self.id)
    }
    /// Every blob of job `id` lies under one of these prefixes.
    pub fn blob_prefixes(id: &str) -> [String; 4] {
        [
            format!("sources/{id}"),
            format!("jobs/{id}/"),
            format!("results/{id}/"),
            format!("imports/{id}"),
        ]
    }
    /// The job whose result a blob key is (`results/{id}/result.json`), if
    /// it is one. (S3 event keys are URL-encoded; job ids never need it.)
    pub fn of_result_key(key: &str) -> Option<&str> {
        let id = key.strip_prefix("results/")?.strip_suffix("/result.json")?;
        is_job_id(id).then_some(id)
    }
}

/// Whether `id` can be a job id: ASCII letters, digits, `-` and `_`.
pub fn is_job_id(id: &str) -> bool {
    !id.is_empty()
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// How a problem's answers are compared.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    PassFail,
    Scoring,
}

/// The API whose callback a job's end sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CallbackAs {
    /// Judge0's: a `PUT` of the submission (its default fields, base64).
    Judge0,
}

/// A sample shown with the statement (hidden tests are never in here).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Sample {
    pub name: String,
    pub input: String,
    pub output: String,
}

/// A problem: its package lives in blobs under `problems/{id}/v{version}/`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Problem {
    pub id: String,
    pub title: String,
    /// Markdown (with `$…$` math).
    pub statement: String,
    /// The images the statement may show, as paths in the package
    /// (`statement/graph.png`), served by `GET
    /// /problems/{id}/statement/{file}`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub statement_images: Vec<String>,
    pub kind: ProblemKind,
    pub time_limit_ms: u64,
    pub memory_mb: u64,
    /// The package's `limits.code`: the largest submission, KiB.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code_limit_kib: Option<u64>,
    pub samples: Vec<Sample>,
    pub test_count: u32,
    /// Bumped by every update; submissions record the version they saw.
    pub version: u64,
    pub author: String,
    pub created_at: Millis,
    pub updated_at: Millis,
    /// The `runner-task verify` report of the package, when imported.
    pub verify_report: Option<serde_json::Value>,
    /// The import job that stored this version, where a runner verified it
    /// (AWS): a redelivered result of that job finds its work done.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub import_id: Option<String>,
}

impl Problem {
    pub fn package_prefix(&self) -> String {
        package_prefix(&self.id, self.version)
    }
}

pub fn package_prefix(id: &str, version: u64) -> String {
    format!("{}v{version}", problem_prefix(id))
}

/// Every version of problem `id`'s package lies under this prefix.
pub fn problem_prefix(id: &str) -> String {
    format!("problems/{id}/")
}

/// A code session: an editor buffer kept between visits.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Session {
    pub id: String,
    pub user: String,
    pub title: String,
    pub language: String,
    pub source: String,
    /// The standard input last used.
    pub stdin: String,
    pub version: u64,
    pub created_at: Millis,
    pub updated_at: Millis,
}

/// Roles, from the token's `cognito:groups`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    Setter,
    Admin,
}

/// Who is calling: a verified token's subject and roles.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Principal {
    pub user: String,
    pub name: Option<String>,
    pub roles: Vec<Role>,
}

impl Principal {
    pub fn is_admin(&self) -> bool {
        self.roles.contains(&Role::Admin)
    }
    /// Setters and admins manage problems and see hidden tests.
    pub fn can_set(&self) -> bool {
        self.is_admin() || self.roles.contains(&Role::Setter)
    }
}

/// One problem on a user's profile.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ProblemStats {
    pub problem_id: String,
    pub attempts: u32,
    pub solved: bool,
    pub best_score: Option<f64>,
    pub first_solved_at: Option<Millis>,
    pub last_attempt_at: Millis,
}

/// A page of a list, with the cursor of the next one.
#[derive(Debug, Clone, PartialEq)]
pub struct Page<T> {
    pub items: Vec<T>,
    pub next: Option<String>,
}

/// What a job-history query selects (always one user's jobs).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobQuery {
    pub user: String,
    pub kind: Option<JobKind>,
    pub problem_id: Option<String>,
    pub verdict: Option<Verdict>,
    /// Opaque cursor from the previous page.
    pub cursor: Option<String>,
    pub limit: u32,
}

/// Queue and job counts for `/admin/queue` and `/metrics`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, ToSchema)]
pub struct JobCounts {
    pub queued: u64,
    pub starting: u64,
    pub running: u64,
    pub completed: u64,
    pub failed: u64,
    /// Age of the oldest unfinished job, ms.
    pub oldest_unfinished_ms: Option<i64>,
    /// Completed submissions per verdict.
    #[schema(value_type = Object)]
    pub verdicts: std::collections::BTreeMap<String, u64>,
    /// Completed runs per outcome.
    #[schema(value_type = Object)]
    pub outcomes: std::collections::BTreeMap<String, u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_never_goes_backwards() {
        for from in Status::ALL {
            for to in Status::ALL {
                let forward = Status::ALL.iter().position(|s| *s == to)
                    > Status::ALL.iter().position(|s| *s == from);
                if from.can_become(to) {
                    assert!(forward, "{from} -> {to}");
                    assert!(!from.is_final());
                }
            }
        }
        assert!(Status::Queued.can_become(Status::Starting));
        assert!(!Status::Queued.can_become(Status::Completed));
        assert!(!Status::Completed.can_become(Status::Failed));
        assert!(!Status::Running.can_become(Status::Starting));
        assert_eq!(Status::parse("RUNNING"), Some(Status::Running));
    }
}
