//! Built-in output checkers: token comparison (the default), float tolerance
//! and exact comparison, configured by Problem Package Format
//! `validator_flags`. Custom validators are run by the judge.

use std::fmt;

/// How a team's output is compared with the answer.
#[derive(Debug, Clone, PartialEq)]
pub struct Compare {
    pub mode: Mode,
    pub case_sensitive: bool,
    /// Absolute and relative tolerance for tokens that are numbers.
    pub float_abs: Option<f64>,
    pub float_rel: Option<f64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Tokens separated by any whitespace (the default).
    Tokens,
    /// Tokens, but whitespace must match exactly (`space_change_sensitive`).
    Whitespace,
    /// Byte for byte (`exact`).
    Exact,
}

impl Default for Compare {
    fn default() -> Self {
        Compare {
            mode: Mode::Tokens,
            // The format's default validator: case-insensitive unless told
            // `case_sensitive`.
            case_sensitive: false,
            float_abs: None,
            float_rel: None,
        }
    }
}

/// An unknown or malformed flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("validator_flags: {0}")]
pub struct FlagError(pub String);

impl Compare {
    /// Parses `validator_flags` (whitespace-separated words).
    pub fn from_flags(flags: &str) -> Result<Compare, FlagError> {
        let mut c = Compare::default();
        let mut words = flags.split_whitespace();
        while let Some(w) = words.next() {
            let mut number = |name: &str| -> Result<f64, FlagError> {
                let v = words
                    .next()
                    .ok_or_else(|| FlagError(format!("{name} needs a value")))?;
                let x: f64 = v
                    .parse()
                    .map_err(|_| FlagError(format!("{name}: {v:?} is not a number")))?;
                if !x.is_finite() || x < 0.0 {
                    return Err(FlagError(format!(
                        "{name}: {v} must be a non-negative number"
                    )));
                }
                Ok(x)
            };
            match w {
                "case_sensitive" => c.case_sensitive = true,
                "case_insensitive" => c.case_sensitive = false,
                "space_change_sensitive" => c.mode = Mode::Whitespace,
                "exact" => c.mode = Mode::Exact,
                "float_tolerance" => {
                    let x = number(w)?;
                    c.float_abs = Some(x);
                    c.float_rel = Some(x);
                }
                "float_absolute_tolerance" => c.float_abs = Some(number(w)?),
                "float_relative_tolerance" => c.float_rel = Some(number(w)?),
                other => return Err(FlagError(format!("unknown flag {other:?}"))),
            }
        }
        Ok(c)
    }

    /// Compares `team` output with the `answer`.
    pub fn check(&self, team: &[u8], answer: &[u8]) -> Judgement {
        match self.mode {
            Mode::Exact => {
                if team == answer {
                    Judgement::Accepted
                } else {
                    Judgement::wrong(first_difference(team, answer))
                }
            }
            Mode::Whitespace => self.tokens(split_keep_space(team), split_keep_space(answer)),
            Mode::Tokens => self.tokens(
                team.split(|b| b.is_ascii_whitespace())
                    .filter(|t| !t.is_empty()),
                answer
                    .split(|b| b.is_ascii_whitespace())
                    .filter(|t| !t.is_empty()),
            ),
        }
    }

    fn tokens<'a>(
        &self,
        mut team: impl Iterator<Item = &'a [u8]>,
        mut answer: impl Iterator<Item = &'a [u8]>,
    ) -> Judgement {
        let mut n = 0usize;
        loop {
            n += 1;
            match (team.next(), answer.next()) {
                (None, None) => return Judgement::Accepted,
                (Some(t), None) => {
                    return Judgement::wrong(format!("extra output at token {n}: {}", show(t)))
                }
                (None, Some(a)) => {
                    return Judgement::wrong(format!(
                        "output ended at token {n}; expected {}",
                        show(a)
                    ))
                }
                (Some(t), Some(a)) => {
                    if !self.token_matches(t, a) {
                        return Judgement::wrong(format!(
                            "token {n}: got {}, expected {}",
                            show(t),
                            show(a)
                        ));
                    }
                }
            }
        }
    }

    fn token_matches(&self, t: &[u8], a: &[u8]) -> bool {
        if t == a || (!self.case_sensitive && t.eq_ignore_ascii_case(a)) {
            return true;
        }
        if self.float_abs.is_none() && self.float_rel.is_none() {
            return false;
        }
        let (Some(x), Some(y)) = (parse_float(t), parse_float(a)) else {
            return false;
        };
        if x.is_nan() || y.is_nan() {
            return false;
        }
        let diff = (x - y).abs();
        self.float_abs.is_some_and(|e| diff <= e)
            || self.float_rel.is_some_and(|e| diff <= e * y.abs())
    }
}

