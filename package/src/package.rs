//! Problem packages in the Problem Package Format (Kattis problemtools and
//! ICPC), legacy and 2023-07: metadata, test data with groups, output
//! validators and example submissions with their expected verdicts.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml::Value;

use crate::checker::{Compare, FlagError};
use crate::expectations::{
    expected_results, read_submissions_yaml, Expectations, Requirement, SubmissionsYaml,
};
use crate::scoring::{Aggregation, Scoring};

/// Limits on what a package may contain.
pub const MAX_TESTS: usize = 2_000;
pub const MAX_SUBMISSIONS: usize = 500;
/// Files of one directory submission read for `@EXPECTED_RESULTS@:`, and
/// files `include/` may add to a submission.
const MAX_SUBMISSION_FILES: usize = 64;
/// Bytes `include/` may add to a submission.
const MAX_INCLUDED_BYTES: usize = 1 << 20;
/// `limits.code` at most (KiB): a submission's files are at most 1 MiB.
pub const MAX_CODE_KIB: u64 = 1024;
/// `limits.validation_*` at most.
pub const MAX_VALIDATION_TIME_S: u64 = 60;
pub const MAX_VALIDATION_MEMORY_MB: u64 = 4096;
pub const MAX_VALIDATION_OUTPUT_MB: u64 = 64;

/// A package's limits on one run of its validators; None: the system's.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct ValidationLimits {
    pub time_s: Option<u64>,
    pub memory_mb: Option<u64>,
    pub output_mb: Option<u64>,
}

/// One test file (input or answer).
pub const MAX_TEST_FILE_BYTES: u64 = 256 << 20;

#[derive(Debug, thiserror::Error)]
pub enum PackageError {
    #[error("{0}: not a problem package (no problem.yaml)")]
    NotAPackage(PathBuf),
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("problem.yaml: {0}")]
    Yaml(String),
    #[error(transparent)]
    Flags(#[from] FlagError),
    #[error("{0}")]
    Invalid(String),
}

pub(crate) fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
    move |source| PackageError::Read {
        path: path.to_path_buf(),
        source,
    }
}

/// How answers are judged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Kind {
    PassFail,
    Scoring,
    Interactive,
}

/// Which version of the format the package follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Format {
    Legacy,
    V2023,
    /// 2025-09, the current version: what of it is supported (see
    /// `refuse_unsupported`) is judged as 2023-07 is.
    V2025,
}

impl Format {
    /// 2023-07 and after: a single `output_validator/`, `type` lists, the
    /// newer defaults.
    pub fn is_modern(self) -> bool {
        matches!(self, Format::V2023 | Format::V2025)
    }
}

/// One test case.
#[derive(Debug, Clone, Serialize)]
pub struct TestCase {
    /// Path below `data/`, without extension (`secret/group1/03`).
    pub name: String,
    /// `sample`, `secret`, or the secret subgroup (`secret/group1`).
    pub group: String,
    pub input: PathBuf,
    pub answer: PathBuf,
    pub sample: bool,
    /// What the output validator is told for this test (`output_validator_args`,
    /// or legacy `output_validator_flags`, of the test's own `.yaml` or the
    /// nearest `test_group.yaml`/`testdata.yaml` above it): the default
    /// validator's flags, or a custom validator's extra arguments.
    pub validator_args: Vec<String>,
    /// Command-line arguments of the submission (`args`).
    pub args: Vec<String>,
    /// Arguments of the input validators (`input_validator_args`; legacy
    /// `input_validator_flags`): for every validator, or by name.
    pub input_validator_args: InputValidatorArgs,
    /// `.files`: files the submission (and the input validators) find in
    /// their working directory for this test.
    pub files: Option<PathBuf>,
}

/// `input_validator_args`: the same for every input validator, or by
/// validator name (the others get none).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub enum InputValidatorArgs {
    #[default]
    None,
    All(Vec<String>),
    ByName(BTreeMap<String, Vec<String>>),
}

impl InputValidatorArgs {
    /// The arguments of validator `name`.
    pub fn of(&self, name: &str) -> Vec<String> {
        match self {
            InputValidatorArgs::None => Vec::new(),
            InputValidatorArgs::All(a) => a.clone(),
            InputValidatorArgs::ByName(m) => m.get(name).cloned().unwrap_or_default(),
        }
    }
}

/// What a `test_group.yaml` or a test's own `.yaml` configures of its
/// tests; unset keys are inherited.
#[derive(Debug, Clone, Default)]
struct TestConfig {
    args: Option<Vec<String>>,
    output_validator_args: Option<Vec<String>>,
    input_validator_args: Option<InputValidatorArgs>,
}

impl TestConfig {
    /// Reads `path`, if it exists. Keys the format defines and coderun
    /// does not act on are accepted when they do not change a verdict
    /// (visualizer arguments, feedback, hints); any other key is refused.
    fn read(
        path: &Path,
        scoring_keys: bool,
        constants: &BTreeMap<String, String>,
    ) -> Result<Option<TestConfig>, PackageError> {
        let Some(y) = read_yaml(path, constants)? else {
            return Ok(None);
        };
        let Value::Mapping(map) = &y else {
            return Err(PackageError::Invalid(format!(
                "{}: not a map",
                path.display()
            )));
        };
        const IGNORED: &[&str] = &[
            "input_visualizer_args",
            "output_visualizer_args",
            "full_feedback",
            "hint",
            "description",
        ];
        const SCORING: &[&str] = &[
            "scoring",
            "score",
            "max_score",
            "accept_score",
            "reject_score",
            "range",
            "on_reject",
            "grading",
            "grader_flags",
            "aggregation",
            "score_aggregation",
            "require_pass",
            "static_validation_score",
            "static_validator_args",
        ];
        for key in map.keys().filter_map(Value::as_str) {
            let known = [
                "args",
                "output_validator_args",
                "output_validator_flags",
                "input_validator_args",
                "input_validator_flags",
            ]
            .contains(&key)
                || IGNORED.contains(&key)
                || (scoring_keys && SCORING.contains(&key));
            if !known {
                return Err(PackageError::Invalid(format!(
                    "{}: {key:?} is not supported",
                    path.display()
                )));
            }
        }
        let words = |key: &str| -> Result<Option<Vec<String>>, PackageError> {
            match get(&y, &[key]) {
                None => Ok(None),
                Some(v) => strings(v).map(Some).ok_or_else(|| {
                    PackageError::Invalid(format!(
                        "{}: {key} must be a list of strings",
                        path.display()
                    ))
                }),
            }
        };
        let input_validator_args = match get(&y, &["input_validator_args"]) {
            Some(Value::Mapping(m)) => {
                let mut by_name = BTreeMap::new();
                for (k, v) in m {
                    let (Some(name), Some(args)) = (k.as_str(), strings(v)) else {
                        return Err(PackageError::Invalid(format!(
                            "{}: input_validator_args maps validator names to lists of strings",
                            path.display()
                        )));
                    };
                    by_name.insert(name.to_string(), args);
                }
                Some(InputValidatorArgs::ByName(by_name))
            }
            Some(_) => words("input_validator_args")?.map(InputValidatorArgs::All),
            None => words("input_validator_flags")?.map(InputValidatorArgs::All),
        };
        Ok(Some(TestConfig {
            args: words("args")?,
            output_validator_args: match words("output_validator_args")? {
                Some(a) => Some(a),
                None => words("output_validator_flags")?,
            },
            input_validator_args,
        }))
    }

