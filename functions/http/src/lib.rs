//! coderun's HTTP API: one axum `Router` that `coderun serve` serves
//! locally and the `api` Lambda serves behind API Gateway. Handlers call
//! the core's services; nothing here knows which adapters are behind them.

pub mod auth;
pub mod error;
pub mod extract;
pub mod openapi;
pub mod ratelimit;
pub mod routes;

use std::path::PathBuf;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use axum::Router;
use coderun_core::Platform;

pub use auth::{Authenticator, JwtVerifier, Keys};
pub use error::ApiError;
pub use ratelimit::RateLimiter;

/// Largest JSON body: a run's inputs (4 MiB of stdin) and source fit.
pub const MAX_JSON_BODY: usize = 8 << 20;
/// Largest problem package upload, and JSON problem (tests inline).
pub const MAX_PACKAGE_BODY: usize = 64 << 20;

/// Mints tokens for the web front end's "dev login": only `coderun serve`
/// with its local issuer, and only where the operator allows it.
pub trait DevLogin: Send + Sync {
    /// A bearer token for `user` with `roles`, and its lifetime in seconds.
    fn token(&self, user: &str, roles: &[coderun_core::Role]) -> Result<(String, u64), String>;
}

/// How the web front end signs in with an OpenID provider (AWS: Cognito's
/// hosted UI): authorization code with PKCE, a public client.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
pub struct OidcConfig {
    pub issuer: String,
    pub client_id: String,
    pub authorize_url: String,
    pub token_url: String,
    pub logout_url: String,
    pub scopes: String,
}

impl OidcConfig {
    /// Cognito's endpoints under its hosted UI domain.
    pub fn cognito(hosted_ui: &str, client_id: &str, issuer: &str) -> OidcConfig {
        let base = hosted_ui.trim_end_matches('/');
        OidcConfig {
            issuer: issuer.to_string(),
            client_id: client_id.to_string(),
            authorize_url: format!("{base}/oauth2/authorize"),
            token_url: format!("{base}/oauth2/token"),
            logout_url: format!("{base}/logout"),
            scopes: "openid email profile".into(),
        }
    }
}

/// What the router is configured with (from the binary's typed config).
#[derive(Clone, Default)]
pub struct HttpConfig {
    /// Work-creating requests per user and minute; 0 = no limit.
    pub rate_limit_per_minute: u32,
    pub rate_limit_burst: u32,
    /// A built web front end to serve at `/`.
    pub web_dir: Option<PathBuf>,
    /// The JWKS published at `/.well-known/jwks.json` (the local issuer's).
    pub jwks: Option<serde_json::Value>,
    /// `local` or `aws`, told to the front end.
    pub mode: String,
    /// `POST /auth/dev-login`, where offered.
    pub dev_login: Option<Arc<dyn DevLogin>>,
    /// The front end's sign-in, told to it by `/config.json`.
    pub oidc: Option<OidcConfig>,
    /// Where responses are delivered whole (API Gateway in front of a
    /// Lambda function), a followed log is answered in windows: each
    /// response ends as soon as it carries news, or after this long, and
    /// the client asks again from the last event's id. `None`: one stream
    /// until the run ends.
    pub follow_window: Option<std::time::Duration>,
    /// Judge0's API at the root as well as under `/judge0`, for clients
    /// that cannot be given a path; coderun's own API (and the front end)
    /// then under `/coderun`.
    pub judge0_at_root: bool,
}

impl std::fmt::Debug for HttpConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpConfig")
            .field("mode", &self.mode)
            .field("web_dir", &self.web_dir)
            .field("dev_login", &self.dev_login.is_some())
            .field("oidc", &self.oidc)
            .finish_non_exhaustive()
    }
}

/// Shared by every handler.
#[derive(Clone)]
pub struct AppState {
    pub platform: Arc<Platform>,
    pub auth: Arc<dyn Authenticator>,
    pub limiter: Arc<RateLimiter>,
    pub config: Arc<HttpConfig>,
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("config", &self.config)
            .finish()
    }
}

impl AppState {
    pub fn new(
        platform: Arc<Platform>,
        auth: Arc<dyn Authenticator>,
        config: HttpConfig,
    ) -> AppState {
        AppState {
            limiter: Arc::new(RateLimiter::new(
                config.rate_limit_per_minute,
                config.rate_limit_burst,
            )),
            platform,
            auth,
            config: Arc::new(config),
        }
    }
}

/// The whole API.
pub fn router(state: AppState) -> Router {
    use routes::*;
    let api = Router::new()
        .route("/health", get(health))
        .route("/languages", get(languages))
        .route("/openapi.json", get(openapi_json))
        .route("/.well-known/jwks.json", get(jwks))
        .route("/config.json", get(client_config))
        .route("/auth/dev-login", post(dev_login))
        .route("/problems", get(list_problems).post(create_problem))
        .route(
            "/problems/{id}",
            get(get_problem).put(replace_problem).delete(delete_problem),
        )
        .route("/problems/{id}/statement/{file}", get(statement_image))
        .route("/runs", post(create_run).get(list_runs))
        .route("/runs/{id}", get(get_run))
        .route("/runs/{id}/logs", get(run_logs))
        .route(
            "/submissions",
            post(create_submission).get(list_submissions),
        )
        .route("/submissions/batch", post(create_submissions))
        .route("/submissions/{id}", get(get_submission))
        .route("/submissions/{id}/rejudge", post(rejudge))
        .route("/me", get(me))
        .route("/sessions", post(create_session))
        .route("/sessions/{id}", get(get_session).patch(update_session))
        .route("/sessions/{id}/run", post(run_session))
        .route("/imports/{id}", get(get_import))
        .route("/admin/queue", get(admin_queue))
        .route("/metrics", get(metrics))
        .layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    // Packages are larger than any JSON request.
    let import = Router::new()
        .route("/problems/import", post(import_problem))
        .layer(DefaultBodyLimit::max(MAX_PACKAGE_BODY));
    // Judge0 CE's API, for clients written for it.
    let judge0 = routes::judge0::router().layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    // Piston's API, likewise.
    let piston = routes::piston::router().layer(DefaultBodyLimit::max(MAX_JSON_BODY));
    let coderun = api.merge(import);
    let app = if state.config.judge0_at_root {
        Router::new()
            .nest("/coderun", coderun)
            .merge(routes::judge0::router().layer(DefaultBodyLimit::max(MAX_JSON_BODY)))
    } else {
        coderun
    };
    let app = app.nest("/judge0", judge0).nest("/piston", piston);
    let app = match &state.config.web_dir {
        Some(dir) if dir.join("index.html").is_file() => {
            let spa = tower_http::services::ServeDir::new(dir)
                .fallback(tower_http::services::ServeFile::new(dir.join("index.html")));
            app.fallback_service(spa)
        }
        _ => app.fallback(not_found),
    };
    // One span per request (method, path, status, latency; never headers,
    // which carry tokens): the handlers' spans nest inside it.
    let traced = tower_http::trace::TraceLayer::new_for_http()
        .make_span_with(tower_http::trace::DefaultMakeSpan::new().level(tracing::Level::INFO))
        .on_request(())
        .on_response(tower_http::trace::DefaultOnResponse::new().level(tracing::Level::INFO));
    app.layer(traced).with_state(state)
}
