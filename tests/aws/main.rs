//! End-to-end tests of coderun on AWS against an AWS API emulator (moto
//! server, started by `scripts/test`): the `api` handler takes the
//! requests, the test plays SQS's event source mapping, ECS and Fargate,
//! and S3's notification of results.

mod emulator;
mod flow;
mod pool;
