//! Integration tests of the runner: real hostile programs in the sandbox
//! (both profiles), the example problem packages through `verify`, and the
//! CLI contract. They need what the sandbox needs (root, user namespaces,
//! cgroups) and the language toolchains: `scripts/test` provides them. A
//! host that cannot sandbox fails these tests; it never runs them bare.

mod cli;
mod fargate;
mod helpers;
mod hostile;
mod languages;
mod packages;
