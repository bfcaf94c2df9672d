//! Piston's API (version 2: `GET /api/v2/runtimes`, `POST /api/v2/execute`)
//! over coderun's playground runs, so that clients written for Piston work
//! unchanged: its language names, aliases and versions, its request fields
//! and its answer (`run` and `compile`, each with `stdout`, `stderr`,
//! `output`, `code`, `signal`).

use base64::Engine;
use coderun_protocol::lang::{self, Language};
use coderun_protocol::{Input, JobResult, Limits, RunResult, RunStatus};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::requests::{FileRequest, RunRequest};

/// Piston's name, aliases and runtime for each of coderun's languages.
const RUNTIMES: &[(&str, &str, &[&str], Option<&str>)] = &[
    ("python3", "python", &["py", "py3", "python3"], None),
    ("pypy3", "pypy3", &["pypy"], None),
    ("c", "c", &["gcc"], Some("gcc")),
    ("cpp", "c++", &["cpp", "g++"], Some("gcc")),
    ("cpp-clang", "clang++", &["cpp-clang"], Some("clang")),
    ("java", "java", &[], None),
    ("kotlin", "kotlin", &["kt"], None),
    ("scala", "scala", &["sc"], None),
    ("go", "go", &["golang"], None),
    ("rust", "rust", &["rs"], None),
    (
        "javascript",
        "javascript",
        &["node-javascript", "node-js", "js"],
        Some("node"),
    ),
    (
        "typescript",
        "typescript",
        &["ts", "node-ts", "tsc"],
        Some("node"),
    ),
    (
        "csharp",
        "csharp",
        &["mono", "mono-csharp", "mono-c#", "mono-cs", "c#", "cs"],
        Some("mono"),
    ),
    ("bash", "bash", &["sh"], None),
    ("ruby", "ruby", &["ruby3", "rb"], None),
    ("php", "php", &[], None),
    ("perl", "perl", &["pl"], None),
    ("lua", "lua", &[], None),
    ("haskell", "haskell", &["hs"], None),
    ("ocaml", "ocaml", &["ml"], None),
    ("pascal", "pascal", &["freepascal", "pp", "pas"], None),
    ("fortran", "fortran", &["f90"], None),
    ("d", "d", &["ldc", "dmd"], None),
    ("nim", "nim", &[], None),
    ("erlang", "erlang", &["erl", "escript"], None),
    ("elixir", "elixir", &["exs"], None),
    ("lisp", "lisp", &["cl", "sbcl", "commonlisp"], None),
    ("racket", "racket", &["rkt"], None),
    ("prolog", "prolog", &["plg"], None),
];

/// A language's version as Piston writes versions (`3.11.0`): the first
/// number of its release, completed to three parts.
fn version(l: &Language) -> String {
    let start = l.release.find(|c: char| c.is_ascii_digit());
    let digits: String = start
        .map(|s| {
            l.release[s..]
                .chars()
                .take_while(|c| c.is_ascii_digit() || *c == '.')
                .collect()
        })
        .unwrap_or_default();
    let mut parts: Vec<&str> = digits.split('.').filter(|p| !p.is_empty()).collect();
    while parts.len() < 3 {
        parts.push("0");
    }
    parts.join(".")
}

/// `GET /api/v2/runtimes`.
pub fn runtimes() -> Value {
    Value::Array(
        RUNTIMES
            .iter()
            .filter_map(|(id, name, aliases, runtime)| {
                let l = lang::by_id(id)?;
                let mut v = json!({
                    "language": name,
                    "version": version(l),
                    "aliases": aliases,
                });
                if let Some(r) = runtime {
                    v["runtime"] = json!(r);
                }
                Some(v)
            })
            .collect(),
    )
}

