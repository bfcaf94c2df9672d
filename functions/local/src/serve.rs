//! `coderun serve`: the whole platform in one process. SQLite, a blob
//! directory, the durable local queue and a pool of runner processes,
//! behind the same core services and HTTP router as on AWS.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use coderun_core::ids::{SystemClock, TimeOrderedIds};
use coderun_core::ports::Clock;
use coderun_core::service::{Ports, Settings};
use coderun_core::Platform;
use coderun_embedded::{Db, DirBlobs, LocalQueue, ProcessLauncher, ProcessVerifier, RunnerCommand};
use coderun_http::{router, AppState, HttpConfig, JwtVerifier, Keys};
use tracing::info;

use crate::issuer::{self, LocalIssuer};
use crate::worker;

/// Where tokens come from.
#[derive(Debug, Clone)]
pub enum TokenSource {
    /// The local issuer in the data directory (`coderun token`).
    Local,
    /// An external issuer (Cognito, an emulator): the expected `iss`, the
    /// JWKS URL (they differ on emulators), and accepted audiences.
    External {
        issuer: String,
        jwks_url: String,
        audiences: Vec<String>,
    },
}

/// The typed configuration of `serve`, parsed once.
#[derive(Debug, Clone)]
pub struct ServeConfig {
    pub addr: SocketAddr,
    pub data: PathBuf,
    pub workers: usize,
    pub web_dir: Option<PathBuf>,
    pub tokens: TokenSource,
    pub run_retention: Duration,
    pub rate_limit_per_minute: u32,
    pub runner: RunnerCommand,
    /// Longest life of one runner process.
    pub runner_deadline: Duration,
    /// Offer the web front end's dev login (tokens from the local issuer
    /// for any user and role: for a machine's own users only).
    pub dev_login: bool,
    /// Judge0's API at the root, coderun's own under `/coderun`.
    pub judge0_at_root: bool,
    /// Callbacks may go to private and loopback addresses (see
    /// `coderun_notify::Reach`).
    pub private_callbacks: bool,
}

/// The dev login's tokens: the local issuer's, for 12 hours.
struct IssuerLogin(LocalIssuer);

impl coderun_http::DevLogin for IssuerLogin {
    fn token(&self, user: &str, roles: &[coderun_core::Role]) -> Result<(String, u64), String> {
        let ttl = Duration::from_secs(12 * 3600);
        self.0
            .token(user, roles, ttl)
            .map(|t| (t, ttl.as_secs()))
            .map_err(|e| format!("{e:#}"))
    }
}

/// A started server.
#[derive(Debug)]
pub struct Server {
    pub addr: SocketAddr,
    pub platform: Arc<Platform>,
    pub serve: tokio::task::JoinHandle<std::io::Result<()>>,
}

