//! What clients may ask for, and the limits every request is checked
//! against before anything is stored. Unknown fields are refused.

use coderun_protocol::lang;
use coderun_protocol::Input;
use coderun_protocol::Limits;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use crate::error::CoreError;

/// Largest source: far above any judged solution, far below a blob problem.
pub const MAX_SOURCE_BYTES: usize = 256 << 10;
/// Largest stdin of one input; all inputs of a run together get four times it.
pub const MAX_STDIN_BYTES: usize = 1 << 20;
pub const MAX_TOTAL_STDIN_BYTES: usize = 4 << 20;
/// Inputs per run (the runner's own cap).
pub const MAX_INPUTS: usize = coderun_protocol::MAX_INPUTS;
pub const MAX_ARGS: usize = 32;
pub const MAX_ARG_BYTES: usize = 1024;
/// Submissions per batch.
pub const MAX_BATCH: usize = 20;
pub const MAX_CALLBACK_URL_BYTES: usize = 2048;
pub const MAX_TITLE_BYTES: usize = 200;
pub const MAX_STATEMENT_BYTES: usize = 256 << 10;
/// Tests of a problem created from JSON (packages may hold more).
pub const MAX_JSON_TESTS: usize = 200;
pub const MAX_JSON_TEST_BYTES: usize = 8 << 20;
pub const MAX_JSON_PROBLEM_BYTES: usize = 32 << 20;
pub const MAX_SESSION_TITLE_BYTES: usize = 200;

/// `POST /runs`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// A language id from `GET /languages`.
    pub language: String,
    pub source: String,
    /// 1 to 16 inputs; the program runs once per input.
    #[schema(value_type = Vec<Object>)]
    pub inputs: Vec<Input>,
    /// Per-input limits; each within the runner's caps.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    pub limits: Option<Limits>,
    /// Gets a signed POST when the run finishes.
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// `POST /submissions`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubmissionRequest {
    pub problem_id: String,
    pub language: String,
    pub source: String,
    #[serde(default)]
    pub callback_url: Option<String>,
}

/// `POST /sessions`, `PATCH /sessions/{id}` (every field optional there).
#[derive(Debug, Clone, PartialEq, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SessionRequest {
    pub title: Option<String>,
    pub language: Option<String>,
    pub source: Option<String>,
    pub stdin: Option<String>,
}

/// One test of a problem created from JSON.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TestRequest {
    /// `[A-Za-z0-9_-]`, unique; defaults to its position.
    #[serde(default)]
    pub name: Option<String>,
    pub input: String,
    pub output: String,
    /// Sample tests are shown with the statement; the others stay hidden.
    #[serde(default)]
    pub sample: bool,
}

/// How answers are compared (problems created from JSON).
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum CheckerRequest {
    /// Whitespace-separated tokens must match.
    #[default]
    Tokens,
    /// Tokens, numbers within an absolute or relative tolerance.
    Float { tolerance: f64 },
    /// Case-insensitive tokens.
    CaseInsensitive,
    /// Whitespace matters too.
    Exact,
}

/// `POST /problems`, `PUT /problems/{id}`.
#[derive(Debug, Clone, PartialEq, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ProblemRequest {
    /// `[a-z0-9-]`, 1–64 characters (`POST` only; `PUT` takes it from the path).
    #[serde(default)]
    pub id: Option<String>,
    pub title: String,
    /// Markdown, with `$…$` math.
    #[serde(default)]
    pub statement: String,
    pub time_limit_ms: u64,
    #[serde(default = "default_memory_mb")]
    pub memory_mb: u64,
    #[serde(default)]
    pub checker: CheckerRequest,
    pub tests: Vec<TestRequest>,
}

fn default_memory_mb() -> u64 {
    Limits::DEFAULT_MEMORY_MB
}

pub fn check_language(field: &str, id: &str) -> Result<(), CoreError> {
    if lang::by_id(id).is_none() {
        let known: Vec<&str> = lang::LANGUAGES.iter().map(|l| l.id).collect();
        return Err(CoreError::invalid(
            field,
            format!("unknown language {id:?} (one of: {})", known.join(", ")),
        ));
    }
    Ok(())
}

pub fn check_source(field: &str, source: &str) -> Result<(), CoreError> {
    if source.len() > MAX_SOURCE_BYTES {
        return Err(CoreError::too_large(
            field,
            format!("is {} bytes; at most {MAX_SOURCE_BYTES}", source.len()),
        ));
    }
    if source.contains('\0') {
        return Err(CoreError::invalid(field, "contains a NUL byte"));
    }
    Ok(())
}

