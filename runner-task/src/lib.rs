//! coderun's runner engine: the sandbox, the language table, output checkers,
//! problem packages in the Problem Package Format, and the judge.
//!
//! The `runner-task` binary is a thin CLI over this library. The job
//! vocabulary it speaks is [`coderun_protocol`]'s and the packages it
//! judges are [`coderun_package`]'s, both shared with the platform's crates,
//! which link nothing of this one.

pub mod cli;
pub mod job;
pub mod judge;
pub mod lang;
pub mod mailbox;
pub mod runner;
pub mod sandbox;
pub mod verify;

pub use coderun_package as package;
pub use coderun_package::{archive, checker};
pub use coderun_protocol as protocol;
