//! Piston's API, version 2 (see `coderun_core::piston`), under `/piston`:
//! clients written for Piston point at it and work unchanged. A client
//! that sends no header of its own authenticates with the token as the
//! password of its server URL (`https://user:TOKEN@host/piston`), which
//! HTTP clients send as Basic authorization.

use axum::body::Bytes;
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use base64::Engine;
use coderun_core::piston::{self, ExecuteRequest};
use serde_json::json;

use super::{longest_wait, rate_limit, wait_for_end};
use crate::auth::Caller;
use crate::AppState;

/// The Piston routes, to be nested (under `/piston`).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/v2/runtimes",
            get(|| async { axum::Json(piston::runtimes()) }),
        )
        .route("/api/v2/execute", post(execute))
        .layer(axum::middleware::from_fn(basic_password_as_bearer))
}

/// `Authorization: Basic` whose password is a token: taken as that bearer
/// token.
async fn basic_password_as_bearer(mut req: Request, next: Next) -> Response {
    let token = req
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Basic "))
        .and_then(|b| {
            base64::engine::general_purpose::STANDARD
                .decode(b.trim())
                .ok()
        })
        .and_then(|b| String::from_utf8(b).ok())
        .and_then(|pair| pair.split_once(':').map(|(_, p)| p.to_string()));
    if let Some(v) = token.and_then(|t| HeaderValue::from_str(&format!("Bearer {t}")).ok()) {
        req.headers_mut().insert(header::AUTHORIZATION, v);
    }
    next.run(req).await
}

/// Piston's refusal: 400 `{"message"}`.
fn refused(message: impl Into<String>) -> Response {
    (
        StatusCode::BAD_REQUEST,
        axum::Json(json!({ "message": message.into() })),
    )
        .into_response()
}

/// Runs the program and answers when it has ended, as Piston does. (Piston
/// clients send JSON with any content type, or none.)
async fn execute(State(state): State<AppState>, caller: Caller, body: Bytes) -> Response {
    if let Err(e) = rate_limit(&state, &caller) {
        return e.into_response();
    }
    let req: ExecuteRequest = match serde_json::from_slice(&body) {
        Ok(r) => r,
        Err(e) => return refused(format!("the body is not valid JSON: {e}")),
    };
    let (run, language) = match req.to_run() {
        Ok(r) => r,
        Err(e) => return refused(e.0),
    };
    let job = match state.platform.create_run(&caller.0, run, None).await {
        Ok((job, _)) => job,
        Err(coderun_core::CoreError::Invalid { field, message })
        | Err(coderun_core::CoreError::TooLarge { field, message }) => {
            return refused(format!("{field}: {message}"))
        }
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    if let Err(e) = wait_for_end(&state, &job.id).await {
        return crate::error::ApiError::from(e).into_response();
    }
    let record = match state.platform.run_record(&caller.0, &job.id).await {
        Ok(r) => r,
        Err(e) => return crate::error::ApiError::from(e).into_response(),
    };
    let failure = match &record.job.error {
        Some(e) => Some(e.clone()),
        None if !record.job.status.is_final() => Some(format!(
            "the run had not ended after {} s (it goes on: GET /runs/{})",
            longest_wait(&state).as_secs(),
            record.job.id
        )),
        None => None,
    };
    axum::Json(piston::response(
        language,
        record.result.as_ref(),
        failure.as_deref(),
    ))
    .into_response()
}
