//! Judge0 CE's API (the version [`VERSION`]) over coderun's playground runs,
//! so that clients written for Judge0 work unchanged: its language ids,
//! its statuses, its request fields and its answers' field names and units.
//! A Judge0 submission is a run of one input; its token is the run's id
//! written as a UUID (see [`token`]).

use std::collections::BTreeMap;

use base64::Engine;
use coderun_protocol::lang::{self, Language};
use coderun_protocol::{Input, JobResult, Limits, RunResult, RunStatus};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::domain::{Job, Millis, Status};
use crate::requests::RunRequest;

/// The Judge0 CE release whose API this is.
pub const VERSION: &str = "1.13.1";

/// Submissions in one batch, as Judge0's default.
pub const MAX_BATCH: usize = 20;

/// Judge0 CE's language ids for the languages coderun has, and ids from
/// 1001 up for those Judge0 lacks. Where Judge0 has several versions of a
/// language (C and C++ by GCC 7, 8 and 9), each of its ids is coderun's one
/// version: clients hard-code any of them (Judge0's Python SDK, 52 for
/// C++).
const LANGUAGE_IDS: &[(u32, &str)] = &[
    (46, "bash"),
    (48, "c"),
    (49, "c"),
    (50, "c"),
    (51, "csharp"),
    (52, "cpp"),
    (53, "cpp"),
    (54, "cpp"),
    (55, "lisp"),
    (56, "d"),
    (57, "elixir"),
    (58, "erlang"),
    (59, "fortran"),
    (60, "go"),
    (61, "haskell"),
    (62, "java"),
    (63, "javascript"),
    (64, "lua"),
    (65, "ocaml"),
    (67, "pascal"),
    (68, "php"),
    (69, "prolog"),
    (71, "python3"),
    (72, "ruby"),
    (73, "rust"),
    (74, "typescript"),
    (76, "cpp-clang"),
    (78, "kotlin"),
    (81, "scala"),
    (85, "perl"),
    (1001, "pypy3"),
    (1002, "nim"),
    (1003, "racket"),
];

/// A language by its Judge0 id.
pub fn language(id: u32) -> Option<&'static Language> {
    LANGUAGE_IDS
        .iter()
        .find(|(i, _)| *i == id)
        .and_then(|(_, l)| lang::by_id(l))
}

/// The Judge0 id of a coderun language (the newest of its ids).
pub fn language_id(coderun: &str) -> Option<u32> {
    LANGUAGE_IDS
        .iter()
        .filter(|(_, l)| *l == coderun)
        .map(|(i, _)| *i)
        .max()
}

/// `GET /languages` (`all`: `/languages/all`, with `is_archived`): `id`
/// and `name` of each, as Judge0 lists them.
pub fn languages(all: bool) -> Vec<Value> {
    LANGUAGE_IDS
        .iter()
        .filter_map(|(id, l)| {
            let l = lang::by_id(l)?;
            let mut v = json!({"id": id, "name": name(l)});
            if all {
                v["is_archived"] = json!(false);
            }
            Some(v)
        })
        .collect()
}

/// `GET /languages/{id}`: with its source file and commands.
pub fn language_details(id: u32) -> Option<Value> {
    let l = language(id)?;
    let source_file = l.source_file.replace("{main}", "Main");
    let command = |argv: &[&str]| -> String {
        argv.iter()
            .map(|a| {
                a.replace("{box}/", "")
                    .replace("{box}", ".")
                    .replace("{sources}", &source_file)
                    .replace("{main}", "Main")
                    .replace("{memory_mb}", &Limits::DEFAULT_MEMORY_MB.to_string())
                    .replace("{stack_mb}", &Limits::DEFAULT_STACK_MB.to_string())
            })
            .collect::<Vec<_>>()
            .join(" ")
    };
    Some(json!({
        "id": id,
        "name": name(l),
        "is_archived": false,
        "source_file": source_file,
        "compile_cmd": l.compile.map(command),
        "run_cmd": command(l.run),
    }))
}

/// Judge0's way of naming a language: its name and version in parentheses.
fn name(l: &Language) -> String {
    if l.name.contains('(') || l.release.is_empty() {
        l.name.to_string()
    } else {
        format!("{} ({})", l.name, l.release)
    }
}

