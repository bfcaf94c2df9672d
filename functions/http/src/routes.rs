//! The handlers: parse, authorize, call a service, shape the answer.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use coderun_core::requests::*;
use coderun_core::service::{Saved, LATENCY_BUCKETS_MS};
use coderun_core::views::*;
use coderun_core::{Job, JobKind, JobQuery, Status};
use coderun_protocol::Verdict;
use futures_util::stream::Stream;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

/// Page size when the client does not ask.
const DEFAULT_PAGE: u32 = 20;

fn idempotency_key(headers: &HeaderMap) -> ApiResult<Option<String>> {
    match headers.get("idempotency-key") {
        None => Ok(None),
        Some(v) => v
            .to_str()
            .map(|s| Some(s.to_string()))
            .map_err(|_| ApiError::bad_request("Idempotency-Key: printable ASCII only")),
    }
}

fn rate_limit(state: &AppState, caller: &Caller) -> ApiResult<()> {
    state.limiter.check(&caller.0.user).map_err(|secs| {
        let mut e = ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            format!("too many requests; retry in {secs} s"),
        );
        e.retry_after = Some(secs);
        e
    })
}

/// `?wait=SECONDS` on creation.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct WaitParams {
    /// Answer with the finished result if it is ready within this many
    /// seconds (at most 10).
    #[serde(default)]
    wait: Option<f64>,
}

impl WaitParams {
    fn duration(&self) -> ApiResult<Option<Duration>> {
        match self.wait {
            None => Ok(None),
            Some(w) if (0.0..=10.0).contains(&w) => Ok(Some(Duration::from_secs_f64(w))),
            Some(_) => Err(ApiError::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "invalid_request",
                "wait: between 0 and 10 seconds",
            )),
        }
    }
}

fn accepted<T: Serialize>(body: T, location: String, replayed: bool) -> Response {
    let mut r = (StatusCode::ACCEPTED, axum::Json(body)).into_response();
    if let Ok(v) = HeaderValue::from_str(&location) {
        r.headers_mut().insert(header::LOCATION, v);
    }
    if replayed {
        r.headers_mut()
            .insert("idempotent-replayed", HeaderValue::from_static("true"));
    }
    r
}

// ---- public --------------------------------------------------------------

#[derive(Debug, Serialize, ToSchema)]
pub struct Health {
    status: &'static str,
    version: &'static str,
}

#[utoipa::path(get, path = "/health", tag = "public", responses((status = 200, body = Health)))]
pub async fn health() -> axum::Json<Health> {
    axum::Json(Health {
        status: "ok",
        version: env!("CARGO_PKG_VERSION"),
    })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct LanguageView {
    id: &'static str,
    name: &'static str,
    extensions: &'static [&'static str],
    compiled: bool,
}

#[utoipa::path(get, path = "/languages", tag = "public", responses((status = 200, body = Vec<LanguageView>)))]
pub async fn languages() -> axum::Json<Vec<LanguageView>> {
    axum::Json(
        coderun_protocol::lang::LANGUAGES
            .iter()
            .map(|l| LanguageView {
                id: l.id,
                name: l.name,
                extensions: l.extensions,
                compiled: l.compile.is_some(),
            })
            .collect(),
    )
}

pub async fn openapi_json() -> impl IntoResponse {
    axum::Json(crate::openapi::document())
}