/// Reads or creates the secret that signs callbacks.
fn callback_secret(data: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let path = data.join("callback-secret");
    match std::fs::read_to_string(&path) {
        Ok(s) => Ok(s.trim().as_bytes().to_vec()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let s = coderun_core::ids::random_hex(32);
            use std::os::unix::fs::OpenOptionsExt;
            let mut f = std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
                .with_context(|| format!("creating {}", path.display()))?;
            std::io::Write::write_all(&mut f, s.as_bytes())?;
            Ok(s.into_bytes())
        }
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// The platform, built and not yet running.
pub struct App {
    pub router: axum::Router,
    pub platform: Arc<Platform>,
    queue: LocalQueue,
    runner_deadline: Duration,
    events: Option<tokio::sync::mpsc::UnboundedReceiver<coderun_embedded::RunnerEvent>>,
}

impl std::fmt::Debug for App {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("App")
    }
}

impl App {
    /// Starts the background loops: runner events, recovery of unfinished
    /// jobs, the dispatcher and the pruner.
    pub fn spawn_workers(&mut self) {
        let Some(events) = self.events.take() else {
            return;
        };
        tokio::spawn(worker::events_loop(self.platform.clone(), events));
        // Relaunching waits for free runner slots: in the background.
        let p = self.platform.clone();
        tokio::spawn(async move {
            if let Err(e) = p.recover().await {
                tracing::error!(error = %e, "recovering unfinished jobs failed");
            }
        });
        tokio::spawn(worker::dispatch_loop(
            self.platform.clone(),
            self.queue.clone(),
        ));
        // Boxes of runners killed mid-job, in the runner's default work dir.
        let boxes = std::env::temp_dir().join("coderun-sandbox").join("boxes");
        tokio::spawn(worker::prune_loop(
            self.platform.clone(),
            Duration::from_secs(600),
            boxes,
            self.runner_deadline * 2,
        ));
    }
}

/// Builds everything, recovers unfinished jobs, and starts serving.
pub async fn start(cfg: ServeConfig) -> anyhow::Result<Server> {
    let mut app = build(&cfg).await?;
    app.spawn_workers();
    let listener = tokio::net::TcpListener::bind(cfg.addr)
        .await
        .with_context(|| format!("listening on {}", cfg.addr))?;
    let addr = listener.local_addr()?;
    info!(%addr, workers = cfg.workers, data = %cfg.data.display(), "coderun is serving");
    let router = app.router;
    let serve = tokio::spawn(async move {
        axum::serve(listener, router)
            .with_graceful_shutdown(async {
                let _ = tokio::signal::ctrl_c().await;
            })
            .await
    });
    Ok(Server {
        addr,
        platform: app.platform,
        serve,
    })
}

/// Opens the data directory and wires adapters, services and router.
pub async fn build(cfg: &ServeConfig) -> anyhow::Result<App> {
    std::fs::create_dir_all(&cfg.data)
        .with_context(|| format!("creating the data directory {}", cfg.data.display()))?;
    let db = Db::open(&cfg.data.join("coderun.sqlite")).context("opening the database")?;
    let blobs = DirBlobs::new(cfg.data.join("blobs")).context("opening the blob directory")?;
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let queue = LocalQueue::open(db.clone(), clock.clone())
        .await
        .context("opening the queue")?;
    let (launcher, events) = ProcessLauncher::new(
        cfg.runner.clone(),
        blobs.clone(),
        cfg.workers,
        cfg.runner_deadline,
    );
    let ports = Ports {
        jobs: Arc::new(db.clone()),
        problems: Arc::new(db.clone()),
        sessions: Arc::new(db.clone()),
        profiles: Arc::new(db),
        blobs: Arc::new(blobs),
        queue: Arc::new(queue.clone()),
        launcher: Arc::new(launcher),
        verifier: Some(Arc::new(ProcessVerifier::new(
            cfg.runner.clone(),
            Duration::from_secs(600),
        ))),
        notifier: Arc::new(coderun_notify::BackgroundNotifier::new(
            if cfg.private_callbacks {
                coderun_notify::Reach::Private
            } else {
                coderun_notify::Reach::Public
            },
        )),
        metrics: None,
        clock,
        ids: Arc::new(TimeOrderedIds),
    };
    let settings = Settings {
        run_retention: cfg.run_retention,
        callback_secret: callback_secret(&cfg.data)?,
        ..Settings::default()
    };
    let platform = Arc::new(Platform::new(ports, settings));

    let mut dev_login: Option<Arc<dyn coderun_http::DevLogin>> = None;
    let (auth, jwks) = match &cfg.tokens {
        TokenSource::Local => {
            let issuer = LocalIssuer::open(&cfg.data)?;
            let jwks = issuer.jwks().clone();
            let set = serde_json::from_value(jwks.clone()).context("the local JWKS")?;
            let verifier = JwtVerifier::new(
                issuer::ISSUER.into(),
                vec![issuer::AUDIENCE.into()],
                Keys::Static(set),
            );
            if cfg.dev_login {
                dev_login = Some(Arc::new(IssuerLogin(issuer)));
            }
            (verifier, Some(jwks))
        }
        TokenSource::External {
            issuer,
            jwks_url,
            audiences,
        } => (
            JwtVerifier::new(
                issuer.clone(),
                audiences.clone(),
                Keys::Remote {
                    url: jwks_url.clone(),
                },
            ),
            None,
        ),
    };
    let http = HttpConfig {
        rate_limit_per_minute: cfg.rate_limit_per_minute,
        rate_limit_burst: (cfg.rate_limit_per_minute / 2).max(10),
        web_dir: cfg.web_dir.clone(),
        jwks,
        mode: match cfg.tokens {
            TokenSource::Local => "local".into(),
            TokenSource::External { .. } => "external".into(),
        },
        dev_login,
        oidc: None,
        // Served directly: one stream per follower until the run ends.
        follow_window: None,
        judge0_at_root: cfg.judge0_at_root,
    };
    let router = router(AppState::new(platform.clone(), Arc::new(auth), http));
    Ok(App {
        router,
        platform,
        queue,
        runner_deadline: cfg.runner_deadline,
        events: Some(events),
    })
}
