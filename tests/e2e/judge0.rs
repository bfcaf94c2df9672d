//! Judge0 CE's API under `/judge0`: its shapes, statuses and units, over
//! real runs in the sandbox.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use serde_json::{json, Value};

use crate::helpers::*;

/// A Judge0 request authenticated as Judge0 clients do (`X-Auth-Token`).
fn judge0(method: &str, path: &str, token: &str, body: Option<Value>) -> Request<Body> {
    let b = Request::builder()
        .method(method)
        .uri(format!("/judge0{path}"))
        .header("x-auth-token", token)
        .header("content-type", "application/json");
    b.body(body.map_or_else(Body::empty, |v| Body::from(v.to_string())))
        .unwrap()
}

async fn run(app: &TestApp, token: &str, body: Value) -> Value {
    let r = app
        .send(judge0(
            "POST",
            "/submissions?wait=true&fields=*",
            token,
            Some(body),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    r.body
}

#[tokio::test(flavor = "multi_thread")]
async fn judge0_clients_get_judge0s_shapes_statuses_and_units() {
    let app = spawn_app().await;
    let ann = app.token("ann", &[]);

    // The public resources, as Judge0 CE 1.13.1 answers them.
    let about = app.call("GET", "/judge0/about", None, None).await;
    assert_eq!(about.body["version"], "1.13.1");
    let statuses = app.call("GET", "/judge0/statuses", None, None).await.body;
    assert_eq!(statuses.as_array().unwrap().len(), 14);
    assert_eq!(statuses[2], json!({"id": 3, "description": "Accepted"}));
    let config = app
        .call("GET", "/judge0/config_info", None, None)
        .await
        .body;
    for key in [
        "enable_wait_result",
        "max_cpu_time_limit",
        "memory_limit",
        "max_submission_batch_size",
        "callbacks_max_tries",
        "allow_enable_network",
        "submission_cache_duration",
    ] {
        assert!(config.get(key).is_some(), "config_info lacks {key}");
    }
    let langs = app.call("GET", "/judge0/languages", None, None).await.body;
    for id in [50, 54, 62, 63, 71, 73] {
        assert!(
            langs.as_array().unwrap().iter().any(|l| l["id"] == id),
            "{id}"
        );
    }
    let python = app
        .call("GET", "/judge0/languages/71", None, None)
        .await
        .body;
    assert_eq!(python["source_file"], "main.py");
    assert!(
        python["run_cmd"].as_str().unwrap().contains("python3"),
        "{python}"
    );
    let none = app.call("GET", "/judge0/languages/9999", None, None).await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);

    // An accepted run, base64 both ways, with every field.
    let b64 = |s: &str| {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD.encode(s)
    };
    let r = app
        .send(judge0(
            "POST",
            "/submissions?base64_encoded=true&wait=true&fields=*",
            &ann,
            Some(json!({
                "source_code": b64("import sys\nprint(input() * 2, sys.argv[1:])"),
                "language_id": 71,
                "stdin": b64("ab"),
                "expected_output": b64("abab ['x y', 'z']\n\n"),
                "command_line_arguments": "'x y' z",
                "cpu_time_limit": "1.5",
                "memory_limit": 131072,
            })),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let s = r.body;
    assert_eq!(
        s["status"],
        json!({"id": 3, "description": "Accepted"}),
        "{s}"
    );
    assert_eq!(s["stdout"], b64("abab ['x y', 'z']\n"));
    assert_eq!(s["stdin"], b64("ab"));
    assert_eq!(s["language"]["id"], 71);
    assert_eq!(
        (s["cpu_time_limit"].as_f64(), s["memory_limit"].as_u64()),
        (Some(1.5), Some(131072))
    );
    assert!(
        s["time"].as_str().unwrap().parse::<f64>().unwrap() >= 0.0,
        "{s}"
    );
    assert!(s["memory"].as_u64().unwrap() > 0, "{s}");
    assert!(s["created_at"].as_str().unwrap().ends_with('Z'), "{s}");
    let token = s["token"].as_str().unwrap().to_string();
    assert_eq!(&token[14..15], "4", "a UUID v4: {token}");

    // Read back by token (Authorization: Bearer works too), default fields.
    let again = app.get(&format!("/judge0/submissions/{token}"), &ann).await;
    assert_eq!(again.status, StatusCode::OK, "{again:?}");
    let keys: Vec<&str> = again
        .body
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        keys,
        [
            "compile_output",
            "memory",
            "message",
            "status",
            "stderr",
            "stdout",
            "time",
            "token"
        ]
    );
    assert_eq!(again.body["stdout"], "abab ['x y', 'z']\n");
    // Nobody else's.
    let bob = app.token("bob", &[]);
    let theirs = app
        .send(judge0("GET", &format!("/submissions/{token}"), &bob, None))
        .await;
    assert_eq!(theirs.status, StatusCode::NOT_FOUND);

    // Each verdict with Judge0's status id.
    let py = |src: &str| json!({"source_code": src, "language_id": 71});
    let wrong = run(
        &app,
        &ann,
        json!({"source_code": "print(1)", "language_id": 71, "expected_output": "2"}),
    )
    .await;
    assert_eq!(wrong["status"]["id"], 4, "{wrong}");
    let slow = run(
        &app,
        &ann,
        json!({"source_code": "while True: pass", "language_id": 71, "cpu_time_limit": 0.5}),
    )
    .await;
    assert_eq!(slow["status"]["id"], 5, "{slow}");
    let ce = run(
        &app,
        &ann,
        json!({"source_code": "int main( {", "language_id": 50}),
    )
    .await;
    assert_eq!(ce["status"]["id"], 6, "{ce}");
    assert!(
        ce["compile_output"].as_str().unwrap().contains("error"),
        "{ce}"
    );
    let segv = run(
        &app,
        &ann,
        json!({"source_code": "int main(void) { return *(volatile int *)0; }", "language_id": 50}),
    )
    .await;
    assert_eq!(
        (segv["status"]["id"].as_u64(), segv["exit_signal"].as_i64()),
        (Some(7), Some(11)),
        "{segv}"
    );
    let nzec = run(&app, &ann, py("raise SystemExit(3)")).await;
    assert_eq!(
        (nzec["status"]["id"].as_u64(), nzec["exit_code"].as_i64()),
        (Some(11), Some(3)),
        "{nzec}"
    );
    assert_eq!(nzec["message"], "Exited with error status 3");
    let hog = run(&app, &ann, json!({"source_code": "x = bytearray(200 << 20)", "language_id": 71, "memory_limit": 65536})).await;
    assert_eq!(hog["status"]["id"], 12, "memory over its limit: {hog}");
    assert!(
        hog["message"]
            .as_str()
            .unwrap()
            .starts_with("Memory limit exceeded"),
        "{hog}"
    );

    // Refusals in Judge0's shapes.
    let r = app
        .send(judge0(
            "POST",
            "/submissions",
            &ann,
            Some(json!({"language_id": 9999, "compiler_options": "-O3"})),
        ))
        .await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY, "{r:?}");
    assert_eq!(
        r.body["language_id"],
        json!(["language with id 9999 doesn't exist"])
    );
    assert!(
        r.body["source_code"].is_array() && r.body["compiler_options"].is_array(),
        "{r:?}"
    );
    let r = app
        .send(judge0("GET", "/submissions/not-a-token", &ann, None))
        .await;
    assert_eq!(
        (r.status, &r.body["error"]),
        (StatusCode::NOT_FOUND, &json!("submission not found"))
    );
    let r = app
        .send(judge0(
            "GET",
            "/submissions/x?fields=stdout,colour",
            &ann,
            None,
        ))
        .await;
    assert_eq!(
        (r.status, &r.body["error"]),
        (StatusCode::BAD_REQUEST, &json!("invalid fields: [colour]"))
    );
    let r = app
        .call("POST", "/judge0/submissions", None, Some(py("print(1)")))
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // A batch: one invalid among them, then read back by tokens.
    let r = app
        .send(judge0(
            "POST",
            "/submissions/batch",
            &ann,
            Some(
                json!({"submissions": [py("print(6 * 7)"), {"language_id": 71}, py("print('b')")]}),
            ),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let made = r.body.as_array().unwrap();
    assert!(made[1]["source_code"].is_array(), "{r:?}");
    let tokens = format!(
        "{},{},{}",
        made[0]["token"].as_str().unwrap(),
        made[2]["token"].as_str().unwrap(),
        token
    );
    let mut answers = Value::Null;
    for _ in 0..200 {
        let r = app
            .send(judge0(
                "GET",
                &format!("/submissions/batch?tokens={tokens}&fields=stdout,status_id"),
                &ann,
                None,
            ))
            .await;
        assert_eq!(r.status, StatusCode::OK, "{r:?}");
        answers = r.body["submissions"].clone();
        if answers
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["status_id"].as_u64().unwrap() > 2)
        {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(answers[0], json!({"stdout": "42\n", "status_id": 3}));
    assert_eq!(answers[1]["stdout"], "b\n");
    let r = app
        .send(judge0("GET", "/submissions/batch?tokens=", &ann, None))
        .await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
}

/// A Judge0 callback is Judge0's: a PUT of the submission, its default
/// fields base64-encoded.
#[tokio::test(flavor = "multi_thread")]
async fn judge0_callbacks_are_judge0s_puts() {
    let app = spawn_app().await;
    let ann = app.token("ann", &[]);
    let (port, received) = capture_one_request();
    let r = app
        .send(judge0(
            "POST",
            "/submissions",
            &ann,
            Some(json!({
                "source_code": "print(6 * 7)",
                "language_id": 71,
                "callback_url": format!("http://127.0.0.1:{port}/judged"),
            })),
        ))
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let (headers, body) = tokio::task::spawn_blocking(move || received.join().unwrap())
        .await
        .unwrap();
    assert_eq!(headers[0], "PUT /judged HTTP/1.1");
    let s: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(s["token"], r.body["token"]);
    assert_eq!(s["status"]["id"], 3, "{s}");
    assert_eq!(s["stdout"], "NDIK", "base64 of 42\\n: {s}");
}

/// `--judge0-at-root`: Judge0's API at the root for clients that cannot be
/// given a path, coderun's own under `/coderun`.
#[tokio::test(flavor = "multi_thread")]
async fn judge0_at_the_root_moves_coderuns_own_api_aside() {
    let app = spawn_configured(|c| c.judge0_at_root = true).await;
    let ann = app.token("ann", &[]);
    let r = app
        .send(
            Request::builder()
                .method("POST")
                .uri("/submissions?wait=true")
                .header("x-auth-token", &ann)
                .header("content-type", "application/json")
                .body(Body::from(
                    json!({"source_code": "print(7)", "language_id": 71}).to_string(),
                ))
                .unwrap(),
        )
        .await;
    assert_eq!(
        (r.status, &r.body["stdout"]),
        (StatusCode::CREATED, &json!("7\n")),
        "{r:?}"
    );
    let about = app.call("GET", "/about", None, None).await;
    assert_eq!(about.body["version"], "1.13.1");
    // Judge0's languages at the root, coderun's under /coderun.
    let judge0_langs = app.call("GET", "/languages", None, None).await.body;
    assert!(judge0_langs[0]["id"].is_u64(), "{judge0_langs}");
    let own = app.call("GET", "/coderun/languages", None, None).await;
    assert_eq!(own.status, StatusCode::OK);
    assert!(own.body[0]["id"].is_string(), "{:?}", own);
    let runs = app.get("/coderun/runs", &ann).await;
    assert_eq!(runs.body["items"].as_array().unwrap().len(), 1, "{runs:?}");
}