pub async fn jwks(State(state): State<AppState>) -> ApiResult<axum::Json<serde_json::Value>> {
    state
        .config
        .jwks
        .clone()
        .map(axum::Json)
        .ok_or_else(|| ApiError::not_found("this deployment does not issue tokens"))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ClientConfig {
    /// `local` (the local issuer), `external` or `aws` (Cognito).
    mode: String,
    /// `POST /auth/dev-login` is offered (local mode on a loopback address,
    /// or `coderun serve --dev-login`).
    dev_login: bool,
    /// Sign-in with an OpenID provider (authorization code + PKCE).
    #[serde(skip_serializing_if = "Option::is_none")]
    oidc: Option<crate::OidcConfig>,
}

#[utoipa::path(get, path = "/config.json", tag = "public", responses((status = 200, body = ClientConfig)))]
pub async fn client_config(State(state): State<AppState>) -> axum::Json<ClientConfig> {
    axum::Json(ClientConfig {
        mode: state.config.mode.clone(),
        dev_login: state.config.dev_login.is_some(),
        oidc: state.config.oidc.clone(),
    })
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DevLoginRequest {
    /// 1-64 characters of `[A-Za-z0-9_.@-]`.
    user: String,
    /// `setter` and/or `admin`.
    #[serde(default)]
    roles: Vec<coderun_core::Role>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct DevToken {
    token: String,
    token_type: &'static str,
    expires_in: u64,
}

/// A token from the local issuer, for the web front end's dev login. Only
/// where the server offers it (`/config.json` says `dev_login`).
#[utoipa::path(post, path = "/auth/dev-login", tag = "public", request_body = DevLoginRequest,
    responses((status = 200, body = DevToken), (status = 404, body = crate::error::ErrorBody)))]
pub async fn dev_login(
    State(state): State<AppState>,
    Json(req): Json<DevLoginRequest>,
) -> ApiResult<axum::Json<DevToken>> {
    let Some(minter) = &state.config.dev_login else {
        return Err(ApiError::not_found(
            "dev login is not offered by this server",
        ));
    };
    let valid = !req.user.is_empty()
        && req.user.len() <= 64
        && req
            .user
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"_.@-".contains(&b));
    if !valid {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "user: 1-64 characters of letters, digits and _ . @ -",
        ));
    }
    if req.roles.len() > 2 {
        return Err(ApiError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "invalid",
            "roles: at most setter and admin",
        ));
    }
    let (token, expires_in) = minter.token(&req.user, &req.roles).map_err(|e| {
        tracing::error!(error = %e, "minting a dev token failed");
        ApiError::internal()
    })?;
    Ok(axum::Json(DevToken {
        token,
        token_type: "Bearer",
        expires_in,
    }))
}

pub async fn not_found() -> ApiError {
    ApiError::not_found("no such route")
}

// ---- problems ------------------------------------------------------------

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    cursor: Option<String>,
    /// 1 to 100.
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ProblemPage {
    items: Vec<ProblemSummary>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/problems", tag = "public", params(PageParams),
    responses((status = 200, body = ProblemPage)))]
