//! Judge0 CE's API (see `coderun_core::judge0`) under `/judge0`: clients
//! written for Judge0 point at it and work unchanged. Its answers and
//! errors keep Judge0's shapes (`{"error": "…"}`, and a 422's fields each
//! with their complaints), not coderun's.

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use coderun_core::judge0::{self, Fields, SubmissionRequest};
use coderun_core::CoreError;
use serde::Deserialize;
use serde_json::{json, Value};

use super::{rate_limit, wait_for_end};
use crate::auth::Caller;
use crate::AppState;

/// The Judge0 routes, to be nested (under `/judge0`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/about", get(|| async { axum::Json(judge0::about()) }))
        .route(
            "/config_info",
            get(|| async { axum::Json(judge0::config_info()) }),
        )
        .route(
            "/statuses",
            get(|| async { axum::Json(judge0::statuses()) }),
        )
        .route(
            "/languages",
            get(|| async { axum::Json(judge0::languages(false)) }),
        )
        .route(
            "/languages/all",
            get(|| async { axum::Json(judge0::languages(true)) }),
        )
        .route("/languages/{id}", get(language))
        .route("/submissions", post(create))
        .route("/submissions/batch", post(create_batch).get(show_batch))
        .route("/submissions/{token}", get(show))
        .layer(axum::middleware::from_fn(auth_token_as_bearer))
}

/// Judge0 clients authenticate with `X-Auth-Token`: taken as the bearer
/// token where no `Authorization` is given.
async fn auth_token_as_bearer(mut req: Request, next: Next) -> Response {
    if !req.headers().contains_key(header::AUTHORIZATION) {
        let bearer = req
            .headers()
            .get("x-auth-token")
            .and_then(|t| t.to_str().ok())
            .and_then(|t| HeaderValue::from_str(&format!("Bearer {}", t.trim())).ok());
        if let Some(v) = bearer {
            req.headers_mut().insert(header::AUTHORIZATION, v);
        }
    }
    next.run(req).await
}

/// What went wrong, answered in Judge0's shapes.
#[derive(Debug)]
enum Refusal {
    /// `{"error": "…"}`, or a 422's fields with their complaints.
    Judge0(StatusCode, Value),
    /// Not the request's doing (the platform's): coderun's own answer.
    Platform(crate::error::ApiError),
}

impl IntoResponse for Refusal {
    fn into_response(self) -> Response {
        match self {
            Refusal::Judge0(status, body) => (status, axum::Json(body)).into_response(),
            Refusal::Platform(e) => e.into_response(),
        }
    }
}

impl From<CoreError> for Refusal {
    fn from(e: CoreError) -> Refusal {
        match e {
            CoreError::Invalid { field, message } | CoreError::TooLarge { field, message } => {
                Refusal::Judge0(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    json!({ field: [message] }),
                )
            }
            CoreError::NotFound(_) => error(StatusCode::NOT_FOUND, "submission not found"),
            e => Refusal::Platform(e.into()),
        }
    }
}

type Answer = Result<Response, Refusal>;

/// Judge0's error answer.
fn error(status: StatusCode, message: impl Into<String>) -> Refusal {
    Refusal::Judge0(status, json!({"error": message.into()}))
}

#[derive(Debug, Default, Deserialize)]
struct Params {
    base64_encoded: Option<String>,
    wait: Option<String>,
    fields: Option<String>,
    tokens: Option<String>,
}

impl Params {
    fn base64(&self) -> bool {
        self.base64_encoded.as_deref() == Some("true")
    }

    fn fields(&self) -> Result<Fields, Refusal> {
        Fields::parse(self.fields.as_deref()).map_err(|e| error(StatusCode::BAD_REQUEST, e))
    }
}

async fn language(Path(id): Path<String>) -> Answer {
    match id.parse().ok().and_then(judge0::language_details) {
        Some(l) => Ok(axum::Json(l).into_response()),
        None => Err(error(StatusCode::NOT_FOUND, "language not found")),
    }
}

/// A request body as Judge0 takes it (JSON).
fn parse<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, Refusal> {
    serde_json::from_slice(body).map_err(|e| {
        error(
            StatusCode::BAD_REQUEST,
            format!("the body is not valid JSON: {e}"),
        )
    })
}