/// The language a request names (by Piston's name or an alias) at the
/// `version` it asks for: `*`, the version, or a prefix of it (`3`,
/// `3.11`).
fn runtime(language: &str, version_asked: &str) -> Option<&'static Language> {
    let (id, _, _, _) = RUNTIMES
        .iter()
        .find(|(_, name, aliases, _)| *name == language || aliases.contains(&language))?;
    let l = lang::by_id(id)?;
    let v = version(l);
    let asked = version_asked
        .trim()
        .trim_end_matches(".x")
        .trim_end_matches(".*");
    let matches = asked == "*"
        || asked == v
        || v.strip_prefix(asked)
            .is_some_and(|rest| rest.starts_with('.'));
    matches.then_some(l)
}

/// Piston's answer to a request it cannot take: HTTP 400 `{"message"}`.
#[derive(Debug, Clone, PartialEq)]
pub struct Refused(pub String);

/// A file of the program, as Piston takes it.
#[derive(Debug, Clone, Deserialize)]
pub struct File {
    pub name: Option<String>,
    pub content: Option<String>,
    /// `utf8` (the default), `base64` or `hex`.
    pub encoding: Option<String>,
}

/// `POST /api/v2/execute`.
#[derive(Debug, Clone, Deserialize)]
pub struct ExecuteRequest {
    pub language: Option<String>,
    pub version: Option<String>,
    pub files: Option<Vec<File>>,
    pub stdin: Option<String>,
    pub args: Option<Vec<Value>>,
    /// Milliseconds, the run's limit on both its CPU and its wall-clock
    /// time.
    pub run_timeout: Option<i64>,
    pub compile_timeout: Option<i64>,
    /// Bytes; -1: the default.
    pub run_memory_limit: Option<i64>,
    pub compile_memory_limit: Option<i64>,
}

fn content(i: usize, f: &File) -> Result<String, Refused> {
    let text = f
        .content
        .as_ref()
        .ok_or_else(|| Refused(format!("files[{i}].content is required as a string")))?;
    let bytes = match f.encoding.as_deref().unwrap_or("utf8") {
        "utf8" => return Ok(text.clone()),
        "base64" => base64::engine::general_purpose::STANDARD
            .decode(text.trim())
            .map_err(|_| Refused(format!("files[{i}].content is not valid base64")))?,
        "hex" => (0..text.len() / 2)
            .map(|k| u8::from_str_radix(text.get(2 * k..2 * k + 2).unwrap_or("zz"), 16))
            .collect::<Result<Vec<u8>, _>>()
            .ok()
            .filter(|_| text.len() % 2 == 0)
            .ok_or_else(|| Refused(format!("files[{i}].content is not valid hex")))?,
        other => {
            return Err(Refused(format!(
                "files[{i}].encoding {other:?} is not one of utf8, base64, hex"
            )))
        }
    };
    String::from_utf8(bytes).map_err(|_| Refused(format!("files[{i}].content is not UTF-8")))
}

