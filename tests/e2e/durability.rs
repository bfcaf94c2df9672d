//! Nothing accepted is lost: `kill -9` of the server under load, runner
//! crashes, and what operators see of the queue.

use std::io::BufRead;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum::http::StatusCode;
use coderun_core::Role;
use coderun_local::issuer::LocalIssuer;
use serde_json::{json, Value};

use crate::helpers::*;

struct Served {
    child: Child,
    base: String,
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The real binary on port 0; waits for its URL.
fn serve(data: &std::path::Path) -> Served {
    let mut child = Command::new(BIN)
        .args([
            "serve",
            "--addr",
            "127.0.0.1:0",
            "--workers",
            "2",
            "--rate-limit",
            "0",
            "--data",
        ])
        .arg(data)
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut out = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    let base = line
        .trim()
        .strip_prefix("coderun is serving on ")
        .unwrap_or_else(|| panic!("unexpected first line {line:?}"))
        .to_string();
    // Keep reading stdout so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in out.lines() {});
    Served { child, base }
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(30)))
        .http_status_as_error(false)
        .build()
        .into()
}

fn post(base: &str, path: &str, token: &str, body: &Value) -> (u16, Value) {
    let mut r = agent()
        .post(&format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .header("content-type", "application/json")
        .send(body.to_string().as_bytes())
        .unwrap();
    (
        r.status().as_u16(),
        serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap(),
    )
}

fn get(base: &str, path: &str, token: &str) -> Value {
    let mut r = agent()
        .get(&format!("{base}{path}"))
        .header("authorization", format!("Bearer {token}"))
        .call()
        .unwrap();
    serde_json::from_str(&r.body_mut().read_to_string().unwrap()).unwrap()
}

#[test]
fn kill_9_under_load_loses_and_duplicates_nothing() {
    let data = tempfile::tempdir().unwrap();
    let server = serve(data.path());
    let token = LocalIssuer::open(data.path())
        .unwrap()
        .token("ann", &[], Duration::from_secs(600))
        .unwrap();
    // Each run appends to no shared state; its output names its input.
    let src = "import time\nn = input()\ntime.sleep(0.15)\nprint('done', n)\n";
    let mut accepted = Vec::new();
    for i in 0..24 {
        let body =
            json!({"language": "python3", "source": src, "inputs": [{"stdin": format!("{i}\n")}]});
        let (status, job) = post(&server.base, "/runs", &token, &body);
        assert_eq!(status, 202, "{job}");
        accepted.push((i, job["id"].as_str().unwrap().to_string()));
    }
    // Some finish, some run, most wait: then the server dies at once.
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let done = accepted
            .iter()
            .filter(|(_, id)| {
                get(&server.base, &format!("/runs/{id}"), &token)["status"] == "COMPLETED"
            })
            .count();
        if done >= 3 {
            break;
        }
        assert!(Instant::now() < deadline, "nothing completed");
        std::thread::sleep(Duration::from_millis(50));
    }
    let pid = server.child.id() as i32;
    // SAFETY: signalling our own child.
    assert_eq!(unsafe { libc::kill(pid, libc::SIGKILL) }, 0);
    drop(server);
    // Its runners died with it (parent-death signal).
    let deadline = Instant::now() + Duration::from_secs(10);
    while !pids_with(&data.path().display().to_string()).is_empty() {
        assert!(Instant::now() < deadline, "runners outlived the server");
        std::thread::sleep(Duration::from_millis(50));
    }

    let server = serve(data.path());
    let deadline = Instant::now() + Duration::from_secs(120);
    for (i, id) in &accepted {
        loop {
            let run = get(&server.base, &format!("/runs/{id}"), &token);
            match run["status"].as_str().unwrap() {
                "COMPLETED" => {
                    assert_eq!(run["results"][0]["stdout"], format!("done {i}\n"), "{run}");
                    break;
                }
                "FAILED" => panic!("{id} failed: {run}"),
                _ => {
                    assert!(Instant::now() < deadline, "{id} never finished: {run}");
                    std::thread::sleep(Duration::from_millis(50));
                }
            }
        }
    }
    // Exactly the accepted runs exist: nothing lost, nothing doubled.
    let mut listed = Vec::new();
    let mut cursor = String::new();
    loop {
        let page = get(&server.base, &format!("/runs?limit=10{cursor}"), &token);
        listed.extend(
            page["items"]
                .as_array()
                .unwrap()
                .iter()
                .map(|j| j["id"].as_str().unwrap().to_string()),
        );
        match page["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => break,
        }
    }
    listed.sort();
    let mut expected: Vec<String> = accepted.iter().map(|(_, id)| id.clone()).collect();
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_that_crashes_twice_fails_the_job_with_a_reason() {
    let app = spawn_app().await;
    let t = app.token("ann", &[]);
    let r = app
        .post(
            "/runs",
            &t,
            run_body("python3", "import time\ntime.sleep(3)\nprint('late')", ""),
        )
        .await;
    let id = r.body["id"].as_str().unwrap().to_string();
    // The app's runners carry its blob directory on their command line.
    let label = app
        .data
        .path()
        .join("blobs")
        .canonicalize()
        .unwrap()
        .display()
        .to_string();
    for attempt in 0..2u32 {
        // Wait until this attempt's job runs, then kill every runner.
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = app
                .platform
                .ports()
                .jobs
                .get_job(&id)
                .await
                .unwrap()
                .unwrap();
            if job.status == coderun_core::Status::Running
                && job.attempts == attempt
                && !pids_with(&label).is_empty()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "attempt {attempt}: not running: {job:?}"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        let pids = pids_with(&label);
        for pid in &pids {
            // SAFETY: signalling runner processes this test found.
            unsafe { libc::kill(*pid, libc::SIGKILL) };
        }
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let job = app
                .platform
                .ports()
                .jobs
                .get_job(&id)
                .await
                .unwrap()
                .unwrap();
            if job.attempts > attempt || job.status.is_final() {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "attempt {attempt}: the crash went unnoticed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    let run = app.finished(&format!("/runs/{id}"), &t).await;
    assert_eq!(run["status"], "FAILED", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("2 times") && error.contains("signal 9"),
        "{error}"
    );

    // Operators see it.
    let admin = app.token("ada", &[Role::Admin]);
    let q = app.get("/admin/queue", &admin).await;
    assert_eq!(q.status, StatusCode::OK);
    assert_eq!(
        (q.body["failed"].as_u64(), q.body["workers"].as_u64()),
        (Some(1), Some(2)),
        "{q:?}"
    );
    let m = app.get("/metrics", &admin).await;
    let text = m.body.as_str().unwrap();
    assert!(text.contains("coderun_jobs{status=\"FAILED\"} 1"), "{text}");
    assert!(
        text.contains("coderun_job_latency_seconds_count{kind=\"run\"} 1"),
        "{text}"
    );
}

#[test]
fn run_and_judge_are_shortcuts_over_the_runner() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("hello.py");
    std::fs::write(&src, "print('hello', input())\n").unwrap();
    let stdin = dir.path().join("in.txt");
    std::fs::write(&stdin, "you\n").unwrap();
    let out = Command::new(BIN)
        .arg("run")
        .arg(&src)
        .arg("--stdin")
        .arg(&stdin)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (&r["status"], &r["stdout"]),
        (&json!("OK"), &json!("hello you\n"))
    );

    let pkg = problems_dir().join("divisor");
    let out = Command::new(BIN)
        .arg("judge")
        .arg(&pkg)
        .arg(pkg.join("submissions/wrong_answer/one.py"))
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let r: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(r["verdict"], "WA");
    let out = Command::new(BIN)
        .args(["run", "/nonexistent.py"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("nonexistent"));
}