    /// `self`, with what a group directory's `testdata.yaml` and then its
    /// `test_group.yaml` set replacing it.
    fn in_dir(
        &self,
        d: &Path,
        constants: &BTreeMap<String, String>,
    ) -> Result<TestConfig, PackageError> {
        let mut config = self.clone();
        for file in ["testdata.yaml", "test_group.yaml"] {
            config = config.with(TestConfig::read(&d.join(file), true, constants)?);
        }
        Ok(config)
    }

    /// `self`, with what `over` sets replacing it.
    fn with(&self, over: Option<TestConfig>) -> TestConfig {
        let Some(o) = over else {
            return self.clone();
        };
        TestConfig {
            args: o.args.or_else(|| self.args.clone()),
            output_validator_args: o
                .output_validator_args
                .or_else(|| self.output_validator_args.clone()),
            input_validator_args: o
                .input_validator_args
                .or_else(|| self.input_validator_args.clone()),
        }
    }
}

/// A package's YAML file, if it exists, its constants substituted (an
/// empty file is an empty map).
fn read_yaml(
    path: &Path,
    constants: &BTreeMap<String, String>,
) -> Result<Option<Value>, PackageError> {
    if !path.is_file() {
        return Ok(None);
    }
    let text = std::fs::read(path).map_err(read_err(path))?;
    let text = String::from_utf8_lossy(&substitute(constants, &text)).into_owned();
    if text.trim().is_empty() {
        return Ok(Some(Value::Mapping(Default::default())));
    }
    serde_yaml::from_str(&text)
        .map(Some)
        .map_err(|e| PackageError::Yaml(format!("{}: {e}", path.display())))
}

/// A YAML list of strings (numbers taken as their text), or a string of
/// words.
fn strings(v: &Value) -> Option<Vec<String>> {
    match v {
        Value::String(s) => Some(s.split_whitespace().map(str::to_string).collect()),
        Value::Sequence(items) => items
            .iter()
            .map(|a| match a {
                Value::String(s) => Some(s.clone()),
                Value::Number(n) => Some(n.to_string()),
                _ => None,
            })
            .collect(),
        _ => None,
    }
}

/// A scoring group's rule.
#[derive(Debug, Clone, Serialize)]
pub struct Group {
    pub name: String,
    /// Maximum score of the group (`None`: one point per accepted test).
    pub score: Option<f64>,
    /// `min`: the group scores only if every test passes; `sum`: in
    /// proportion to the accepted tests.
    pub aggregate_min: bool,
}

/// An example submission and what it is expected to do.
#[derive(Debug, Clone, Serialize)]
pub struct Submission {
    pub path: PathBuf,
    /// Directory name under `submissions/`.
    pub expected: String,
    /// What `submissions.yaml`, the directory's default (2023-07 and
    /// later) and an `@EXPECTED_RESULTS@:` line of its source require;
    /// empty for a legacy package's submission, whose directory names the
    /// one verdict it must get.
    pub expectations: Expectations,
}

/// A parsed package.
#[derive(Debug, Clone)]
pub struct Package {
    pub dir: PathBuf,
    pub name: String,
    pub format: Format,
    pub kind: Kind,
    /// Multi-pass: the output validator's `nextpass.in` is the input of
    /// the submission's next run, up to `validation_passes` runs.
    pub multi_pass: bool,
    pub validation_passes: u32,
    /// Time limit in milliseconds, when the package states one.
    pub time_limit_ms: Option<u64>,
    /// Multiplier from the slowest accepted time to the limit, and the
    /// safety factor time-limit submissions must exceed.
    pub ac_to_time_limit: f64,
    pub time_limit_to_tle: f64,
    /// A derived time limit is the smallest multiple of this (seconds).
    pub time_resolution_s: f64,
    pub memory_mb: u64,
    pub output_mb: u64,
    /// `limits.code`: the largest submission (all its files), KiB.
    pub code_kib: Option<u64>,
    /// `limits.validation_time`, `validation_memory`, `validation_output`:
    /// one run of a validator (the system's defaults where unstated).
    pub validation: ValidationLimits,
    pub compare: Compare,
    /// Arguments passed to a custom validator.
    pub validator_args: Vec<String>,
    /// Directory of the custom output validator, if any.
    pub validator: Option<PathBuf>,
    /// `constants` of problem.yaml (2025-09), as text: substituted for
    /// `{{name}}` in the package's programs, test groups and Markdown
    /// statements (see [`Package::substitute`]).
    pub constants: BTreeMap<String, String>,
    /// The input validators (`input_validators/`, legacy
    /// `input_format_validators/`): each a file or a directory program.
    pub input_validators: Vec<PathBuf>,
    /// The answer validators (`answer_validators/`, 2023-07): each a file
    /// or a directory program, run on every test's answer.
    pub answer_validators: Vec<PathBuf>,
    pub tests: Vec<TestCase>,
    pub groups: Vec<Group>,
    /// 2025-09 scoring problems: how they are scored (older formats
    /// score by `groups`).
    pub scoring: Option<Scoring>,
    /// The static validator (`static_validator/`, 2025-09), which judges
    /// a submission's files before it runs, in each group that asks
    /// (`static_cases`).
    pub static_validator: Option<PathBuf>,
    pub static_cases: Vec<StaticCase>,
    pub submissions: Vec<Submission>,
}

fn get<'a>(v: &'a Value, path: &[&str]) -> Option<&'a Value> {
    path.iter().try_fold(v, |v, k| v.get(k))
}

fn as_f64(v: &Value) -> Option<f64> {
    v.as_f64()
        .or_else(|| v.as_i64().map(|i| i as f64))
        .or_else(|| v.as_str()?.trim().parse().ok())
}