impl ExecuteRequest {
    /// The run this request asks for, in the language it names.
    pub fn to_run(&self) -> Result<(RunRequest, &'static Language), Refused> {
        let language = self
            .language
            .as_deref()
            .ok_or_else(|| Refused("language is required as a string".into()))?;
        // Piston requires a version; none is taken as the latest (`*`).
        let version_asked = self.version.as_deref().unwrap_or("*");
        let l = runtime(language, version_asked)
            .ok_or_else(|| Refused(format!("{language}-{version_asked} runtime is unknown")))?;
        let files = self
            .files
            .as_ref()
            .filter(|f| !f.is_empty())
            .ok_or_else(|| Refused("files is required as an array".into()))?;
        let source = content(0, &files[0])?;
        let mut others = Vec::new();
        for (i, f) in files.iter().enumerate().skip(1) {
            let name = f
                .name
                .clone()
                .ok_or_else(|| Refused(format!("files[{i}].name is required beside the first")))?;
            others.push(FileRequest {
                name,
                content: content(i, f)?,
            });
        }
        let args = self
            .args
            .iter()
            .flatten()
            .map(|a| match a {
                Value::String(s) => Ok(s.clone()),
                Value::Number(n) => Ok(n.to_string()),
                _ => Err(Refused("args must be strings".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut limits = Limits::default();
        if let Some(ms) = self.run_timeout.filter(|t| *t >= 0) {
            let ms = u64::try_from(ms).unwrap_or(u64::MAX);
            if ms == 0 || ms > Limits::MAX_TIME_MS {
                return Err(Refused(format!(
                    "run_timeout cannot exceed the configured limit of {}",
                    Limits::MAX_TIME_MS
                )));
            }
            limits.time_ms = ms;
            limits.wall_time_ms = ms;
        }
        if let Some(bytes) = self.run_memory_limit.filter(|m| *m >= 0) {
            let mb = (bytes as u64).div_ceil(1 << 20).max(1);
            if mb > Limits::MAX_MEMORY_MB {
                return Err(Refused(format!(
                    "run_memory_limit cannot exceed the configured limit of {}",
                    Limits::MAX_MEMORY_MB << 20
                )));
            }
            limits.memory_mb = mb;
            limits.stack_mb = limits.stack_mb.min(mb);
        }
        for (field, v) in [
            ("compile_timeout", self.compile_timeout),
            ("compile_memory_limit", self.compile_memory_limit),
        ] {
            if v.is_some_and(|v| v < -1) {
                return Err(Refused(format!("{field} must be -1 or more")));
            }
        }
        let run = RunRequest {
            language: l.id.to_string(),
            source,
            files: others,
            inputs: vec![Input {
                stdin: self.stdin.clone().unwrap_or_default(),
                args,
                expected_output: None,
            }],
            limits: Some(limits),
            ..RunRequest::default()
        };
        Ok((run, l))
    }
}

/// A stage as Piston reports it.
fn stage(stdout: &str, stderr: &str, code: Option<i32>, signal: Option<&str>) -> Value {
    json!({
        "stdout": stdout,
        "stderr": stderr,
        "output": format!("{stdout}{stderr}"),
        "code": code,
        "signal": signal,
    })
}

/// A signal's name (`SIGKILL`).
fn signal_name(s: i32) -> String {
    match s {
        1 => "SIGHUP".into(),
        2 => "SIGINT".into(),
        4 => "SIGILL".into(),
        6 => "SIGABRT".into(),
        7 => "SIGBUS".into(),
        8 => "SIGFPE".into(),
        9 => "SIGKILL".into(),
        11 => "SIGSEGV".into(),
        13 => "SIGPIPE".into(),
        15 => "SIGTERM".into(),
        24 => "SIGXCPU".into(),
        25 => "SIGXFSZ".into(),
        31 => "SIGSYS".into(),
        s => format!("SIG{s}"),
    }
}

/// Piston's answer for a finished run (`result` None: it did not finish
/// in time, or failed on coderun's side, said in `message`).
pub fn response(l: &Language, result: Option<&JobResult>, failure: Option<&str>) -> Value {
    let name = RUNTIMES
        .iter()
        .find(|(id, ..)| *id == l.id)
        .map_or(l.id, |(_, n, ..)| *n);
    let mut out = json!({ "language": name, "version": version(l) });
    let run = result.and_then(|r| r.runs.first());
    let compile_output = result
        .and_then(|r| r.compile.as_ref().map(|c| (c.output.clone(), c.ok)))
        .or_else(|| {
            run.and_then(|x| {
                x.compile_output
                    .clone()
                    .map(|o| (o, x.status != RunStatus::CE))
            })
        });
    if l.compile.is_some() || compile_output.is_some() {
        let (output, ok) = compile_output.unwrap_or_default();
        out["compile"] = stage("", &output, Some(if ok { 0 } else { 1 }), None);
    }
    out["run"] = match run {
        None => {
            let mut v = stage("", "", None, None);
            v["message"] = json!(failure.unwrap_or("the run did not finish"));
            v["status"] = json!("XX");
            v
        }
        Some(r) => run_stage(r),
    };
    out
}

fn run_stage(r: &RunResult) -> Value {
    if r.status == RunStatus::CE {
        let mut v = stage("", "", None, None);
        v["message"] = json!("the program did not compile");
        return v;
    }
    // A run ended by a limit was killed: Piston says SIGKILL.
    let killed = matches!(r.status, RunStatus::TLE | RunStatus::MLE | RunStatus::OLE);
    let signal = if killed {
        Some("SIGKILL".to_string())
    } else {
        r.signal.map(signal_name)
    };
    let code = if signal.is_some() { None } else { r.exit_code };
    let mut v = stage(&r.stdout, &r.stderr, code, signal.as_deref());
    let status = match r.status {
        RunStatus::TLE => Some("TO"),
        RunStatus::MLE => Some("SG"),
        RunStatus::OLE => Some("OL"),
        RunStatus::RE if r.signal.is_some() => Some("SG"),
        RunStatus::RE => Some("RE"),
        _ => None,
    };
    v["status"] = json!(status);
    v["message"] = json!(crate::judge0::limit_message(r));
    v["memory"] = json!(r.memory_kb * 1024);
    v["cpu_time"] = json!(r.time_ms);
    v["wall_time"] = json!(r.wall_ms);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_have_pistons_names_aliases_and_versions() {
        let all = runtimes();
        let python = all
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["language"] == "python")
            .unwrap();
        assert_eq!(python["version"], "3.11.0");
        assert!(python["aliases"].as_array().unwrap().contains(&json!("py")));
        let cpp = all
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["language"] == "c++")
            .unwrap();
        assert_eq!(
            (&cpp["version"], &cpp["runtime"]),
            (&json!("12.2.0"), &json!("gcc"))
        );
        assert_eq!(runtime("py", "*").unwrap().id, "python3");
        assert_eq!(runtime("python", "3.11").unwrap().id, "python3");
        assert_eq!(runtime("python", "3").unwrap().id, "python3");
        assert!(runtime("python", "3.1").is_none());
        assert!(runtime("cobol", "*").is_none());
    }

    #[test]
    fn a_request_becomes_a_run_of_its_files() {
        let req: ExecuteRequest = serde_json::from_value(json!({
            "language": "python", "version": "*",
            "files": [{"name": "main.py", "content": "import util"},
                      {"name": "util.py", "content": "cHJpbnQoMSk=", "encoding": "base64"}],
            "stdin": "x", "args": ["1", 2],
            "run_timeout": 1500, "run_memory_limit": 100_000_000,
            "compile_timeout": 10000, "compile_memory_limit": -1,
        }))
        .unwrap();
        let (run, l) = req.to_run().unwrap();
        assert_eq!(l.id, "python3");
        assert_eq!(run.source, "import util");
        assert_eq!(run.files[0].name, "util.py");
        assert_eq!(run.files[0].content, "print(1)");
        assert_eq!(run.inputs[0].args, ["1", "2"]);
        let limits = run.limits.unwrap();
        assert_eq!(
            (limits.time_ms, limits.wall_time_ms, limits.memory_mb),
            (1500, 1500, 96)
        );
    }

    #[test]
    fn bad_requests_get_pistons_messages() {
        let refused = |v: Value| {
            serde_json::from_value::<ExecuteRequest>(v)
                .unwrap()
                .to_run()
                .unwrap_err()
                .0
        };
        assert_eq!(
            refused(json!({"version": "*", "files": []})),
            "language is required as a string"
        );
        assert_eq!(
            refused(json!({"language": "python", "version": "2.7", "files": [{"content": "x"}]})),
            "python-2.7 runtime is unknown"
        );
        assert_eq!(
            refused(json!({"language": "python", "version": "*"})),
            "files is required as an array"
        );
        assert_eq!(
            refused(json!({"language": "python", "version": "*", "files": [{"name": "a.py"}]})),
            "files[0].content is required as a string"
        );
        assert!(refused(json!({"language": "python", "version": "*", "files": [{"content": "x"}], "run_timeout": 600000}))
            .starts_with("run_timeout cannot exceed"));
    }
}
