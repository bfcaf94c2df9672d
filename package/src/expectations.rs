//! What an example submission is expected to do: the 2023-07 and 2025-09
//! model of `submissions/submissions.yaml` (verdicts `permitted` on every
//! test and `required` on at least one, a `score`, a judge `message`, per
//! test group or glob), the default directories (`accepted`, `rejected`,
//! `wrong_answer`, …), and DOMjudge's `@EXPECTED_RESULTS@:` line in a
//! source (its `mixed/` directory). Reading them runs nothing; checking a
//! judged submission against them is [`Requirement::check`].

use std::collections::BTreeMap;
use std::fmt;
use std::path::Path;

use serde::Serialize;
use serde_yaml::Value;

use crate::PackageError;

/// The verdicts the model speaks of, as a set. A test's memory and output
/// limits count as run-time errors, as the format's four verdicts have it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Verdicts(u8);

impl Verdicts {
    pub const AC: Verdicts = Verdicts(1);
    pub const WA: Verdicts = Verdicts(2);
    pub const TLE: Verdicts = Verdicts(4);
    pub const RTE: Verdicts = Verdicts(8);
    pub const ALL: Verdicts = Verdicts(15);
    const NAMES: [(&'static str, Verdicts); 4] = [
        ("AC", Verdicts::AC),
        ("WA", Verdicts::WA),
        ("TLE", Verdicts::TLE),
        ("RTE", Verdicts::RTE),
    ];

    pub fn union(self, other: Verdicts) -> Verdicts {
        Verdicts(self.0 | other.0)
    }

    pub fn contains(self, other: Verdicts) -> bool {
        self.0 & other.0 == other.0 && other.0 != 0
    }

    fn parse(v: &Value, what: &str) -> Result<Verdicts, String> {
        let items = match v {
            Value::Sequence(items) => items.iter().collect(),
            one @ Value::String(_) => vec![one],
            _ => return Err(format!("{what} must be a list of verdicts")),
        };
        let mut set = Verdicts::default();
        for item in items {
            let name = item.as_str().unwrap_or_default();
            let (_, v) = Verdicts::NAMES
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| format!("{what}: {name:?} is not one of AC, WA, TLE, RTE"))?;
            set = set.union(*v);
        }
        if set.0 == 0 {
            return Err(format!("{what} is empty"));
        }
        Ok(set)
    }
}

impl fmt::Display for Verdicts {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = Verdicts::NAMES
            .iter()
            .filter(|(_, v)| self.contains(*v))
            .map(|(n, _)| *n)
            .collect();
        write!(f, "{}", names.join(", "))
    }
}

impl Serialize for Verdicts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_string())
    }
}

/// Whether a submission bounds the time limit (`use_for_time_limit`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TimeLimitUse {
    /// Must run within the limit: the limit is at least its slowest time
    /// times `ac_to_time_limit`.
    Lower,
    /// Must exceed it: the limit is at most its slowest time divided by
    /// `time_limit_to_tle`.
    Upper,
    No,
}

/// One rule over a submission's tests.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Requirement {
    /// The tests it is about: a glob over test and group names below
    /// `data/` (`secret/group1`, `secret/*-hard`); none, every test.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tests: Option<String>,
    /// Every test's verdict is one of these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub permitted: Option<Verdicts>,
    /// Some test's verdict is one of these.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub required: Option<Verdicts>,
    /// The score (of the group named by `tests`, or the submission's),
    /// within these bounds inclusive.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub score: Option<(f64, f64)>,
    /// A substring of some test's judge message.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_for_time_limit: Option<TimeLimitUse>,
}

/// One judged test, as a requirement sees it.
#[derive(Debug, Clone, Copy)]
pub struct Judged<'a> {
    pub name: &'a str,
    pub verdict: Verdicts,
    pub time_ms: u64,
    pub message: Option<&'a str>,
}

impl Requirement {
    /// Whether the rule is about this test (its name or a group above it
    /// matches the glob).
    pub fn covers(&self, test: &str) -> bool {
        self.tests
            .as_deref()
            .is_none_or(|glob| matches_path_or_parent(glob, test))
    }

    /// Whether the submission must stay within the time limit on the
    /// tests it covers (it bounds the limit from below).
    pub fn bounds_from_below(&self) -> bool {
        match self.use_for_time_limit {
            Some(TimeLimitUse::No) => false,
            Some(TimeLimitUse::Lower) => true,
            Some(TimeLimitUse::Upper) => false,
            None => self.permitted.is_some_and(|p| !p.contains(Verdicts::TLE)),
        }
    }

