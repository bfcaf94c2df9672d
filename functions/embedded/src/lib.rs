//! coderun on one machine: the adapters behind the core's ports. A SQLite
//! file for records and the durable queue, a directory for blobs, runner
//! processes in a bounded pool.

pub mod blobs;
pub mod launcher;
pub mod queue;
pub mod sqlite;
pub mod verifier;

pub use blobs::DirBlobs;
pub use launcher::{ProcessLauncher, RunnerCommand, RunnerEvent};
pub use queue::LocalQueue;
pub use sqlite::Db;
pub use verifier::ProcessVerifier;
