//! `spawn_app()`: a fresh platform (temporary data directory, the real
//! runner) and helpers to call it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::body::Body;
use axum::http::{HeaderMap, Request, StatusCode};
use coderun_core::Role;
use coderun_embedded::RunnerCommand;
use coderun_local::issuer::LocalIssuer;
use coderun_local::serve::{build, ServeConfig, TokenSource};
use serde_json::{json, Value};
use tower::ServiceExt;

pub const BIN: &str = env!("CARGO_BIN_EXE_coderun");

pub struct TestApp {
    pub router: axum::Router,
    pub platform: std::sync::Arc<coderun_core::Platform>,
    pub addr: SocketAddr,
    pub data: tempfile::TempDir,
    pub issuer: LocalIssuer,
}

pub fn config(data: &Path, rate_limit: u32) -> ServeConfig {
    ServeConfig {
        addr: "127.0.0.1:0".parse().unwrap(),
        data: data.to_path_buf(),
        workers: 2,
        web_dir: None,
        tokens: TokenSource::Local,
        run_retention: Duration::from_secs(3600),
        rate_limit_per_minute: rate_limit,
        runner: RunnerCommand {
            program: PathBuf::from(BIN),
            args: vec!["runner-task".into()],
        },
        runner_deadline: Duration::from_secs(300),
        dev_login: false,
        judge0_at_root: false,
        // The callback tests' receivers listen on loopback.
        private_callbacks: true,
    }
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(0).await
}

/// A platform with a per-user rate limit (requests per minute; 0: none).
pub async fn spawn_app_with(rate_limit: u32) -> TestApp {
    spawn_configured(|c| c.rate_limit_per_minute = rate_limit).await
}

/// A platform whose configuration `change` adjusts.
pub async fn spawn_configured(change: impl FnOnce(&mut ServeConfig)) -> TestApp {
    let data = tempfile::tempdir().unwrap();
    let mut cfg = config(data.path(), 0);
    change(&mut cfg);
    let mut app = build(&cfg).await.unwrap();
    app.spawn_workers();
    let listener = tokio::net::TcpListener::bind(cfg.addr).await.unwrap();
    let addr = listener.local_addr().unwrap();
    let router = app.router.clone();
    tokio::spawn(async move { axum::serve(listener, router).await });
    TestApp {
        platform: app.platform.clone(),
        router: app.router,
        addr,
        issuer: LocalIssuer::open(data.path()).unwrap(),
        data,
    }
}

pub struct Reply {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl std::fmt::Debug for Reply {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.status, self.body)
    }
}

impl Reply {
    /// The `error.code` and `error.message` of an error reply.
    pub fn error(&self) -> (&str, &str) {
        (
            self.body["error"]["code"]
                .as_str()
                .unwrap_or_else(|| panic!("not an error: {self:?}")),
            self.body["error"]["message"].as_str().unwrap_or_default(),
        )
    }
}

impl TestApp {
    pub fn token(&self, user: &str, roles: &[Role]) -> String {
        self.issuer
            .token(user, roles, Duration::from_secs(600))
            .unwrap()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// A request through `router().oneshot()`.
    pub async fn send(&self, req: Request<Body>) -> Reply {
        let resp = self.router.clone().oneshot(req).await.unwrap();
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
            .await
            .unwrap();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Reply {
            status,
            headers,
            body,
        }
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Reply {
        let mut b = Request::builder().method(method).uri(path);
        if let Some(t) = token {
            b = b.header("authorization", format!("Bearer {t}"));
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string()))
                .unwrap(),
            None => b.body(Body::empty()).unwrap(),
        };
        self.send(req).await
    }

    pub async fn get(&self, path: &str, token: &str) -> Reply {
        self.call("GET", path, Some(token), None).await
    }

    pub async fn post(&self, path: &str, token: &str, body: Value) -> Reply {
        self.call("POST", path, Some(token), Some(body)).await
    }

    /// Polls `path` until the job is `COMPLETED` or `FAILED`.
    pub async fn finished(&self, path: &str, token: &str) -> Value {
        let deadline = std::time::Instant::now() + Duration::from_secs(120);
        loop {
            let r = self.get(path, token).await;
            assert_eq!(r.status, StatusCode::OK, "{r:?}");
            let status = r.body["status"].as_str().unwrap().to_string();
            if status == "COMPLETED" || status == "FAILED" {
                return r.body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{path} still {status}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Imports a package directory as a tar.gz.
    pub async fn import(&self, token: &str, dir: &Path, query: &str) -> Reply {
        let req = Request::builder()
            .method("POST")
            .uri(format!("/problems/import{query}"))
            .header("authorization", format!("Bearer {token}"))
            .header("content-type", "application/gzip")
            .body(Body::from(tar_gz(dir)))
            .unwrap();
        self.send(req).await
    }
}

pub fn problems_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../runner-task/tests/problems")
}

/// A tar.gz of `dir` (as its own top directory).
pub fn tar_gz(dir: &Path) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    b.follow_symlinks(false);
    let name = dir.file_name().unwrap();
    b.append_dir_all(name, dir).unwrap();
    b.into_inner().unwrap().finish().unwrap()
}

pub fn run_body(language: &str, source: &str, stdin: &str) -> Value {
    json!({"language": language, "source": source, "inputs": [{"stdin": stdin}]})
}

/// Processes whose command line mentions `needle`.
pub fn pids_with(needle: &str) -> Vec<i32> {
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if let Ok(cmd) = std::fs::read(e.path().join("cmdline")) {
            if String::from_utf8_lossy(&cmd).contains(needle) {
                out.push(pid);
            }
        }
    }
    out
}

/// A request as [`capture_one_request`] took it: its request line and
/// headers (as lines), and its body.
pub type Captured = (Vec<String>, Vec<u8>);

/// A local HTTP server that takes one request and answers it 204.
pub fn capture_one_request() -> (u16, std::thread::JoinHandle<Captured>) {
    use std::io::{BufRead, BufReader, Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let received = std::thread::spawn(move || {
        let (mut conn, _) = listener.accept().unwrap();
        conn.set_read_timeout(Some(Duration::from_secs(30)))
            .unwrap();
        let mut reader = BufReader::new(conn.try_clone().unwrap());
        let mut headers = Vec::new();
        loop {
            let mut line = String::new();
            reader.read_line(&mut line).unwrap();
            if line.trim().is_empty() {
                break;
            }
            headers.push(line.trim().to_string());
        }
        let len: usize = headers
            .iter()
            .find_map(|h| {
                h.to_ascii_lowercase()
                    .strip_prefix("content-length: ")
                    .map(|v| v.parse().unwrap())
            })
            .unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        conn.write_all(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
            .unwrap();
        (headers, body)
    });
    (port, received)
}