pub async fn list_problems(
    State(state): State<AppState>,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<ProblemPage>> {
    let page = state
        .platform
        .list_problems(q.cursor.as_deref(), q.limit.unwrap_or(DEFAULT_PAGE))
        .await?;
    Ok(axum::Json(ProblemPage {
        items: page.items.iter().map(Into::into).collect(),
        next_cursor: page.next,
    }))
}

#[utoipa::path(get, path = "/problems/{id}", tag = "public",
    responses((status = 200, body = ProblemView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_problem(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ProblemView>> {
    Ok(axum::Json((&state.platform.get_problem(&id).await?).into()))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct SavedProblem {
    #[serde(flatten)]
    problem: ProblemView,
    /// The `runner-task verify` report: each submission of the package
    /// with its expected and actual verdict.
    #[schema(value_type = Object)]
    verify_report: serde_json::Value,
}

/// A problem stored at once (`status`), or 202 with the import a runner
/// verifies first (where the API cannot run the package's code: AWS).
fn saved(saved: Saved, status: StatusCode) -> Response {
    match saved {
        Saved::Problem(p) => {
            let body = SavedProblem {
                problem: p.as_ref().into(),
                verify_report: p.verify_report.clone().unwrap_or_default(),
            };
            (status, axum::Json(body)).into_response()
        }
        Saved::Verifying(job) => {
            let location = format!("/imports/{}", job.id);
            accepted(ImportView::new(*job, None), location, false)
        }
    }
}

#[utoipa::path(get, path = "/imports/{id}", tag = "setter", security(("bearer" = [])),
    responses((status = 200, body = ImportView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_import(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<ImportView>> {
    Ok(axum::Json(state.platform.get_import(&caller.0, &id).await?))
}

#[utoipa::path(post, path = "/problems", tag = "setter", request_body = ProblemRequest,
    security(("bearer" = [])),
    responses((status = 201, body = SavedProblem),
        (status = 202, body = ImportView, description = "a runner verifies the package first: follow Location"),
        (status = 409, body = crate::error::ErrorBody)))]
pub async fn create_problem(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<ProblemRequest>,
) -> ApiResult<impl IntoResponse> {
    let p = state.platform.save_problem(&caller.0, req, None).await?;
    Ok(saved(p, StatusCode::CREATED))
}

#[utoipa::path(put, path = "/problems/{id}", tag = "setter", request_body = ProblemRequest,
    security(("bearer" = [])), responses((status = 200, body = SavedProblem),
        (status = 202, body = ImportView, description = "a runner verifies the package first: follow Location")))]
pub async fn replace_problem(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<ProblemRequest>,
) -> ApiResult<Response> {
    let p = state
        .platform
        .save_problem(&caller.0, req, Some(&id))
        .await?;
    Ok(saved(p, StatusCode::OK))
}

#[utoipa::path(delete, path = "/problems/{id}", tag = "setter", security(("bearer" = [])),
    responses((status = 204)))]
pub async fn delete_problem(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.platform.delete_problem(&caller.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// The problem id; derived from the package's directory or name if absent.
    id: Option<String>,
    /// Replace an existing problem (a new version).
    #[serde(default)]
    replace: bool,
}

/// Imports a Problem Package Format archive: the raw body
/// (`application/zip`, `application/gzip`) or the multipart field `package`.
#[utoipa::path(post, path = "/problems/import", tag = "setter", params(ImportParams),
    security(("bearer" = [])),
    request_body(content = Vec<u8>, content_type = "application/zip"),
    responses((status = 201, body = SavedProblem),
        (status = 202, body = ImportView, description = "a runner verifies the package first: follow Location"),
        (status = 422, body = crate::error::ErrorBody)))]
pub async fn import_problem(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ImportParams>,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    rate_limit(&state, &caller)?;
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_ascii_lowercase();
    let too_large = || {
        ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "too_large",
            format!("package: at most {} bytes", crate::MAX_PACKAGE_BODY),
        )
    };
    let bytes = if content_type.starts_with("multipart/form-data") {
        let mut form = Multipart::from_request(req, &state)
            .await
            .map_err(|e| ApiError::bad_request(e.body_text()))?;
        let mut package = None;
        while let Some(field) = form.next_field().await.map_err(|e| {
            if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                too_large()
            } else {
                ApiError::bad_request(e.body_text())
            }
        })? {
            if field.name() == Some("package") {
                package = Some(field.bytes().await.map_err(|e| {
                    if e.status() == StatusCode::PAYLOAD_TOO_LARGE {
                        too_large()
                    } else {
                        ApiError::bad_request(e.body_text())
                    }
                })?);
            }
        }
        package.ok_or_else(|| ApiError::bad_request("package: the multipart field is missing"))?
    } else if [
        "application/zip",
        "application/gzip",
        "application/x-gzip",
        "application/x-tar+gzip",
        "application/octet-stream",
    ]
    .iter()
    .any(|t| content_type.starts_with(t))
    {
        axum::body::Bytes::from_request(req, &state)
            .await
            .map_err(|_| too_large())?
    } else {
        return Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the package as application/zip, application/gzip or multipart/form-data (field `package`)",
        ));
    };
    let result = state
        .platform
        .import_problem(&caller.0, bytes.to_vec(), q.id, q.replace)
        .await?;
    let status = if q.replace {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    Ok(saved(result, status))
}

// ---- runs ------------------------------------------------------------------

