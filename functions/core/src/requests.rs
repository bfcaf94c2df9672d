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
/// Titles, in characters (as JSON Schema's `maxLength` counts).
pub const MAX_TITLE_CHARS: usize = 200;
pub const MAX_STATEMENT_BYTES: usize = 256 << 10;
/// Tests of a problem created from JSON (packages may hold more).
pub const MAX_JSON_TESTS: usize = 200;
pub const MAX_JSON_TEST_BYTES: usize = 8 << 20;
pub const MAX_JSON_PROBLEM_BYTES: usize = 32 << 20;
pub const MAX_SESSION_TITLE_CHARS: usize = 200;

/// One file of a program of several.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileRequest {
    /// A plain name (`[A-Za-z0-9._-]`, not starting with `.`).
    pub name: String,
    pub content: String,
}

impl From<lang::SourceFile> for FileRequest {
    fn from(f: lang::SourceFile) -> FileRequest {
        FileRequest {
            name: f.name,
            content: f.content,
        }
    }
}

/// A NuGet package a C# program asks for, as .NET clients name it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NugetPackage {
    pub name: String,
    /// A version, or its first parts (`6`, `6.0`); any when absent.
    #[serde(default)]
    pub version: Option<String>,
}

/// Libraries a program may ask for at most.
pub const MAX_LIBRARIES: usize = 16;

/// `POST /runs`.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RunRequest {
    /// A language id from `GET /languages`.
    pub language: String,
    /// The program, or its entry point when `files` hold the rest.
    #[serde(default)]
    pub source: String,
    /// The program's files (at most 64, 256 KiB with `source`). Without
    /// `source`, the entry point is the language's only source among them,
    /// else the one named `main` (Java, Kotlin: the one declaring `main`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRequest>,
    /// The program's files as a zip (base64): side by side, or under one
    /// top directory; instead of `files`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_zip: Option<String>,
    /// Libraries the program needs (`GET /languages` lists each
    /// language's); one the image lacks is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<String>,
    /// C#: packages as NuGet names them; one the image lacks is refused.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nuget_packages: Vec<NugetPackage>,
    /// C#: the target framework a .NET client names (`net8.0`,
    /// `netcoreapp3.1`, `net48`…); the program is compiled by Mono for its
    /// .NET Framework 4.x library.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_framework: Option<String>,
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
    /// As for runs: the program, or its entry point beside `files`.
    #[serde(default)]
    pub source: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileRequest>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files_zip: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub libraries: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub nuget_packages: Vec<NugetPackage>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_framework: Option<String>,
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
    #[schema(pattern = "^[A-Za-z0-9_-]{1,64}$")]
    pub name: Option<String>,
    /// At most 8 MiB (input and output each).
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
    #[schema(pattern = "^[a-z0-9][a-z0-9-]{0,63}$")]
    pub id: Option<String>,
    /// 1 to 200 characters, not only spaces.
    #[schema(min_length = 1, max_length = 200, pattern = "\\S")]
    pub title: String,
    /// Markdown, with `$…$` math.
    /// At most 256 KiB.
    #[serde(default)]
    pub statement: String,
    #[schema(minimum = 1, maximum = 60000)]
    pub time_limit_ms: u64,
    #[serde(default = "default_memory_mb")]
    #[schema(minimum = 16, maximum = 4096)]
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

/// A program as the runner takes it: its entry point and its other files.
#[derive(Debug, Clone, PartialEq)]
pub struct Program {
    pub source: String,
    pub files: Vec<lang::SourceFile>,
}

impl Program {
    /// Bytes of all its files.
    pub fn size(&self) -> usize {
        self.source.len() + self.files.iter().map(|f| f.content.len()).sum::<usize>()
    }

    /// Refuses a program above a problem's code limit (`limits.code`).
    pub fn check_code_limit(&self, limit_kib: Option<u64>) -> Result<(), CoreError> {
        match limit_kib {
            Some(kib) if self.size() as u64 > kib * 1024 => Err(CoreError::too_large(
                "source",
                format!(
                    "the program is {} bytes; this problem takes at most {kib} KiB of code",
                    self.size()
                ),
            )),
            _ => Ok(()),
        }
    }
}