    /// Whether it must exceed the time limit on one of the tests it covers.
    pub fn bounds_from_above(&self) -> bool {
        match self.use_for_time_limit {
            Some(TimeLimitUse::Upper) => true,
            Some(_) => false,
            None => self.required == Some(Verdicts::TLE),
        }
    }

    /// What of this rule the judged tests break, if anything. `tests`
    /// holds every test the submission was judged on (a test left out,
    /// judging having stopped early, counts as not accepted); `score` is
    /// the score of a group by name (or of the whole, by `None`).
    pub fn check(
        &self,
        tests: &[Judged],
        score: &dyn Fn(Option<&str>) -> Option<f64>,
    ) -> Vec<String> {
        let mut broken = Vec::new();
        let covered: Vec<&Judged> = tests.iter().filter(|t| self.covers(t.name)).collect();
        let about = match &self.tests {
            Some(glob) => format!(" on {glob}"),
            None => String::new(),
        };
        if let Some(permitted) = self.permitted {
            if let Some(t) = covered.iter().find(|t| !permitted.contains(t.verdict)) {
                broken.push(format!(
                    "{} on {}, where only {permitted} is permitted",
                    t.verdict, t.name
                ));
            }
        }
        if let Some(required) = self.required {
            if !covered.iter().any(|t| required.contains(t.verdict)) {
                broken.push(format!("no {required}{about}, which is required"));
            }
        }
        if let Some((low, high)) = self.score {
            match score(self.tests.as_deref()) {
                Some(s) if s >= low - 1e-9 && s <= high + 1e-9 => {}
                Some(s) => broken.push(format!("score {s}{about}, not within [{low}, {high}]")),
                None => broken.push(format!("no score{about}")),
            }
        }
        if let Some(message) = &self.message {
            if !covered
                .iter()
                .any(|t| t.message.is_some_and(|m| m.contains(message.as_str())))
            {
                broken.push(format!("no judge message{about} says {message:?}"));
            }
        }
        broken
    }
}

impl fmt::Display for Requirement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut parts = Vec::new();
        if let Some(p) = self.permitted {
            parts.push(format!("permitted {p}"));
        }
        if let Some(r) = self.required {
            parts.push(format!("required {r}"));
        }
        if let Some((low, high)) = self.score {
            parts.push(if low == high {
                format!("score {low}")
            } else {
                format!("score {low}..{high}")
            });
        }
        if let Some(m) = &self.message {
            parts.push(format!("message {m:?}"));
        }
        let what = if parts.is_empty() {
            "anything".to_string()
        } else {
            parts.join(", ")
        };
        match &self.tests {
            Some(glob) => write!(f, "{glob}: {what}"),
            None => write!(f, "{what}"),
        }
    }
}

/// What `submissions.yaml` and the directories say of one submission.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Expectations {
    pub requirements: Vec<Requirement>,
    /// `language` and `entrypoint`, where given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub entrypoint: Option<String>,
}

/// The default requirement of a directory under `submissions/`, in the
/// 2023-07 and 2025-09 formats.
pub fn directory_default(dir: &str) -> Option<Requirement> {
    use Verdicts as V;
    let (permitted, required) = match dir {
        "accepted" => (Some(V::AC), None),
        "rejected" => (None, Some(V::WA.union(V::TLE).union(V::RTE))),
        "wrong_answer" => (Some(V::AC.union(V::WA)), Some(V::WA)),
        "time_limit_exceeded" => (Some(V::AC.union(V::TLE)), Some(V::TLE)),
        "run_time_error" => (Some(V::AC.union(V::RTE)), Some(V::RTE)),
        "brute_force" => (
            Some(V::AC.union(V::RTE).union(V::TLE)),
            Some(V::RTE.union(V::TLE)),
        ),
        _ => return None,
    };
    Some(Requirement {
        permitted,
        required,
        // Brute force solutions do not bound the time limit by default.
        use_for_time_limit: (dir == "brute_force").then_some(TimeLimitUse::No),
        ..Requirement::default()
    })
}

/// Keys of a submission's entry that are not expectations.
const SUBMISSION_KEYS: [&str; 4] = ["language", "entrypoint", "authors", "model_solution"];
const EXPECTATION_KEYS: [&str; 5] = [
    "permitted",
    "required",
    "score",
    "message",
    "use_for_time_limit",
];

