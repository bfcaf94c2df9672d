//! How a warm runner without credentials receives its jobs on AWS: a chain
//! of mailboxes, each one S3 object the runner reads through a presigned
//! GET. The platform posts one [`Mail`] in the runner's current mailbox; it
//! names the next mailbox, so the runner never needs to sign anything.
//!
//! Posting is exactly-once on both sides: the platform writes a mailbox
//! only if it is still empty (S3 `If-None-Match: *`), and a runner leaving
//! after its idle window writes [`Mail::Retired`] into its current mailbox
//! the same way, through a presigned PUT that S3 accepts only with that
//! condition. Whoever writes first wins: either the runner sees the job, or
//! the platform sees that the runner is gone and posts the job elsewhere.

use serde::{Deserialize, Serialize};

/// Variables of a runner task (`runner-task mailbox`): its first mailbox's
/// URLs and idle window. Kept out of the command line, which other uids
/// can read.
pub const MAILBOX_GET_VAR: &str = "CODERUN_MAILBOX";
pub const MAILBOX_PUT_VAR: &str = "CODERUN_MAILBOX_PUT";
pub const IDLE_SECONDS_VAR: &str = "CODERUN_IDLE_SECONDS";
/// The runner's id, for its logs.
pub const RUNNER_VAR: &str = "CODERUN_RUNNER";

/// The largest mail a runner reads.
pub const MAX_MAIL_BYTES: u64 = 256 << 10;
/// The longest idle window (the presigned URLs of the next mailbox must
/// outlive it, and signing credentials of a function live for hours).
pub const MAX_IDLE_SECONDS: u64 = 3600;

/// One mailbox: where the runner looks, and where it says it is leaving.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Mailbox {
    /// Presigned GET of the mailbox object (404 while empty).
    pub get: String,
    /// Presigned PUT of the same object, valid only with
    /// `If-None-Match: *`: the runner's [`Mail::Retired`].
    pub put: String,
}

/// A job handed to a runner: presigned URLs only, never the source.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Assignment {
    pub job_id: String,
    /// GET of the manifest.
    pub manifest: String,
    /// PUT of the result document.
    pub result: String,
    /// PUT of an empty object the runner writes as it takes the job, so a
    /// runner that never does is noticed.
    pub taken: String,
    /// PUTs of each input's live output, `[stdout, stderr]`, overwritten
    /// with the whole output so far while a playground run runs.
    #[serde(default)]
    pub live: Vec<[String; 2]>,
}

/// What a mailbox holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Mail {
    /// A job; afterwards, wait at `next` for up to `idle_seconds`.
    Job {
        job: Assignment,
        next: Mailbox,
        idle_seconds: u64,
    },
    /// No job: stay warm, waiting at `next` for up to `idle_seconds`.
    Stay { next: Mailbox, idle_seconds: u64 },
    /// Written by the runner as it leaves: nothing more is posted here.
    Retired { runner: String },
}

impl Mail {
    /// Checks what a runner must be able to rely on.
    pub fn validate(&self) -> Result<(), String> {
        let url = |what: &str, u: &str| {
            if u.starts_with("https://") || u.starts_with("http://") {
                Ok(())
            } else {
                Err(format!("{what}: not an http(s) URL"))
            }
        };
        let idle = |s: u64| {
            if s > MAX_IDLE_SECONDS {
                Err(format!("idle_seconds: at most {MAX_IDLE_SECONDS}"))
            } else {
                Ok(())
            }
        };
        match self {
            Mail::Job {
                job,
                next,
                idle_seconds,
            } => {
                url("manifest", &job.manifest)?;
                url("result", &job.result)?;
                url("taken", &job.taken)?;
                if job.live.len() > crate::MAX_INPUTS {
                    return Err(format!("live: at most {} inputs", crate::MAX_INPUTS));
                }
                for [out, err] in &job.live {
                    url("live", out)?;
                    url("live", err)?;
                }
                url("next", &next.get)?;
                url("next", &next.put)?;
                idle(*idle_seconds)
            }
            Mail::Stay { next, idle_seconds } => {
                url("next", &next.get)?;
                url("next", &next.put)?;
                idle(*idle_seconds)
            }
            Mail::Retired { .. } => Ok(()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mail_reads_as_it_is_written_and_is_checked() {
        let next = Mailbox {
            get: "https://s3/x/1.mail?sig".into(),
            put: "https://s3/x/1.mail?sig2".into(),
        };
        let mail = Mail::Job {
            job: Assignment {
                job_id: "j".into(),
                manifest: "https://s3/m".into(),
                result: "https://s3/r".into(),
                taken: "https://s3/t".into(),
                live: vec![["https://s3/o".into(), "https://s3/e".into()]],
            },
            next: next.clone(),
            idle_seconds: 600,
        };
        let text = serde_json::to_string(&mail).unwrap();
        assert!(text.contains("\"kind\":\"job\""), "{text}");
        assert_eq!(serde_json::from_str::<Mail>(&text).unwrap(), mail);
        assert!(mail.validate().is_ok());
        let long = Mail::Stay {
            next: next.clone(),
            idle_seconds: MAX_IDLE_SECONDS + 1,
        };
        assert!(long.validate().unwrap_err().contains("idle_seconds"));
        let local = Mail::Stay {
            next: Mailbox {
                get: "/etc/passwd".into(),
                put: next.put,
            },
            idle_seconds: 1,
        };
        assert!(local.validate().unwrap_err().contains("next"));
    }
}