impl Package {
    pub fn load(dir: &Path) -> Result<Package, PackageError> {
        // Absolute paths: validators get them as arguments.
        let dir = &dir.canonicalize().map_err(read_err(dir))?;
        let yaml_path = dir.join("problem.yaml");
        if !yaml_path.is_file() {
            return Err(PackageError::NotAPackage(dir.to_path_buf()));
        }
        let text = std::fs::read_to_string(&yaml_path).map_err(read_err(&yaml_path))?;
        let y: Value = if text.trim().is_empty() {
            Value::Mapping(Default::default())
        } else {
            serde_yaml::from_str(&text).map_err(|e| PackageError::Yaml(e.to_string()))?
        };
        let format = match get(&y, &["problem_format_version"]).and_then(Value::as_str) {
            Some(v) if v.starts_with("2023") || v == "draft" => Format::V2023,
            Some("2025-09") | Some("2025-09-draft") => Format::V2025,
            Some("legacy") | Some("legacy-icpc") | None => Format::Legacy,
            Some(other) => {
                return Err(PackageError::Yaml(format!(
                    "unsupported problem_format_version {other:?}"
                )))
            }
        };
        let name = match get(&y, &["name"]) {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Mapping(m)) => m
                .get("en")
                .or_else(|| m.values().next())
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_string(),
            _ => dir
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };

        // Kind: 2023-07 `type` (string or list); legacy `validation`.
        let mut kind = Kind::PassFail;
        let types: Vec<String> = match get(&y, &["type"]) {
            Some(Value::String(s)) => s.split_whitespace().map(str::to_string).collect(),
            Some(Value::Sequence(v)) => v
                .iter()
                .filter_map(Value::as_str)
                .map(str::to_string)
                .collect(),
            _ => vec![],
        };
        let validation = get(&y, &["validation"])
            .and_then(Value::as_str)
            .unwrap_or("default");
        let words: Vec<&str> = types
            .iter()
            .map(String::as_str)
            .chain(validation.split_whitespace())
            .collect();
        if words.contains(&"interactive") {
            kind = Kind::Interactive;
        } else if words.contains(&"scoring") || words.contains(&"score") {
            kind = Kind::Scoring;
        }
        let multi_pass = words.contains(&"multi-pass");
        if words.contains(&"submit-answer") {
            return Err(PackageError::Invalid(
                "problem.yaml: type submit-answer is not supported".into(),
            ));
        }
        let constants = read_constants(&y)?;

        let (default_mult, default_margin, default_memory) = match format {
            Format::Legacy => (5.0, 2.0, 1024),
            Format::V2023 | Format::V2025 => (2.0, 1.5, 2048),
        };
        let limits = get(&y, &["limits"]);
        let lim = |k: &[&str]| limits.and_then(|l| get(l, k)).and_then(as_f64);
        let ac_to_time_limit = lim(&["time_multipliers", "ac_to_time_limit"])
            .or(lim(&["time_multiplier"]))
            .unwrap_or(default_mult);
        let time_limit_to_tle = lim(&["time_multipliers", "time_limit_to_tle"])
            .or(lim(&["time_safety_margin"]))
            .unwrap_or(default_margin);
        let time_resolution_s = lim(&["time_resolution"]).unwrap_or(1.0);
        if !(time_resolution_s > 0.0 && time_resolution_s <= 60.0) {
            return Err(PackageError::Invalid(format!(
                "problem.yaml: limits.time_resolution {time_resolution_s} is outside (0, 60]"
            )));
        }
        let timelimit_file = dir.join(".timelimit");
        let time_limit_s = match lim(&["time_limit"]) {
            Some(t) => Some(t),
            None if timelimit_file.is_file() => {
                let t =
                    std::fs::read_to_string(&timelimit_file).map_err(read_err(&timelimit_file))?;
                Some(t.trim().parse::<f64>().map_err(|_| {
                    PackageError::Invalid(format!(".timelimit: {:?} is not a number", t.trim()))
                })?)
            }
            None => None,
        };
        if let Some(t) = time_limit_s {
            if !(t > 0.0 && t <= 60.0) {
                return Err(PackageError::Invalid(format!(
                    "time limit {t} s is outside (0, 60]"
                )));
            }
        }
        let validation_passes = lim(&["validation_passes"]).unwrap_or(2.0);
        if !(2.0..=100.0).contains(&validation_passes) || validation_passes.fract() != 0.0 {
            return Err(PackageError::Invalid(format!(
                "problem.yaml: limits.validation_passes {validation_passes} is not an integer from 2 to 100"
            )));
        }
        let memory_mb = lim(&["memory"]).map(|m| m as u64).unwrap_or(default_memory);
        let output_mb = lim(&["output"]).map(|m| m as u64).unwrap_or(8);
        let whole = |key: &str, max: u64| -> Result<Option<u64>, PackageError> {
            match lim(&[key]) {
                None => Ok(None),
                Some(v) if v >= 1.0 && v.fract() == 0.0 && v <= max as f64 => Ok(Some(v as u64)),
                Some(v) => Err(PackageError::Invalid(format!(
                    "problem.yaml: limits.{key} {v} is not an integer from 1 to {max}"
                ))),
            }
        };
        let code_kib = whole("code", MAX_CODE_KIB)?;
        let validation_limits = ValidationLimits {
            time_s: whole("validation_time", MAX_VALIDATION_TIME_S)?,
            memory_mb: whole("validation_memory", MAX_VALIDATION_MEMORY_MB)?,
            output_mb: whole("validation_output", MAX_VALIDATION_OUTPUT_MB)?,
        };
        // Read for their range; coderun's own compile limits apply.
        whole("compilation_time", 600)?;
        whole("compilation_memory", 1 << 20)?;

        let flags = get(&y, &["validator_flags"])
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let validator = find_validator(dir, format);
        let custom = validator.is_some()
            && (validation.starts_with("custom")
                || format.is_modern()
                || kind == Kind::Interactive);
        let (compare, validator_args) = if custom {
            (
                Compare::default(),
                flags.split_whitespace().map(str::to_string).collect(),
            )
        } else {
            (Compare::from_flags(&flags)?, Vec::new())
        };
        if kind == Kind::Interactive && !custom {
            return Err(PackageError::Invalid(
                "an interactive problem needs an output validator".into(),
            ));
        }
        if multi_pass && !custom {
            return Err(PackageError::Invalid(
                "a multi-pass problem needs an output validator (output_validator/)".into(),
            ));
        }