/// `submissions/submissions.yaml`, read: its entries by submission glob.
#[derive(Debug, Clone, Default)]
pub struct SubmissionsYaml {
    entries: Vec<(String, Entry)>,
}

#[derive(Debug, Clone, Default)]
struct Entry {
    language: Option<String>,
    entrypoint: Option<String>,
    requirements: Vec<Requirement>,
}

/// At most this many entries and test rules: a package's YAML is a
/// setter's, but every size has a limit.
const MAX_ENTRIES: usize = 1_000;

impl SubmissionsYaml {
    /// Reads the file (missing: no entries), its text already with the
    /// package's constants substituted.
    pub fn parse(text: &str) -> Result<SubmissionsYaml, PackageError> {
        let err = |m: String| PackageError::Invalid(format!("submissions/submissions.yaml: {m}"));
        if text.trim().is_empty() {
            return Ok(SubmissionsYaml::default());
        }
        let y: Value = serde_yaml::from_str(text).map_err(|e| err(e.to_string()))?;
        let Value::Mapping(map) = y else {
            return Err(err("must be a map from submission globs".into()));
        };
        if map.len() > MAX_ENTRIES {
            return Err(err(format!(
                "{} entries (at most {MAX_ENTRIES})",
                map.len()
            )));
        }
        let mut entries = Vec::new();
        for (k, v) in &map {
            let glob = k
                .as_str()
                .ok_or_else(|| err("a key is not a string".into()))?;
            check_glob(glob).map_err(|m| err(format!("{glob}: {m}")))?;
            let Value::Mapping(fields) = v else {
                return Err(err(format!("{glob}: must be a map")));
            };
            let mut entry = Entry::default();
            let mut own = Requirement::default();
            for (fk, fv) in fields {
                let key = fk.as_str().unwrap_or_default();
                let at = |m: String| err(format!("{glob}: {m}"));
                match key {
                    "language" | "entrypoint" => {
                        let s = fv
                            .as_str()
                            .ok_or_else(|| at(format!("{key} must be a string")))?
                            .to_string();
                        if key == "language" {
                            entry.language = Some(s);
                        } else {
                            entry.entrypoint = Some(s);
                        }
                    }
                    k if SUBMISSION_KEYS.contains(&k) => {}
                    k if EXPECTATION_KEYS.contains(&k) => {
                        set_expectation(&mut own, k, fv).map_err(at)?;
                    }
                    k if k.starts_with("sample")
                        || k.starts_with("secret")
                        || k.starts_with('*') =>
                    {
                        check_glob(k).map_err(|m| at(format!("{k}: {m}")))?;
                        let Value::Mapping(rule) = fv else {
                            return Err(at(format!("{k}: must be a map")));
                        };
                        let mut r = Requirement {
                            tests: Some(k.to_string()),
                            ..Requirement::default()
                        };
                        for (rk, rv) in rule {
                            let rk = rk.as_str().unwrap_or_default();
                            if !EXPECTATION_KEYS.contains(&rk) {
                                return Err(at(format!("{k}: unknown key {rk:?}")));
                            }
                            set_expectation(&mut r, rk, rv).map_err(|m| at(format!("{k}: {m}")))?;
                        }
                        entry.requirements.push(r);
                    }
                    other => return Err(at(format!("unknown key {other:?}"))),
                }
            }
            if own != Requirement::default() {
                entry.requirements.insert(0, own);
            }
            entries.push((glob.to_string(), entry));
        }
        Ok(SubmissionsYaml { entries })
    }