#[utoipa::path(post, path = "/runs", tag = "runs", request_body = RunRequest, params(WaitParams),
    security(("bearer" = [])),
    responses((status = 202, body = JobView), (status = 200, body = RunView, description = "finished within ?wait"),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
pub async fn create_run(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(wait): Query<WaitParams>,
    Json(req): Json<RunRequest>,
) -> ApiResult<Response> {
    let wait = wait.duration()?;
    rate_limit(&state, &caller)?;
    let key = idempotency_key(&headers)?;
    let (job, created) = state
        .platform
        .create_run(&caller.0, req, key.as_deref())
        .await?;
    finish_or_accept(&state, &caller, job, created, wait).await
}

async fn finish_or_accept(
    state: &AppState,
    caller: &Caller,
    job: Job,
    created: bool,
    wait: Option<Duration>,
) -> ApiResult<Response> {
    let id = job.id.clone();
    let location = match job.kind {
        JobKind::Run => format!("/runs/{id}"),
        JobKind::Submission => format!("/submissions/{id}"),
        JobKind::Import => format!("/imports/{id}"),
    };
    let job = match wait {
        Some(w) if !job.status.is_final() => state.platform.wait(&id, w).await?.unwrap_or(job),
        _ => job,
    };
    if wait.is_some() && job.status.is_final() {
        let body = match job.kind {
            JobKind::Run => serde_json::to_value(state.platform.get_run(&caller.0, &id).await?),
            JobKind::Submission => {
                serde_json::to_value(state.platform.get_submission(&caller.0, &id).await?)
            }
            JobKind::Import => {
                serde_json::to_value(state.platform.get_import(&caller.0, &id).await?)
            }
        }
        .map_err(|_| ApiError::internal())?;
        return Ok(axum::Json(body).into_response());
    }
    Ok(accepted(JobView::from(job), location, !created))
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    items: Vec<JobView>,
    next_cursor: Option<String>,
}

#[utoipa::path(get, path = "/runs", tag = "runs", params(PageParams), security(("bearer" = [])),
    responses((status = 200, body = JobPage)))]
pub async fn list_runs(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<PageParams>,
) -> ApiResult<axum::Json<JobPage>> {
    list(
        &state,
        JobQuery {
            user: caller.0.user,
            kind: Some(JobKind::Run),
            cursor: q.cursor,
            limit: q.limit.unwrap_or(DEFAULT_PAGE),
            ..JobQuery::default()
        },
    )
    .await
}

async fn list(state: &AppState, q: JobQuery) -> ApiResult<axum::Json<JobPage>> {
    if let Some(c) = &q.cursor {
        let plain = |b: u8| b.is_ascii_alphanumeric() || b == b'.' || b == b'-' || b == b'_';
        if c.len() > 2048 || !c.bytes().all(plain) {
            return Err(ApiError::bad_request("cursor: not a cursor from this list"));
        }
    }
    let page = state.platform.list_jobs(q).await?;
    Ok(axum::Json(JobPage {
        items: page.items.into_iter().map(JobView::from).collect(),
        next_cursor: page.next,
    }))
}

