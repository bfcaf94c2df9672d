//! coderun's core: the domain (jobs, problems, sessions, users), validation
//! of every request, the job status machine, the ports the adapters
//! implement, and the services both deployments run. No AWS, no HTTP.

/// Package archives (shared with the runner, which unpacks them too).
pub use coderun_package::archive;
pub mod domain;
pub mod error;
#[cfg(test)]
mod fakes;
pub mod ids;
pub mod judge0;
pub mod piston;
pub mod ports;
pub mod problems;
pub mod requests;
pub mod service;
pub mod views;

pub use domain::*;
pub use error::CoreError;
pub use service::Platform;
