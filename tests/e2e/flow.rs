//! The whole flow over real HTTP: playground, problem import, submissions,
//! history, profile, sessions, logs (paged and streamed) and callbacks.

use std::io::{BufRead, BufReader};
use std::time::Duration;

use axum::http::StatusCode;
use coderun_core::Role;
use serde_json::{json, Value};

use crate::helpers::*;

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .timeout_global(Some(Duration::from_secs(60)))
        .http_status_as_error(false)
        .build()
        .into()
}

/// A blocking HTTP call on a blocking thread: the server shares our runtime.
async fn http(
    method: &'static str,
    url: String,
    token: String,
    body: Option<Value>,
) -> (u16, Value) {
    tokio::task::spawn_blocking(move || {
        let a = agent();
        let auth = format!("Bearer {token}");
        let mut resp = match (method, body) {
            ("GET", _) => a.get(&url).header("authorization", &auth).call(),
            (_, Some(b)) => a
                .post(&url)
                .header("authorization", &auth)
                .header("content-type", "application/json")
                .send(b.to_string().as_bytes()),
            (_, None) => a.post(&url).header("authorization", &auth).send_empty(),
        }
        .unwrap();
        let status = resp.status().as_u16();
        let text = resp.body_mut().read_to_string().unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn playground_import_submit_history_profile() {
    let app = spawn_app().await;
    let ann = app.token("ann", &[]);
    let setter = app.token("sam", &[Role::Setter]);

    // Playground: two inputs, answered within ?wait.
    let body = json!({"language": "python3", "source": "import sys\nprint(sys.stdin.read().upper(), sys.argv[1:])",
        "inputs": [{"stdin": "abc"}, {"stdin": "x", "args": ["-v"]}]});
    let (status, run) = http("POST", app.url("/runs?wait=10"), ann.clone(), Some(body)).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["status"], "COMPLETED");
    assert_eq!(run["outcome"], "OK");
    assert_eq!(run["results"][0]["stdout"], "ABC []\n");
    assert_eq!(run["results"][1]["stdout"], "X ['-v']\n");
    assert!(run["results"][0]["memory_kb"].as_u64().unwrap() > 0);
    assert!(
        run["isolation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "seccomp"),
        "{run}"
    );
    for t in ["created_at", "started_at", "finished_at", "latency_ms"] {
        assert!(run[t].as_i64().is_some(), "{t}: {run}");
    }

    // A setter imports a package; its report lists every submission.
    let r = app.import(&setter, &problems_dir().join("sum"), "").await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["id"], "sum");
    assert_eq!(r.body["verify_report"]["disagreements"], json!([]));
    assert!(
        r.body["verify_report"]["submissions"]
            .as_array()
            .unwrap()
            .len()
            > 20
    );
    let r = app.import(&setter, &problems_dir().join("sum"), "").await;
    assert_eq!(r.status, StatusCode::CONFLICT);
    let r = app
        .import(&setter, &problems_dir().join("sum"), "?replace=true")
        .await;
    assert_eq!(
        (r.status, &r.body["version"]),
        (StatusCode::OK, &json!(2)),
        "{r:?}"
    );

    // An accepted and a wrong solution.
    let ac = json!({"problem_id": "sum", "language": "python3", "source": "a,b=map(int,input().split())\nprint(a+b)"});
    let wa = json!({"problem_id": "sum", "language": "c", "source": "#include <stdio.h>\nint main(){long a,b;scanf(\"%ld %ld\",&a,&b);printf(\"%ld\\n\",a-b);}"});
    let (s, ac_job) = http("POST", app.url("/submissions"), ann.clone(), Some(ac)).await;
    assert_eq!(s, 202, "{ac_job}");
    let (s, wa_job) = http("POST", app.url("/submissions"), ann.clone(), Some(wa)).await;
    assert_eq!(s, 202);
    let ac = app
        .finished(
            &format!("/submissions/{}", ac_job["id"].as_str().unwrap()),
            &ann,
        )
        .await;
    let wa = app
        .finished(
            &format!("/submissions/{}", wa_job["id"].as_str().unwrap()),
            &ann,
        )
        .await;
    assert_eq!(
        (&ac["status"], &ac["verdict"]),
        (&json!("COMPLETED"), &json!("AC")),
        "{ac}"
    );
    assert_eq!(wa["verdict"], "WA", "{wa}");
    let tests = ac["tests"].as_array().unwrap();
    assert_eq!(tests.len(), 4);
    assert!(tests
        .iter()
        .all(|t| t["verdict"] == "AC" && t["time_ms"].is_u64() && t["memory_kb"].is_u64()));
    // Hidden tests: verdict, time and memory only.
    let wa_tests = wa["tests"].as_array().unwrap();
    assert_eq!(wa_tests[0]["sample"], true);
    for t in wa_tests.iter().filter(|t| t["sample"] == false) {
        assert!(t.get("message").is_none(), "hidden feedback leaked: {t}");
    }
    let text = wa.to_string();
    for secret in std::fs::read_dir(problems_dir().join("sum/data/secret")).unwrap() {
        let data = std::fs::read_to_string(secret.unwrap().path()).unwrap();
        assert!(
            !text.contains(data.trim()) || data.trim().len() < 3,
            "secret data leaked: {data}"
        );
    }

    // History, newest first, filtered; the profile counts the solve.
    let (_, all) = http("GET", app.url("/submissions"), ann.clone(), None).await;
    let ids: Vec<&Value> = all["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| &j["id"])
        .collect();
    assert_eq!(ids, [&wa_job["id"], &ac_job["id"]]);
    let (_, only_wa) = http(
        "GET",
        app.url("/submissions?verdict=WA&problem_id=sum"),
        ann.clone(),
        None,
    )
    .await;
    assert_eq!(only_wa["items"].as_array().unwrap().len(), 1);
    let (_, page) = http("GET", app.url("/submissions?limit=1"), ann.clone(), None).await;
    let cursor = page["next_cursor"].as_str().unwrap();
    let (_, page2) = http(
        "GET",
        app.url(&format!("/submissions?limit=1&cursor={cursor}")),
        ann.clone(),
        None,
    )
    .await;
    assert_eq!(page2["items"][0]["id"], ac_job["id"]);
    assert_eq!(page2["next_cursor"], Value::Null);
    let (_, me) = http("GET", app.url("/me"), ann.clone(), None).await;
    assert_eq!(
        (me["solved"].as_u64(), me["submissions"].as_u64()),
        (Some(1), Some(2)),
        "{me}"
    );
    assert_eq!(me["problems"][0]["problem_id"], "sum");
    assert_eq!(me["problems"][0]["attempts"], 2);

    // A batch, and a setter's rejudge (a new submission, same owner).
    let batch = json!({"submissions": [
        {"problem_id": "sum", "language": "python3", "source": "print(sum(map(int,input().split())))"},
        {"problem_id": "sum", "language": "python3", "source": "while True: pass"}]});
    let (s, b) = http(
        "POST",
        app.url("/submissions/batch"),
        ann.clone(),
        Some(batch),
    )
    .await;
    assert_eq!(s, 202, "{b}");
    let ids: Vec<String> = b["submissions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["id"].as_str().unwrap().into())
        .collect();
    let v0 = app
        .finished(&format!("/submissions/{}", ids[0]), &ann)
        .await;
    let v1 = app
        .finished(&format!("/submissions/{}", ids[1]), &ann)
        .await;
    assert_eq!(
        (&v0["verdict"], &v1["verdict"]),
        (&json!("AC"), &json!("TLE"))
    );
    let (s, re) = http(
        "POST",
        app.url(&format!("/submissions/{}/rejudge", ids[1])),
        setter.clone(),
        None,
    )
    .await;
    assert_eq!(s, 202, "{re}");
    let re = app
        .finished(
            &format!("/submissions/{}", re["id"].as_str().unwrap()),
            &ann,
        )
        .await;
    assert_eq!(
        (&re["verdict"], &re["rejudge_of"]),
        (&json!("TLE"), &json!(ids[1]))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_keep_code_and_run_it() {
    let app = spawn_app().await;
    let t = app.token("ann", &[]);
    let s = app.post("/sessions", &t, json!({"title": "scratch", "language": "python3", "source": "print(input()*2)", "stdin": "ab"})).await;
    assert_eq!(s.status, StatusCode::CREATED, "{s:?}");
    let id = s.body["id"].as_str().unwrap();
    let r = app
        .call(
            "PATCH",
            &format!("/sessions/{id}"),
            Some(&t),
            Some(json!({"stdin": "xy"})),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["version"], &r.body["stdin"]),
        (StatusCode::OK, &json!(2), &json!("xy"))
    );
    let r = app
        .call(
            "PATCH",
            &format!("/sessions/{id}"),
            Some(&t),
            Some(json!({"language": "cobol"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app
        .post(&format!("/sessions/{id}/run?wait=10"), &t, json!(null))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["results"][0]["stdout"], "xyxy\n");
    assert_eq!(r.body["session_id"], json!(id));
    assert_eq!(
        app.get(&format!("/sessions/{id}"), &t).await.body["title"],
        "scratch"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn logs_page_by_line_and_stream_as_server_sent_events() {
    let app = spawn_app().await;
    let t = app.token("ann", &[]);
    let src = "import sys, time\nfor i in range(250):\n    print('line', i)\nprint('oops', file=sys.stderr)\ntime.sleep(0.5)\n";
    let r = app.post("/runs", &t, run_body("python3", src, "")).await;
    let id = r.body["id"].as_str().unwrap().to_string();

    // Streamed: status changes, every line, then `end`.
    let url = app.url(&format!("/runs/{id}/logs?follow=true&limit=100"));
    let token = t.clone();
    let events = tokio::task::spawn_blocking(move || {
        let mut resp = agent()
            .get(&url)
            .header("authorization", format!("Bearer {token}"))
            .call()
            .unwrap();
        assert_eq!(resp.headers()["content-type"], "text/event-stream");
        let reader = BufReader::new(resp.body_mut().as_reader());
        let mut events = Vec::new();
        let mut event = String::new();
        for line in reader.lines() {
            let line = line.unwrap();
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                events.push((event.clone(), d.to_string()));
                if event == "end" {
                    break;
                }
            }
        }
        events
    })
    .await
    .unwrap();
    let lines: Vec<&str> = events
        .iter()
        .filter(|(e, _)| e == "line")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(lines.len(), 250, "{events:?}");
    assert_eq!(lines[249], "line 249");
    let statuses: Vec<&str> = events
        .iter()
        .filter(|(e, _)| e == "status")
        .map(|(_, d)| d.as_str())
        .collect();
    assert_eq!(statuses.last(), Some(&"COMPLETED"), "{statuses:?}");
    assert_eq!(
        events.last().unwrap(),
        &("end".to_string(), "COMPLETED".to_string())
    );

    // Paged: three pages of stdout, stderr apart.
    let mut cursor = String::new();
    let mut got = Vec::new();
    loop {
        let r = app
            .get(&format!("/runs/{id}/logs?limit=100{cursor}"), &t)
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        got.extend(r.body["lines"].as_array().unwrap().iter().cloned());
        match r.body["next_cursor"].as_str() {
            Some(c) => cursor = format!("&cursor={c}"),
            None => {
                assert_eq!(r.body["complete"], true);
                break;
            }
        }
    }
    assert_eq!(got.len(), 250);
    assert_eq!(got[0], "line 0\n");
    let r = app.get(&format!("/runs/{id}/logs?stream=stderr"), &t).await;
    assert_eq!(r.body["lines"], json!(["oops\n"]));
    let r = app.get(&format!("/runs/{id}/logs?input=3"), &t).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
    let r = app.get(&format!("/runs/{id}/logs?stream=video"), &t).await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

#[tokio::test(flavor = "multi_thread")]
async fn callbacks_are_signed_posts() {
    let app = spawn_app().await;
    let t = app.token("ann", &[]);
    let (port, received) = capture_one_request();
    let mut body = run_body("python3", "print(7)", "");
    body["callback_url"] = json!(format!("http://127.0.0.1:{port}/hook"));
    let r = app.post("/runs", &t, body).await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let (headers, body) = tokio::task::spawn_blocking(move || received.join().unwrap())
        .await
        .unwrap();
    let header = |name: &str| {
        headers
            .iter()
            .find_map(|h| {
                let (k, v) = h.split_once(": ")?;
                k.eq_ignore_ascii_case(name).then(|| v.to_string())
            })
            .unwrap()
    };
    let ts: i64 = header("x-coderun-timestamp").parse().unwrap();
    let secret = std::fs::read_to_string(app.data.path().join("callback-secret")).unwrap();
    let expected = coderun_core::service::sign(secret.trim().as_bytes(), ts, &body);
    assert_eq!(header("x-coderun-signature"), expected);
    let job: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(
        (&job["id"], &job["status"], &job["outcome"]),
        (&r.body["id"], &json!("COMPLETED"), &json!("OK"))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn callbacks_reach_no_private_address_unless_the_server_allows_it() {
    let app = spawn_configured(|c| c.private_callbacks = false).await;
    let t = app.token("ann", &[]);
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    for host in ["127.0.0.1", "localhost", "[::ffff:127.0.0.1]"] {
        let mut body = run_body("python3", "print(7)", "");
        body["callback_url"] = json!(format!("http://{host}:{port}/hook"));
        let r = app.post("/runs?wait=10", &t, body).await;
        assert_eq!(r.body["outcome"], "OK", "{r:?}");
    }
    // The first attempt is at once, the next a second later.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let reached = listener.accept();
    assert!(
        reached
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::WouldBlock),
        "{reached:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn python_syntax_errors_are_compile_errors_even_without_a_check_step() {
    let app = spawn_app().await;
    let t = app.token("ann", &[]);
    let body = json!({"language": "python3", "source": "print('a'\n",
        "inputs": [{"stdin": ""}, {"stdin": ""}]});
    let r = app.post("/runs?wait=10", &t, body).await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["outcome"], "CE", "{r:?}");
    assert_eq!(r.body["results"][1]["status"], "CE");
    assert!(
        r.body["compile_output"]
            .as_str()
            .unwrap()
            .contains("SyntaxError"),
        "{r:?}"
    );
    // A syntax error raised while running is the program's own error.
    let r = app
        .post(
            "/runs?wait=10",
            &t,
            run_body("python3", "exec('x ===')\n", ""),
        )
        .await;
    assert_eq!(r.body["outcome"], "RE", "{r:?}");
    assert!(r.body["results"][0]["stderr"]
        .as_str()
        .unwrap()
        .contains("SyntaxError"));
    // Printed output means the program ran: never a compile error.
    let src = "import sys\nprint('hi')\nsys.stderr.write('  File \"x\"\\nSyntaxError: fake\\n')\nsys.exit(1)\n";
    let r = app
        .post("/runs?wait=10", &t, run_body("python3", src, ""))
        .await;
    assert_eq!(r.body["outcome"], "RE", "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn output_streams_while_the_program_runs() {
    let app = spawn_app().await;
    let t = app.token("ann", &[]);
    let src = "import time\nprint('first', flush=True)\ntime.sleep(1.5)\nprint('second')\n";
    let r = app.post("/runs", &t, run_body("python3", src, "")).await;
    let id = r.body["id"].as_str().unwrap().to_string();
    let url = app.url(&format!("/runs/{id}/logs?follow=true"));
    let events = tokio::task::spawn_blocking(move || {
        let mut resp = agent()
            .get(&url)
            .header("authorization", format!("Bearer {t}"))
            .call()
            .unwrap();
        let reader = BufReader::new(resp.body_mut().as_reader());
        let (mut events, mut event) = (Vec::new(), String::new());
        for line in reader.lines() {
            let line = line.unwrap();
            if let Some(e) = line.strip_prefix("event: ") {
                event = e.to_string();
            } else if let Some(d) = line.strip_prefix("data: ") {
                events.push(format!("{event} {d}"));
                if event == "end" {
                    break;
                }
            }
        }
        events
    })
    .await
    .unwrap();
    let at = |e: &str| {
        events
            .iter()
            .position(|x| x == e)
            .unwrap_or_else(|| panic!("{e} missing: {events:?}"))
    };
    // The first line arrived while the program still ran.
    assert!(at("line first") < at("status COMPLETED"), "{events:?}");
    assert!(at("status RUNNING") < at("line first"), "{events:?}");
    assert!(at("line second") > at("line first"));
    assert_eq!(
        events.iter().filter(|e| e.starts_with("line ")).count(),
        2,
        "{events:?}"
    );
}

/// One machine's persistent worker serves one job after another with its
/// sandbox set up once: the second job finds nothing of the first.
#[tokio::test(flavor = "multi_thread")]
async fn a_persistent_worker_leaves_nothing_of_one_job_for_the_next() {
    let app = spawn_configured(|c| c.workers = 1).await;
    let token = app.token("ann", &[]);
    let hostile = r#"import os, subprocess
left = []
for p in ('/tmp/left', '/var/tmp/left', '/dev/shm/left', '/dev/shm/fill'):
    try:
        open(p, 'wb').write(b'\0' * (8 << 20 if 'fill' in p else 16))
        left.append(p)
    except OSError:
        pass
subprocess.Popen(['python3', '-c', 'import time; time.sleep(600)  # worker-hostile-marker'],
                 start_new_session=True)
print('left', len(left))
"#;
    let probe = r#"import os
found = [p for p in ('/tmp/left', '/var/tmp/left', '/dev/shm/left', '/dev/shm/fill')
         if os.path.lexists(p)]
for pid in filter(str.isdigit, os.listdir('/proc')):
    try:
        if b'worker-hostile-marker' in open('/proc/%s/cmdline' % pid, 'rb').read():
            found.append('process ' + pid)
    except OSError:
        pass
print(' '.join(found) or 'clean')
"#;
    let worker = || pids_with("runner-task").len();
    let mut outputs = Vec::new();
    for source in [hostile, probe] {
        let r = app
            .post("/runs", &token, run_body("python3", source, ""))
            .await;
        assert_eq!(r.status, StatusCode::ACCEPTED, "{:?}", r.body);
        let id = r.body["id"].as_str().unwrap().to_string();
        let run = app.finished(&format!("/runs/{id}"), &token).await;
        assert_eq!(run["results"][0]["status"], json!("OK"), "{run}");
        outputs.push(run["results"][0]["stdout"].as_str().unwrap().to_string());
    }
    let planted: usize = outputs[0].trim()["left ".len()..].parse().unwrap();
    // In the full profile only its own /tmp is writable: it plants there.
    assert!(planted >= 1, "the hostile job planted nothing: {outputs:?}");
    assert_eq!(outputs[1], "clean\n", "{outputs:?}");
    // Nothing of it on the host either, and the one worker still serves.
    assert!(pids_with("worker-hostile-marker").is_empty());
    assert!(worker() >= 1);
}

/// A program of several files and the libraries it asks for, over HTTP:
/// the files are run as one program and shown back; a library the image
/// lacks is refused before anything is stored; `GET /languages` tells
/// every language's release, libraries and starter.
#[tokio::test(flavor = "multi_thread")]
async fn programs_of_several_files_and_their_libraries() {
    let app = spawn_app().await;
    let ann = app.token("ann", &[]);

    let (status, langs) = http("GET", app.url("/languages"), ann.clone(), None).await;
    assert_eq!(status, 200);
    let langs = langs.as_array().unwrap();
    assert!(langs.len() >= 25, "{}", langs.len());
    let python = langs.iter().find(|l| l["id"] == "python3").unwrap();
    assert_eq!(python["libraries"][0]["name"], "numpy");
    assert!(python["hello"].as_str().unwrap().contains("input()"));
    assert!(langs
        .iter()
        .all(|l| !l["release"].as_str().unwrap().is_empty()));

    let body = json!({"language": "python3", "libraries": ["numpy"],
        "files": [
            {"name": "stats.py", "content": "import numpy\ndef mean(xs):\n    return float(numpy.mean(xs))\n"},
            {"name": "main.py", "content": "import stats\nprint(stats.mean([1, 2, 3, 6]))\n"}],
        "inputs": [{}]});
    let (status, run) = http("POST", app.url("/runs?wait=10"), ann.clone(), Some(body)).await;
    assert_eq!(status, 200, "{run}");
    assert_eq!(run["results"][0]["stdout"], "3.0\n", "{run}");
    assert_eq!(
        run["source"],
        "import stats\nprint(stats.mean([1, 2, 3, 6]))\n"
    );
    assert_eq!(run["files"][0]["name"], "stats.py");

    let body = json!({"language": "python3", "source": "import pandas",
        "libraries": ["pandas"], "inputs": [{}]});
    let (status, err) = http("POST", app.url("/runs"), ann.clone(), Some(body)).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("pandas"),
        "{err}"
    );
    let body = json!({"language": "csharp", "source": "Console.WriteLine(1);",
        "nuget_packages": [{"name": "Newtonsoft.Json", "version": "13.0.1"}], "inputs": [{}]});
    let (status, err) = http("POST", app.url("/runs"), ann.clone(), Some(body)).await;
    assert_eq!(status, 422, "{err}");
    assert!(
        err["error"]["message"].as_str().unwrap().contains("6.0.8"),
        "{err}"
    );
    let (_, page) = http("GET", app.url("/runs"), ann, None).await;
    assert_eq!(page["items"].as_array().map(Vec::len), Some(1), "{page}");
}
