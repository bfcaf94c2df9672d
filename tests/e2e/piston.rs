//! Piston's API under `/piston`: its shapes over real runs in the sandbox,
//! the token as the password of Basic authorization.

use axum::body::Body;
use axum::http::{Request, StatusCode};
use base64::Engine;
use serde_json::{json, Value};

use crate::helpers::*;

/// As the piston-client package sends it: JSON without a content type.
fn execute(token: Option<&str>, body: Value) -> Request<Body> {
    let mut b = Request::builder()
        .method("POST")
        .uri("/piston/api/v2/execute");
    if let Some(t) = token {
        let basic = base64::engine::general_purpose::STANDARD.encode(format!("token:{t}"));
        b = b.header("authorization", format!("Basic {basic}"));
    }
    b.body(Body::from(body.to_string())).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn piston_clients_get_pistons_shapes() {
    let app = spawn_app().await;
    let ann = app.token("ann", &[]);
    let runtimes = app
        .call("GET", "/piston/api/v2/runtimes", None, None)
        .await
        .body;
    let rust = runtimes
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["language"] == "rust")
        .unwrap();
    assert_eq!(rust["aliases"], json!(["rs"]));

    let r = app
        .send(execute(Some(&ann), json!({"language": "c", "version": "*",
            "files": [{"content": "#include <stdio.h>\nint main(void){int a,b;scanf(\"%d %d\",&a,&b);printf(\"%d\\n\",a+b);return 0;}"}],
            "stdin": "2 40"})))
        .await;
    assert_eq!(r.status, StatusCode::OK, "{r:?}");
    assert_eq!(r.body["language"], "c");
    assert_eq!(
        (&r.body["run"]["stdout"], &r.body["run"]["code"]),
        (&json!("42\n"), &json!(0)),
        "{r:?}"
    );
    assert_eq!(r.body["compile"]["code"], 0, "{r:?}");

    let hog = app
        .send(execute(
            Some(&ann),
            json!({"language": "python", "version": "3",
            "files": [{"content": "x = bytearray(300 << 20)"}], "run_memory_limit": 64_000_000}),
        ))
        .await;
    assert_eq!(
        (&hog.body["run"]["signal"], &hog.body["run"]["status"]),
        (&json!("SIGKILL"), &json!("SG")),
        "{hog:?}"
    );
    assert!(
        hog.body["run"]["message"]
            .as_str()
            .unwrap()
            .starts_with("Memory limit exceeded"),
        "{hog:?}"
    );

    let bad = app
        .send(execute(
            Some(&ann),
            json!({"language": "cobol", "version": "*", "files": [{"content": "x"}]}),
        ))
        .await;
    assert_eq!(
        (bad.status, &bad.body["message"]),
        (
            StatusCode::BAD_REQUEST,
            &json!("cobol-* runtime is unknown")
        )
    );
    let anonymous = app
        .send(execute(
            None,
            json!({"language": "python", "version": "*", "files": [{"content": "print(1)"}]}),
        ))
        .await;
    assert_eq!(anonymous.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.get("/runs", &ann).await.body["items"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
}
