//! Finished jobs as CloudWatch metrics, in the Embedded Metric Format: one
//! JSON line on stdout per job, which Lambda's log delivery turns into
//! metrics (no API call, no permission). The dashboard and alarms of
//! `template.yaml` read them.

use std::io::Write;

use coderun_core::ports::JobMetrics;
use coderun_core::{Job, Status};
use serde_json::json;

/// Writes EMF lines to stdout under `namespace`.
#[derive(Debug, Clone)]
pub struct EmfMetrics {
    pub namespace: String,
}

impl EmfMetrics {
    /// The EMF document for a finished job: `Finished` (count) and
    /// `Latency` (ms from acceptance to the result), by `Kind` and by
    /// `Kind` and `Outcome` (the verdict, the run's outcome, or `FAILED`).
    pub fn document(&self, job: &Job) -> serde_json::Value {
        let outcome = match (job.status, job.verdict, &job.outcome) {
            (Status::Failed, _, _) => "FAILED".to_string(),
            (_, Some(v), _) => v.to_string(),
            (_, None, Some(o)) => o.clone(),
            _ => "NONE".to_string(),
        };
        let end = job.finished_at.unwrap_or(job.created_at);
        json!({
            "_aws": {
                "Timestamp": end,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [["Kind"], ["Kind", "Outcome"]],
                    "Metrics": [
                        {"Name": "Finished", "Unit": "Count"},
                        {"Name": "Latency", "Unit": "Milliseconds"}
                    ]
                }]
            },
            "Kind": job.kind.as_str(),
            "Outcome": outcome,
            "Finished": 1,
            "Latency": (end - job.created_at).max(0),
            "job_id": job.id,
        })
    }
}

impl JobMetrics for EmfMetrics {
    fn finished(&self, job: &Job) {
        let line = self.document(job).to_string();
        // One write per line, so lines from concurrent tasks never mix.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(format!("{line}\n").as_bytes());
        let _ = out.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use coderun_core::JobKind;
    use coderun_protocol::Verdict;

    #[test]
    fn a_judged_submission_is_counted_by_verdict_with_its_latency() {
        let mut job: Job = serde_json::from_value(json!({
            "id": "j1", "kind": "submission", "user": "ann", "language": "python3",
            "status": "COMPLETED", "input_count": 0, "attempts": 0, "created_at": 1_000
        }))
        .unwrap();
        job.verdict = Some(Verdict::WA);
        job.finished_at = Some(1_250);
        let doc = EmfMetrics {
            namespace: "coderun".into(),
        }
        .document(&job);
        assert_eq!(doc["Outcome"], "WA");
        assert_eq!(doc["Latency"], 250);
        assert_eq!(doc["Kind"], JobKind::Submission.as_str());
        // Every metric and dimension named in the directive is a member.
        let directive = &doc["_aws"]["CloudWatchMetrics"][0];
        for m in directive["Metrics"].as_array().unwrap() {
            assert!(doc.get(m["Name"].as_str().unwrap()).is_some());
        }
        for set in directive["Dimensions"].as_array().unwrap() {
            for d in set.as_array().unwrap() {
                assert!(doc[d.as_str().unwrap()].is_string());
            }
        }
        job.status = Status::Failed;
        assert_eq!(
            EmfMetrics {
                namespace: "x".into()
            }
            .document(&job)["Outcome"],
            "FAILED"
        );
    }
}