/// Judge0's statuses, by id.
pub const STATUSES: [(u32, &str); 14] = [
    (1, "In Queue"),
    (2, "Processing"),
    (3, "Accepted"),
    (4, "Wrong Answer"),
    (5, "Time Limit Exceeded"),
    (6, "Compilation Error"),
    (7, "Runtime Error (SIGSEGV)"),
    (8, "Runtime Error (SIGXFSZ)"),
    (9, "Runtime Error (SIGFPE)"),
    (10, "Runtime Error (SIGABRT)"),
    (11, "Runtime Error (NZEC)"),
    (12, "Runtime Error (Other)"),
    (13, "Internal Error"),
    (14, "Exec Format Error"),
];

/// `GET /statuses`.
pub fn statuses() -> Value {
    Value::Array(
        STATUSES
            .iter()
            .map(|(id, d)| json!({"id": id, "description": d}))
            .collect(),
    )
}

/// `GET /config_info`: every key Judge0 answers with, for what coderun
/// does (times in seconds, sizes in KB).
pub fn config_info() -> Value {
    let s = |ms: u64| ms as f64 / 1000.0;
    json!({
        "maintenance_mode": false,
        "enable_wait_result": true,
        "enable_compiler_options": false,
        "allowed_languages_for_compile_options": [],
        "enable_command_line_arguments": true,
        "enable_submission_delete": false,
        "enable_callbacks": true,
        "callbacks_max_tries": 4,
        "callbacks_timeout": 10.0,
        "enable_additional_files": true,
        "max_queue_size": 10_000,
        "cpu_time_limit": s(Limits::DEFAULT_TIME_MS),
        "max_cpu_time_limit": s(Limits::MAX_TIME_MS),
        "cpu_extra_time": 0.0,
        "max_cpu_extra_time": 0.0,
        "wall_time_limit": s(Limits::derived_wall_ms(Limits::DEFAULT_TIME_MS)),
        "max_wall_time_limit": s(Limits::MAX_WALL_TIME_MS),
        "memory_limit": Limits::DEFAULT_MEMORY_MB * 1024,
        "max_memory_limit": Limits::MAX_MEMORY_MB * 1024,
        "stack_limit": Limits::DEFAULT_STACK_MB * 1024,
        "max_stack_limit": Limits::MAX_MEMORY_MB * 1024,
        "max_processes_and_or_threads": Limits::DEFAULT_PROCESSES,
        "max_max_processes_and_or_threads": Limits::MAX_PROCESSES,
        "enable_per_process_and_thread_time_limit": false,
        "allow_enable_per_process_and_thread_time_limit": false,
        "enable_per_process_and_thread_memory_limit": false,
        "allow_enable_per_process_and_thread_memory_limit": false,
        "max_file_size": Limits::DEFAULT_FILE_SIZE_BYTES / 1024,
        "max_max_file_size": Limits::MAX_FILE_SIZE_BYTES / 1024,
        "number_of_runs": 1,
        "max_number_of_runs": 1,
        "redirect_stderr_to_stdout": false,
        "max_extract_size": crate::requests::MAX_SOURCE_BYTES / 1024,
        "enable_batched_submissions": true,
        "max_submission_batch_size": MAX_BATCH,
        "submission_cache_duration": 0.0,
        "use_docs_as_homepage": false,
        "allow_enable_network": false,
        "enable_network": false,
    })
}

/// `GET /about`.
pub fn about() -> Value {
    json!({
        "version": VERSION,
        "homepage": "https://github.com/coderun",
        "source_code": "https://github.com/coderun",
        "maintainer": "coderun, implementing the API of Judge0 CE 1.13.1",
    })
}

/// A refused request as Judge0 says it: each field with its complaints
/// (HTTP 422).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Invalid(pub BTreeMap<String, Vec<String>>);

impl Invalid {
    fn add(&mut self, field: &str, message: impl Into<String>) {
        self.0
            .entry(field.to_string())
            .or_default()
            .push(message.into());
    }

    pub fn body(&self) -> Value {
        json!(self.0)
    }
}

