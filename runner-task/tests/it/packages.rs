//! The example packages through `runner-task verify`: every submission of
//! every kind (pass-fail in all eight languages, custom validator,
//! interactive, scoring with groups) gets its expected verdict.

use std::path::Path;
use std::process::Command;

use crate::helpers::{bin, limits, problems_dir, runner, scaled};
use runner_task::sandbox::Profile;

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
    let tmp = tempfile::tempdir().unwrap();
    std::fs::set_permissions(
        tmp.path(),
        std::os::unix::fs::PermissionsExt::from_mode(0o700),
    )
    .unwrap();
    let dir = tmp.path().join(name);
    copy_dir(&problems_dir().join(name), &dir);
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
    assert_eq!(
        report["disagreements"].as_array().unwrap().len(),
        0,
        "{name}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(out.status.code(), Some(0), "{name}");
    (report, std::fs::read_to_string(dir.join(".timelimit")).ok())
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
    verify("divisor", &[]);
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

#[test]
fn packages_verify_in_the_restricted_profile_too() {
    verify(
        "subtasks",
        &["--profile", "restricted", "--min-isolation", "restricted"],
    );
    verify(
        "guess",
        &["--profile", "restricted", "--min-isolation", "restricted"],
    );
    verify(
        "divisor",
        &["--profile", "restricted", "--min-isolation", "restricted"],
    );
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