    /// The expectations of the submission at `path` (relative to
    /// `submissions/`, as `accepted/sol.py`): its directory's default, as
    /// overridden by an entry named exactly after the directory, then
    /// every other entry whose glob matches it or a directory above it.
    pub fn of(&self, path: &str) -> Expectations {
        let dir = path.split('/').next().unwrap_or_default();
        let mut out = Expectations::default();
        let mut default = directory_default(dir);
        for (glob, entry) in &self.entries {
            if glob == dir {
                // Replaces the default, inheriting what it does not say.
                if let Some(d) = &mut default {
                    if let Some(own) = entry.requirements.iter().find(|r| r.tests.is_none()) {
                        d.permitted = own.permitted.or(d.permitted);
                        d.required = own.required.or(d.required);
                        d.score = own.score.or(d.score);
                        d.message = own.message.clone().or(d.message.take());
                        d.use_for_time_limit = own.use_for_time_limit.or(d.use_for_time_limit);
                    }
                    out.requirements.extend(
                        entry
                            .requirements
                            .iter()
                            .filter(|r| r.tests.is_some())
                            .cloned(),
                    );
                } else {
                    out.requirements.extend(entry.requirements.iter().cloned());
                }
            } else if matches_path_or_parent(glob, path) {
                out.requirements.extend(entry.requirements.iter().cloned());
            } else {
                continue;
            }
            out.language = entry.language.clone().or(out.language);
            out.entrypoint = entry.entrypoint.clone().or(out.entrypoint);
        }
        if let Some(d) = default {
            out.requirements.insert(0, d);
        }
        out
    }
}

fn set_expectation(r: &mut Requirement, key: &str, v: &Value) -> Result<(), String> {
    match key {
        "permitted" => r.permitted = Some(Verdicts::parse(v, "permitted")?),
        "required" => r.required = Some(Verdicts::parse(v, "required")?),
        "score" => {
            let num = |v: &Value| {
                v.as_f64()
                    .or_else(|| v.as_i64().map(|i| i as f64))
                    .filter(|f| f.is_finite() && *f >= 0.0)
            };
            r.score = Some(match v {
                Value::Sequence(pair) if pair.len() == 2 => match (num(&pair[0]), num(&pair[1])) {
                    (Some(a), Some(b)) if a <= b => (a, b),
                    _ => return Err("score must be [low, high], low <= high".into()),
                },
                one => {
                    let s = num(one).ok_or("score must be a number or [low, high]")?;
                    (s, s)
                }
            })
        }
        "message" => {
            r.message = Some(
                v.as_str()
                    .filter(|m| !m.is_empty())
                    .ok_or("message must be a non-empty string")?
                    .to_string(),
            )
        }
        "use_for_time_limit" => {
            r.use_for_time_limit = Some(match v {
                Value::Bool(false) => TimeLimitUse::No,
                Value::String(s) if s == "lower" => TimeLimitUse::Lower,
                Value::String(s) if s == "upper" => TimeLimitUse::Upper,
                _ => return Err("use_for_time_limit must be false, lower or upper".into()),
            })
        }
        _ => unreachable!("only expectation keys"),
    }
    Ok(())
}

/// DOMjudge's expected results, from a line of the source saying
/// `@EXPECTED_RESULTS@: WRONG_ANSWER, TIMELIMIT` (its `mixed/` directory):
/// every test accepted or one of these, and unless `CORRECT` is among them,
/// one of them somewhere.
pub fn expected_results(source: &[u8]) -> Result<Option<Requirement>, String> {
    const MARK: &[u8] = b"@EXPECTED_RESULTS@:";
    let Some(at) = source.windows(MARK.len()).position(|w| w == MARK) else {
        return Ok(None);
    };
    let rest = &source[at + MARK.len()..];
    let line = rest.split(|b| *b == b'\n').next().unwrap_or_default();
    let line = String::from_utf8_lossy(line);
    let mut listed = Verdicts::default();
    for word in line
        .split([',', ' ', '\t'])
        .filter(|w| !w.trim().is_empty())
    {
        let word = word.trim().trim_end_matches("*/").trim();
        if word.is_empty() {
            continue;
        }
        let v = match word.to_ascii_uppercase().as_str() {
            "CORRECT" | "ACCEPTED" => Verdicts::AC,
            "WRONG_ANSWER" | "WRONG-ANSWER" | "NO-OUTPUT" | "NO_OUTPUT" => Verdicts::WA,
            "TIMELIMIT" | "TIME_LIMIT_EXCEEDED" => Verdicts::TLE,
            "RUN_ERROR" | "RUN-ERROR" | "RUN_TIME_ERROR" | "OUTPUT-LIMIT" | "MEMORY-LIMIT" => {
                Verdicts::RTE
            }
            other => return Err(format!("@EXPECTED_RESULTS@: unknown result {other:?}")),
        };
        listed = listed.union(v);
    }
    if listed == Verdicts::default() {
        return Err("@EXPECTED_RESULTS@: lists no result".into());
    }
    let failing = Verdicts(listed.0 & !Verdicts::AC.0);
    Ok(Some(Requirement {
        permitted: Some(listed.union(Verdicts::AC)),
        required: (!listed.contains(Verdicts::AC)).then_some(failing),
        ..Requirement::default()
    }))
}