/// `POST /submissions`: Judge0's fields. Numbers may come as strings (form
/// clients send them so); unknown fields are ignored, as Judge0 does.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct SubmissionRequest {
    pub source_code: Option<String>,
    pub language_id: Option<Value>,
    pub compiler_options: Option<String>,
    pub command_line_arguments: Option<String>,
    pub stdin: Option<String>,
    pub expected_output: Option<String>,
    pub cpu_time_limit: Option<Value>,
    pub cpu_extra_time: Option<Value>,
    pub wall_time_limit: Option<Value>,
    pub memory_limit: Option<Value>,
    pub stack_limit: Option<Value>,
    pub max_processes_and_or_threads: Option<Value>,
    pub enable_per_process_and_thread_time_limit: Option<bool>,
    pub enable_per_process_and_thread_memory_limit: Option<bool>,
    pub max_file_size: Option<Value>,
    pub redirect_stderr_to_stdout: Option<bool>,
    pub enable_network: Option<bool>,
    pub number_of_runs: Option<Value>,
    pub callback_url: Option<String>,
    pub additional_files: Option<String>,
}

/// A number Judge0 takes as a number or a string of one.
fn number(v: &Value) -> Option<f64> {
    match v {
        Value::Number(n) => n.as_f64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
    .filter(|n: &f64| n.is_finite())
}

fn decode(field: &str, text: &str, invalid: &mut Invalid) -> Option<String> {
    let cleaned: String = text.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    match base64::engine::general_purpose::STANDARD.decode(cleaned) {
        Ok(bytes) => match String::from_utf8(bytes) {
            Ok(s) => Some(s),
            Err(_) => {
                invalid.add(field, "is not UTF-8 once decoded");
                None
            }
        },
        Err(_) => {
            invalid.add(field, "is not valid base64");
            None
        }
    }
}

impl SubmissionRequest {
    /// The run this submission is, or what is wrong with it. `base64`:
    /// `source_code`, `stdin` and `expected_output` come base64-encoded.
    pub fn to_run(&self, base64: bool) -> Result<RunRequest, Invalid> {
        let mut invalid = Invalid::default();
        let text = |field: &str, v: &Option<String>, invalid: &mut Invalid| -> Option<String> {
            let v = v.as_ref()?;
            if base64 {
                decode(field, v, invalid)
            } else {
                Some(v.clone())
            }
        };
        let source = text("source_code", &self.source_code, &mut invalid);
        if self.source_code.as_deref().is_none_or(str::is_empty) {
            invalid.add("source_code", "can't be blank");
        }
        let stdin = text("stdin", &self.stdin, &mut invalid).unwrap_or_default();
        let expected_output = text("expected_output", &self.expected_output, &mut invalid);
        let language = match self.language_id.as_ref().and_then(number) {
            None => {
                invalid.add("language_id", "can't be blank");
                None
            }
            Some(id) => match language(id as u32).filter(|_| id.fract() == 0.0 && id >= 0.0) {
                Some(l) => Some(l),
                None => {
                    invalid.add(
                        "language_id",
                        format!("language with id {id} doesn't exist"),
                    );
                    None
                }
            },
        };
        let args = match self.command_line_arguments.as_deref() {
            None => Vec::new(),
            Some(a) => shell_words(a).unwrap_or_else(|why| {
                invalid.add("command_line_arguments", why);
                Vec::new()
            }),
        };
        if self
            .compiler_options
            .as_deref()
            .is_some_and(|o| !o.trim().is_empty())
        {
            invalid.add(
                "compiler_options",
                "setting compiler options is not allowed",
            );
        }
        for (field, on) in [
            ("enable_network", self.enable_network),
            (
                "enable_per_process_and_thread_time_limit",
                self.enable_per_process_and_thread_time_limit,
            ),
            (
                "enable_per_process_and_thread_memory_limit",
                self.enable_per_process_and_thread_memory_limit,
            ),
            ("redirect_stderr_to_stdout", self.redirect_stderr_to_stdout),
        ] {
            if on == Some(true) {
                invalid.add(field, "is not allowed on this server (it must be false)");
            }
        }
        // Each limit within its range, converted to coderun's units.
        let mut limits = Limits::default();
        let mut limit = |field: &str, v: &Option<Value>, min: f64, max: f64| -> Option<f64> {
            let v = v.as_ref().filter(|v| !v.is_null())?;
            match number(v) {
                Some(n) if (min..=max).contains(&n) => Some(n),
                Some(n) => {
                    invalid.add(field, format!("must be between {min} and {max}, not {n}"));
                    None
                }
                None => {
                    invalid.add(field, "is not a number");
                    None
                }
            }
        };
        let secs = |ms: u64| ms as f64 / 1000.0;
        if let Some(s) = limit(
            "cpu_time_limit",
            &self.cpu_time_limit,
            0.001,
            secs(Limits::MAX_TIME_MS),
        ) {
            limits.time_ms = (s * 1000.0).ceil() as u64;
        }
        limit(
            "cpu_extra_time",
            &self.cpu_extra_time,
            0.0,
            secs(Limits::MAX_TIME_MS),
        );
        if let Some(s) = limit(
            "wall_time_limit",
            &self.wall_time_limit,
            0.001,
            secs(Limits::MAX_WALL_TIME_MS),
        ) {
            limits.wall_time_ms = (s * 1000.0).ceil() as u64;
        }
        let kb_to_mb = |kb: f64| (kb / 1024.0).ceil().max(1.0) as u64;
        if let Some(kb) = limit(
            "memory_limit",
            &self.memory_limit,
            2048.0,
            (Limits::MAX_MEMORY_MB * 1024) as f64,
        ) {
            limits.memory_mb = kb_to_mb(kb);
        }
        if let Some(kb) = limit(
            "stack_limit",
            &self.stack_limit,
            1.0,
            (Limits::MAX_MEMORY_MB * 1024) as f64,
        ) {
            limits.stack_mb = kb_to_mb(kb);
        }
        if let Some(n) = limit(
            "max_processes_and_or_threads",
            &self.max_processes_and_or_threads,
            1.0,
            Limits::MAX_PROCESSES as f64,
        ) {
            limits.processes = n as u64;
        }
        if let Some(kb) = limit(
            "max_file_size",
            &self.max_file_size,
            1.0,
            (Limits::MAX_FILE_SIZE_BYTES / 1024) as f64,
        ) {
            limits.file_size_bytes = (kb as u64) * 1024;
        }
        limit("number_of_runs", &self.number_of_runs, 1.0, 1.0);
        limits.stack_mb = limits.stack_mb.min(limits.memory_mb);
        if let Some(files) = &self.additional_files {
            // Checked as a base64 zip by the run's own checks.
            if files.trim().is_empty() {
                invalid.add("additional_files", "is empty");
            }
        }
        match (language, source) {
            (Some(l), Some(source)) if invalid.0.is_empty() => Ok(RunRequest {
                language: l.id.to_string(),
                source,
                files_zip: self.additional_files.clone(),
                inputs: vec![Input {
                    stdin,
                    args,
                    expected_output,
                }],
                limits: Some(limits),
                ..RunRequest::default()
            }),
            _ => Err(invalid),
        }
    }
}

/// Splits command-line arguments as a POSIX shell would (Judge0 hands
/// them to bash): words, single and double quotes, backslashes.
pub fn shell_words(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('\'') => break,
                        Some(c) => word.push(c),
                        None => return Err("has an unclosed single quote".into()),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next() {
                        Some('"') => break,
                        Some('\\') => match chars.next() {
                            Some(c @ ('"' | '\\' | '$' | '`')) => word.push(c),
                            Some(c) => {
                                word.push('\\');
                                word.push(c);
                            }
                            None => return Err("ends with a backslash".into()),
                        },
                        Some(c) => word.push(c),
                        None => return Err("has an unclosed double quote".into()),
                    }
                }
            }
            '\\' => {
                in_word = true;
                match chars.next() {
                    Some(c) => word.push(c),
                    None => return Err("ends with a backslash".into()),
                }
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Ok(words)
}

