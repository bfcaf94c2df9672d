//! coderun's runner engine: the sandbox, the language table, output checkers,
//! problem packages in the Problem Package Format, and the judge.
//!
//! The `runner-task` binary is a thin CLI over this library; the platform's
//! crates share its job [`protocol`] types.

pub mod archive;
pub mod checker;
pub mod cli;
pub mod job;
pub mod judge;
pub mod lang;
pub mod package;
pub mod protocol;
pub mod runner;
pub mod sandbox;
pub mod verify;
