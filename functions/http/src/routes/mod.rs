//! The handlers: parse, authorize, call a service, shape the answer. One
//! file per resource; what every job-creating handler shares is here
//! ([`Intake`], [`finish_or_accept`]).

use std::time::Duration;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use coderun_core::views::*;
use coderun_core::{Job, JobKind, JobQuery};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::Query;
use crate::AppState;

type ApiResult<T> = Result<T, ApiError>;

pub mod judge0;
mod operations;
pub mod piston;
mod problems;
mod public;
mod runs;
mod sessions;
mod submissions;

pub use operations::*;
pub use problems::*;
pub use public::*;
pub use runs::*;
pub use sessions::*;
pub use submissions::*;

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

/// How long a request may wait for a run to end where the API answers
/// only when it has (Judge0's `?wait=true`, Piston's execute): within
/// API Gateway's 30 s where responses are delivered whole, else the
/// longest a run with its compilation can take.
fn longest_wait(state: &AppState) -> Duration {
    if state.config.follow_window.is_some() {
        Duration::from_secs(25)
    } else {
        Duration::from_millis(
            coderun_protocol::Limits::MAX_WALL_TIME_MS
                + coderun_protocol::lang::compile_limits().wall_ms()
                + 10_000,
        )
    }
}

/// Waits, at most [`longest_wait`], for job `id` to end (or be gone): the
/// platform's own wait is bounded per call.
async fn wait_for_end(state: &AppState, id: &str) -> Result<(), coderun_core::CoreError> {
    let deadline = tokio::time::Instant::now() + longest_wait(state);
    while tokio::time::Instant::now() < deadline {
        let left = deadline - tokio::time::Instant::now();
        match state.platform.wait(id, left).await? {
            Some(job) if !job.status.is_final() => {}
            _ => break,
        }
    }
    Ok(())
}

/// `?wait=SECONDS` on creation.
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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

/// What every request that creates a job brings besides its body: a caller
/// within its rate, `?wait=` and an `Idempotency-Key`, checked in that
/// order.
#[derive(Debug)]
pub struct Intake {
    caller: Caller,
    wait: Option<Duration>,
    key: Option<String>,
}

impl FromRequestParts<AppState> for Intake {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> ApiResult<Intake> {
        let caller = Caller::from_request_parts(parts, state).await?;
        let Query(wait) = Query::<WaitParams>::from_request_parts(parts, state).await?;
        let wait = wait.duration()?;
        rate_limit(state, &caller)?;
        let key = idempotency_key(&parts.headers)?;
        Ok(Intake { caller, wait, key })
    }
}

impl Intake {
    fn who(&self) -> &coderun_core::Principal {
        &self.caller.0
    }

    fn key(&self) -> Option<&str> {
        self.key.as_deref()
    }

    /// Answers for the job the request made (or found, when replayed).
    async fn answer(self, state: &AppState, (job, created): (Job, bool)) -> ApiResult<Response> {
        tracing::Span::current().record("job_id", job.id.as_str());
        finish_or_accept(state, &self.caller, job, created, self.wait).await
    }
}

/// The answer to a job's creation: the finished result when `?wait=` was
/// given and the job ended within it (200), else the job as accepted (202,
/// with its `Location`).
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

/// A page of the caller's jobs (runs or submissions).
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

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    cursor: Option<String>,
    /// 1 to 100.
    limit: Option<u32>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct JobPage {
    items: Vec<JobView>,
    next_cursor: Option<String>,
}