        let mut tests = Vec::new();
        let mut groups = Vec::new();
        let top_config = TestConfig::default().in_dir(&dir.join("data"), &constants)?;
        for top in ["sample", "secret"] {
            let d = dir.join("data").join(top);
            if d.is_dir() {
                collect_tests(&d, top, &top_config, &constants, &mut tests, &mut groups)?;
            }
        }
        // A group's flags for the default validator are checked now.
        if !custom {
            for t in tests.iter().filter(|t| !t.validator_args.is_empty()) {
                Compare::from_flags(&t.validator_args.join(" ")).map_err(|e| {
                    PackageError::Invalid(format!("data/{}: output validator flags: {e}", t.group))
                })?;
            }
        }
        // Samples alone are what a submission is judged on, as the format
        // and judges have it, when there is no secret data.
        if tests.is_empty() {
            return Err(PackageError::Invalid(
                "the package has no test data (data/sample or data/secret)".into(),
            ));
        }
        if tests.len() > MAX_TESTS {
            return Err(PackageError::Invalid(format!(
                "{} test cases (at most {MAX_TESTS})",
                tests.len()
            )));
        }
        // 2025-09 scores as its own model says (`secret` worth 100 by
        // default, groups' `max_score`, `require_pass`); older formats
        // by their groups' `score` and `aggregation`.
        let scoring = if format == Format::V2025 && kind == Kind::Scoring {
            Some(Scoring::read(&dir.join("data"), &|p| {
                read_yaml(p, &constants)
            })?)
        } else {
            None
        };
        let mut scoring = scoring;
        let static_cases = read_static_cases(dir, &constants, kind, scoring.as_mut())?;
        let static_validator = Some(dir.join("static_validator"))
            .filter(|d| d.is_dir())
            .map(program_dir);
        if static_validator.is_some() && words.contains(&"submit-answer") {
            return Err(PackageError::Invalid(
                "static_validator/: not for submit-answer problems".into(),
            ));
        }
        if let (Some(case), None) = (static_cases.first(), &static_validator) {
            return Err(PackageError::Invalid(format!(
                "data/{}/test_group.yaml: static_validation_score without a static validator (static_validator/)",
                case.group
            )));
        }
        let submissions = collect_submissions(dir, format, &constants)?;
        Ok(Package {
            dir: dir.to_path_buf(),
            name,
            format,
            kind,
            multi_pass,
            validation_passes: validation_passes as u32,
            time_limit_ms: time_limit_s.map(|t| (t * 1000.0).round() as u64),
            ac_to_time_limit,
            time_limit_to_tle,
            time_resolution_s,
            memory_mb,
            output_mb,
            code_kib,
            validation: validation_limits,
            compare,
            validator_args,
            validator: if custom { validator } else { None },
            input_validators: programs_in(dir, &["input_validators", "input_format_validators"]),
            answer_validators: programs_in(dir, &["answer_validators"]),
            constants,
            tests,
            groups,
            scoring,
            static_validator,
            static_cases,
            submissions,
        })
    }

    /// Derives the time limit from the slowest accepted run, as the format
    /// says: the smallest multiple of the time resolution (whole seconds
    /// unless the package says otherwise) at least the slowest time times
    /// the multiplier.
    pub fn derive_time_limit_ms(&self, slowest_ac_ms: u64) -> u64 {
        let resolution_ms = (self.time_resolution_s * 1000.0).round().max(1.0);
        let steps = (slowest_ac_ms as f64 * self.ac_to_time_limit / resolution_ms)
            .ceil()
            .max(1.0);
        (steps * resolution_ms) as u64
    }

    /// `text` with every `{{name}}` of a defined constant replaced by its
    /// value (undefined names are left as they are).
    pub fn substitute(&self, text: &[u8]) -> Vec<u8> {
        substitute(&self.constants, text)
    }

    /// The files `include/` adds to a submission in the language of this
    /// code (`include/<code>/`, else `include/default/`), constants
    /// substituted; none when it has neither.
    pub fn included_files(&self, code: &str) -> Result<Vec<(String, Vec<u8>)>, PackageError> {
        let include = self.dir.join("include");
        let Some(dir) = [include.join(code), include.join("default")]
            .into_iter()
            .find(|d| d.is_dir())
        else {
            return Ok(Vec::new());
        };
        let mut files = Vec::new();
        let mut total = 0;
        let mut entries: Vec<PathBuf> = std::fs::read_dir(&dir)
            .map_err(read_err(&dir))?
            .flatten()
            .map(|e| e.path())
            .collect();
        entries.sort();
        for path in entries {
            let name = path
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            if !path.is_file() {
                return Err(PackageError::Invalid(format!(
                    "{}: included files sit side by side, not in directories",
                    path.display()
                )));
            }
            let bytes = std::fs::read(&path).map_err(read_err(&path))?;
            total += bytes.len();
            if files.len() == MAX_SUBMISSION_FILES || total > MAX_INCLUDED_BYTES {
                return Err(PackageError::Invalid(format!(
                    "{}: more than {MAX_SUBMISSION_FILES} files or {MAX_INCLUDED_BYTES} bytes",
                    dir.display()
                )));
            }
            files.push((name, self.substitute(&bytes)));
        }
        Ok(files)
    }

    /// Remembers a derived time limit with the package (`.timelimit`).
    pub fn remember_time_limit(&self, ms: u64) -> Result<(), PackageError> {
        let path = self.dir.join(".timelimit");
        let secs = ms as f64 / 1000.0;
        std::fs::write(&path, format!("{secs}\n")).map_err(read_err(&path))
    }
}

fn find_validator(dir: &Path, format: Format) -> Option<PathBuf> {
    let single = dir.join("output_validator");
    if single.is_dir() && (format.is_modern() || has_files(&single)) {
        return Some(program_dir(single));
    }
    let many = dir.join("output_validators");
    let mut subdirs: Vec<PathBuf> = std::fs::read_dir(&many)
        .ok()?
        .flatten()
        .map(|e| e.path())
        .collect();
    subdirs.sort();
    subdirs.into_iter().find(|p| p.is_dir() || p.is_file())
}

/// A program directory, or the one directory it holds when it holds
/// nothing else (problemtools' `output_validator/guess_validator/`).
fn program_dir(d: PathBuf) -> PathBuf {
    let entries: Vec<PathBuf> = std::fs::read_dir(&d)
        .map(|r| r.flatten().map(|e| e.path()).collect())
        .unwrap_or_default();
    match entries.as_slice() {
        [only] if only.is_dir() => only.clone(),
        _ => d,
    }
}

/// `constants` of problem.yaml: names `[a-zA-Z_][a-zA-Z0-9_]*`, values
/// integers, floats or strings.
fn read_constants(y: &Value) -> Result<BTreeMap<String, String>, PackageError> {
    let mut constants = BTreeMap::new();
    let Some(map) = get(y, &["constants"]) else {
        return Ok(constants);
    };
    let Value::Mapping(map) = map else {
        return Err(PackageError::Invalid(
            "problem.yaml: constants must be a map".into(),
        ));
    };
    for (k, v) in map {
        let name = k.as_str().unwrap_or_default();
        let valid = name
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        let value = match v {
            Value::Number(n) => Some(n.to_string()),
            Value::String(s) => Some(s.clone()),
            _ => None,
        };
        match (valid, value) {
            (true, Some(value)) => {
                constants.insert(name.to_string(), value);
            }
            _ => {
                return Err(PackageError::Invalid(format!(
                    "problem.yaml: constants: {k:?} must be a name ([a-zA-Z_][a-zA-Z0-9_]*) with an integer, float or string value"
                )))
            }
        }
    }
    Ok(constants)
}

