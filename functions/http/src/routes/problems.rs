//! Problems and their imports: the catalog, and packages setters upload.

use axum::extract::{FromRequest, Multipart, Path, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use coderun_core::requests::*;
use coderun_core::service::Saved;
use coderun_core::views::*;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::AppState;
use tracing::instrument;

use super::{accepted, rate_limit, ApiResult, PageParams, DEFAULT_PAGE};

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

/// An image of a problem's statement, as the statement names it. SVG is
/// served sandboxed (no script runs in it, nothing outside it loads).
#[utoipa::path(get, path = "/problems/{id}/statement/{file}", tag = "public",
    responses((status = 200, description = "the image (PNG, JPEG, GIF or SVG)"),
        (status = 404, body = crate::error::ErrorBody)))]
pub async fn statement_image(
    State(state): State<AppState>,
    Path((id, file)): Path<(String, String)>,
) -> ApiResult<Response> {
    let (bytes, kind) = state.platform.statement_image(&id, &file).await?;
    Ok((
        [
            (header::CONTENT_TYPE, kind),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; sandbox",
            ),
            (header::CACHE_CONTROL, "public, max-age=300"),
        ],
        bytes,
    )
        .into_response())
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
#[instrument(skip_all, fields(job_id = %id))]
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
#[instrument(skip_all)]
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
#[instrument(skip_all)]
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
#[instrument(skip_all)]
pub async fn delete_problem(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<StatusCode> {
    state.platform.delete_problem(&caller.0, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
#[instrument(skip_all)]
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
