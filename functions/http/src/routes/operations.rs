//! Operations: the queue and the Prometheus metrics, for admins.

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use coderun_core::service::LATENCY_BUCKETS_MS;
use coderun_core::views::*;
use coderun_core::JobKind;

use crate::auth::Caller;
use crate::error::ApiError;
use crate::AppState;

use super::ApiResult;

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
    let m = state.platform.metrics().await?;
    let (counts, busy, workers) = (&m.jobs, m.busy_workers, m.workers);
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
    for (kind, h) in JobKind::ALL.map(JobKind::as_str).iter().zip(&m.latency) {
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
