//! The CLI contract other tools script against: JSON on stdout, exit codes,
//! fail-closed isolation, and `job` over files and presigned-style URLs.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::process::Command;

use crate::helpers::{bin, problems_dir};

fn json(out: &std::process::Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

#[test]
fn run_prints_the_documented_fields() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("echo.py");
    std::fs::write(
        &src,
        "import sys\nprint(input()[::-1], sys.argv[1])\nsys.exit(3)\n",
    )
    .unwrap();
    let stdin = dir.path().join("in.txt");
    std::fs::write(&stdin, "olleh\n").unwrap();
    let out = Command::new(bin())
        .args(["run", "--stdin"])
        .arg(&stdin)
        .arg(&src)
        .arg("arg1")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "a failing program is not a CLI failure"
    );
    let v = json(&out);
    assert_eq!(v["status"], "RE");
    assert_eq!(v["stdout"], "hello arg1\n");
    assert_eq!(v["exit_code"], 3);
    for field in [
        "stderr",
        "signal",
        "time_ms",
        "wall_ms",
        "memory_kb",
        "isolation",
    ] {
        assert!(v.get(field).is_some(), "missing {field}");
    }
}

#[test]
fn compile_errors_and_usage_errors() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("bad.c");
    std::fs::write(&src, "int main( {").unwrap();
    let out = Command::new(bin()).arg("run").arg(&src).output().unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v = json(&out);
    assert_eq!(v["status"], "CE");
    assert!(v["compile_output"].as_str().unwrap().contains("error"));

    let out = Command::new(bin())
        .args(["run", "--language", "cobol"])
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown language"));

    let out = Command::new(bin())
        .args(["run", "--time-limit", "999999999"])
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("time_ms"));
}

#[test]
fn insufficient_isolation_fails_closed_and_says_why() {
    let dir = tempfile::tempdir().unwrap();
    let src = dir.path().join("a.py");
    std::fs::write(&src, "print(1)").unwrap();
    let out = Command::new(bin())
        .args(["--profile", "restricted", "run"])
        .arg(&src)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("user_namespace") && err.contains("pivot_root"),
        "{err}"
    );
}

#[test]
fn languages_are_all_available_with_versions() {
    let out = Command::new(bin()).arg("languages").output().unwrap();
    let v = json(&out);
    let langs = v.as_array().unwrap();
    assert_eq!(langs.len(), runner_task::lang::LANGUAGES.len());
    assert!(langs.len() >= 25);
    for l in langs {
        assert_eq!(l["available"], true, "{l}");
        assert!(l["version"].as_str().is_some_and(|s| !s.is_empty()), "{l}");
        assert!(l["release"].as_str().is_some_and(|s| !s.is_empty()), "{l}");
    }
    let python = langs.iter().find(|l| l["id"] == "python3").unwrap();
    assert_eq!(python["libraries"], serde_json::json!(["numpy", "scipy"]));
    assert!(python["packages"]
        .as_array()
        .unwrap()
        .contains(&"python3-numpy".into()));
}

#[test]
fn judge_infers_the_language_and_reports_tests() {
    let sum = problems_dir().join("subtasks");
    let out = Command::new(bin())
        .args(["judge", "--problem"])
        .arg(&sum)
        .arg(sum.join("submissions/partially_accepted/int32.c"))
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(v["verdict"], "PA");
    assert_eq!(v["score"], 30.0);
    let tests = v["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 5);
    let large: Vec<&serde_json::Value> = tests
        .iter()
        .filter(|t| t["group"] == "secret/large")
        .collect();
    assert_eq!(large.len(), 2);
    assert!(large.iter().all(|t| t["verdict"] == "WA"));
    assert!(tests
        .iter()
        .filter(|t| t["group"] == "secret/small")
        .all(|t| t["verdict"] == "AC"));
}

#[test]
fn job_reads_a_manifest_file_and_writes_the_result_whole() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("manifest.json");
    let result = dir.path().join("result.json");
    std::fs::write(
        &manifest,
        r#"{"job_id":"j1","language":"python3","source":"print(int(input())*2)","work":{"kind":"run","inputs":[{"stdin":"21\n"},{"stdin":"x\n"}]}}"#,
    )
    .unwrap();
    let out = Command::new(bin())
        .arg("job")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--result")
        .arg(&result)
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(v["state"], "completed");
    assert_eq!(v["runs"][0]["stdout"], "42\n");
    assert_eq!(v["runs"][1]["status"], "RE");
    assert!(!dir.path().join("result.partial").exists());

    // A judged job against a package on disk.
    let pkg = problems_dir().join("divisor");
    let m = serde_json::json!({"job_id":"j2","language":"python3","source":"input()\nprint(1)\n",
        "work":{"kind":"judge","problem":{"path":pkg}}});
    std::fs::write(&manifest, m.to_string()).unwrap();
    let out = Command::new(bin())
        .arg("job")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--result")
        .arg(&result)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let v: serde_json::Value = serde_json::from_slice(&std::fs::read(&result).unwrap()).unwrap();
    assert_eq!(v["judge"]["verdict"], "WA");

    // An invalid manifest is a usage error, and nothing is written.
    std::fs::remove_file(&result).unwrap();
    std::fs::write(
        &manifest,
        r#"{"job_id":"../x","language":"c","source":"","work":{"kind":"run","inputs":[]}}"#,
    )
    .unwrap();
    let out = Command::new(bin())
        .arg("job")
        .arg("--manifest")
        .arg(&manifest)
        .arg("--result")
        .arg(&result)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(!result.exists());
}

