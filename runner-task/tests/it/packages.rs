//! The example packages through `runner-task verify`: every submission of
//! every kind (pass-fail in all eight languages, custom validator,
//! interactive, scoring with groups) gets its expected verdict.

use std::path::Path;
use std::process::Command;

use crate::helpers::{bin, limits, problems_dir, runner, scaled};
use runner_task::sandbox::Profile;
use serde_json::json;

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap().flatten() {
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), dst).unwrap();
        }
    }
}

/// Verifies a copy of the package (verify may write `.timelimit`); returns
/// the report and the copy's `.timelimit`, if one was written. The copy
/// sits in a private directory (0700, as `mktemp -d` or a home makes):
/// wherever root can read a package, it verifies.
fn verify_saving(name: &str, extra: &[&str]) -> (serde_json::Value, Option<String>) {
    let (report, out, dir, _tmp) = verify_changed(name, extra, &|_| {});
    assert_eq!(
        report["disagreements"].as_array().unwrap().len(),
        0,
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{name}");
    (report, std::fs::read_to_string(dir.join(".timelimit")).ok())
}

/// Verifies a copy of the package changed by `change`, whatever the
/// report says; the copy lives as long as the returned directory.
fn verify_changed(
    name: &str,
    extra: &[&str],
    change: &dyn Fn(&Path),
) -> (
    serde_json::Value,
    std::process::Output,
    std::path::PathBuf,
    tempfile::TempDir,
) {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let dir = tmp.path().join(name);
    copy_dir(&problems_dir().join(name), &dir);
    change(&dir);
    let out = Command::new(bin())
        .args(extra)
        .arg("verify")
        .arg(&dir)
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{name}: no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (report, out, dir, tmp)
}

/// `runner-task judge` of a source against an example package: its result.
fn judge(extra: &[&str], package: &str, source: &Path) -> serde_json::Value {
    let out = Command::new(bin())
        .args(extra)
        .args(["judge", "--problem"])
        .arg(problems_dir().join(package))
        .arg(source)
        .output()
        .unwrap();
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{package}: no JSON result ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn verify(name: &str, extra: &[&str]) -> serde_json::Value {
    verify_saving(name, extra).0
}

#[test]
fn pass_fail_package_in_all_languages_with_derived_time_limit() {
    let (report, saved) = verify_saving("sum", &[]);
    assert_eq!(report["time_limit_derived"], true);
    // The slowest accepted run (the JVM's, 100-200 ms) sets it, so under
    // load it may round up to 2 s; the rounding itself is unit-tested.
    let limit = report["time_limit_ms"].as_u64().unwrap();
    assert!(
        limit % 1000 == 0 && (1000..=scaled(3000)).contains(&limit),
        "{limit}"
    );
    let saved: f64 = saved.expect(".timelimit written").trim().parse().unwrap();
    assert_eq!((saved * 1000.0) as u64, limit);
    let langs: std::collections::BTreeSet<String> = report["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["expected"] == "AC")
        .map(|s| {
            s["submission"]
                .as_str()
                .unwrap()
                .rsplit('.')
                .next()
                .unwrap()
                .to_string()
        })
        .collect();
    assert_eq!(langs.len(), 8, "{langs:?}");
}

#[test]
fn custom_validator_package() {
    let report = verify("divisor", &[]);
    // Submissions that are directories are judged as one program.
    for split in [
        "submissions/accepted/split",
        "submissions/accepted/split-cpp",
    ] {
        let row = report["submissions"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["submission"] == split)
            .unwrap_or_else(|| panic!("{split}: {report}"));
        assert_eq!(row["verdict"], "AC", "{row}");
    }
}

/// Judged on its samples alone (no secret data), with an output validator
/// that is a directory program in a directory of its own, its header
/// beside its source (problemtools' layout).
#[test]
fn samples_only_package_with_a_nested_validator_directory() {
    let report = verify("shout", &[]);
    let verdicts: Vec<&str> = report["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["AC", "WA"], "{report}");
}

#[test]
fn interactive_package() {
    verify("guess", &[]);
}

#[test]
fn scoring_package_with_groups() {
    let report = verify("subtasks", &[]);
    let partial = report["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["expected"] == "PA")
        .unwrap();
    assert_eq!(partial["score"], 30.0);
}

/// A 2025-09 scoring problem: `secret` worth 100 over a pass-fail group
/// and a summed group that requires it, with `submissions.yaml`
/// expectations per group, a DOMjudge `@EXPECTED_RESULTS@:` submission,
/// one left out as `.disabled`, and an answer validator.
#[test]
fn scoring_in_2025_09_with_the_expectations_of_submissions_yaml() {
    let report = verify("groups", &[]);
    let rows = report["submissions"].as_array().unwrap();
    let score = |name: &str| {
        let row = rows
            .iter()
            .find(|r| r["submission"].as_str().unwrap().ends_with(name))
            .unwrap_or_else(|| panic!("{name} not verified: {report}"));
        row["score"].as_f64().unwrap()
    };
    assert_eq!(score("accepted/sum.py"), 100.0);
    // All 40 of the small group, one large test of three: 20.
    assert_eq!(score("partial/int32.c"), 60.0);
    assert_eq!(score("mixed/crash.py"), 60.0);
    assert_eq!(score("rejected/zero.py"), 0.0);
    assert_eq!(
        rows.len(),
        4,
        "the .disabled submission is left out: {report}"
    );

    // Its answer validator checked every answer against its input.
    assert_eq!(
        report["answer_validation"]["validators"],
        serde_json::json!(["total"])
    );
    assert_eq!(report["answer_validation"]["inputs"], 6);
    let (report, out, _dir, _tmp) = verify_changed("groups", &[], &|d| {
        std::fs::write(d.join("data/secret/2-large/3.ans"), "16\n").unwrap();
    });
    assert_eq!(out.status.code(), Some(1));
    let refused = &report["answer_validation"]["failures"];
    assert_eq!(refused.as_array().unwrap().len(), 1, "{report}");
    assert_eq!(refused[0]["test"], "secret/2-large/3");
    assert!(
        refused[0]["message"]
            .as_str()
            .unwrap()
            .contains("expected the total 15, the answer says ['16']"),
        "{report}"
    );

    // Its input validator, a C++ program its `build` script compiles,
    // refuses an input out of bounds.
    let (report, out, _dir, _tmp) = verify_changed("groups", &[], &|d| {
        std::fs::write(
            d.join("data/secret/1-small/1.in"),
            "11\n1 2 3 4 5 6 7 8 9 10 11\n",
        )
        .unwrap();
    });
    assert_eq!(out.status.code(), Some(1));
    let refused = &report["input_validation"]["failures"];
    assert_eq!(refused[0]["validator"], "bounds", "{report}");
    assert_eq!(refused[0]["test"], "secret/1-small/1", "{report}");

    // An expectation not met is named, and verify fails.
    let (report, out, _dir, _tmp) = verify_changed("groups", &[], &|d| {
        let yaml = d.join("submissions/submissions.yaml");
        let text = std::fs::read_to_string(&yaml).unwrap();
        std::fs::write(&yaml, text.replace("score: 20", "score: [30, 60]")).unwrap();
    });
    assert_eq!(out.status.code(), Some(1));
    let unmet = &report["disagreements"][0];
    assert_eq!(
        unmet["submission"], "submissions/partial/int32.c",
        "{report}"
    );
    assert_eq!(
        unmet["unmet"],
        serde_json::json!(["score 20 on secret/2-large, not within [30, 60]"])
    );
}

#[test]
fn packages_verify_in_the_restricted_profile_too() {
    // Scoring, interactive, custom validator, multi-pass, and build/run
    // validators with include/.
    for name in ["subtasks", "guess", "divisor", "twice", "grader", "groups"] {
        verify(
            name,
            &["--profile", "restricted", "--min-isolation", "restricted"],
        );
    }
}

/// Multi-pass: the validator's `nextpass.in` is the next run's input, its
/// feedback directory kept between passes; the second pass decides.
#[test]
fn multi_pass_package() {
    verify("twice", &[]);
    let r = judge(
        &[],
        "twice",
        &problems_dir().join("twice/submissions/wrong_answer/first_pass_only.py"),
    );
    assert_eq!(r["verdict"], "WA", "{r}");
    let message = r["tests"][0]["message"].as_str().unwrap_or_default();
    assert!(message.starts_with("pass 2:"), "{r}");
}

/// Interactive multi-pass: three passes, each talking with the validator,
/// which counts them in a feedback file it rewrites every pass (the
/// validator of the next pass may run as another uid). The wrong
/// submission fails only on test 2's third pass, in both profiles.
#[test]
fn interactive_multi_pass_package() {
    for extra in [
        &[][..],
        &["--profile", "restricted", "--min-isolation", "restricted"][..],
    ] {
        verify("relay", extra);
        let r = judge(
            extra,
            "relay",
            &problems_dir().join("relay/submissions/wrong_answer/past_100.py"),
        );
        assert_eq!(r["verdict"], "WA", "{r}");
        let failed = r["tests"]
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["verdict"] == "WA")
            .unwrap();
        assert_eq!(failed["name"], "secret/2", "{r}");
        assert_eq!(
            failed["message"], "pass 3: for 101 expected 202, got ['101']",
            "{r}"
        );
    }
}

/// `include/`: C++ submissions are a function the package's grader calls
/// (its `grader.cpp` and `total.h` join them); Python, with no include of
/// its own, is judged as it is. The output validator is a `run` script,
/// and a static validator reads every submission first.
#[test]
fn included_files_join_the_submissions_of_their_language() {
    verify("grader", &[]);
    let judge = |file: &str| {
        judge(
            &[],
            "grader",
            &problems_dir().join("grader/submissions").join(file),
        )
    };
    assert_eq!(judge("accepted/total.cpp")["verdict"], "AC");
    let wrong = judge("wrong_answer/int_total.cpp");
    assert_eq!(wrong["verdict"], "WA", "{wrong}");
    // The static validation case first (accepted), the sample, then:
    let names: Vec<&str> = wrong["tests"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["secret/static_validation", "sample/1", "secret/1"],
        "{wrong}"
    );
    // Its output validator is a `run` script calling the Python beside it.
    let said = wrong["tests"][2]["message"].as_str().unwrap_or_default();
    assert!(
        said.starts_with("expected ['4000000000005'], got"),
        "{wrong}"
    );
    // Its static validator reads the submission's files first and refuses
    // std::accumulate: a static validation test case, WA, before any test.
    let refused = judge("wrong_answer/accumulate.cpp");
    assert_eq!(refused["verdict"], "WA", "{refused}");
    let first = &refused["tests"][0];
    assert_eq!(
        (&first["name"], &first["verdict"]),
        (&json!("secret/static_validation"), &json!("WA")),
        "{refused}"
    );
    assert_eq!(first["message"], "main.cpp calls std::accumulate");
    assert_eq!(
        refused["tests"].as_array().unwrap().len(),
        1,
        "judging stops there: {refused}"
    );
}

/// `.files`: each test's files are in the working directory of the
/// submission and of the input validators, for that test only, in both
/// profiles.
#[test]
fn a_tests_files_are_in_the_working_directory_for_that_test_alone() {
    let probe = tempfile::tempdir().unwrap();
    let source = probe.path().join("probe.py");
    std::fs::write(
        &source,
        "import os\nword = input()\n\
         # Only secret/1 has notes/: no test's files stay for the next.\n\
         assert os.path.exists('notes/readme.txt') == (word == 'plum')\n\
         print(open('words.txt').read().split('\\n').index(word) + 1)\n",
    )
    .unwrap();
    for extra in [
        &[][..],
        &["--profile", "restricted", "--min-isolation", "restricted"][..],
    ] {
        let report = verify("lookup", extra);
        assert_eq!(
            report["input_validation"]["validators"],
            serde_json::json!(["listed"])
        );
        let r = judge(extra, "lookup", &source);
        assert_eq!(r["verdict"], "AC", "{r}");
        assert_eq!(r["tests"].as_array().unwrap().len(), 3, "{r}");
    }
}

/// A parked run is set up but its program starts only when released: a
/// judge prepares the next test's sandbox while the current one runs.
#[test]
fn a_parked_run_starts_its_program_only_when_released() {
    let r = runner(Profile::Full);
    let tc = r.runner.toolchain("python3").unwrap();
    let program = r
        .runner
        .prepare(tc, b"import time\nprint(time.monotonic_ns())\n")
        .unwrap();
    let mut parked = r
        .runner
        .park(
            &program,
            limits(2000, 256),
            &[],
            runner_task::sandbox::Stdin::Null,
            None,
        )
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1000));
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid out-parameter.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut now) };
    let released = now.tv_sec as u128 * 1_000_000_000 + now.tv_nsec as u128;
    parked.start().unwrap();
    let out = r.runner.finish(&program, parked).unwrap();
    let started: u128 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    assert!(started > released, "the program ran before it was released");
    assert!(
        out.wall_ms < scaled(1000),
        "wall time counts from the release: {out:?}"
    );

    // Never released: dropped, it leaves nothing behind.
    let tc = r.runner.toolchain("python3").unwrap();
    let p2 = r.runner.prepare(tc, b"print(1)\n").unwrap();
    drop(
        r.runner
            .park(
                &p2,
                limits(2000, 256),
                &[],
                runner_task::sandbox::Stdin::Null,
                None,
            )
            .unwrap(),
    );
    r.assert_host_clean();
}