/// Globs: `*` within one name, `{a,b}` alternatives; no `**` or `[…]`.
fn check_glob(glob: &str) -> Result<(), String> {
    if glob.is_empty() || glob.len() > 255 {
        return Err("a glob is 1 to 255 characters".into());
    }
    if glob.contains("**") || glob.contains('[') {
        return Err("`**` and `[...]` are not supported in globs".into());
    }
    let mut depth = 0i32;
    for c in glob.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            _ => {}
        }
        if !(0..=1).contains(&depth) {
            return Err("unbalanced or nested braces".into());
        }
    }
    if depth != 0 {
        return Err("unbalanced braces".into());
    }
    Ok(())
}

/// Every alternative of a glob's braces.
fn expand_braces(glob: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (glob.find('{'), glob.find('}')) else {
        return vec![glob.to_string()];
    };
    if close < open {
        return vec![glob.to_string()];
    }
    let (head, tail) = (&glob[..open], &glob[close + 1..]);
    glob[open + 1..close]
        .split(',')
        .flat_map(|alt| expand_braces(&format!("{head}{alt}{tail}")))
        .collect()
}

/// Whether `glob` matches `path` or one of the directories above it.
pub fn matches_path_or_parent(glob: &str, path: &str) -> bool {
    let parts: Vec<&str> = path.split('/').collect();
    expand_braces(glob).iter().any(|g| {
        let pattern: Vec<&str> = g.trim_end_matches('/').split('/').collect();
        pattern.len() <= parts.len()
            && pattern
                .iter()
                .zip(&parts)
                .all(|(p, name)| matches_name(p.as_bytes(), name.as_bytes()))
    })
}

/// `*` matches any run of characters of one name.
fn matches_name(p: &[u8], s: &[u8]) -> bool {
    match p.split_first() {
        None => s.is_empty(),
        Some((b'*', rest)) => (0..=s.len()).any(|i| matches_name(rest, &s[i..])),
        Some((c, rest)) => s.first() == Some(c) && matches_name(rest, &s[1..]),
    }
}

