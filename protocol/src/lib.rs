//! coderun's wire vocabulary, shared by the runner and every platform crate:
//! job manifests and results, verdicts, resource limits, isolation layers
//! and profiles, the language table, how long a job may take, and the
//! mailboxes through which warm runners receive jobs on AWS.
//!
//! A leaf: serde types and pure functions, no I/O. The api, dispatcher and
//! results functions depend on it and on nothing of the runner's.

pub mod budget;
pub mod isolation;
mod job;
pub mod lang;
pub mod limits;
pub mod mailbox;

pub use isolation::{Layer, Profile};
pub use job::*;
pub use limits::{LimitError, Limits};
