//! Judged submissions, one or a batch, their history, rejudges, and the
//! caller's solved-problems profile.

use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use coderun_core::requests::*;
use coderun_core::views::*;
use coderun_core::{JobKind, JobQuery};
use coderun_protocol::Verdict;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::extract::{Json, Query};
use crate::AppState;
use tracing::instrument;

use super::{
    accepted, idempotency_key, list, rate_limit, ApiResult, Intake, JobPage, WaitParams,
    DEFAULT_PAGE,
};

#[utoipa::path(post, path = "/submissions", tag = "submissions", request_body = SubmissionRequest,
    params(WaitParams), security(("bearer" = [])),
    responses((status = 202, body = JobView), (status = 200, body = SubmissionView, description = "finished within ?wait"),
        (status = 404, body = crate::error::ErrorBody)))]
#[instrument(skip_all, fields(job_id))]
pub async fn create_submission(
    State(state): State<AppState>,
    intake: Intake,
    Json(req): Json<SubmissionRequest>,
) -> ApiResult<Response> {
    let created = state
        .platform
        .create_submission(intake.who(), req, intake.key())
        .await?;
    intake.answer(&state, created).await
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
#[into_params(parameter_in = Query)]
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
#[instrument(skip_all, fields(job_id = %id))]
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
#[instrument(skip_all, fields(job_id = %id))]
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