const ALPHABET: &[u8; 32] = b"0123456789abcdefghjkmnpqrstvwxyz";

/// A run's Judge0 token: its id (128 bits whose top 6 are zero until the
/// year 2109) written as a version-4 UUID, whose fixed bits it skips. None
/// for an id that is not one of coderun's.
pub fn token(job_id: &str) -> Option<String> {
    if job_id.len() != 26 {
        return None;
    }
    let mut v: u128 = 0;
    for b in job_id.bytes() {
        let d = ALPHABET.iter().position(|a| *a == b)? as u128;
        v = v.checked_mul(32)? + d;
    }
    if v >> 122 != 0 {
        return None;
    }
    let c = v & ((1 << 62) - 1);
    let b = (v >> 62) & 0xfff;
    let a = (v >> 74) & ((1 << 48) - 1);
    let u = (a << 80) | (4 << 76) | (b << 64) | (2 << 62) | c;
    let h = format!("{u:032x}");
    Some(format!(
        "{}-{}-{}-{}-{}",
        &h[..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..]
    ))
}

/// The run id of a Judge0 token (see [`token`]); None for anything else.
pub fn job_id(token: &str) -> Option<String> {
    let hex: String = token.chars().filter(|c| *c != '-').collect();
    if token.len() != 36 || hex.len() != 32 {
        return None;
    }
    let u = u128::from_str_radix(&hex, 16).ok()?;
    if (u >> 76) & 0xf != 4 || (u >> 62) & 0x3 != 2 {
        return None;
    }
    let a = u >> 80;
    let b = (u >> 64) & 0xfff;
    let c = u & ((1 << 62) - 1);
    let v = (a << 74) | (b << 62) | c;
    let id: String = (0..26)
        .rev()
        .map(|i| ALPHABET[((v >> (i * 5)) & 31) as usize] as char)
        .collect();
    (self::token(&id).as_deref() == Some(&token.to_ascii_lowercase())).then_some(id)
}