/// Every input validator runs on every input; an input it refuses is
/// reported, test and validator named, and verify exits 1.
#[test]
fn input_validators_check_every_input() {
    let report = verify("mean", &[]);
    assert_eq!(
        report["input_validation"]["validators"],
        serde_json::json!(["validate"])
    );
    assert_eq!(report["input_validation"]["inputs"], 4);
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("mean");
    copy_dir(&problems_dir().join("mean"), &dir);
    std::fs::write(dir.join("data/secret/bad.in"), "2\n1 x\n").unwrap();
    std::fs::write(dir.join("data/secret/bad.ans"), "0\n").unwrap();
    let out = Command::new(bin())
        .arg("verify")
        .arg(&dir)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let failures = report["input_validation"]["failures"].as_array().unwrap();
    assert_eq!(failures.len(), 1, "{report}");
    assert_eq!(failures[0]["test"], "secret/bad");
    assert_eq!(failures[0]["validator"], "validate");
    assert!(String::from_utf8_lossy(&out.stderr).contains("refused secret/bad"));
}

/// Tests give the submission arguments, their own or their group's.
#[test]
fn tests_pass_their_arguments_to_the_submission() {
    verify("arguments", &[]);
}

/// Each test group's flags reach the default validator, the nearest
/// group's first: rounding to 0.1 passes the rough group's tolerance and
/// fails the package-wide one.
#[test]
fn test_groups_give_the_validator_their_own_flags() {
    verify("mean", &[]);
    let t = runner(Profile::Full);
    let mut pkg = runner_task::package::Package::load(&problems_dir().join("mean")).unwrap();
    let rounded =
        std::fs::read(problems_dir().join("mean/submissions/wrong_answer/rounded.py")).unwrap();
    let program = t
        .runner
        .prepare(t.runner.toolchain("python3").unwrap(), &rounded)
        .unwrap();
    let opts = runner_task::judge::Options {
        time_limit_ms: scaled(2000),
        stop_on_failure: false,
    };
    let all = pkg.tests.clone();
    let verdict_in = |pkg: &runner_task::package::Package| {
        let problem = runner_task::judge::Problem::prepare(&t.runner, pkg).unwrap();
        problem.judge(&t.runner, &program, opts).unwrap().verdict
    };
    pkg.tests = all
        .iter()
        .filter(|c| c.group == "secret/rough")
        .cloned()
        .collect();
    assert_eq!(verdict_in(&pkg), runner_task::protocol::Verdict::AC);
    pkg.tests = all
        .iter()
        .filter(|c| c.group == "secret")
        .cloned()
        .collect();
    assert_eq!(verdict_in(&pkg), runner_task::protocol::Verdict::WA);
}