#[utoipa::path(get, path = "/runs/{id}", tag = "runs", security(("bearer" = [])),
    responses((status = 200, body = RunView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RunView>> {
    Ok(axum::Json(state.platform.get_run(&caller.0, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct LogParams {
    #[serde(default)]
    #[param(value_type = Option<String>)]
    stream: LogStream,
    /// Which input of the run (from 0).
    #[serde(default)]
    input: u32,
    cursor: Option<String>,
    /// Lines per page, 1 to 1000.
    limit: Option<u32>,
    /// Stream new lines as Server-Sent Events until the run ends.
    #[serde(default)]
    follow: bool,
}

#[utoipa::path(get, path = "/runs/{id}/logs", tag = "runs", params(LogParams), security(("bearer" = [])),
    responses((status = 200, body = LogPage, description = "JSON, or text/event-stream with follow=true: \
        `status` events, `line` events and a final `end` event")))]
pub async fn run_logs(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Query(q): Query<LogParams>,
) -> ApiResult<Response> {
    let query = LogQuery {
        stream: q.stream,
        input: q.input,
        cursor: q.cursor,
        limit: q.limit.unwrap_or(200),
    };
    // Checks access and parameters before any stream starts.
    let first = state.platform.run_logs(&caller.0, &id, &query).await?;
    if !q.follow {
        return Ok(axum::Json(first).into_response());
    }
    let stream = follow_logs(state, caller, id, query, first);
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response())
}

/// Server-Sent Events: the status whenever it changes, every line, then `end`.
fn follow_logs(
    state: AppState,
    caller: Caller,
    id: String,
    query: LogQuery,
    first: LogPage,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Tail {
        state: AppState,
        caller: Caller,
        id: String,
        query: LogQuery,
        page: Option<LogPage>,
        last_status: Option<Status>,
        pending: std::collections::VecDeque<Event>,
        done: bool,
        events: tokio::sync::broadcast::Receiver<String>,
    }
    let events = state.platform.subscribe();
    let tail = Tail {
        state,
        caller,
        id,
        query,
        page: Some(first),
        last_status: None,
        pending: Default::default(),
        done: false,
        events,
    };
    futures_util::stream::unfold(tail, |mut t| async move {
        loop {
            if let Some(ev) = t.pending.pop_front() {
                return Some((Ok(ev), t));
            }
            if t.done {
                return None;
            }
            let page = match t.page.take() {
                Some(p) => p,
                None => match t
                    .state
                    .platform
                    .run_logs(&t.caller.0, &t.id, &t.query)
                    .await
                {
                    Ok(p) => p,
                    Err(e) => {
                        t.done = true;
                        let msg = ApiError::from(e).message;
                        t.pending
                            .push_back(Event::default().event("error").data(msg));
                        continue;
                    }
                },
            };
            if t.last_status != Some(page.status) {
                t.last_status = Some(page.status);
                t.pending
                    .push_back(Event::default().event("status").data(page.status.as_str()));
            }
            let got_lines = !page.lines.is_empty();
            for line in &page.lines {
                let text = line.strip_suffix('\n').unwrap_or(line);
                t.pending
                    .push_back(Event::default().event("line").data(text));
            }
            if page.complete {
                t.done = true;
                t.pending
                    .push_back(Event::default().event("end").data(page.status.as_str()));
                continue;
            }
            t.query.cursor = page.next_cursor;
            if !got_lines {
                // Nothing new: wait for a job to finish here, or poll.
                tokio::select! {
                    _ = t.events.recv() => {}
                    _ = tokio::time::sleep(Duration::from_millis(100)) => {}
                }
            }
        }
    })
}

// ---- submissions ---------------------------------------------------------

#[utoipa::path(post, path = "/submissions", tag = "submissions", request_body = SubmissionRequest,
    params(WaitParams), security(("bearer" = [])),
    responses((status = 202, body = JobView), (status = 200, body = SubmissionView, description = "finished within ?wait"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn create_submission(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Query(wait): Query<WaitParams>,
    Json(req): Json<SubmissionRequest>,
) -> ApiResult<Response> {
    let wait = wait.duration()?;
    rate_limit(&state, &caller)?;
    let key = idempotency_key(&headers)?;
    let (job, created) = state
        .platform
        .create_submission(&caller.0, req, key.as_deref())
        .await?;
    finish_or_accept(&state, &caller, job, created, wait).await
}

#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct BatchRequest {
    /// 1 to 20 submissions, accepted all or none.
    submissions: Vec<SubmissionRequest>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct BatchResponse {
    submissions: Vec<JobView>,
}

#[utoipa::path(post, path = "/submissions/batch", tag = "submissions", request_body = BatchRequest,
    security(("bearer" = [])), responses((status = 202, body = BatchResponse)))]
pub async fn create_submissions(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Json(req): Json<BatchRequest>,
) -> ApiResult<Response> {
    rate_limit(&state, &caller)?;
    let key = idempotency_key(&headers)?;
    let jobs = state
        .platform
        .create_submissions(&caller.0, req.submissions, key.as_deref())
        .await?;
    let replayed = jobs.iter().all(|(_, created)| !created);
    let body = BatchResponse {
        submissions: jobs.into_iter().map(|(j, _)| j.into()).collect(),
    };
    Ok(accepted(body, "/submissions".into(), replayed))
}

#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
pub struct SubmissionFilter {
    problem_id: Option<String>,
    /// AC, WA, TLE, MLE, OLE, RE, CE, PA or IE.
    #[param(value_type = Option<String>)]
    verdict: Option<Verdict>,
    cursor: Option<String>,
    limit: Option<u32>,
}

#[utoipa::path(get, path = "/submissions", tag = "submissions", params(SubmissionFilter),
    security(("bearer" = [])), responses((status = 200, body = JobPage)))]
pub async fn list_submissions(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<SubmissionFilter>,
) -> ApiResult<axum::Json<JobPage>> {
    list(
        &state,
        JobQuery {
            user: caller.0.user,
            kind: Some(JobKind::Submission),
            problem_id: q.problem_id,
            verdict: q.verdict,
            cursor: q.cursor,
            limit: q.limit.unwrap_or(DEFAULT_PAGE),
        },
    )
    .await
}

#[utoipa::path(get, path = "/submissions/{id}", tag = "submissions", security(("bearer" = [])),
    responses((status = 200, body = SubmissionView), (status = 404, body = crate::error::ErrorBody)))]
