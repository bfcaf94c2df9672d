//! Playground sessions: a saved source and input, run again and again.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use coderun_core::requests::*;
use coderun_core::views::*;

use crate::auth::Caller;
use crate::extract::Json;
use crate::AppState;
use tracing::instrument;

use super::{ApiResult, Intake, WaitParams};

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
    security(("bearer" = [])), responses((status = 202, body = JobView),
        (status = 200, body = RunView, description = "finished within ?wait")))]
#[instrument(skip_all, fields(session_id = %id, job_id))]
pub async fn run_session(
    State(state): State<AppState>,
    Path(id): Path<String>,
    intake: Intake,
) -> ApiResult<Response> {
    let created = state
        .platform
        .run_session(intake.who(), &id, intake.key())
        .await?;
    intake.answer(&state, created).await
}
