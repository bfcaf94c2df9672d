//! End-to-end tests of `coderun serve`: the router in process
//! (`oneshot`), a real server on port 0, and the real binary for restarts.
//! Every job runs in the real sandbox.

mod api;
mod durability;
mod flow;
mod helpers;
mod judge0;
mod piston;