pub async fn get_submission(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<SubmissionView>> {
    Ok(axum::Json(
        state.platform.get_submission(&caller.0, &id).await?,
    ))
}

#[utoipa::path(post, path = "/submissions/{id}/rejudge", tag = "setter", security(("bearer" = [])),
    responses((status = 202, body = JobView, description = "a new submission judging the same source")))]
pub async fn rejudge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<Response> {
    let job = state.platform.rejudge(&caller.0, &id).await?;
    let location = format!("/submissions/{}", job.id);
    Ok(accepted(JobView::from(job), location, false))
}

#[utoipa::path(get, path = "/me", tag = "users", security(("bearer" = [])),
    responses((status = 200, body = Profile)))]
pub async fn me(State(state): State<AppState>, caller: Caller) -> ApiResult<axum::Json<Profile>> {
    Ok(axum::Json(state.platform.profile(&caller.0).await?))
}

// ---- sessions --------------------------------------------------------------

#[utoipa::path(post, path = "/sessions", tag = "sessions", request_body = SessionRequest,
    security(("bearer" = [])), responses((status = 201, body = coderun_core::Session)))]
pub async fn create_session(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<SessionRequest>,
) -> ApiResult<impl IntoResponse> {
    let s = state.platform.create_session(&caller.0, req).await?;
    Ok((StatusCode::CREATED, axum::Json(s)))
}

#[utoipa::path(get, path = "/sessions/{id}", tag = "sessions", security(("bearer" = [])),
    responses((status = 200, body = coderun_core::Session)))]
pub async fn get_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<coderun_core::Session>> {
    Ok(axum::Json(
        state.platform.get_session(&caller.0, &id).await?,
    ))
}

#[utoipa::path(patch, path = "/sessions/{id}", tag = "sessions", request_body = SessionRequest,
    security(("bearer" = [])), responses((status = 200, body = coderun_core::Session)))]
pub async fn update_session(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Json(req): Json<SessionRequest>,
) -> ApiResult<axum::Json<coderun_core::Session>> {
    Ok(axum::Json(
        state.platform.update_session(&caller.0, &id, req).await?,
    ))
}

#[utoipa::path(post, path = "/sessions/{id}/run", tag = "sessions", params(WaitParams),
    security(("bearer" = [])), responses((status = 202, body = JobView)))]
pub async fn run_session(
    State(state): State<AppState>,
    caller: Caller,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(wait): Query<WaitParams>,
) -> ApiResult<Response> {
    let wait = wait.duration()?;
    rate_limit(&state, &caller)?;
    let key = idempotency_key(&headers)?;
    let (job, created) = state
        .platform
        .run_session(&caller.0, &id, key.as_deref())
        .await?;
    finish_or_accept(&state, &caller, job, created, wait).await
}

// ---- operations ----------------------------------------------------------