pub(crate) fn substitute(constants: &BTreeMap<String, String>, text: &[u8]) -> Vec<u8> {
    if constants.is_empty() {
        return text.to_vec();
    }
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while i < text.len() {
        if text[i..].starts_with(b"{{") {
            if let Some(len) = text[i + 2..].windows(2).position(|w| w == b"}}") {
                let name = &text[i + 2..i + 2 + len];
                if let Some(v) = std::str::from_utf8(name)
                    .ok()
                    .and_then(|n| constants.get(n))
                {
                    out.extend_from_slice(v.as_bytes());
                    i += len + 4;
                    continue;
                }
            }
        }
        out.push(text[i]);
        i += 1;
    }
    out
}

/// The programs (files or directories) in the first of these directories
/// that exists, by name.
fn programs_in(dir: &Path, names: &[&str]) -> Vec<PathBuf> {
    for name in names {
        let Ok(entries) = std::fs::read_dir(dir.join(name)) else {
            continue;
        };
        let mut v: Vec<PathBuf> = entries
            .flatten()
            .map(|e| e.path())
            .filter(|p| {
                let n = p.file_name().unwrap_or_default().to_string_lossy();
                !n.starts_with('.') && (p.is_dir() || p.is_file())
            })
            .collect();
        v.sort();
        return v;
    }
    Vec::new()
}

fn has_files(d: &Path) -> bool {
    std::fs::read_dir(d)
        .map(|mut r| r.next().is_some())
        .unwrap_or(false)
}

/// Reads `testdata.yaml` / `test_group.yaml` of a group directory.
fn group_rule(
    d: &Path,
    name: &str,
    constants: &BTreeMap<String, String>,
) -> Result<Option<Group>, PackageError> {
    for file in ["testdata.yaml", "test_group.yaml"] {
        let Some(y) = read_yaml(&d.join(file), constants)? else {
            continue;
        };
        let score = get(&y, &["score"])
            .or_else(|| get(&y, &["max_score"]))
            .or_else(|| get(&y, &["scoring", "score"]))
            .or_else(|| get(&y, &["accept_score"]))
            .and_then(as_f64);
        let grader = get(&y, &["grader_flags"])
            .and_then(Value::as_str)
            .unwrap_or_default();
        let aggregation = get(&y, &["scoring", "aggregation"])
            .or_else(|| get(&y, &["aggregation"]))
            .and_then(Value::as_str);
        let aggregate_min = match aggregation {
            Some(a) => a == "min",
            None => !grader.split_whitespace().any(|w| w == "sum") && score.is_some(),
        };
        return Ok(Some(Group {
            name: name.to_string(),
            score,
            aggregate_min,
        }));
    }
    Ok(None)
}

fn collect_tests(
    d: &Path,
    group: &str,
    inherited: &TestConfig,
    constants: &BTreeMap<String, String>,
    tests: &mut Vec<TestCase>,
    groups: &mut Vec<Group>,
) -> Result<(), PackageError> {
    if let Some(rule) = group_rule(d, group, constants)? {
        groups.push(rule);
    }
    let config = inherited.in_dir(d, constants)?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(d)
        .map_err(read_err(d))?
        .flatten()
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        // Symlinked files and directories are followed (is_dir/is_file do).
        if p.is_dir() {
            let sub = format!(
                "{group}/{}",
                p.file_name().unwrap_or_default().to_string_lossy()
            );
            if p.extension().is_some_and(|e| e == "files") {
                // A test's files, taken with its `.in`.
                if !p.with_extension("in").is_file() {
                    return Err(PackageError::Invalid(format!(
                        "{}: test case files without a test case (.in)",
                        p.display()
                    )));
                }
                continue;
            }
            collect_tests(&p, &sub, &config, constants, tests, groups)?;
            if tests.len() > MAX_TESTS {
                return Ok(());
            }
        } else if p.extension().is_some_and(|e| e == "in") {
            let answer = p.with_extension("ans");
            if !answer.is_file() {
                // Interactive samples may come without answers; give an empty one.
                if !p.with_extension("interaction").exists() {
                    return Err(PackageError::Invalid(format!(
                        "{} has no .ans file",
                        p.display()
                    )));
                }
            }
            for f in [&p, &answer] {
                if let Ok(m) = std::fs::metadata(f) {
                    if m.len() > MAX_TEST_FILE_BYTES {
                        return Err(PackageError::Invalid(format!(
                            "{} is larger than {MAX_TEST_FILE_BYTES} bytes",
                            f.display()
                        )));
                    }
                }
            }
            let stem = p.file_stem().unwrap_or_default().to_string_lossy();
            let own = config.with(TestConfig::read(
                &p.with_extension("yaml"),
                false,
                constants,
            )?);
            tests.push(TestCase {
                name: format!("{group}/{stem}"),
                group: group.to_string(),
                input: p.clone(),
                answer,
                sample: group == "sample",
                validator_args: own.output_validator_args.unwrap_or_default(),
                args: own.args.unwrap_or_default(),
                input_validator_args: own.input_validator_args.unwrap_or_default(),
                files: Some(p.with_extension("files")).filter(|f| f.is_dir()),
            });
        }
    }
    Ok(())
}

/// The example submissions: every file or directory in a directory of
/// `submissions/` (a name ending in `.disabled` is left out), with what it
/// is expected to do.
fn collect_submissions(
    dir: &Path,
    format: Format,
    constants: &BTreeMap<String, String>,
) -> Result<Vec<Submission>, PackageError> {
    let d = dir.join("submissions");
    let mut subs = Vec::new();
    let Ok(verdicts) = std::fs::read_dir(&d) else {
        return Ok(subs);
    };
    let yaml = if format.is_modern() {
        read_submissions_yaml(dir, constants)?
    } else {
        SubmissionsYaml::default()
    };
    let mut verdicts: Vec<PathBuf> = verdicts
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir() && !is_disabled(p))
        .collect();
    verdicts.sort();
    for v in verdicts {
        let expected = v
            .file_name()
            .unwrap_or_default()
            .to_string_lossy()
            .into_owned();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&v)
            .map_err(read_err(&v))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| !is_disabled(p))
            .collect();
        files.sort();
        for f in files {
            if subs.len() == MAX_SUBMISSIONS {
                return Err(PackageError::Invalid(format!(
                    "more than {MAX_SUBMISSIONS} submissions"
                )));
            }
            let relative = format!(
                "{expected}/{}",
                f.file_name().unwrap_or_default().to_string_lossy()
            );
            let mut expectations = yaml.of(&relative);
            if !format.is_modern() {
                expectations.requirements.clear();
            }
            if let Some(r) = source_expected_results(&f)? {
                expectations.requirements.push(r);
            }
            subs.push(Submission {
                path: f,
                expected: expected.clone(),
                expectations,
            });
        }
    }
    Ok(subs)
}