/// A callback URL: http(s), no credentials, bounded.
pub fn check_callback_url(url: &Option<String>) -> Result<(), CoreError> {
    let Some(url) = url else { return Ok(()) };
    if url.len() > MAX_CALLBACK_URL_BYTES {
        return Err(CoreError::too_large(
            "callback_url",
            format!("at most {MAX_CALLBACK_URL_BYTES} bytes"),
        ));
    }
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let Some(rest) = rest else {
        return Err(CoreError::invalid(
            "callback_url",
            "must be an http:// or https:// URL",
        ));
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if authority.is_empty() || authority.contains('@') || url.chars().any(char::is_whitespace) {
        return Err(CoreError::invalid(
            "callback_url",
            "must name a host, without credentials or spaces",
        ));
    }
    Ok(())
}

impl RunRequest {
    pub fn validate(&self) -> Result<(), CoreError> {
        check_language("language", &self.language)?;
        check_source("source", &self.source)?;
        if self.inputs.is_empty() || self.inputs.len() > MAX_INPUTS {
            return Err(CoreError::invalid(
                "inputs",
                format!(
                    "{} given; between 1 and {MAX_INPUTS} are allowed",
                    self.inputs.len()
                ),
            ));
        }
        let mut total = 0;
        for (i, input) in self.inputs.iter().enumerate() {
            total += input.stdin.len();
            if input.stdin.len() > MAX_STDIN_BYTES {
                return Err(CoreError::too_large(
                    format!("inputs[{i}].stdin"),
                    format!("at most {MAX_STDIN_BYTES} bytes"),
                ));
            }
            if input.args.len() > MAX_ARGS {
                return Err(CoreError::invalid(
                    format!("inputs[{i}].args"),
                    format!("at most {MAX_ARGS} arguments"),
                ));
            }
            for (j, a) in input.args.iter().enumerate() {
                if a.len() > MAX_ARG_BYTES || a.contains('\0') {
                    return Err(CoreError::invalid(
                        format!("inputs[{i}].args[{j}]"),
                        format!("at most {MAX_ARG_BYTES} bytes, without NUL"),
                    ));
                }
            }
        }
        if total > MAX_TOTAL_STDIN_BYTES {
            return Err(CoreError::too_large(
                "inputs",
                format!("stdin of all inputs is {total} bytes; at most {MAX_TOTAL_STDIN_BYTES}"),
            ));
        }
        if let Some(l) = &self.limits {
            l.validate()
                .map_err(|e| CoreError::invalid(format!("limits.{}", e.field), e.to_string()))?;
        }
        check_callback_url(&self.callback_url)
    }
}

impl SubmissionRequest {
    pub fn validate(&self) -> Result<(), CoreError> {
        check_problem_id("problem_id", &self.problem_id)?;
        check_language("language", &self.language)?;
        check_source("source", &self.source)?;
        check_callback_url(&self.callback_url)
    }
}

impl SessionRequest {
    pub fn validate(&self) -> Result<(), CoreError> {
        if let Some(t) = &self.title {
            if t.len() > MAX_SESSION_TITLE_BYTES {
                return Err(CoreError::too_large(
                    "title",
                    format!("at most {MAX_SESSION_TITLE_BYTES} bytes"),
                ));
            }
        }
        if let Some(l) = &self.language {
            check_language("language", l)?;
        }
        if let Some(s) = &self.source {
            check_source("source", s)?;
        }
        if let Some(s) = &self.stdin {
            if s.len() > MAX_STDIN_BYTES {
                return Err(CoreError::too_large(
                    "stdin",
                    format!("at most {MAX_STDIN_BYTES} bytes"),
                ));
            }
        }
        Ok(())
    }
}

/// Problem ids are path segments and blob key parts: keep them plain.
pub fn check_problem_id(field: &str, id: &str) -> Result<(), CoreError> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !id.starts_with('-');
    if !ok {
        return Err(CoreError::invalid(
            field,
            "1-64 characters of a-z, 0-9 and '-', not starting with '-'",
        ));
    }
    Ok(())
}

