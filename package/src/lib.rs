//! Problem packages as setters write them: the Problem Package Format's
//! model ([`Package`]), unpacking uploaded archives safely ([`archive`]),
//! and the default output checker ([`checker`]), whose flags a package
//! names. Reading a package runs none of its code, so the api reads
//! packages with this crate alone; the runner builds and runs their
//! programs.

pub mod archive;
pub mod checker;
pub mod expectations;
pub mod latex;
mod package;
pub mod scoring;

pub use package::*;