fn require_admin(caller: &Caller) -> ApiResult<()> {
    if !caller.0.is_admin() {
        return Err(ApiError::forbidden("this needs the admin role"));
    }
    Ok(())
}

#[utoipa::path(get, path = "/admin/queue", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = QueueStatus)))]
pub async fn admin_queue(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<axum::Json<QueueStatus>> {
    require_admin(&caller)?;
    Ok(axum::Json(state.platform.queue_status().await?))
}

/// Prometheus text format.
#[utoipa::path(get, path = "/metrics", tag = "admin", security(("bearer" = [])),
    responses((status = 200, body = String, content_type = "text/plain")))]
pub async fn metrics(State(state): State<AppState>, caller: Caller) -> ApiResult<Response> {
    require_admin(&caller)?;
    let p = &state.platform;
    let counts = p
        .ports()
        .jobs
        .job_counts(p.now())
        .await
        .map_err(coderun_core::CoreError::from)?;
    let (busy, workers) = p.ports().launcher.workers().unwrap_or((0, 0));
    let mut out = String::new();
    let mut metric = |name: &str, kind: &str, help: &str, rows: Vec<(String, f64)>| {
        out += &format!("# HELP {name} {help}\n# TYPE {name} {kind}\n");
        for (labels, v) in rows {
            out += &format!("{name}{labels} {v}\n");
        }
    };
    metric(
        "coderun_jobs",
        "gauge",
        "Jobs by status.",
        [
            ("QUEUED", counts.queued),
            ("STARTING", counts.starting),
            ("RUNNING", counts.running),
            ("COMPLETED", counts.completed),
            ("FAILED", counts.failed),
        ]
        .iter()
        .map(|(s, n)| (format!("{{status=\"{s}\"}}"), *n as f64))
        .collect(),
    );
    metric(
        "coderun_queue_depth",
        "gauge",
        "Jobs accepted and not yet running.",
        vec![(String::new(), (counts.queued + counts.starting) as f64)],
    );
    metric(
        "coderun_oldest_unfinished_age_seconds",
        "gauge",
        "Age of the oldest unfinished job.",
        vec![(
            String::new(),
            counts.oldest_unfinished_ms.unwrap_or(0) as f64 / 1000.0,
        )],
    );
    metric(
        "coderun_submission_verdicts",
        "gauge",
        "Completed submissions by verdict.",
        counts
            .verdicts
            .iter()
            .map(|(v, n)| (format!("{{verdict=\"{v}\"}}"), *n as f64))
            .collect(),
    );
    metric(
        "coderun_run_outcomes",
        "gauge",
        "Completed playground runs by outcome.",
        counts
            .outcomes
            .iter()
            .map(|(v, n)| (format!("{{outcome=\"{v}\"}}"), *n as f64))
            .collect(),
    );
    metric(
        "coderun_workers",
        "gauge",
        "Runner slots, busy and in all.",
        vec![
            ("{state=\"busy\"}".into(), busy as f64),
            ("{state=\"total\"}".into(), workers as f64),
        ],
    );
    let mut rows = Vec::new();
    for (kind, h) in JobKind::ALL
        .map(JobKind::as_str)
        .iter()
        .zip(p.latency.snapshot())
    {
        for (le, n) in LATENCY_BUCKETS_MS.iter().zip(h.buckets) {
            rows.push((
                format!("_bucket{{kind=\"{kind}\",le=\"{}\"}}", *le as f64 / 1000.0),
                n as f64,
            ));
        }
        rows.push((
            format!("_bucket{{kind=\"{kind}\",le=\"+Inf\"}}"),
            h.count as f64,
        ));
        rows.push((format!("_sum{{kind=\"{kind}\"}}"), h.sum_ms as f64 / 1000.0));
        rows.push((format!("_count{{kind=\"{kind}\"}}"), h.count as f64));
    }
    metric(
        "coderun_job_latency_seconds",
        "histogram",
        "From acceptance to result, jobs finished by this process.",
        rows,
    );
    Ok(([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], out).into_response())
}
