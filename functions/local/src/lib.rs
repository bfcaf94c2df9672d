//! The `coderun` binary's library: its command line, the local token
//! issuer, and `serve`, which wires the embedded adapters to the core and
//! the HTTP router in one process.

pub mod cli;
pub mod issuer;
pub mod serve;
pub mod worker;