/// The run a submission asks for, or Judge0's 422.
fn run_of(
    req: &SubmissionRequest,
    base64: bool,
) -> Result<coderun_core::requests::RunRequest, Refusal> {
    let mut run = req
        .to_run(base64)
        .map_err(|i| Refusal::Judge0(StatusCode::UNPROCESSABLE_ENTITY, i.body()))?;
    run.callback_url = req.callback_url.clone();
    Ok(run)
}

async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
    body: Bytes,
) -> Answer {
    rate_limit(&state, &caller).map_err(Refusal::Platform)?;
    let fields = params.fields()?;
    let req: SubmissionRequest = parse(&body)?;
    let run = run_of(&req, params.base64())?;
    let job = state.platform.create_judge0_run(&caller.0, run).await?;
    let token = judge0::token(&job.id)
        .ok_or_else(|| error(StatusCode::INTERNAL_SERVER_ERROR, "the run has no token"))?;
    if params.wait.as_deref() != Some("true") {
        return Ok((StatusCode::CREATED, axum::Json(json!({ "token": token }))).into_response());
    }
    // A run still going at the deadline is answered as it stands.
    wait_for_end(&state, &job.id).await?;
    let record = state.platform.run_record(&caller.0, &job.id).await?;
    let body = judge0::submission(&record, &fields, params.base64());
    Ok((StatusCode::CREATED, axum::Json(body)).into_response())
}

async fn show(
    State(state): State<AppState>,
    caller: Caller,
    Path(token): Path<String>,
    Query(params): Query<Params>,
) -> Answer {
    let fields = params.fields()?;
    let id = judge0::job_id(&token)
        .ok_or_else(|| error(StatusCode::NOT_FOUND, "submission not found"))?;
    let record = state.platform.run_record(&caller.0, &id).await?;
    Ok(axum::Json(judge0::submission(&record, &fields, params.base64())).into_response())
}

#[derive(Debug, Deserialize)]
struct Batch {
    submissions: Vec<Value>,
}

fn batch_size_error() -> Refusal {
    error(
        StatusCode::BAD_REQUEST,
        format!(
            "number of submissions in a batch should be between 1 and {}",
            judge0::MAX_BATCH
        ),
    )
}

async fn create_batch(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
    body: Bytes,
) -> Answer {
    rate_limit(&state, &caller).map_err(Refusal::Platform)?;
    let batch: Batch = parse(&body)?;
    if batch.submissions.is_empty() || batch.submissions.len() > judge0::MAX_BATCH {
        return Err(batch_size_error());
    }
    // Each answered on its own, as Judge0 does: a token, or what is wrong.
    let mut answers = Vec::new();
    let mut created = false;
    for item in batch.submissions {
        let run = serde_json::from_value::<SubmissionRequest>(item)
            .map_err(|e| error(StatusCode::UNPROCESSABLE_ENTITY, e.to_string()))
            .and_then(|req| run_of(&req, params.base64()));
        let run = match run {
            Ok(run) => run,
            Err(Refusal::Judge0(_, body)) => {
                answers.push(body);
                continue;
            }
            Err(e) => return Err(e),
        };
        match state.platform.create_judge0_run(&caller.0, run).await {
            Ok(job) => {
                created = true;
                answers.push(json!({ "token": judge0::token(&job.id) }));
            }
            Err(e) => match Refusal::from(e) {
                Refusal::Judge0(_, body) => answers.push(body),
                platform => return Err(platform),
            },
        }
    }
    let status = if created {
        StatusCode::CREATED
    } else {
        StatusCode::UNPROCESSABLE_ENTITY
    };
    Ok((status, axum::Json(Value::Array(answers))).into_response())
}

async fn show_batch(
    State(state): State<AppState>,
    caller: Caller,
    Query(params): Query<Params>,
) -> Answer {
    let fields = params.fields()?;
    let tokens: Vec<&str> = params
        .tokens
        .as_deref()
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|t| !t.is_empty())
        .collect();
    if tokens.is_empty() || tokens.len() > judge0::MAX_BATCH {
        return Err(batch_size_error());
    }
    let mut submissions = Vec::new();
    for t in tokens {
        let found = match judge0::job_id(t) {
            None => None,
            Some(id) => match state.platform.run_record(&caller.0, &id).await {
                Ok(r) => Some(r),
                Err(CoreError::NotFound(_)) => None,
                Err(e) => return Err(e.into()),
            },
        };
        submissions.push(found.map_or(Value::Null, |r| {
            judge0::submission(&r, &fields, params.base64())
        }));
    }
    Ok(axum::Json(json!({ "submissions": submissions })).into_response())
}