fn parse_float(t: &[u8]) -> Option<f64> {
    let s = std::str::from_utf8(t).ok()?;
    // Only plain decimal notation counts as a number ("inf" and "nan" do not).
    if !s
        .bytes()
        .all(|b| b.is_ascii_digit() || b"+-.eE".contains(&b))
    {
        return None;
    }
    s.parse().ok()
}

/// Splits into tokens where runs of whitespace are tokens of their own,
/// ignoring only trailing whitespace at the very end.
fn split_keep_space(s: &[u8]) -> impl Iterator<Item = &[u8]> {
    let end = s
        .iter()
        .rposition(|b| !b.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    let s = &s[..end];
    let mut i = 0;
    std::iter::from_fn(move || {
        if i >= s.len() {
            return None;
        }
        let space = s[i].is_ascii_whitespace();
        let start = i;
        while i < s.len() && s[i].is_ascii_whitespace() == space {
            i += 1;
        }
        Some(&s[start..i])
    })
}

fn first_difference(team: &[u8], answer: &[u8]) -> String {
    let at = team
        .iter()
        .zip(answer)
        .position(|(a, b)| a != b)
        .unwrap_or(team.len().min(answer.len()));
    format!(
        "outputs differ at byte {at} (lengths {} and {})",
        team.len(),
        answer.len()
    )
}

fn show(t: &[u8]) -> String {
    let s = String::from_utf8_lossy(&t[..t.len().min(40)]);
    format!("{s:?}{}", if t.len() > 40 { "…" } else { "" })
}

/// A checker's decision on one test.
#[derive(Debug, Clone, PartialEq)]
pub enum Judgement {
    Accepted,
    Wrong(String),
}

impl Judgement {
    fn wrong(why: impl Into<String>) -> Judgement {
        Judgement::Wrong(why.into())
    }
}

impl fmt::Display for Judgement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Judgement::Accepted => f.write_str("accepted"),
            Judgement::Wrong(why) => write!(f, "wrong answer: {why}"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(c: &Compare, t: &str, a: &str) -> bool {
        c.check(t.as_bytes(), a.as_bytes()) == Judgement::Accepted
    }

    #[test]
    fn tokens_ignore_whitespace_and_case_unless_told_case_sensitive() {
        let c = Compare::default();
        assert!(ok(&c, "1  2\n\n3\r\n", "1 2 3"));
        assert!(ok(&c, "Yes", "YES"));
        assert!(!ok(
            &Compare::from_flags("case_sensitive").unwrap(),
            "Yes",
            "YES"
        ));
        assert!(!ok(&c, "1 2", "1 2 3"));
        assert!(!ok(&c, "1 2 3 4", "1 2 3"));
        assert!(!ok(&c, "", "0"));
        assert!(ok(&c, "", "\n"));
    }

    #[test]
    fn case_insensitive_flag() {
        let c = Compare::from_flags("case_insensitive").unwrap();
        assert!(ok(&c, "yes", "YES"));
    }

    #[test]
    fn float_tolerances_absolute_and_relative() {
        let c = Compare::from_flags("float_tolerance 1e-6").unwrap();
        assert!(ok(&c, "0.3333333", "0.333333333"));
        assert!(!ok(&c, "0.3334", "0.333333333"));
        assert!(ok(&c, "1000000.5", "1000000")); // relative 1e-6 of 1e6 = 1
        let abs = Compare::from_flags("float_absolute_tolerance 1e-3").unwrap();
        assert!(!ok(&abs, "1000000.5", "1000000"));
        assert!(ok(&abs, "2.0005", "2"));
        let rel = Compare::from_flags("float_relative_tolerance 0.01").unwrap();
        assert!(ok(&rel, "101", "100"));
        assert!(!ok(&rel, "0.02", "0.01"));
        // Non-numeric tokens are still compared as text.
        assert!(!ok(&c, "nan", "1"));
        assert!(ok(&c, "case 1: 2.0000001", "case 1: 2"));
    }

    #[test]
    fn exact_and_whitespace_sensitive_modes() {
        let e = Compare::from_flags("exact").unwrap();
        assert!(ok(&e, "a b\n", "a b\n"));
        assert!(!ok(&e, "a b", "a b\n"));
        let w = Compare::from_flags("space_change_sensitive").unwrap();
        assert!(ok(&w, "a b\n", "a b"));
        assert!(!ok(&w, "a  b", "a b"));
    }

    #[test]
    fn bad_flags_are_refused() {
        assert!(Compare::from_flags("float_tolerance").is_err());
        assert!(Compare::from_flags("float_tolerance x").is_err());
        assert!(Compare::from_flags("bogus").is_err());
    }
}
