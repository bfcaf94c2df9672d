//! Scoring problems in format 2025-09: `secret` and its test data groups,
//! each with a `max_score` (or `unbounded`), a `score_aggregation`
//! (`pass-fail`, `sum`, `min`) and the groups it `require_pass`es, read
//! from their `test_group.yaml`; and the score of a judged submission
//! computed from them ([`Scoring::score`]).

use std::path::Path;

use serde::Serialize;
use serde_yaml::Value;

use crate::PackageError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Aggregation {
    PassFail,
    Sum,
    Min,
}

/// `secret` or one of its groups.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScoreGroup {
    /// `secret` or `secret/<group>`.
    pub name: String,
    /// None: unbounded.
    pub max_score: Option<f64>,
    pub aggregation: Aggregation,
    /// Groups (or `sample`) all of whose tests must be accepted for this
    /// one to be scored.
    pub require_pass: Vec<String>,
    /// The maximum score of its static validation test case, if it has
    /// one (taken from what its tests are worth).
    pub static_score: Option<f64>,
}

/// The scoring of a 2025-09 scoring problem.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Scoring {
    pub secret: ScoreGroup,
    /// `secret`'s test data groups, in order; empty when `secret` holds
    /// its test cases itself.
    pub groups: Vec<ScoreGroup>,
}

/// What a validator reported for one accepted test.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Reported {
    /// `score.txt`.
    pub score: Option<f64>,
    /// `score_multiplier.txt`.
    pub multiplier: Option<f64>,
}

/// One judged test as scoring sees it.
#[derive(Debug, Clone, Copy)]
pub struct ScoredTest<'a> {
    pub name: &'a str,
    pub group: &'a str,
    pub accepted: bool,
    pub reported: Reported,
    /// The group's static validation test case, not one of its tests.
    pub is_static: bool,
}

/// A submission's score: the whole, each group's, and each test's (by the
/// tests' order).
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Score {
    pub score: f64,
    pub max_score: Option<f64>,
    pub groups: Vec<(String, f64, Option<f64>)>,
    pub tests: Vec<Option<f64>>,
}

impl Scoring {
    /// `secret` or one of its groups, by name.
    pub fn group(&self, name: &str) -> Option<&ScoreGroup> {
        std::iter::once(&self.secret)
            .chain(&self.groups)
            .find(|g| g.name == name)
    }

    /// Gives a group its static validation test case's maximum score.
    pub fn set_static_score(&mut self, name: &str, score: f64) {
        if let Some(g) = std::iter::once(&mut self.secret)
            .chain(self.groups.iter_mut())
            .find(|g| g.name == name)
        {
            g.static_score = Some(score);
        }
    }