/// A minimal HTTP server standing in for presigned S3 URLs: serves one GET
/// and records one PUT.
fn serve_once(manifest: String) -> (String, std::thread::JoinHandle<String>) {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let mut put_body = String::new();
        for _ in 0..2 {
            let (stream, _) = listener.accept().unwrap();
            let mut reader = BufReader::new(stream.try_clone().unwrap());
            let mut request_line = String::new();
            reader.read_line(&mut request_line).unwrap();
            let mut len = 0usize;
            loop {
                let mut h = String::new();
                reader.read_line(&mut h).unwrap();
                if h == "\r\n" || h.is_empty() {
                    break;
                }
                if let Some(v) = h.to_ascii_lowercase().strip_prefix("content-length:") {
                    len = v.trim().parse().unwrap();
                }
            }
            let mut stream = stream;
            if request_line.starts_with("GET /manifest?X-Amz-Signature=abc") {
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{manifest}",
                    manifest.len()
                )
                .unwrap();
            } else if request_line.starts_with("PUT /result?X-Amz-Signature=def") {
                let mut body = vec![0; len];
                reader.read_exact(&mut body).unwrap();
                put_body = String::from_utf8(body).unwrap();
                write!(
                    stream,
                    "HTTP/1.1 200 OK\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                .unwrap();
            } else {
                write!(
                    stream,
                    "HTTP/1.1 403 Forbidden\r\ncontent-length: 0\r\nconnection: close\r\n\r\n"
                )
                .unwrap();
            }
        }
        put_body
    });
    (base, handle)
}

#[test]
fn job_over_presigned_urls() {
    let manifest = r##"{"job_id":"j3","language":"c","source":"#include <stdio.h>\nint main(void){puts(\"hi\");return 0;}","work":{"kind":"run","inputs":[{}]}}"##;
    let (base, server) = serve_once(manifest.to_string());
    // As on Fargate: the URLs in the environment, not on the command line.
    let out = Command::new(bin())
        .arg("job")
        .env(
            "CODERUN_MANIFEST",
            format!("{base}/manifest?X-Amz-Signature=abc"),
        )
        .env(
            "CODERUN_RESULT",
            format!("{base}/result?X-Amz-Signature=def"),
        )
        .env_remove("AWS_ACCESS_KEY_ID")
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let body = server.join().unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["job_id"], "j3");
    assert_eq!(v["runs"][0]["stdout"], "hi\n");
}

#[test]
fn run_takes_a_directory_as_one_program() {
    let dir = problems_dir().join("divisor/submissions/accepted/split");
    let input = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(input.path(), "15\n").unwrap();
    let out = Command::new(bin())
        .arg("run")
        .arg("--stdin")
        .arg(input.path())
        .arg(&dir)
        .output()
        .unwrap();
    let v = json(&out);
    assert_eq!(
        (v["status"].as_str(), v["stdout"].as_str()),
        (Some("OK"), Some("3\n")),
        "{v}"
    );
    // Sources of two languages with no --language to choose.
    let mixed = tempfile::tempdir().unwrap();
    std::fs::write(mixed.path().join("a.py"), "").unwrap();
    std::fs::write(mixed.path().join("b.rb"), "").unwrap();
    let out = Command::new(bin())
        .arg("run")
        .arg(mixed.path())
        .output()
        .unwrap();
    assert_ne!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stderr).contains("several languages"));
}