/// A run as Judge0 shows it: the job, its program, its one input and
/// limits, and its result once it has one.
#[derive(Debug, Clone)]
pub struct RunRecord {
    pub job: Job,
    pub source: String,
    pub input: Input,
    pub limits: Limits,
    pub result: Option<JobResult>,
}

/// The fields an answer shows (`?fields=`): Judge0's default ones (the
/// default value), `*` for all, or those named.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Fields(Option<Vec<String>>);

/// Every field of a Judge0 submission.
const ALL_FIELDS: &[&str] = &[
    "source_code",
    "language_id",
    "stdin",
    "expected_output",
    "stdout",
    "status_id",
    "created_at",
    "finished_at",
    "time",
    "memory",
    "stderr",
    "token",
    "number_of_runs",
    "cpu_time_limit",
    "cpu_extra_time",
    "wall_time_limit",
    "memory_limit",
    "stack_limit",
    "max_processes_and_or_threads",
    "enable_per_process_and_thread_time_limit",
    "enable_per_process_and_thread_memory_limit",
    "max_file_size",
    "compile_output",
    "exit_code",
    "exit_signal",
    "message",
    "wall_time",
    "compiler_options",
    "command_line_arguments",
    "redirect_stderr_to_stdout",
    "callback_url",
    "additional_files",
    "enable_network",
    "status",
    "language",
];

const DEFAULT_FIELDS: &[&str] = &[
    "token",
    "time",
    "memory",
    "stdout",
    "stderr",
    "compile_output",
    "message",
    "status",
];

impl Fields {
    /// `?fields=`: none (the default ones), `*`, or names separated by
    /// commas; an unknown name is refused with the names Judge0 would list.
    pub fn parse(fields: Option<&str>) -> Result<Fields, String> {
        let Some(f) = fields.map(str::trim).filter(|f| !f.is_empty()) else {
            return Ok(Fields(None));
        };
        if f == "*" {
            return Ok(Fields(Some(
                ALL_FIELDS.iter().map(|s| s.to_string()).collect(),
            )));
        }
        let names: Vec<String> = f.split(',').map(|s| s.trim().to_string()).collect();
        let unknown: Vec<&str> = names
            .iter()
            .map(String::as_str)
            .filter(|n| !ALL_FIELDS.contains(n))
            .collect();
        if !unknown.is_empty() {
            return Err(format!("invalid fields: [{}]", unknown.join(", ")));
        }
        Ok(Fields(Some(names)))
    }

    fn names(&self) -> Vec<&str> {
        match &self.0 {
            Some(v) => v.iter().map(String::as_str).collect(),
            None => DEFAULT_FIELDS.to_vec(),
        }
    }
}

/// The status of a run as Judge0 names it, with its `message`.
pub fn status(job: &Job, run: Option<&RunResult>) -> (u32, Option<String>) {
    match job.status {
        Status::Queued | Status::Starting => (1, None),
        Status::Running => (2, None),
        Status::Failed => (13, job.error.clone()),
        Status::Completed => match run {
            None => (13, Some("the run left no result".into())),
            Some(r) => match r.status {
                RunStatus::OK if r.output_matches == Some(false) => (4, None),
                RunStatus::OK => (3, None),
                RunStatus::TLE => (5, limit_message(r)),
                RunStatus::CE => (6, None),
                // Judge0 has no memory verdict: what it reports of a program
                // over its memory is a runtime error.
                RunStatus::MLE => (12, limit_message(r)),
                // A file or output over its limit is what SIGXFSZ reports.
                RunStatus::OLE => (8, limit_message(r)),
                RunStatus::RE => match r.signal {
                    Some(11) => (7, Some("Caught fatal signal 11".into())),
                    Some(25) => (8, Some("Caught fatal signal 25".into())),
                    Some(8) => (9, Some("Caught fatal signal 8".into())),
                    Some(6) => (10, Some("Caught fatal signal 6".into())),
                    Some(s) => (12, Some(format!("Caught fatal signal {s}"))),
                    None => (
                        11,
                        Some(format!(
                            "Exited with error status {}",
                            r.exit_code.unwrap_or(1)
                        )),
                    ),
                },
                _ => (13, r.error.clone()),
            },
        },
    }
}