impl ProblemRequest {
    pub fn validate(&self) -> Result<(), CoreError> {
        if let Some(id) = &self.id {
            check_problem_id("id", id)?;
        }
        if self.title.trim().is_empty() || self.title.len() > MAX_TITLE_BYTES {
            return Err(CoreError::invalid(
                "title",
                format!("1 to {MAX_TITLE_BYTES} bytes"),
            ));
        }
        if self.statement.len() > MAX_STATEMENT_BYTES {
            return Err(CoreError::too_large(
                "statement",
                format!("at most {MAX_STATEMENT_BYTES} bytes"),
            ));
        }
        if self.time_limit_ms == 0 || self.time_limit_ms > Limits::MAX_TIME_MS {
            return Err(CoreError::invalid(
                "time_limit_ms",
                format!("between 1 and {}", Limits::MAX_TIME_MS),
            ));
        }
        if self.memory_mb < 16 || self.memory_mb > Limits::MAX_MEMORY_MB {
            return Err(CoreError::invalid(
                "memory_mb",
                format!("between 16 and {}", Limits::MAX_MEMORY_MB),
            ));
        }
        if let CheckerRequest::Float { tolerance } = self.checker {
            if !(tolerance > 0.0 && tolerance < 1.0) {
                return Err(CoreError::invalid("checker.tolerance", "must be in (0, 1)"));
            }
        }
        if self.tests.is_empty() || self.tests.len() > MAX_JSON_TESTS {
            return Err(CoreError::invalid(
                "tests",
                format!("between 1 and {MAX_JSON_TESTS} tests"),
            ));
        }
        if self.tests.iter().all(|t| t.sample) {
            return Err(CoreError::invalid(
                "tests",
                "at least one test must be hidden (sample: false)",
            ));
        }
        let mut total = 0;
        let mut names = std::collections::HashSet::new();
        for (i, t) in self.tests.iter().enumerate() {
            total += t.input.len() + t.output.len();
            if t.input.len() > MAX_JSON_TEST_BYTES || t.output.len() > MAX_JSON_TEST_BYTES {
                return Err(CoreError::too_large(
                    format!("tests[{i}]"),
                    format!("input and output at most {MAX_JSON_TEST_BYTES} bytes each"),
                ));
            }
            if let Some(n) = &t.name {
                let ok = !n.is_empty()
                    && n.len() <= 64
                    && n.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
                if !ok {
                    return Err(CoreError::invalid(
                        format!("tests[{i}].name"),
                        "1-64 characters of A-Z, a-z, 0-9, '-' and '_'",
                    ));
                }
                if !names.insert(n.clone()) {
                    return Err(CoreError::invalid(
                        format!("tests[{i}].name"),
                        format!("{n:?} is used twice"),
                    ));
                }
            }
        }
        if total > MAX_JSON_PROBLEM_BYTES {
            return Err(CoreError::too_large(
                "tests",
                format!("all tests together at most {MAX_JSON_PROBLEM_BYTES} bytes"),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run() -> RunRequest {
        RunRequest {
            language: "python3".into(),
            source: "print(1)".into(),
            inputs: vec![Input::default()],
            limits: None,
            callback_url: None,
        }
    }

    #[test]
    fn run_requests_are_checked_field_by_field() {
        run().validate().unwrap();
        let field = |r: RunRequest| match r.validate().unwrap_err() {
            CoreError::Invalid { field, .. } | CoreError::TooLarge { field, .. } => field,
            e => panic!("{e}"),
        };
        assert_eq!(
            field(RunRequest {
                language: "cobol".into(),
                ..run()
            }),
            "language"
        );
        assert_eq!(
            field(RunRequest {
                inputs: vec![],
                ..run()
            }),
            "inputs"
        );
        assert_eq!(
            field(RunRequest {
                source: "x".repeat(MAX_SOURCE_BYTES + 1),
                ..run()
            }),
            "source"
        );
        let mut big = run();
        big.inputs[0].stdin = "x".repeat(MAX_STDIN_BYTES + 1);
        assert_eq!(field(big), "inputs[0].stdin");
        let limits = Limits {
            time_ms: Limits::MAX_TIME_MS + 1,
            ..Limits::default()
        };
        assert_eq!(
            field(RunRequest {
                limits: Some(limits),
                ..run()
            }),
            "limits.time_ms"
        );
        for bad in ["ftp://x", "http://", "http://u:p@host/", "http://a b"] {
            let r = RunRequest {
                callback_url: Some(bad.into()),
                ..run()
            };
            assert_eq!(field(r), "callback_url", "{bad}");
        }
        let ok = RunRequest {
            callback_url: Some("https://example.com/hook?x=1".into()),
            ..run()
        };
        ok.validate().unwrap();
    }

    #[test]
    fn unknown_fields_are_refused() {
        let e = serde_json::from_str::<RunRequest>(
            r#"{"language":"c","source":"","inputs":[{}],"extra":1}"#,
        )
        .unwrap_err();
        assert!(e.to_string().contains("extra"), "{e}");
    }

    #[test]
    fn problem_ids_are_plain() {
        for ok in ["sum", "a-b", "p1"] {
            check_problem_id("id", ok).unwrap();
        }
        for bad in ["", "-a", "A", "a/b", "..", &"x".repeat(65)] {
            assert!(check_problem_id("id", bad).is_err(), "{bad}");
        }
    }
}