/// A static validation test case of a group (2025-09): the static
/// validator run on the submission's files.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StaticCase {
    /// `sample`, `secret` or `secret/<group>`.
    pub group: String,
    /// Its maximum score; None: `pass-fail`.
    pub max_score: Option<f64>,
    /// `static_validator_args`.
    pub args: Vec<String>,
}

/// The groups' static validation test cases (`static_validation_score` in
/// their `test_group.yaml`), with the format's rules.
fn read_static_cases(
    dir: &Path,
    constants: &BTreeMap<String, String>,
    kind: Kind,
    mut scoring: Option<&mut Scoring>,
) -> Result<Vec<StaticCase>, PackageError> {
    let data = dir.join("data");
    let mut groups = vec!["sample".to_string(), "secret".to_string()];
    if let Ok(entries) = std::fs::read_dir(data.join("secret")) {
        let mut subs: Vec<String> = entries
            .flatten()
            .filter(|e| e.path().is_dir())
            .map(|e| format!("secret/{}", e.file_name().to_string_lossy()))
            .collect();
        subs.sort();
        groups.extend(subs);
    }
    let mut cases = Vec::new();
    for group in groups {
        let file = format!("data/{group}/test_group.yaml");
        let Some(y) = read_yaml(&data.join(&group).join("test_group.yaml"), constants)? else {
            continue;
        };
        let refused = |m: &str| Err(PackageError::Invalid(format!("{file}: {m}")));
        let args = match get(&y, &["static_validator_args"]) {
            None => Vec::new(),
            Some(v) => match strings(v) {
                Some(a) => a,
                None => return refused("static_validator_args must be a list of strings"),
            },
        };
        let max_score = match get(&y, &["static_validation_score"]) {
            None if args.is_empty() => continue,
            None => return refused("static_validator_args without static_validation_score"),
            Some(Value::String(s)) if s == "pass-fail" => None,
            Some(v) => match v.as_u64() {
                Some(n) if n <= 1_000_000_000 => Some(n as f64),
                _ => {
                    return refused(
                        "static_validation_score must be a non-negative integer or pass-fail",
                    )
                }
            },
        };
        let pass_fail_group = scoring
            .as_deref()
            .and_then(|s| s.group(&group))
            .is_none_or(|g| g.aggregation == Aggregation::PassFail);
        match max_score {
            Some(_) if kind != Kind::Scoring => {
                return refused("a static_validation_score in a problem that is not scoring")
            }
            Some(_) if pass_fail_group => {
                return refused("a static_validation_score in a group of pass-fail aggregation")
            }
            None if kind == Kind::Scoring && !pass_fail_group => {
                return refused(
                    "static_validation_score pass-fail in a group that is not pass-fail",
                )
            }
            _ => {}
        }
        if let (Some(s), Some(score)) = (scoring.as_deref_mut(), max_score) {
            s.set_static_score(&group, score);
        }
        cases.push(StaticCase {
            group,
            max_score,
            args,
        });
    }
    Ok(cases)
}

/// BAPCtools' and DOMjudge's way to leave a submission out.
fn is_disabled(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().ends_with(".disabled"))
}