/// What ended a run at one of its limits, in words (Judge0's and
/// Piston's `message`); None for a run that ended otherwise.
pub fn limit_message(r: &RunResult) -> Option<String> {
    match r.status {
        RunStatus::TLE => Some("Time limit exceeded".into()),
        RunStatus::MLE => Some(format!("Memory limit exceeded ({} KB used)", r.memory_kb)),
        RunStatus::OLE => Some("Output limit exceeded".into()),
        _ => None,
    }
}

/// A time as Judge0 writes it: UTC, milliseconds, `Z`.
fn timestamp(ms: Millis) -> Value {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    Value::String(format!(
        "{year:04}-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60,
        ms.rem_euclid(1000)
    ))
}

/// A submission as Judge0 answers with it, with the `fields` asked for;
/// texts base64-encoded where `base64`.
pub fn submission(r: &RunRecord, fields: &Fields, base64: bool) -> Value {
    let run = r.result.as_ref().and_then(|res| res.runs.first());
    let compile = r
        .result
        .as_ref()
        .and_then(|res| res.compile.as_ref().map(|c| c.output.clone()))
        .or_else(|| run.and_then(|x| x.compile_output.clone()));
    let (status_id, message) = status(&r.job, run);
    let text = |s: Option<String>| -> Value {
        match s.filter(|s| !s.is_empty()) {
            None => Value::Null,
            Some(s) if base64 => Value::String(base64::engine::general_purpose::STANDARD.encode(s)),
            Some(s) => Value::String(s),
        }
    };
    let secs = |ms: u64| Value::String(format!("{:.3}", ms as f64 / 1000.0));
    let lang = lang::by_id(&r.job.language);
    let language_id = language_id(&r.job.language);
    let mut out = Map::new();
    for f in fields.names() {
        let v = match f {
            "token" => json!(token(&r.job.id)),
            "source_code" => text(Some(r.source.clone())),
            "language_id" => json!(language_id),
            "language" => json!({
                "id": language_id,
                "name": lang.map(name),
            }),
            "stdin" => text(Some(r.input.stdin.clone())),
            "expected_output" => text(r.input.expected_output.clone()),
            "stdout" => text(run.map(|x| x.stdout.clone())),
            "stderr" => text(run.map(|x| x.stderr.clone())),
            "compile_output" => text(compile.clone()),
            "message" => text(message.clone()),
            "status" => json!({
                "id": status_id,
                "description": STATUSES[status_id as usize - 1].1,
            }),
            "status_id" => json!(status_id),
            "created_at" => timestamp(r.job.created_at),
            "finished_at" => r.job.finished_at.map_or(Value::Null, timestamp),
            "time" => run.map_or(Value::Null, |x| secs(x.time_ms)),
            "wall_time" => run.map_or(Value::Null, |x| secs(x.wall_ms)),
            "memory" => run.map_or(Value::Null, |x| json!(x.memory_kb)),
            "exit_code" => json!(run.and_then(|x| x.exit_code)),
            "exit_signal" => json!(run.and_then(|x| x.signal)),
            "number_of_runs" => json!(1),
            "cpu_time_limit" => json!(r.limits.time_ms as f64 / 1000.0),
            "cpu_extra_time" => json!(0.0),
            "wall_time_limit" => json!(r.limits.wall_ms() as f64 / 1000.0),
            "memory_limit" => json!(r.limits.memory_mb * 1024),
            "stack_limit" => json!(r.limits.stack_mb * 1024),
            "max_processes_and_or_threads" => json!(r.limits.processes),
            "enable_per_process_and_thread_time_limit"
            | "enable_per_process_and_thread_memory_limit"
            | "redirect_stderr_to_stdout"
            | "enable_network" => json!(false),
            "max_file_size" => json!(r.limits.file_size_bytes / 1024),
            "compiler_options" | "additional_files" => Value::Null,
            "command_line_arguments" => {
                if r.input.args.is_empty() {
                    Value::Null
                } else {
                    json!(r.input.args.join(" "))
                }
            }
            "callback_url" => json!(r.job.callback_url),
            _ => continue,
        };
        out.insert(f.to_string(), v);
    }
    Value::Object(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_uuid4s_and_give_the_run_id_back() {
        use crate::ports::Ids;
        let id = crate::ids::TimeOrderedIds.new_id(1_796_000_000_000);
        let t = token(&id).unwrap();
        assert_eq!(t.len(), 36);
        assert_eq!(&t[14..15], "4", "{t}");
        assert!("89ab".contains(&t[19..20]), "{t}");
        assert_eq!(job_id(&t).as_deref(), Some(id.as_str()));
        assert_eq!(job_id(&t.to_uppercase()).as_deref(), Some(id.as_str()));
        assert_eq!(job_id("not-a-token"), None);
        assert_eq!(job_id("123e4567-e89b-12d3-a456-426614174000"), None);
        assert_eq!(token("short"), None);
    }

    #[test]
    fn shell_words_split_as_bash_would() {
        assert_eq!(
            shell_words(" a  'b c' \"d \\\"e\\\"\" f\\ g ").unwrap(),
            ["a", "b c", "d \"e\"", "f g"]
        );
        assert_eq!(shell_words("").unwrap(), Vec::<String>::new());
        assert_eq!(shell_words("''").unwrap(), [""]);
        assert!(shell_words("'open").is_err());
    }

    #[test]
    fn a_submission_becomes_a_run_of_one_input_in_coderuns_units() {
        let req: SubmissionRequest = serde_json::from_value(json!({
            "source_code": "cHJpbnQoaW5wdXQoKSk=",
            "language_id": 71,
            "stdin": "aGk=",
            "expected_output": "aGkK",
            "cpu_time_limit": "1.5",
            "memory_limit": 65000,
            "command_line_arguments": "-v 'two words'",
            "unknown_field": 1,
        }))
        .unwrap();
        let run = req.to_run(true).unwrap();
        assert_eq!(run.language, "python3");
        assert_eq!(run.source, "print(input())");
        assert_eq!(run.inputs[0].stdin, "hi");
        assert_eq!(run.inputs[0].expected_output.as_deref(), Some("hi\n"));
        assert_eq!(run.inputs[0].args, ["-v", "two words"]);
        let limits = run.limits.unwrap();
        assert_eq!((limits.time_ms, limits.memory_mb), (1500, 64));
    }

    #[test]
    fn what_coderun_cannot_honour_is_refused_field_by_field() {
        let req: SubmissionRequest = serde_json::from_value(json!({
            "language_id": 9999,
            "cpu_time_limit": 100,
            "compiler_options": "-O3",
            "enable_network": true,
            "number_of_runs": 3,
        }))
        .unwrap();
        let e = req.to_run(false).unwrap_err();
        let fields: Vec<&str> = e.0.keys().map(String::as_str).collect();
        assert_eq!(
            fields,
            [
                "compiler_options",
                "cpu_time_limit",
                "enable_network",
                "language_id",
                "number_of_runs",
                "source_code"
            ]
        );
        assert_eq!(e.0["language_id"], ["language with id 9999 doesn't exist"]);
    }

    #[test]
    fn languages_keep_judge0s_ids() {
        assert_eq!(language(71).unwrap().id, "python3");
        assert_eq!(language(52).unwrap().id, "cpp");
        assert_eq!(language_id("cpp"), Some(54));
        assert!(language(70).is_none());
        let listed = languages(false);
        assert!(listed.iter().any(|l| l["id"] == 52), "every id is listed");
        let java = language_details(62).unwrap();
        assert_eq!(java["source_file"], "Main.java");
        assert!(
            java["compile_cmd"].as_str().unwrap().contains("javac"),
            "{java}"
        );
        let ids: Vec<u64> = statuses()
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["id"].as_u64().unwrap())
            .collect();
        assert_eq!(ids, (1..=14).collect::<Vec<_>>());
    }

    #[test]
    fn times_are_judge0s() {
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
        assert_eq!(timestamp(1_796_210_096_789), "2026-12-02T11:14:56.789Z");
    }
}
