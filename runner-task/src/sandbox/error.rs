//! The sandbox's own failures (a program's failure is an outcome).

use super::{child, sys, LimitError, Profile};

/// A platform failure: the sandbox could not do its job.
#[derive(Debug, thiserror::Error)]
pub enum SandboxError {
    #[error("isolation below the required minimum ({required}): {missing}")]
    InsufficientIsolation { required: Profile, missing: String },
    #[error("creating the sandbox's {what}: {source}")]
    Create {
        what: &'static str,
        #[source]
        source: std::io::Error,
    },
    #[error("starting the sandboxed process: {0}")]
    Clone(#[source] sys::Errno),
    #[error("sandbox setup failed at step {step:?}: {errno}")]
    Setup {
        step: child::Step,
        errno: sys::Errno,
    },
    #[error("supervising the sandboxed process: {0}")]
    Supervise(#[source] std::io::Error),
    #[error("invalid limits: {0}")]
    Limits(#[from] LimitError),
    #[error("invalid command: {0}")]
    Command(String),
}