/// `@EXPECTED_RESULTS@:` in a submission's source (or one of its files).
fn source_expected_results(path: &Path) -> Result<Option<Requirement>, PackageError> {
    let files: Vec<PathBuf> = if path.is_dir() {
        std::fs::read_dir(path)
            .map_err(read_err(path))?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.is_file())
            .take(MAX_SUBMISSION_FILES)
            .collect()
    } else {
        vec![path.to_path_buf()]
    };
    for f in files {
        let bytes = std::fs::read(&f).map_err(read_err(&f))?;
        if let Some(r) = expected_results(&bytes)
            .map_err(|e| PackageError::Invalid(format!("{}: {e}", f.display())))?
        {
            return Ok(Some(r));
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(p: &Path, s: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, s).unwrap();
    }

    fn copy_dir(from: &Path, to: &Path) {
        for e in fs::read_dir(from).unwrap().flatten() {
            let target = to.join(e.file_name());
            if e.path().is_dir() {
                fs::create_dir_all(&target).unwrap();
                copy_dir(&e.path(), &target);
            } else {
                fs::copy(e.path(), target).unwrap();
            }
        }
    }

    #[test]
    fn legacy_package_with_groups_and_symlinks() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(&d.join("problem.yaml"), "name: Sum\nvalidation: default\nvalidator_flags: float_tolerance 1e-6\nlimits:\n  memory: 128\n");
        write(&d.join("data/sample/1.in"), "1 2\n");
        write(&d.join("data/sample/1.ans"), "3\n");
        write(&d.join("data/secret/g1/a.in"), "5 5\n");
        write(&d.join("data/secret/g1/a.ans"), "10\n");
        write(&d.join("data/secret/g1/testdata.yaml"), "score: 40\n");
        fs::create_dir_all(d.join("data/secret/g2")).unwrap();
        std::os::unix::fs::symlink(d.join("data/secret/g1/a.in"), d.join("data/secret/g2/b.in"))
            .unwrap();
        std::os::unix::fs::symlink(
            d.join("data/secret/g1/a.ans"),
            d.join("data/secret/g2/b.ans"),
        )
        .unwrap();
        write(&d.join("submissions/accepted/sol.py"), "print(1)");
        let p = Package::load(d).unwrap();
        assert_eq!(p.name, "Sum");
        assert_eq!(p.kind, Kind::PassFail);
        assert_eq!(p.memory_mb, 128);
        assert_eq!(p.time_limit_ms, None);
        assert_eq!(p.compare.float_abs, Some(1e-6));
        let names: Vec<&str> = p.tests.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["sample/1", "secret/g1/a", "secret/g2/b"]);
        assert_eq!(p.groups.len(), 1);
        assert_eq!(p.groups[0].score, Some(40.0));
        assert!(p.groups[0].aggregate_min);
        assert_eq!(p.submissions[0].expected, "accepted");
        // problemtools: 5x the slowest accepted run, rounded up to seconds.
        assert_eq!(p.derive_time_limit_ms(130), 1000);
        assert_eq!(p.derive_time_limit_ms(210), 2000);
    }

    #[test]
    fn format_2023_with_types_and_time_limit() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(&d.join("problem.yaml"), "problem_format_version: 2023-07-draft\nname:\n  en: Guess\ntype: interactive\nlimits:\n  time_limit: 1.5\n");
        write(&d.join("output_validator/validator.py"), "");
        write(&d.join("data/secret/1.in"), "5\n");
        write(&d.join("data/secret/1.ans"), "");
        let p = Package::load(d).unwrap();
        assert_eq!(p.format, Format::V2023);
        assert_eq!(p.kind, Kind::Interactive);
        assert_eq!(p.time_limit_ms, Some(1500));
        assert!(p.validator.is_some());
        assert_eq!(p.name, "Guess");
    }

    #[test]
    fn samples_alone_are_the_test_data_and_a_validator_may_sit_in_a_directory_of_its_own() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(
            &d.join("problem.yaml"),
            "problem_format_version: 2023-07-draft\nname: Guess\ntype: interactive\n",
        );
        write(&d.join("output_validator/guess_validator/validate.cc"), "");
        write(&d.join("output_validator/guess_validator/validate.h"), "");
        write(&d.join("data/sample/1.in"), "5\n");
        write(&d.join("data/sample/1.ans"), "");
        let p = Package::load(d).unwrap();
        assert_eq!(p.tests.len(), 1);
        assert!(p.tests[0].sample);
        assert_eq!(
            p.validator.as_deref(),
            Some(d.join("output_validator/guess_validator").as_path())
        );
        fs::remove_dir_all(d.join("data/sample")).unwrap();
        let e = Package::load(d).unwrap_err().to_string();
        assert!(e.contains("no test data"), "{e}");
    }

    #[test]
    fn format_2025_09_is_read_and_what_is_not_supported_is_refused_by_name() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(&d.join("problem.yaml"), "problem_format_version: 2025-09\nname: Sum\nuuid: 6a3f2c1e-0000-4000-8000-000000000001\ntype: [pass-fail]\nlimits:\n  time_resolution: 0.5\n  time_multipliers:\n    ac_to_time_limit: 3\n");
        write(&d.join("statement/problem.en.md"), "Add.");
        write(&d.join("data/secret/1.in"), "1 2\n");
        write(&d.join("data/secret/1.ans"), "3\n");
        let p = Package::load(d).unwrap();
        assert_eq!(p.format, Format::V2025);
        assert_eq!(p.kind, Kind::PassFail);
        // 3 x 210 ms = 630 ms: the next multiple of 0.5 s.
        assert_eq!(p.derive_time_limit_ms(210), 1000);
        assert_eq!(p.derive_time_limit_ms(100), 500);
        let refused = |setup: &dyn Fn(&Path), want: &str| {
            let t = tempfile::tempdir().unwrap();
            copy_dir(d, t.path());
            setup(t.path());
            let e = Package::load(t.path()).unwrap_err().to_string();
            assert!(e.contains(want) && e.contains("not supported"), "{e}");
        };
        refused(
            &|p| {
                write(
                    &p.join("problem.yaml"),
                    "problem_format_version: 2025-09\nname: Sum\ntype: submit-answer\n",
                )
            },
            "submit-answer",
        );
    }

    #[test]
    fn include_gives_a_languages_files_or_the_defaults_with_constants() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(
            &d.join("problem.yaml"),
            "problem_format_version: 2025-09\nname: I\nconstants:\n  max_n: 100\n",
        );
        write(&d.join("data/secret/1.in"), "1\n");
        write(&d.join("data/secret/1.ans"), "1\n");
        write(&d.join("include/cpp/grader.cpp"), "int n = {{max_n}};");
        write(&d.join("include/cpp/grader.h"), "");
        write(&d.join("include/default/README"), "x");
        let p = Package::load(d).unwrap();
        let names = |code: &str| -> Vec<String> {
            p.included_files(code)
                .unwrap()
                .into_iter()
                .map(|(n, _)| n)
                .collect()
        };
        assert_eq!(names("cpp"), ["grader.cpp", "grader.h"]);
        assert_eq!(p.included_files("cpp").unwrap()[0].1, b"int n = 100;");
        assert_eq!(names("python3"), ["README"]);
        write(&d.join("include/cpp/sub/x.h"), "");
        let e = p.included_files("cpp").unwrap_err().to_string();
        assert!(e.contains("side by side"), "{e}");
    }

    #[test]
    fn static_validation_cases_follow_the_formats_rules() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        let with = |yaml: &str, group_yaml: &str, validator: bool| {
            let _ = fs::remove_dir_all(d);
            write(
                &d.join("problem.yaml"),
                &format!("problem_format_version: 2025-09\nname: S\n{yaml}"),
            );
            write(&d.join("data/secret/g/1.in"), "1\n");
            write(&d.join("data/secret/g/1.ans"), "1\n");
            write(&d.join("data/secret/g/test_group.yaml"), group_yaml);
            if validator {
                write(&d.join("static_validator/check.py"), "");
            }
            Package::load(d)
        };
        let p = with("", "static_validation_score: pass-fail\n", true).unwrap();
        assert_eq!(p.static_cases[0].group, "secret/g");
        assert_eq!(p.static_cases[0].max_score, None);
        let p = with(
            "type: scoring\n",
            "max_score: 100\nscore_aggregation: sum\nstatic_validation_score: 30\nstatic_validator_args: [strict]\n",
            true,
        )
        .unwrap();
        assert_eq!(p.static_cases[0].args, ["strict"]);
        assert_eq!(p.scoring.unwrap().groups[0].static_score, Some(30.0));
        for (yaml, group, validator, want) in [
            (
                "",
                "static_validation_score: pass-fail\n",
                false,
                "without a static validator",
            ),
            ("", "static_validation_score: 5\n", true, "not scoring"),
            (
                "type: scoring\n",
                "max_score: 100\nstatic_validation_score: 5\n",
                true,
                "pass-fail aggregation",
            ),
            (
                "",
                "static_validator_args: [x]\n",
                true,
                "without static_validation_score",
            ),
        ] {
            let e = with(yaml, group, validator).unwrap_err().to_string();
            assert!(
                e.contains(want) && e.contains("data/secret/g/test_group.yaml"),
                "{e}"
            );
        }
    }

    #[test]
    fn code_and_validation_limits_are_read_within_their_ranges() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(&d.join("data/secret/1.in"), "1\n");
        write(&d.join("data/secret/1.ans"), "1\n");
        let with = |limits: &str| {
            write(
                &d.join("problem.yaml"),
                &format!("problem_format_version: 2025-09\nname: L\nlimits:\n{limits}"),
            );
            Package::load(d)
        };
        let p = with("  time_limit: 1\n  code: 64\n  validation_time: 5\n  validation_memory: 512\n  compilation_time: 30\n").unwrap();
        assert_eq!(p.code_kib, Some(64));
        assert_eq!(
            p.validation,
            ValidationLimits {
                time_s: Some(5),
                memory_mb: Some(512),
                output_mb: None
            }
        );
        for (bad, want) in [
            (
                "  code: 0\n",
                "limits.code 0 is not an integer from 1 to 1024",
            ),
            ("  validation_time: 120\n", "limits.validation_time 120"),
            ("  validation_output: 1.5\n", "limits.validation_output 1.5"),
        ] {
            let e = with(bad).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        }
    }

    #[test]
    fn groups_tell_the_output_validator_their_flags_nearest_first() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(
            &d.join("problem.yaml"),
            "problem_format_version: 2025-09\nname: Mean\n",
        );
        write(
            &d.join("data/test_group.yaml"),
            "output_validator_args: [float_tolerance, '1e-3']\n",
        );
        write(&d.join("data/secret/a.in"), "");
        write(&d.join("data/secret/a.ans"), "");
        write(
            &d.join("data/secret/exact/test_group.yaml"),
            "output_validator_args: exact\n",
        );
        write(&d.join("data/secret/exact/b.in"), "");
        write(&d.join("data/secret/exact/b.ans"), "");
        let p = Package::load(d).unwrap();
        let args: Vec<(&str, Vec<String>)> = p
            .tests
            .iter()
            .map(|t| (t.name.as_str(), t.validator_args.clone()))
            .collect();
        assert_eq!(
            args,
            [
                (
                    "secret/a",
                    vec!["float_tolerance".to_string(), "1e-3".to_string()]
                ),
                ("secret/exact/b", vec!["exact".to_string()]),
            ]
        );
        // Flags the default validator does not know are refused, named.
        write(
            &d.join("data/secret/exact/test_group.yaml"),
            "output_validator_flags: fuzzy\n",
        );
        let e = Package::load(d).unwrap_err().to_string();
        assert!(
            e.contains("data/secret/exact") && e.contains("fuzzy"),
            "{e}"
        );
    }

    #[test]
    fn a_test_configures_itself_over_its_group_and_unknown_keys_are_refused() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(
            &d.join("problem.yaml"),
            "problem_format_version: 2025-09\nname: Args\n",
        );
        write(
            &d.join("data/secret/test_group.yaml"),
            "args: [a]\ninput_validator_args:\n  range: ['1', '10']\n",
        );
        write(&d.join("data/secret/1.in"), "");
        write(&d.join("data/secret/1.ans"), "");
        write(&d.join("data/secret/1.yaml"), "args: [b, c]\nhint: think\n");
        write(&d.join("data/secret/2.in"), "");
        write(&d.join("data/secret/2.ans"), "");
        let p = Package::load(d).unwrap();
        assert_eq!(p.tests[0].args, ["b", "c"]);
        assert_eq!(p.tests[1].args, ["a"]);
        assert_eq!(p.tests[1].input_validator_args.of("range"), ["1", "10"]);
        assert!(p.tests[1].input_validator_args.of("other").is_empty());
        write(&d.join("data/secret/2.yaml"), "timeout: 5\n");
        let e = Package::load(d).unwrap_err().to_string();
        assert!(e.contains("2.yaml") && e.contains("timeout"), "{e}");
        fs::remove_file(d.join("data/secret/2.yaml")).unwrap();
        fs::create_dir_all(d.join("data/secret/2.files")).unwrap();
        let p = Package::load(d).unwrap();
        assert_eq!(
            p.tests[1].files,
            Some(d.canonicalize().unwrap().join("data/secret/2.files"))
        );
        assert_eq!(p.tests[0].files, None);
        fs::create_dir_all(d.join("data/secret/3.files")).unwrap();
        let e = Package::load(d).unwrap_err().to_string();
        assert!(
            e.contains("3.files: test case files without a test case"),
            "{e}"
        );
    }

    #[test]
    fn constants_are_substituted_in_test_groups_and_for_programs() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(&d.join("problem.yaml"), "problem_format_version: 2025-09\nname: C\nconstants:\n  max_n: 100\n  eps: 1.0e-6\n  word: hi\n");
        write(&d.join("data/secret/test_group.yaml"), "output_validator_args: [float_tolerance, '{{eps}}']\nargs: ['{{max_n}}', '{{undefined}}']\n");
        write(&d.join("data/secret/1.in"), "");
        write(&d.join("data/secret/1.ans"), "");
        let p = Package::load(d).unwrap();
        assert_eq!(p.tests[0].validator_args, ["float_tolerance", "1e-6"]);
        assert_eq!(p.tests[0].args, ["100", "{{undefined}}"]);
        assert_eq!(
            p.substitute(b"n <= {{max_n}}; {{word}} {{ word }}"),
            b"n <= 100; hi {{ word }}".to_vec()
        );
        write(
            &d.join("problem.yaml"),
            "problem_format_version: 2025-09\nname: C\nconstants:\n  2bad: 1\n",
        );
        let e = Package::load(d).unwrap_err().to_string();
        assert!(e.contains("constants") && e.contains("2bad"), "{e}");
    }

    #[test]
    fn multi_pass_needs_a_validator_and_a_sane_number_of_passes() {
        let t = tempfile::tempdir().unwrap();
        let d = t.path();
        write(&d.join("problem.yaml"), "problem_format_version: 2025-09\nname: M\ntype: multi-pass\nlimits:\n  validation_passes: 3\n");
        write(&d.join("data/secret/1.in"), "");
        write(&d.join("data/secret/1.ans"), "");
        let e = Package::load(d).unwrap_err().to_string();
        assert!(e.contains("needs an output validator"), "{e}");
        write(&d.join("output_validator/validate.py"), "");
        let p = Package::load(d).unwrap();
        assert!(p.multi_pass);
        assert_eq!(p.validation_passes, 3);
        write(&d.join("problem.yaml"), "problem_format_version: 2025-09\nname: M\ntype: multi-pass\nlimits:\n  validation_passes: 1\n");
        let e = Package::load(d).unwrap_err().to_string();
        assert!(e.contains("validation_passes"), "{e}");
    }

    #[test]
    fn broken_packages_get_clear_errors() {
        let t = tempfile::tempdir().unwrap();
        assert!(matches!(
            Package::load(t.path()),
            Err(PackageError::NotAPackage(_))
        ));
        write(&t.path().join("problem.yaml"), "name: x\n");
        write(&t.path().join("data/secret/1.in"), "1");
        let e = Package::load(t.path()).unwrap_err().to_string();
        assert!(e.contains("no .ans"), "{e}");
        write(
            &t.path().join("problem.yaml"),
            "limits: {time_limit: 500}\n",
        );
        write(&t.path().join("data/secret/1.ans"), "1");
        let e = Package::load(t.path()).unwrap_err().to_string();
        assert!(e.contains("outside"), "{e}");
    }
}
