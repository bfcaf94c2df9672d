//! Playground runs, their list and their logs (live, as server-sent
//! events).

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use coderun_core::requests::*;
use coderun_core::views::*;
use coderun_core::{JobKind, JobQuery, Status};
use futures_util::stream::Stream;
use serde::Deserialize;
use utoipa::IntoParams;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::extract::{Json, Query};
use crate::AppState;
use tracing::instrument;

use super::{list, ApiResult, Intake, JobPage, PageParams, WaitParams, DEFAULT_PAGE};

#[utoipa::path(post, path = "/runs", tag = "runs", request_body = RunRequest, params(WaitParams),
    security(("bearer" = [])),
    responses((status = 202, body = JobView), (status = 200, body = RunView, description = "finished within ?wait"),
        (status = 422, body = crate::error::ErrorBody), (status = 429, body = crate::error::ErrorBody)))]
#[instrument(skip_all, fields(job_id))]
pub async fn create_run(
    State(state): State<AppState>,
    intake: Intake,
    Json(req): Json<RunRequest>,
) -> ApiResult<Response> {
    let created = state
        .platform
        .create_run(intake.who(), req, intake.key())
        .await?;
    intake.answer(&state, created).await
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

#[utoipa::path(get, path = "/runs/{id}", tag = "runs", security(("bearer" = [])),
    responses((status = 200, body = RunView), (status = 404, body = crate::error::ErrorBody)))]
#[instrument(skip_all, fields(job_id = %id))]
pub async fn get_run(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> ApiResult<axum::Json<RunView>> {
    Ok(axum::Json(state.platform.get_run(&caller.0, &id).await?))
}

#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
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
        `status` events, `line` events and a final `end` event. Each event's `id` is the `cursor` to resume \
        from; where responses are delivered whole (on AWS) a response ends with its news, and the client \
        asks again from the last `id` until `end`")))]
#[instrument(skip_all, fields(job_id = %id))]
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
    let window = state.config.follow_window;
    let stream = follow_logs(state, caller, id, query, first, window);
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
    window: Option<Duration>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    struct Tail {
        /// Windowed: when to end without news.
        until: Option<tokio::time::Instant>,
        /// Whether a page was read in this response already.
        read_one: bool,
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
        until: window.map(|w| tokio::time::Instant::now() + w),
        read_one: false,
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
            let first_line: usize = match &t.query.cursor {
                Some(c) => c.parse().unwrap_or(0),
                None => 0,
            };
            // Each event's id is where a client following in windows
            // resumes (`cursor`): the lines it has seen.
            let seen = |n: usize| (first_line + n).to_string();
            let status_changed = t.last_status != Some(page.status);
            if status_changed {
                t.last_status = Some(page.status);
                t.pending.push_back(
                    Event::default()
                        .event("status")
                        .id(seen(0))
                        .data(page.status.as_str()),
                );
            }
            let got_lines = !page.lines.is_empty();
            for (i, line) in page.lines.iter().enumerate() {
                let text = line.strip_suffix('\n').unwrap_or(line);
                t.pending
                    .push_back(Event::default().event("line").id(seen(i + 1)).data(text));
            }
            if page.complete {
                t.done = true;
                t.pending
                    .push_back(Event::default().event("end").data(page.status.as_str()));
                continue;
            }
            t.query.cursor = page.next_cursor;
            if let Some(until) = t.until {
                // A window ends with its news (lines, or a status that
                // changed while it was open), or empty at its end.
                let news = got_lines || (status_changed && t.read_one);
                if news || tokio::time::Instant::now() >= until {
                    t.done = true;
                    continue;
                }
            }
            t.read_one = true;
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
