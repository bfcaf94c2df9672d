//! The API through `router().oneshot()`: public routes, authentication,
//! authorization, bad input, idempotency and the rate limit.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use coderun_core::Role;
use coderun_local::issuer::{LocalIssuer, AUDIENCE, ISSUER};
use serde_json::{json, Value};

use crate::helpers::*;

fn now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn claims(sub: &str) -> Value {
    json!({"iss": ISSUER, "aud": AUDIENCE, "sub": sub, "iat": now(), "exp": now() + 600, "token_use": "id"})
}

#[tokio::test(flavor = "multi_thread")]
async fn public_routes_answer_without_a_token() {
    let app = spawn_app().await;
    for path in [
        "/health",
        "/languages",
        "/problems",
        "/openapi.json",
        "/.well-known/jwks.json",
        "/config.json",
    ] {
        let r = app.call("GET", path, None, None).await;
        assert_eq!(r.status, StatusCode::OK, "{path}: {r:?}");
    }
    let langs = app.call("GET", "/languages", None, None).await.body;
    assert!(langs
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["id"] == "python3"));
    let doc = app.call("GET", "/openapi.json", None, None).await.body;
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    for path in [
        "/runs",
        "/submissions",
        "/problems/import",
        "/runs/{id}/logs",
        "/me",
        "/admin/queue",
    ] {
        assert!(
            doc["paths"].get(path).is_some(),
            "{path} missing from the OpenAPI document"
        );
    }
    assert_eq!(
        doc["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    let jwks = app
        .call("GET", "/.well-known/jwks.json", None, None)
        .await
        .body;
    assert_eq!(jwks["keys"][0]["alg"], "RS256");
    assert!(
        jwks["keys"][0].get("d").is_none(),
        "the private key must not be published"
    );
    let r = app.call("GET", "/no/such/route", None, None).await;
    assert_eq!(
        (r.status, r.error().0),
        (StatusCode::NOT_FOUND, "not_found")
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_are_verified_like_cognito_tokens() {
    let app = spawn_app().await;
    let body = || Some(run_body("python3", "print(1)", ""));
    let unauthorized = |r: &crate::helpers::Reply, words: &str| {
        assert_eq!(r.status, StatusCode::UNAUTHORIZED, "{r:?}");
        assert_eq!(r.error().0, "unauthorized");
        assert!(r.error().1.contains(words), "{words}: {r:?}");
        assert_eq!(r.headers["www-authenticate"], "Bearer");
    };
    unauthorized(&app.call("POST", "/runs", None, body()).await, "missing");
    unauthorized(
        &app.call("GET", "/me", Some("not.a.jwt"), None).await,
        "malformed",
    );

    // Signed by another key (another data directory's issuer).
    let other = tempfile::tempdir().unwrap();
    let stranger = LocalIssuer::open(other.path()).unwrap();
    let forged = stranger
        .token("ann", &[Role::Admin], std::time::Duration::from_secs(60))
        .unwrap();
    unauthorized(
        &app.call("GET", "/me", Some(&forged), None).await,
        "unknown key",
    );

    // Our kid, another key's signature.
    let good = app.token("ann", &[]);
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_sig = forged.split('.').nth(2).unwrap();
    parts[2] = forged_sig;
    unauthorized(
        &app.call("GET", "/me", Some(&parts.join(".")), None).await,
        "signature",
    );

    // A changed payload under a valid signature.
    let mut c = claims("ann");
    c["cognito:groups"] = json!(["admin"]);
    let other_payload = app.issuer.sign(&c).unwrap();
    let mut parts: Vec<&str> = good.split('.').collect();
    parts[1] = other_payload.split('.').nth(1).unwrap();
    unauthorized(
        &app.call("GET", "/me", Some(&parts.join(".")), None).await,
        "signature",
    );

    let mut expired = claims("ann");
    expired["exp"] = json!(now() - 3600);
    unauthorized(
        &app.call(
            "GET",
            "/me",
            Some(&app.issuer.sign(&expired).unwrap()),
            None,
        )
        .await,
        "expired",
    );
    let mut aud = claims("ann");
    aud["aud"] = json!("someone-else");
    unauthorized(
        &app.call("GET", "/me", Some(&app.issuer.sign(&aud).unwrap()), None)
            .await,
        "audience",
    );
    let mut iss = claims("ann");
    iss["iss"] = json!("https://evil.example");
    unauthorized(
        &app.call("GET", "/me", Some(&app.issuer.sign(&iss).unwrap()), None)
            .await,
        "issuer",
    );
    let mut future = claims("ann");
    future["nbf"] = json!(now() + 3600);
    unauthorized(
        &app.call("GET", "/me", Some(&app.issuer.sign(&future).unwrap()), None)
            .await,
        "not yet",
    );

    // An unsigned token ("alg": "none") and an HMAC one are refused.
    let header = |alg: &str| base64_url(&format!(r#"{{"alg":"{alg}","kid":"x"}}"#));
    let payload = base64_url(&claims("ann").to_string());
    let none = format!("{}.{payload}.", header("none"));
    assert_eq!(
        app.call("GET", "/me", Some(&none), None).await.status,
        StatusCode::UNAUTHORIZED
    );
    let hs = format!("{}.{payload}.c2ln", header("HS256"));
    unauthorized(&app.call("GET", "/me", Some(&hs), None).await, "RS256");

    // Access tokens carry client_id instead of aud.
    let mut access = claims("ann");
    access.as_object_mut().unwrap().remove("aud");
    access["client_id"] = json!(AUDIENCE);
    access["token_use"] = json!("access");
    let r = app
        .call("GET", "/me", Some(&app.issuer.sign(&access).unwrap()), None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["user"], "ann");
}

fn base64_url(s: &str) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(s)
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_gate_setter_and_admin_routes() {
    let app = spawn_app().await;
    let user = app.token("ann", &[]);
    let setter = app.token("sam", &[Role::Setter]);
    let admin = app.token("ada", &[Role::Admin]);
    let problem = json!({"id": "echo", "title": "Echo", "time_limit_ms": 1000,
        "tests": [{"input": "1\n", "output": "1\n", "sample": true}, {"input": "2\n", "output": "2\n"}]});
    let r = app.post("/problems", &user, problem.clone()).await;
    assert_eq!(
        (r.status, r.error().0),
        (StatusCode::FORBIDDEN, "forbidden"),
        "{r:?}"
    );
    for path in ["/admin/queue", "/metrics"] {
        assert_eq!(app.get(path, &user).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get(path, &setter).await.status, StatusCode::FORBIDDEN);
        assert_eq!(app.get(path, &admin).await.status, StatusCode::OK);
    }
    let r = app.post("/problems", &setter, problem.clone()).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["samples"][0]["input"], "1\n");
    let r = app.post("/problems", &setter, problem).await;
    assert_eq!((r.status, r.error().0), (StatusCode::CONFLICT, "conflict"));
    // Users see the statement and samples, never hidden data.
    let r = app.call("GET", "/problems/echo", None, None).await;
    assert_eq!(r.body["test_count"], 2);
    assert!(!r.body.to_string().contains("2\\n"), "{r:?}");
    let r = app
        .post("/submissions/whatever/rejudge", &user, json!({}))
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .call("DELETE", "/problems/echo", Some(&user), None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = app
        .call("DELETE", "/problems/echo", Some(&setter), None)
        .await;
    assert_eq!(r.status, StatusCode::NO_CONTENT);
    assert_eq!(
        app.call("GET", "/problems/echo", None, None).await.status,
        StatusCode::NOT_FOUND
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_clear_error_naming_the_field() {
    let app = spawn_app().await;
    let t = app.token("ann", &[]);
    let check = |r: crate::helpers::Reply, status: StatusCode, words: &str| {
        assert_eq!(r.status, status, "{words}: {r:?}");
        assert!(r.error().1.contains(words), "{words}: {r:?}");
    };
    let mut extra = run_body("python3", "", "");
    extra["colour"] = json!("red");
    check(
        app.post("/runs", &t, extra).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "colour",
    );
    check(
        app.post("/runs", &t, run_body("cobol", "", "")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "language",
    );
    let many = json!({"language": "c", "source": "", "inputs": vec![json!({}); 17]});
    check(
        app.post("/runs", &t, many).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "inputs",
    );
    let big = run_body("c", &"x".repeat(300 << 10), "");
    check(
        app.post("/runs", &t, big).await,
        StatusCode::PAYLOAD_TOO_LARGE,
        "source",
    );
    let mut limits = run_body("c", "", "");
    limits["limits"] = json!({"time_ms": 3_600_000});
    check(
        app.post("/runs", &t, limits).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "limits.time_ms",
    );
    let mut limits = run_body("c", "", "");
    limits["limits"] = json!({"memory_mb": 1_000_000});
    check(
        app.post("/runs", &t, limits).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "memory_mb",
    );
    check(
        app.post("/runs?wait=60", &t, run_body("c", "", "")).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "wait",
    );
    check(
        app.post("/runs?colour=1", &t, run_body("c", "", "")).await,
        StatusCode::BAD_REQUEST,
        "colour",
    );
    let sub = json!({"problem_id": "../etc", "language": "c", "source": ""});
    check(
        app.post("/submissions", &t, sub).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "problem_id",
    );
    let sub = json!({"problem_id": "nope", "language": "c", "source": ""});
    check(
        app.post("/submissions", &t, sub).await,
        StatusCode::NOT_FOUND,
        "problem",
    );
    let batch = json!({"submissions": []});
    check(
        app.post("/submissions/batch", &t, batch).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "submissions",
    );
    check(
        app.get("/submissions?limit=1000", &t).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "limit",
    );
    check(
        app.get("/submissions?verdict=GREAT", &t).await,
        StatusCode::BAD_REQUEST,
        "verdict",
    );
    check(
        app.get("/submissions?cursor=../x", &t).await,
        StatusCode::BAD_REQUEST,
        "cursor",
    );

    // Not JSON, broken JSON, too large.
    let req = |ct: &str, body: Vec<u8>| {
        Request::builder()
            .method("POST")
            .uri("/runs")
            .header("authorization", format!("Bearer {t}"))
            .header("content-type", ct)
            .body(Body::from(body))
            .unwrap()
    };
    check(
        app.send(req("text/plain", b"{}".to_vec())).await,
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "JSON",
    );
    let r = app
        .send(req("application/json", b"{\"language\":".to_vec()))
        .await;
    assert_eq!(
        (r.status, r.error().0),
        (StatusCode::BAD_REQUEST, "invalid_request")
    );
    let r = app.send(req("application/json", vec![b' '; 9 << 20])).await;
    assert_eq!(
        (r.status, r.error().0),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        "{r:?}"
    );

    let long_key = "k".repeat(200);
    let req = Request::builder()
        .method("POST")
        .uri("/runs")
        .header("authorization", format!("Bearer {t}"))
        .header("content-type", "application/json")
        .header("idempotency-key", long_key)
        .body(Body::from(run_body("c", "", "").to_string()))
        .unwrap();
    check(
        app.send(req).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "Idempotency-Key",
    );

    // Bad packages: not an archive, a path escape, no problem.yaml.
    let setter = app.token("sam", &[Role::Setter]);
    let raw = |body: Vec<u8>| {
        Request::builder()
            .method("POST")
            .uri("/problems/import")
            .header("authorization", format!("Bearer {setter}"))
            .header("content-type", "application/zip")
            .body(Body::from(body))
            .unwrap()
    };
    check(
        app.send(raw(b"hello".to_vec())).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "package",
    );
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("empty/data")).unwrap();
    std::fs::write(dir.path().join("empty/data/x"), "1").unwrap();
    let r = app.import(&setter, &dir.path().join("empty"), "").await;
    check(r, StatusCode::UNPROCESSABLE_ENTITY, "problem.yaml");
    // Nothing was stored by the failures.
    let r = app.call("GET", "/problems", None, None).await;
    assert_eq!(r.body["items"], json!([]));
    let r = app.get("/runs", &t).await;
    assert_eq!(r.body["items"], json!([]), "{r:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn users_see_only_their_own_work() {
    let app = spawn_app().await;
    let ann = app.token("ann", &[]);
    let bob = app.token("bob", &[]);
    let r = app
        .post("/runs", &ann, run_body("python3", "print('secret')", ""))
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_string();
    assert_eq!(r.headers["location"], format!("/runs/{id}"));
    app.finished(&format!("/runs/{id}"), &ann).await;
    for path in [
        format!("/runs/{id}"),
        format!("/runs/{id}/logs"),
        format!("/submissions/{id}"),
    ] {
        let r = app.get(&path, &bob).await;
        assert_eq!(
            (r.status, r.error().0),
            (StatusCode::NOT_FOUND, "not_found"),
            "{path}"
        );
    }
    assert_eq!(app.get("/runs", &bob).await.body["items"], json!([]));
    let s = app
        .post("/sessions", &ann, json!({"source": "print(2)"}))
        .await;
    assert_eq!(s.status, StatusCode::CREATED);
    let sid = s.body["id"].as_str().unwrap();
    assert_eq!(
        app.get(&format!("/sessions/{sid}"), &bob).await.status,
        StatusCode::NOT_FOUND
    );
    let r = app
        .call(
            "PATCH",
            &format!("/sessions/{sid}"),
            Some(&bob),
            Some(json!({"source": "x"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test(flavor = "multi_thread")]
async fn idempotency_keys_make_retries_safe() {
    let app = spawn_app().await;
    let t = app.token("ann", &[]);
    let post = |key: &'static str, body: Value| {
        Request::builder()
            .method("POST")
            .uri("/runs")
            .header("authorization", format!("Bearer {t}"))
            .header("content-type", "application/json")
            .header("idempotency-key", key)
            .body(Body::from(body.to_string()))
            .unwrap()
    };
    let body = run_body("python3", "print(1)", "");
    let first = app.send(post("k-1", body.clone())).await;
    let again = app.send(post("k-1", body.clone())).await;
    assert_eq!(first.status, StatusCode::ACCEPTED);
    assert_eq!(again.status, StatusCode::ACCEPTED);
    assert_eq!(first.body["id"], again.body["id"]);
    assert_eq!(again.headers["idempotent-replayed"], "true");
    let other = app
        .send(post("k-1", run_body("python3", "print(2)", "")))
        .await;
    assert_eq!(
        (other.status, other.error().0),
        (StatusCode::CONFLICT, "conflict")
    );
    // Another user's identical key is theirs alone.
    let bob = app.token("bob", &[]);
    let req = Request::builder()
        .method("POST")
        .uri("/runs")
        .header("authorization", format!("Bearer {bob}"))
        .header("content-type", "application/json")
        .header("idempotency-key", "k-1")
        .body(Body::from(body.to_string()))
        .unwrap();
    let theirs = app.send(req).await;
    assert_ne!(theirs.body["id"], first.body["id"]);
    assert_eq!(
        app.get("/runs", &t).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        1
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_rate_limit_answers_429_with_retry_after() {
    let app = spawn_app_with(20).await;
    let t = app.token("ann", &[]);
    let mut statuses = Vec::new();
    for _ in 0..12 {
        // Invalid requests are cheap and still count: the limit comes first.
        let r = app.post("/runs", &t, run_body("cobol", "", "")).await;
        statuses.push(r.status);
        if r.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                r.headers["retry-after"]
                    .to_str()
                    .unwrap()
                    .parse::<u64>()
                    .unwrap()
                    >= 1
            );
            assert_eq!(r.error().0, "rate_limited");
        }
    }
    assert_eq!(
        statuses
            .iter()
            .filter(|s| **s == StatusCode::TOO_MANY_REQUESTS)
            .count(),
        2,
        "{statuses:?}"
    );
    // Another user is not affected.
    let bob = app.token("bob", &[]);
    let r = app.post("/runs", &bob, run_body("cobol", "", "")).await;
    assert_eq!(r.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_external_issuer_is_trusted_through_its_own_jwks_url() {
    // Like Cognito behind an emulator: the JWKS URL is not under the issuer.
    let keys_dir = tempfile::tempdir().unwrap();
    let issuer = LocalIssuer::open(keys_dir.path()).unwrap();
    let jwks = issuer.jwks().to_string();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!(
        "http://{}/pool-1/.well-known/jwks.json",
        listener.local_addr().unwrap()
    );
    let fetches = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counter = fetches.clone();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for conn in listener.incoming() {
            let mut conn = conn.unwrap();
            let mut buf = [0u8; 4096];
            let _ = conn.read(&mut buf);
            counter.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{jwks}",
                jwks.len()
            );
            let _ = conn.write_all(reply.as_bytes());
        }
    });
    let iss = "https://cognito-idp.us-east-1.amazonaws.com/pool-1";
    let verifier = coderun_http::JwtVerifier::new(
        iss.into(),
        vec!["client-1".into()],
        coderun_http::Keys::Remote { url },
    );
    let mut c = json!({"iss": iss, "client_id": "client-1", "sub": "u-1", "exp": now() + 60,
        "token_use": "access", "cognito:groups": ["setter", "unknown"]});
    let p = verifier.verify(&issuer.sign(&c).unwrap()).await.unwrap();
    assert_eq!(
        (p.user.as_str(), p.roles.as_slice()),
        ("u-1", &[Role::Setter][..])
    );
    // Cached: a second token needs no fetch; a forged kid refetches at most
    // once a minute.
    verifier.verify(&issuer.sign(&c).unwrap()).await.unwrap();
    assert_eq!(fetches.load(std::sync::atomic::Ordering::SeqCst), 1);
    c["client_id"] = json!("client-2");
    let e = verifier
        .verify(&issuer.sign(&c).unwrap())
        .await
        .unwrap_err();
    assert_eq!(e, coderun_http::auth::AuthError::Audience);
    let other = tempfile::tempdir().unwrap();
    let stranger = LocalIssuer::open(other.path()).unwrap();
    for _ in 0..3 {
        assert!(verifier.verify(&stranger.sign(&c).unwrap()).await.is_err());
    }
    assert!(fetches.load(std::sync::atomic::Ordering::SeqCst) <= 2);
}

#[tokio::test(flavor = "multi_thread")]
async fn packages_import_as_multipart_and_problems_are_replaced_by_put() {
    let app = spawn_app().await;
    let setter = app.token("sam", &[Role::Setter]);
    let boundary = "coderun-boundary";
    let mut body = format!(
        "--{boundary}\r\nContent-Disposition: form-data; name=\"package\"; filename=\"divisor.tgz\"\r\n\
         Content-Type: application/gzip\r\n\r\n"
    )
    .into_bytes();
    body.extend(tar_gz(&problems_dir().join("divisor")));
    body.extend(format!("\r\n--{boundary}--\r\n").into_bytes());
    let req = Request::builder()
        .method("POST")
        .uri("/problems/import?id=div")
        .header("authorization", format!("Bearer {setter}"))
        .header(
            "content-type",
            format!("multipart/form-data; boundary={boundary}"),
        )
        .body(Body::from(body))
        .unwrap();
    let r = app.send(req).await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(
        (&r.body["id"], &r.body["version"]),
        (&json!("div"), &json!(1))
    );

    let problem = json!({"title": "Echo", "time_limit_ms": 1000,
        "tests": [{"input": "1\n", "output": "1\n"}]});
    let r = app
        .call(
            "PUT",
            "/problems/echo",
            Some(&setter),
            Some(problem.clone()),
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::NOT_FOUND,
        "PUT replaces, never creates: {r:?}"
    );
    let mut create = problem.clone();
    create["id"] = json!("echo");
    assert_eq!(
        app.post("/problems", &setter, create).await.status,
        StatusCode::CREATED
    );
    let mut changed = problem;
    changed["title"] = json!("Echo 2");
    let r = app
        .call("PUT", "/problems/echo", Some(&setter), Some(changed))
        .await;
    assert_eq!(
        (r.status, &r.body["version"], &r.body["title"]),
        (StatusCode::OK, &json!(2), &json!("Echo 2"))
    );
    let r = app.call("GET", "/problems?limit=1", None, None).await;
    assert_eq!(r.body["items"][0]["id"], "div");
    let next = r.body["next_cursor"].as_str().unwrap();
    let r = app
        .call(
            "GET",
            &format!("/problems?limit=1&cursor={next}"),
            None,
            None,
        )
        .await;
    assert_eq!(r.body["items"][0]["id"], "echo");
}

/// 2025-09 packages: a statement's image is served to anyone (an <img>
/// sends no token), sandboxed, and nothing else of the package is; a
/// submission joins what `include/` adds in its language; one above
/// `limits.code` is refused and nothing stored.
#[tokio::test(flavor = "multi_thread")]
async fn a_statements_images_are_served_and_the_code_limit_holds() {
    let app = spawn_app().await;
    let setter = app.token("sam", &[Role::Setter]);
    let ann = app.token("ann", &[]);
    let r = app
        .import(&setter, &problems_dir().join("groups"), "")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    assert_eq!(r.body["verify_report"]["disagreements"], json!([]), "{r:?}");
    let r = app.call("GET", "/problems/groups", None, None).await;
    assert!(
        r.body["statement"]
            .as_str()
            .unwrap()
            .contains("](total.svg)"),
        "{r:?}"
    );
    assert_eq!(r.body["code_limit_kib"], 4);

    let r = app
        .call("GET", "/problems/groups/statement/total.svg", None, None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.headers["content-type"], "image/svg+xml");
    assert!(r.headers["content-security-policy"]
        .to_str()
        .unwrap()
        .contains("sandbox"));
    assert_eq!(r.headers["x-content-type-options"], "nosniff");
    for hidden in [
        "1.in",
        "problem.en.md",
        "..%2Fdata%2Fsecret%2F1-small%2F1.ans",
    ] {
        let r = app
            .call(
                "GET",
                &format!("/problems/groups/statement/{hidden}"),
                None,
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::NOT_FOUND, "{hidden}: {r:?}");
    }

    // A package's include/: a C++ submission is the function its grader
    // calls, judged by a worker.
    let r = app
        .import(&setter, &problems_dir().join("grader"), "")
        .await;
    assert_eq!(r.status, StatusCode::CREATED, "{r:?}");
    let function = "#include \"total.h\"\nlong long total(const std::vector<long long> &v) {\n  long long s = 0;\n  for (auto x : v) s += x;\n  return s;\n}\n";
    let r = app
        .post(
            "/submissions",
            &ann,
            json!({"problem_id": "grader", "language": "cpp", "source": function}),
        )
        .await;
    assert_eq!(r.status, StatusCode::ACCEPTED, "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_string();
    let done = app.finished(&format!("/submissions/{id}"), &ann).await;
    assert_eq!(done["verdict"], "AC", "{done}");

    let big = format!("print(0)\n#{}\n", "x".repeat(5000));
    let r = app
        .post(
            "/submissions",
            &ann,
            json!({"problem_id": "groups", "language": "python3", "source": big}),
        )
        .await;
    assert_eq!(
        (r.status, r.error().0),
        (StatusCode::PAYLOAD_TOO_LARGE, "too_large"),
        "{r:?}"
    );
    let items = app.get("/submissions", &ann).await.body["items"].clone();
    assert_eq!(
        items.as_array().unwrap().len(),
        1,
        "only the grader's: {items}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn expired_runs_are_pruned_with_their_blobs() {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path(), 0);
    cfg.run_retention = std::time::Duration::from_millis(200);
    let mut built = coderun_local::serve::build(&cfg).await.unwrap();
    built.spawn_workers();
    let issuer = LocalIssuer::open(data.path()).unwrap();
    let t = issuer
        .token("ann", &[], std::time::Duration::from_secs(60))
        .unwrap();
    let app = TestApp {
        router: built.router.clone(),
        platform: built.platform.clone(),
        addr: "127.0.0.1:9".parse().unwrap(),
        data,
        issuer,
    };
    let r = app
        .post("/runs?wait=10", &t, run_body("python3", "print(1)", ""))
        .await;
    assert_eq!(r.body["status"], "COMPLETED", "{r:?}");
    let id = r.body["id"].as_str().unwrap().to_string();
    let blobs = app.data.path().join("blobs");
    assert!(blobs.join(format!("sources/{id}")).exists());
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    assert_eq!(app.platform.prune().await.unwrap(), 1);
    assert_eq!(
        app.get(&format!("/runs/{id}"), &t).await.status,
        StatusCode::NOT_FOUND
    );
    for key in [
        format!("sources/{id}"),
        format!("jobs/{id}"),
        format!("results/{id}"),
    ] {
        assert!(!blobs.join(&key).exists(), "{key} is left");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_dev_login_is_offered_only_where_configured() {
    // Off (the default off a loopback address): said, and refused.
    let app = spawn_app().await;
    let config = app.call("GET", "/config.json", None, None).await;
    assert_eq!(
        (&config.body["mode"], &config.body["dev_login"]),
        (&json!("local"), &json!(false))
    );
    let r = app
        .call(
            "POST",
            "/auth/dev-login",
            None,
            Some(json!({"user": "ann"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{r:?}");

    // On: a token of the local issuer, with the roles asked for.
    let app = spawn_configured(|c| c.dev_login = true).await;
    assert_eq!(
        app.call("GET", "/config.json", None, None).await.body["dev_login"],
        json!(true)
    );
    let r = app
        .call(
            "POST",
            "/auth/dev-login",
            None,
            Some(json!({"user": "sam", "roles": ["setter"]})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    let token = r.body["token"].as_str().unwrap().to_string();
    let me = app.get("/me", &token).await;
    assert_eq!(
        (&me.body["user"], &me.body["roles"]),
        (&json!("sam"), &json!(["setter"])),
        "{me:?}"
    );
    for bad in [
        json!({"user": ""}),
        json!({"user": "a b"}),
        json!({"user": "x".repeat(65)}),
        json!({"user": "ann", "roles": ["root"]}),
        json!({"user": "ann", "extra": 1}),
    ] {
        let r = app
            .call("POST", "/auth/dev-login", None, Some(bad.clone()))
            .await;
        assert!(r.status.is_client_error(), "{bad}: {r:?}");
        assert!(!r.error().1.is_empty(), "{bad}: {r:?}");
    }
}