/// Reads `submissions/submissions.yaml` of a package, if there is one.
pub fn read_submissions_yaml(
    dir: &Path,
    constants: &BTreeMap<String, String>,
) -> Result<SubmissionsYaml, PackageError> {
    let path = dir.join("submissions").join("submissions.yaml");
    if !path.is_file() {
        return Ok(SubmissionsYaml::default());
    }
    let text = std::fs::read(&path).map_err(crate::package::read_err(&path))?;
    let text = crate::package::substitute(constants, &text);
    SubmissionsYaml::parse(&String::from_utf8_lossy(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn judged<'a>(name: &'a str, v: Verdicts) -> Judged<'a> {
        Judged {
            name,
            verdict: v,
            time_ms: 10,
            message: None,
        }
    }

    #[test]
    fn globs_match_within_names_with_braces_and_parents() {
        assert!(matches_path_or_parent("accepted", "accepted/sol.py"));
        assert!(matches_path_or_parent("accepted/*", "accepted/sol.py"));
        assert!(matches_path_or_parent(
            "*/sol.{py,cpp}",
            "wrong_answer/sol.cpp"
        ));
        assert!(!matches_path_or_parent(
            "*/sol.{py,cpp}",
            "wrong_answer/sol.java"
        ));
        assert!(matches_path_or_parent("secret/*-easy", "secret/03-easy"));
        assert!(matches_path_or_parent("secret/group1", "secret/group1/07"));
        assert!(!matches_path_or_parent(
            "secret/group1",
            "secret/group10/07"
        ));
        assert!(!matches_path_or_parent("secret/*", "sample/1"));
        assert!(!matches_path_or_parent(
            "accepted/sol.py/x",
            "accepted/sol.py"
        ));
        assert!(check_glob("a/**/b").is_err());
        assert!(check_glob("{a,{b}}").is_err());
    }

    #[test]
    fn directory_defaults_and_a_yaml_override_and_additions() {
        let y = SubmissionsYaml::parse(
            "time_limit_exceeded:\n  permitted: [AC, WA, TLE]\n\
             time_limit_exceeded/slow.py:\n  secret/*-easy:\n    permitted: [AC]\n\
             mixed/odd.cpp:\n  language: cpp\n  required: [WA]\n",
        )
        .unwrap();
        let tle = y.of("time_limit_exceeded/slow.py");
        assert_eq!(tle.requirements.len(), 2);
        // Overridden permitted, inherited required.
        assert_eq!(
            tle.requirements[0].permitted,
            Some(Verdicts::AC.union(Verdicts::WA).union(Verdicts::TLE))
        );
        assert_eq!(tle.requirements[0].required, Some(Verdicts::TLE));
        assert!(tle.requirements[0].bounds_from_above());
        assert_eq!(tle.requirements[1].tests.as_deref(), Some("secret/*-easy"));
        let odd = y.of("mixed/odd.cpp");
        assert_eq!(odd.language.as_deref(), Some("cpp"));
        assert_eq!(odd.requirements.len(), 1);
        assert!(y.of("mixed/other.cpp").requirements.is_empty());
        assert!(y.of("accepted/a.py").requirements[0].bounds_from_below());
        assert!(!y.of("brute_force/b.py").requirements[0].bounds_from_below());
    }

    #[test]
    fn bad_yaml_is_refused_naming_the_entry_and_rule() {
        let bad = |text: &str, want: &str| {
            let e = SubmissionsYaml::parse(text).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        };
        bad("accepted:\n  permitted: [OK]\n", "\"OK\" is not one of");
        bad("accepted:\n  colour: red\n", "unknown key \"colour\"");
        bad(
            "accepted:\n  secret/g1:\n    language: c\n",
            "secret/g1: unknown key",
        );
        bad("accepted:\n  score: [5, 1]\n", "low <= high");
        bad(
            "accepted:\n  use_for_time_limit: yes\n",
            "use_for_time_limit",
        );
        bad("a/**/b:\n  required: [WA]\n", "not supported");
    }

    #[test]
    fn a_requirement_checks_permitted_required_score_and_message() {
        let tests = [
            judged("sample/1", Verdicts::AC),
            judged("secret/g1/1", Verdicts::AC),
            Judged {
                message: Some("expected 7, got 8"),
                ..judged("secret/g2/1", Verdicts::WA)
            },
        ];
        let score = |g: Option<&str>| match g {
            Some("secret/g1") => Some(30.0),
            None => Some(30.0),
            _ => Some(0.0),
        };
        let wa = directory_default("wrong_answer").unwrap();
        assert!(wa.check(&tests, &score).is_empty());
        let ac = directory_default("accepted").unwrap();
        assert_eq!(
            ac.check(&tests, &score),
            vec!["WA on secret/g2/1, where only AC is permitted"]
        );
        let tle = directory_default("time_limit_exceeded").unwrap();
        assert_eq!(tle.check(&tests, &score).len(), 2);
        let g1 = Requirement {
            tests: Some("secret/g1".into()),
            permitted: Some(Verdicts::AC),
            score: Some((30.0, 30.0)),
            ..Requirement::default()
        };
        assert!(g1.check(&tests, &score).is_empty());
        let msg = Requirement {
            message: Some("got 9".into()),
            ..Requirement::default()
        };
        assert_eq!(
            msg.check(&tests, &score),
            vec!["no judge message says \"got 9\""]
        );
        let total = Requirement {
            score: Some((50.0, 100.0)),
            ..Requirement::default()
        };
        assert_eq!(
            total.check(&tests, &score),
            vec!["score 30, not within [50, 100]"]
        );
        assert_eq!(total.to_string(), "score 50..100");
        assert_eq!(wa.to_string(), "permitted AC, WA, required WA");
    }

    #[test]
    fn domjudge_expected_results_in_a_source() {
        let r = expected_results(b"// @EXPECTED_RESULTS@: WRONG_ANSWER, TIMELIMIT\nint main(){}")
            .unwrap()
            .unwrap();
        let ac_wa_tle = Verdicts::AC.union(Verdicts::WA).union(Verdicts::TLE);
        assert_eq!(r.permitted, Some(ac_wa_tle));
        assert_eq!(r.required, Some(Verdicts::WA.union(Verdicts::TLE)));
        let any = expected_results(b"# @EXPECTED_RESULTS@: CORRECT, RUN_ERROR\n")
            .unwrap()
            .unwrap();
        assert_eq!(any.required, None);
        assert!(expected_results(b"no mark here").unwrap().is_none());
        assert!(expected_results(b"@EXPECTED_RESULTS@: MAYBE\n").is_err());
    }
}