/// Checks a request's program (source, files, libraries) and returns it
/// with its entry point chosen.
pub fn check_program(
    language: &str,
    source: &str,
    files: &[FileRequest],
    files_zip: Option<&str>,
    libraries: &[String],
    nuget_packages: &[NugetPackage],
    target_framework: Option<&str>,
) -> Result<Program, CoreError> {
    check_language("language", language)?;
    let lang = lang::by_id(language).expect("checked above");
    check_source("source", source)?;
    let mut files: Vec<lang::SourceFile> = match files_zip {
        None => files
            .iter()
            .map(|f| lang::SourceFile {
                name: f.name.clone(),
                content: f.content.clone(),
            })
            .collect(),
        Some(_) if !files.is_empty() => {
            return Err(CoreError::invalid(
                "files_zip",
                "give the files either as `files` or as `files_zip`, not both",
            ))
        }
        Some(zip) => unzip_program(zip)?,
    };
    lang::files::check_files(&files, MAX_SOURCE_BYTES - source.len()).map_err(|e| {
        if e.contains("bytes; at most") {
            CoreError::too_large("files", e)
        } else {
            CoreError::invalid("files", e)
        }
    })?;
    let source = if source.is_empty() && !files.is_empty() {
        let listed: Vec<(&str, &[u8])> = files
            .iter()
            .map(|f| (f.name.as_str(), f.content.as_bytes()))
            .collect();
        let entry = lang::files::entry_point(lang, &listed, &[])
            .map_err(|e| CoreError::invalid("files", e))?;
        files.remove(entry).content
    } else {
        source.to_string()
    };
    if libraries.len() + nuget_packages.len() > MAX_LIBRARIES {
        return Err(CoreError::invalid(
            "libraries",
            format!("at most {MAX_LIBRARIES} libraries"),
        ));
    }
    if let Some(tfm) = target_framework {
        check_target_framework(lang, tfm)?;
    }
    if !nuget_packages.is_empty() && lang.id != "csharp" {
        return Err(CoreError::invalid(
            "nuget_packages",
            format!("NuGet packages are for C#, not {}", lang.name),
        ));
    }
    let wanted: Vec<(&str, Option<&str>)> = libraries
        .iter()
        .map(|l| (l.as_str(), None))
        .chain(
            nuget_packages
                .iter()
                .map(|p| (p.name.as_str(), p.version.as_deref())),
        )
        .collect();
    let missing = lang.missing_libraries(&wanted);
    if !missing.is_empty() {
        let field = if nuget_packages.is_empty() {
            "libraries"
        } else {
            "nuget_packages"
        };
        return Err(CoreError::invalid(
            field,
            format!("not available: {}", missing.join("; ")),
        ));
    }
    Ok(Program { source, files })
}

/// A C# target framework moniker: .NET (`net5.0`…`net10.0`), .NET Core
/// (`netcoreapp3.1`), .NET Standard (`netstandard2.0`) or .NET Framework
/// (`net48`). Any is compiled against Mono's .NET Framework 4.x library,
/// which the README states.
fn check_target_framework(lang: &lang::Language, tfm: &str) -> Result<(), CoreError> {
    if lang.id != "csharp" {
        return Err(CoreError::invalid(
            "target_framework",
            format!("a target framework is for C#, not {}", lang.name),
        ));
    }
    let version = |v: &str, parts: usize| {
        let n: Vec<&str> = v.split('.').collect();
        n.len() == parts
            && n.iter()
                .all(|p| !p.is_empty() && p.len() <= 2 && p.bytes().all(|b| b.is_ascii_digit()))
    };
    let known = tfm
        .strip_prefix("netcoreapp")
        .is_some_and(|v| version(v, 2))
        || tfm
            .strip_prefix("netstandard")
            .is_some_and(|v| version(v, 2))
        || tfm.strip_prefix("net").is_some_and(|v| {
            version(v, 2) || (v.len() == 2 || v.len() == 3) && v.bytes().all(|b| b.is_ascii_digit())
        });
    if !known {
        return Err(CoreError::invalid(
            "target_framework",
            format!(
                "{tfm:?} is not a target framework (net8.0, netcoreapp3.1, netstandard2.0, net48…)"
            ),
        ));
    }
    Ok(())
}