    /// Reads `data/secret/test_group.yaml` and those of its groups (each
    /// YAML already parsed, with constants, by `read`).
    pub fn read(
        data: &Path,
        read: &dyn Fn(&Path) -> Result<Option<Value>, PackageError>,
    ) -> Result<Scoring, PackageError> {
        let secret_dir = data.join("secret");
        let sample_yaml = read(&data.join("sample").join("test_group.yaml"))?;
        if let Some(y) = &sample_yaml {
            for key in ["max_score", "score_aggregation", "require_pass"] {
                if y.get(key).is_some() {
                    return Err(invalid(format!(
                        "data/sample/test_group.yaml: {key} is not permitted in sample"
                    )));
                }
            }
        }
        let secret = group(
            "secret",
            read(&secret_dir.join("test_group.yaml"))?,
            Some(100.0),
            Aggregation::Sum,
        )?;
        check_pass_fail_bounded(&secret)?;
        let mut names: Vec<String> = std::fs::read_dir(&secret_dir)
            .map(|r| {
                r.flatten()
                    .filter(|e| e.path().is_dir())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        let mut groups = Vec::new();
        for n in names {
            let name = format!("secret/{n}");
            let y = read(&secret_dir.join(&n).join("test_group.yaml"))?;
            let g = group(&name, y, None, Aggregation::PassFail)?;
            let file = format!("data/{name}/test_group.yaml");
            if g.max_score.is_none() && secret.max_score.is_some() {
                return Err(invalid(format!(
                    "{file}: max_score is needed, secret's being bounded ({})",
                    secret.max_score.unwrap_or_default()
                )));
            }
            check_pass_fail_bounded(&g)?;
            if secret.aggregation == Aggregation::PassFail && g.aggregation != Aggregation::PassFail
            {
                return Err(invalid(format!(
                    "{file}: score_aggregation must be pass-fail, as secret's is"
                )));
            }
            for r in &g.require_pass {
                let earlier = r == "sample" || groups.iter().any(|e: &ScoreGroup| &e.name == r);
                if !earlier {
                    return Err(invalid(format!(
                        "{file}: require_pass {r:?} is not sample or an earlier group"
                    )));
                }
                if let Some(e) = groups.iter().find(|e| &e.name == r) {
                    if e.aggregation != Aggregation::PassFail {
                        return Err(invalid(format!(
                            "{file}: require_pass {r:?} has {:?} aggregation, not pass-fail",
                            e.aggregation
                        )));
                    }
                }
            }
            groups.push(g);
        }
        if let Some(r) = secret.require_pass.iter().find(|r| *r != "sample") {
            return Err(invalid(format!(
                "data/secret/test_group.yaml: require_pass {r:?}: secret may only require sample"
            )));
        }
        Ok(Scoring { secret, groups })
    }

    /// The submission's score; an error is the package's (a judge error),
    /// naming the test and the rule.
    pub fn score(&self, tests: &[ScoredTest]) -> Result<Score, String> {
        let passed = |group: &str| {
            tests
                .iter()
                .filter(|t| in_group(t.group, group))
                .all(|t| t.accepted)
        };
        let runs = |g: &ScoreGroup| g.require_pass.iter().all(|r| passed(r));
        let mut out = Score {
            max_score: self.secret.max_score,
            tests: vec![None; tests.len()],
            ..Score::default()
        };
        // Tests are scored by the group that holds them: a group of
        // secret's, or secret itself.
        let holders: Vec<&ScoreGroup> = if self.groups.is_empty() {
            vec![&self.secret]
        } else {
            self.groups.iter().collect()
        };
        let mut group_scores = Vec::new();
        for g in holders {
            let members: Vec<usize> = (0..tests.len())
                .filter(|&i| in_group(tests[i].group, &g.name))
                .collect();
            let scored = runs(g) && runs(&self.secret);
            let statics = g.static_score.unwrap_or(0.0);
            let regular = members.iter().filter(|&&i| !tests[i].is_static).count();
            let per_test = match (g.aggregation, g.max_score) {
                (Aggregation::Sum, Some(m)) => Some((m - statics).max(0.0) / regular.max(1) as f64),
                (_, m) => m,
            };
            let mut scores = Vec::new();
            for &i in &members {
                let t = &tests[i];
                let max = if t.is_static {
                    g.static_score
                } else {
                    per_test
                };
                let s = test_score(t, g, max)?;
                let s = if scored { s } else { 0.0 };
                out.tests[i] = Some(s);
                scores.push(s);
            }
            let all = scored && members.iter().all(|&i| tests[i].accepted);
            let score = match g.aggregation {
                Aggregation::PassFail => {
                    if all {
                        g.max_score.unwrap_or_default()
                    } else {
                        0.0
                    }
                }
                Aggregation::Sum => scores.iter().sum(),
                Aggregation::Min => scores.iter().copied().fold(f64::INFINITY, f64::min),
            };
            let score = if score.is_finite() { score } else { 0.0 };
            check_max(&g.name, score, g.max_score)?;
            group_scores.push((g.name.clone(), score, g.max_score));
        }
        out.score = if self.groups.is_empty() {
            group_scores.first().map_or(0.0, |g| g.1)
        } else {
            let scores = group_scores.iter().map(|g| g.1);
            match self.secret.aggregation {
                Aggregation::PassFail => {
                    let all = runs(&self.secret) && passed("secret");
                    if all {
                        self.secret.max_score.unwrap_or_default()
                    } else {
                        0.0
                    }
                }
                Aggregation::Sum => scores.sum(),
                Aggregation::Min => {
                    let m = scores.fold(f64::INFINITY, f64::min);
                    if m.is_finite() {
                        m
                    } else {
                        0.0
                    }
                }
            }
        };
        check_max("secret", out.score, self.secret.max_score)?;
        if !self.groups.is_empty() {
            out.groups = group_scores;
        }
        Ok(out)
    }
}

/// A test's score in group `g`, whose tests are each worth `max` (None:
/// unbounded).
fn test_score(t: &ScoredTest, g: &ScoreGroup, max: Option<f64>) -> Result<f64, String> {
    let r = t.reported;
    let said = r.score.is_some() || r.multiplier.is_some();
    let fail = |m: &str| Err(format!("{}: {m}", t.name));
    if !t.accepted {
        return if said {
            fail("the validator gave a score to a test it did not accept")
        } else {
            Ok(0.0)
        };
    }
    if said && g.aggregation == Aggregation::PassFail {
        return fail("the validator gave a score in a pass-fail group");
    }
    match (r.score, r.multiplier, max) {
        (Some(_), Some(_), _) => {
            fail("the validator wrote both score.txt and score_multiplier.txt")
        }
        (None, Some(_), None) => fail("score_multiplier.txt in a group of unbounded score"),
        (None, None, None) => fail("no score.txt in a group of unbounded score"),
        (None, Some(m), Some(max)) if (0.0..=1.0).contains(&m) => Ok(m * max),
        (None, Some(m), _) => fail(&format!("score_multiplier.txt {m} is outside [0, 1]")),
        (Some(s), None, Some(max)) if s > max + 1e-9 => {
            fail(&format!("score.txt {s} exceeds the test's maximum {max}"))
        }
        (Some(s), None, _) if s >= 0.0 && s.is_finite() => Ok(s),
        (Some(s), None, _) => fail(&format!("score.txt {s} is negative")),
        (None, None, Some(max)) => Ok(max),
    }
}

fn check_max(name: &str, score: f64, max: Option<f64>) -> Result<(), String> {
    match max {
        Some(m) if score > m + 1e-9 => Err(format!("{name}: score {score} exceeds max_score {m}")),
        _ => Ok(()),
    }
}

/// Whether a test of group `test_group` belongs to `group` (itself, or a
/// directory below it).
fn in_group(test_group: &str, group: &str) -> bool {
    test_group == group
        || test_group
            .strip_prefix(group)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn check_pass_fail_bounded(g: &ScoreGroup) -> Result<(), PackageError> {
    if g.aggregation == Aggregation::PassFail && g.max_score.is_none() {
        return Err(invalid(format!(
            "data/{}/test_group.yaml: a pass-fail group needs a bounded max_score",
            g.name
        )));
    }
    Ok(())
}

fn invalid(m: String) -> PackageError {
    PackageError::Invalid(m)
}

/// One group's settings, with its defaults.
fn group(
    name: &str,
    y: Option<Value>,
    default_max: Option<f64>,
    default_aggregation: Aggregation,
) -> Result<ScoreGroup, PackageError> {
    let file = format!("data/{name}/test_group.yaml");
    let y = y.unwrap_or(Value::Mapping(Default::default()));
    let max_score = match y.get("max_score") {
        None => default_max,
        Some(Value::String(s)) if s == "unbounded" => None,
        Some(v) => match v.as_u64() {
            Some(n) if n <= 1_000_000_000 => Some(n as f64),
            _ => {
                return Err(invalid(format!(
                    "{file}: max_score must be a non-negative integer or unbounded"
                )))
            }
        },
    };
    let aggregation = match y.get("score_aggregation").map(|v| v.as_str()) {
        None => default_aggregation,
        Some(Some("pass-fail")) => Aggregation::PassFail,
        Some(Some("sum")) => Aggregation::Sum,
        Some(Some("min")) => Aggregation::Min,
        Some(_) => {
            return Err(invalid(format!(
                "{file}: score_aggregation must be pass-fail, sum or min"
            )))
        }
    };
    let require_pass = match y.get("require_pass") {
        None => Vec::new(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(Value::Sequence(v)) => v
            .iter()
            .map(|x| x.as_str().map(str::to_string))
            .collect::<Option<Vec<_>>>()
            .ok_or_else(|| invalid(format!("{file}: require_pass must be names of groups")))?,
        Some(_) => {
            return Err(invalid(format!(
                "{file}: require_pass must be a group's name or a list of them"
            )))
        }
    };
    Ok(ScoreGroup {
        name: name.to_string(),
        max_score,
        aggregation,
        require_pass,
        static_score: None,
    })
}

/// Keys of `test_group.yaml` this module reads.
pub const KEYS: [&str; 3] = ["max_score", "score_aggregation", "require_pass"];

#[cfg(test)]
mod tests {
    use super::*;
    use std::fs;

    fn scoring(files: &[(&str, &str)]) -> Result<Scoring, PackageError> {
        let t = tempfile::tempdir().unwrap();
        let data = t.path().join("data");
        fs::create_dir_all(data.join("secret")).unwrap();
        for (path, text) in files {
            let p = data.join(path);
            fs::create_dir_all(p.parent().unwrap()).unwrap();
            fs::write(p, text).unwrap();
        }
        Scoring::read(&data, &|p: &Path| {
            Ok(fs::read_to_string(p)
                .ok()
                .map(|t| serde_yaml::from_str(&t).unwrap()))
        })
    }

    fn t<'a>(name: &'a str, group: &'a str, accepted: bool) -> ScoredTest<'a> {
        ScoredTest {
            name,
            group,
            accepted,
            reported: Reported::default(),
            is_static: false,
        }
    }

    #[test]
    fn a_static_validation_case_takes_its_score_from_the_groups_tests() {
        let mut s = scoring(&[(
            "secret/g/test_group.yaml",
            "max_score: 100\nscore_aggregation: sum\n",
        )])
        .unwrap();
        s.set_static_score("secret/g", 20.0);
        let mut tests = vec![
            ScoredTest {
                is_static: true,
                ..t("secret/g/static", "secret/g", true)
            },
            t("secret/g/1", "secret/g", true),
            t("secret/g/2", "secret/g", false),
        ];
        tests[0].reported.multiplier = Some(0.5);
        let r = s.score(&tests).unwrap();
        // 10 of the static case's 20, 40 of each test's 80 / 2.
        assert_eq!(r.tests, vec![Some(10.0), Some(40.0), Some(0.0)]);
        assert_eq!(r.score, 50.0);
    }

    #[test]
    fn groups_with_pass_fail_sum_and_min_and_a_requirement() {
        let s = scoring(&[
            ("secret/a/test_group.yaml", "max_score: 20\n"),
            (
                "secret/b/test_group.yaml",
                "max_score: 30\nscore_aggregation: sum\n",
            ),
            (
                "secret/c/test_group.yaml",
                "max_score: 50\nscore_aggregation: min\nrequire_pass: [sample, secret/a]\n",
            ),
        ])
        .unwrap();
        assert_eq!(s.secret.max_score, Some(100.0));
        let mut tests = vec![
            t("sample/1", "sample", true),
            t("secret/a/1", "secret/a", true),
            t("secret/b/1", "secret/b", true),
            t("secret/b/2", "secret/b", false),
            t("secret/c/1", "secret/c", true),
        ];
        tests[4].reported.multiplier = Some(0.5);
        let r = s.score(&tests).unwrap();
        assert_eq!(r.score, 20.0 + 15.0 + 25.0);
        assert_eq!(r.groups[1], ("secret/b".to_string(), 15.0, Some(30.0)));
        assert_eq!(
            r.tests,
            vec![None, Some(20.0), Some(15.0), Some(0.0), Some(25.0)]
        );
        // A failed sample: group c is not scored.
        tests[0].accepted = false;
        assert_eq!(s.score(&tests).unwrap().score, 35.0);
    }

    #[test]
    fn secret_alone_sums_its_tests_out_of_100() {
        let s = scoring(&[]).unwrap();
        let tests = [
            t("secret/1", "secret", true),
            t("secret/2", "secret", false),
            t("secret/3", "secret", true),
            t("secret/4", "secret", true),
        ];
        let r = s.score(&tests).unwrap();
        assert_eq!(r.score, 75.0);
        assert!(r.groups.is_empty());
    }

    #[test]
    fn unbounded_scores_come_from_score_txt() {
        let s = scoring(&[("secret/test_group.yaml", "max_score: unbounded\n")]).unwrap();
        let mut tests = [t("secret/1", "secret", true)];
        assert!(s.score(&tests).unwrap_err().contains("no score.txt"));
        tests[0].reported.score = Some(12.5);
        assert_eq!(s.score(&tests).unwrap().score, 12.5);
        tests[0].reported.multiplier = Some(0.5);
        assert!(s.score(&tests).unwrap_err().contains("both"));
    }

    #[test]
    fn judge_errors_of_a_validator_are_named() {
        let s = scoring(&[("secret/g/test_group.yaml", "max_score: 100\n")]).unwrap();
        let mut tests = [t("secret/g/1", "secret/g", true)];
        tests[0].reported.score = Some(3.0);
        assert!(s.score(&tests).unwrap_err().contains("pass-fail group"));
        let s = scoring(&[]).unwrap();
        let mut tests = [t("secret/1", "secret", true)];
        tests[0].reported.score = Some(101.0);
        assert!(s.score(&tests).unwrap_err().contains("exceeds"));
        tests[0].reported = Reported {
            score: None,
            multiplier: Some(1.5),
        };
        assert!(s.score(&tests).unwrap_err().contains("outside [0, 1]"));
    }

    #[test]
    fn bad_group_settings_are_refused_naming_the_file_and_rule() {
        let bad = |files: &[(&str, &str)], want: &str| {
            let e = scoring(files).unwrap_err().to_string();
            assert!(e.contains(want), "{e}");
        };
        bad(
            &[("secret/g/x.in", "")],
            "data/secret/g/test_group.yaml: max_score is needed",
        );
        bad(
            &[("secret/test_group.yaml", "max_score: -3\n")],
            "max_score must be a non-negative integer",
        );
        bad(
            &[(
                "secret/g/test_group.yaml",
                "max_score: 10\nscore_aggregation: avg\n",
            )],
            "must be pass-fail, sum or min",
        );
        bad(
            &[
                (
                    "secret/a/test_group.yaml",
                    "max_score: 50\nrequire_pass: secret/b\n",
                ),
                ("secret/b/test_group.yaml", "max_score: 50\n"),
            ],
            "not sample or an earlier group",
        );
        bad(
            &[("sample/test_group.yaml", "max_score: 5\n")],
            "not permitted in sample",
        );
        bad(
            &[
                ("secret/test_group.yaml", "score_aggregation: pass-fail\n"),
                (
                    "secret/g/test_group.yaml",
                    "max_score: 100\nscore_aggregation: sum\n",
                ),
            ],
            "must be pass-fail, as secret's is",
        );
    }
}
