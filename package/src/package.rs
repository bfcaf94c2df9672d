//! Problem packages in the Problem Package Format (Kattis problemtools and
//! ICPC), legacy and 2023-07: metadata, test data with groups, output
//! validators and example submissions with their expected verdicts.

use std::path::{Path, PathBuf};

use serde::Serialize;
use serde_yaml::Value;

use crate::checker::{Compare, FlagError};

/// Limits on what a package may contain.
pub const MAX_TESTS: usize = 2_000;
pub const MAX_SUBMISSIONS: usize = 500;
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

fn read_err(path: &Path) -> impl FnOnce(std::io::Error) -> PackageError + '_ {
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

/// An example submission and its expected verdict.
#[derive(Debug, Clone, Serialize)]
pub struct Submission {
    pub path: PathBuf,
    /// Directory name under `submissions/`.
    pub expected: String,
}

/// A parsed package.
#[derive(Debug, Clone)]
pub struct Package {
    pub dir: PathBuf,
    pub name: String,
    pub format: Format,
    pub kind: Kind,
    /// Time limit in milliseconds, when the package states one.
    pub time_limit_ms: Option<u64>,
    /// Multiplier from the slowest accepted time to the limit, and the
    /// safety factor time-limit submissions must exceed.
    pub ac_to_time_limit: f64,
    pub time_limit_to_tle: f64,
    pub memory_mb: u64,
    pub output_mb: u64,
    pub compare: Compare,
    /// Arguments passed to a custom validator.
    pub validator_args: Vec<String>,
    /// Directory of the custom output validator, if any.
    pub validator: Option<PathBuf>,
    pub tests: Vec<TestCase>,
    pub groups: Vec<Group>,
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
        if words.contains(&"multi-pass") {
            return Err(PackageError::Invalid(
                "multi-pass problems are not supported".into(),
            ));
        }

        let (default_mult, default_margin, default_memory) = match format {
            Format::Legacy => (5.0, 2.0, 1024),
            Format::V2023 => (2.0, 1.5, 2048),
        };
        let limits = get(&y, &["limits"]);
        let lim = |k: &[&str]| limits.and_then(|l| get(l, k)).and_then(as_f64);
        let ac_to_time_limit = lim(&["time_multipliers", "ac_to_time_limit"])
            .or(lim(&["time_multiplier"]))
            .unwrap_or(default_mult);
        let time_limit_to_tle = lim(&["time_multipliers", "time_limit_to_tle"])
            .or(lim(&["time_safety_margin"]))
            .unwrap_or(default_margin);
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
        let memory_mb = lim(&["memory"]).map(|m| m as u64).unwrap_or(default_memory);
        let output_mb = lim(&["output"]).map(|m| m as u64).unwrap_or(8);

        let flags = get(&y, &["validator_flags"])
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        let validator = find_validator(dir, format);
        let custom = validator.is_some()
            && (validation.starts_with("custom")
                || format == Format::V2023
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

        let mut tests = Vec::new();
        let mut groups = Vec::new();
        for top in ["sample", "secret"] {
            let d = dir.join("data").join(top);
            if d.is_dir() {
                collect_tests(&d, top, &mut tests, &mut groups)?;
            }
        }
        if tests.iter().all(|t| t.sample) {
            return Err(PackageError::Invalid(
                "the package has no secret test data".into(),
            ));
        }
        if tests.len() > MAX_TESTS {
            return Err(PackageError::Invalid(format!(
                "{} test cases (at most {MAX_TESTS})",
                tests.len()
            )));
        }
        let submissions = collect_submissions(&dir.join("submissions"))?;
        Ok(Package {
            dir: dir.to_path_buf(),
            name,
            format,
            kind,
            time_limit_ms: time_limit_s.map(|t| (t * 1000.0).round() as u64),
            ac_to_time_limit,
            time_limit_to_tle,
            memory_mb,
            output_mb,
            compare,
            validator_args,
            validator: if custom { validator } else { None },
            tests,
            groups,
            submissions,
        })
    }

    /// Derives the time limit from the slowest accepted run, as problemtools
    /// does: times the multiplier, rounded up to whole seconds.
    pub fn derive_time_limit_ms(&self, slowest_ac_ms: u64) -> u64 {
        let t = (slowest_ac_ms as f64 * self.ac_to_time_limit / 1000.0)
            .ceil()
            .max(1.0);
        (t as u64) * 1000
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
    if single.is_dir() && (format == Format::V2023 || has_files(&single)) {
        return Some(single);
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

fn has_files(d: &Path) -> bool {
    std::fs::read_dir(d)
        .map(|mut r| r.next().is_some())
        .unwrap_or(false)
}

/// Reads `testdata.yaml` / `test_group.yaml` of a group directory.
fn group_rule(d: &Path, name: &str) -> Result<Option<Group>, PackageError> {
    for file in ["testdata.yaml", "test_group.yaml"] {
        let p = d.join(file);
        if !p.is_file() {
            continue;
        }
        let text = std::fs::read_to_string(&p).map_err(read_err(&p))?;
        let y: Value = serde_yaml::from_str(&text)
            .map_err(|e| PackageError::Yaml(format!("{}: {e}", p.display())))?;
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
    tests: &mut Vec<TestCase>,
    groups: &mut Vec<Group>,
) -> Result<(), PackageError> {
    if let Some(rule) = group_rule(d, group)? {
        groups.push(rule);
    }
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
            collect_tests(&p, &sub, tests, groups)?;
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
            tests.push(TestCase {
                name: format!("{group}/{stem}"),
                group: group.to_string(),
                input: p.clone(),
                answer,
                sample: group == "sample",
            });
        }
    }
    Ok(())
}

fn collect_submissions(d: &Path) -> Result<Vec<Submission>, PackageError> {
    let mut subs = Vec::new();
    let Ok(verdicts) = std::fs::read_dir(d) else {
        return Ok(subs);
    };
    let mut verdicts: Vec<PathBuf> = verdicts
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_dir())
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
            .collect();
        files.sort();
        for f in files {
            subs.push(Submission {
                path: f,
                expected: expected.clone(),
            });
        }
    }
    if subs.len() > MAX_SUBMISSIONS {
        return Err(PackageError::Invalid(format!(
            "{} submissions (at most {MAX_SUBMISSIONS})",
            subs.len()
        )));
    }
    Ok(subs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn write(p: &Path, s: &str) {
        fs::create_dir_all(p.parent().unwrap()).unwrap();
        fs::write(p, s).unwrap();
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