/// The files of a zip sent as base64, each UTF-8 text.
fn unzip_program(b64: &str) -> Result<Vec<lang::SourceFile>, CoreError> {
    use base64::Engine as _;
    // Base64 takes a third more than the bytes it carries.
    if b64.len() > MAX_SOURCE_BYTES * 2 {
        return Err(CoreError::too_large(
            "files_zip",
            format!("at most {MAX_SOURCE_BYTES} bytes of files"),
        ));
    }
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(b64.trim())
        .map_err(|e| CoreError::invalid("files_zip", format!("not base64: {e}")))?;
    let files = coderun_package::archive::program_files_from_zip(
        &bytes,
        lang::files::MAX_FILES,
        MAX_SOURCE_BYTES as u64,
    )
    .map_err(|e| CoreError::invalid("files_zip", e.to_string()))?;
    files
        .into_iter()
        .map(|(name, content)| {
            let content = String::from_utf8(content).map_err(|_| {
                CoreError::invalid("files_zip", format!("{name} is not UTF-8 text"))
            })?;
            Ok(lang::SourceFile { name, content })
        })
        .collect()
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
        self.program()?;
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
            if let Some(e) = input
                .expected_output
                .as_ref()
                .filter(|e| e.len() > MAX_STDIN_BYTES)
            {
                return Err(CoreError::too_large(
                    format!("inputs[{i}].expected_output"),
                    format!("is {} bytes; at most {MAX_STDIN_BYTES}", e.len()),
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

    /// The program to run, its entry point chosen.
    pub fn program(&self) -> Result<Program, CoreError> {
        check_program(
            &self.language,
            &self.source,
            &self.files,
            self.files_zip.as_deref(),
            &self.libraries,
            &self.nuget_packages,
            self.target_framework.as_deref(),
        )
    }
}

impl SubmissionRequest {
    pub fn validate(&self) -> Result<(), CoreError> {
        check_problem_id("problem_id", &self.problem_id)?;
        self.program()?;
        check_callback_url(&self.callback_url)
    }

    /// The program to judge, its entry point chosen.
    pub fn program(&self) -> Result<Program, CoreError> {
        check_program(
            &self.language,
            &self.source,
            &self.files,
            self.files_zip.as_deref(),
            &self.libraries,
            &self.nuget_packages,
            self.target_framework.as_deref(),
        )
    }
}

impl SessionRequest {
    pub fn validate(&self) -> Result<(), CoreError> {
        if let Some(t) = &self.title {
            if t.chars().count() > MAX_SESSION_TITLE_CHARS {
                return Err(CoreError::invalid(
                    "title",
                    format!("at most {MAX_SESSION_TITLE_CHARS} characters"),
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
        if self.title.trim().is_empty() || self.title.chars().count() > MAX_TITLE_CHARS {
            return Err(CoreError::invalid(
                "title",
                format!("1 to {MAX_TITLE_CHARS} characters, not only spaces"),
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
            ..RunRequest::default()
        }
    }

    fn file(name: &str, content: &str) -> FileRequest {
        FileRequest {
            name: name.into(),
            content: content.into(),
        }
    }

    #[test]
    fn a_program_of_files_gets_its_entry_point_and_checked_names() {
        let r = RunRequest {
            source: String::new(),
            files: vec![file("util.py", "X = 1"), file("main.py", "import util")],
            ..run()
        };
        let p = r.program().unwrap();
        assert_eq!(p.source, "import util");
        assert_eq!(p.files.len(), 1);
        assert_eq!(p.files[0].name, "util.py");
        // A source given beside files is the entry point.
        let r = RunRequest {
            files: vec![file("util.py", "X = 1")],
            ..run()
        };
        assert_eq!(r.program().unwrap().source, "print(1)");
        for (files, why) in [
            (vec![file("a.py", ""), file("b.py", "")], "name one main.py"),
            (vec![file("../x.py", "")], "files[0].name"),
            (vec![file("notes.txt", "")], "no Python 3 source"),
        ] {
            let r = RunRequest {
                source: String::new(),
                files,
                ..run()
            };
            match r.validate().unwrap_err() {
                CoreError::Invalid { field, message } => {
                    assert_eq!(field, "files");
                    assert!(message.contains(why), "{message}");
                }
                e => panic!("{e}"),
            }
        }
        let r = RunRequest {
            files: vec![file("big.py", &"x".repeat(MAX_SOURCE_BYTES))],
            ..run()
        };
        assert!(matches!(r.validate(), Err(CoreError::TooLarge { .. })));
    }

    #[test]
    fn a_program_may_come_as_a_zip() {
        use base64::Engine as _;
        use std::io::Write as _;
        let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
        let opts = zip::write::SimpleFileOptions::default();
        for (name, text) in [("sol/main.py", "import u"), ("sol/u.py", "X = 1")] {
            w.start_file(name, opts).unwrap();
            w.write_all(text.as_bytes()).unwrap();
        }
        let zip =
            base64::engine::general_purpose::STANDARD.encode(w.finish().unwrap().into_inner());
        let r = RunRequest {
            source: String::new(),
            files_zip: Some(zip.clone()),
            ..run()
        };
        let p = r.program().unwrap();
        assert_eq!(
            (p.source.as_str(), p.files[0].name.as_str()),
            ("import u", "u.py")
        );
        for (files_zip, files) in [
            (Some("%%%".to_string()), vec![]),
            (Some(zip), vec![file("x.py", "")]),
        ] {
            let r = RunRequest {
                source: String::new(),
                files_zip,
                files,
                ..run()
            };
            assert!(
                matches!(r.validate(), Err(CoreError::Invalid { field, .. }) if field == "files_zip")
            );
        }
    }

    #[test]
    fn libraries_and_nuget_packages_the_image_lacks_are_named() {
        let ok = RunRequest {
            libraries: vec!["numpy".into()],
            ..run()
        };
        ok.validate().unwrap();
        let lacking = RunRequest {
            libraries: vec!["numpy".into(), "pandas".into()],
            ..run()
        };
        match lacking.validate().unwrap_err() {
            CoreError::Invalid { field, message } => {
                assert_eq!(field, "libraries");
                assert!(
                    message.contains("pandas") && !message.contains("numpy ("),
                    "{message}"
                );
            }
            e => panic!("{e}"),
        }
        let nuget = |name: &str, version: Option<&str>| RunRequest {
            language: "csharp".into(),
            nuget_packages: vec![NugetPackage {
                name: name.into(),
                version: version.map(Into::into),
            }],
            ..run()
        };
        nuget("Newtonsoft.Json", Some("6.0")).validate().unwrap();
        for (tfm, ok) in [
            ("net8.0", true),
            ("netcoreapp3.1", true),
            ("net48", true),
            ("java17", false),
            ("net", false),
        ] {
            let r = RunRequest {
                target_framework: Some(tfm.into()),
                ..nuget("Newtonsoft.Json", None)
            };
            assert_eq!(r.validate().is_ok(), ok, "{tfm}");
        }
        let not_csharp = RunRequest {
            target_framework: Some("net8.0".into()),
            ..run()
        };
        assert!(not_csharp.validate().is_err());
        for (name, version) in [("Newtonsoft.Json", Some("13.0.1")), ("Dapper", None)] {
            match nuget(name, version).validate().unwrap_err() {
                CoreError::Invalid { field, message } => {
                    assert_eq!(field, "nuget_packages");
                    assert!(message.contains(name), "{message}");
                }
                e => panic!("{e}"),
            }
        }
        let not_csharp = RunRequest {
            nuget_packages: vec![NugetPackage {
                name: "Newtonsoft.Json".into(),
                version: None,
            }],
            ..run()
        };
        assert!(not_csharp.validate().is_err());
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
