//! `runner-task verify` on an unpacked package, as a child process.

use std::ffi::OsString;
use std::path::Path;
use std::time::Duration;

use async_trait::async_trait;
use coderun_core::error::PortError;
use coderun_core::ports::{PortResult, Verifier};

use crate::launcher::RunnerCommand;

#[derive(Debug, Clone)]
pub struct ProcessVerifier {
    runner: RunnerCommand,
    timeout: Duration,
}

impl ProcessVerifier {
    pub fn new(runner: RunnerCommand, timeout: Duration) -> ProcessVerifier {
        ProcessVerifier { runner, timeout }
    }
}

#[async_trait]
impl Verifier for ProcessVerifier {
    async fn verify(&self, dir: &Path) -> PortResult<Result<serde_json::Value, String>> {
        let mut cmd = self
            .runner
            .command([OsString::from("verify"), dir.as_os_str().to_owned()]);
        cmd.stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let out = tokio::time::timeout(self.timeout, cmd.output())
            .await
            .map_err(|_| {
                PortError::unavailable(format!(
                    "verifying the package took longer than {} s",
                    self.timeout.as_secs()
                ))
            })?
            .map_err(PortError::unavailable)?;
        // 0: all submissions agree; 1: some disagree (the report says which);
        // 2: the package or the platform is broken (stderr says why).
        match out.status.code() {
            Some(0 | 1) => serde_json::from_slice(&out.stdout)
                .map(Ok)
                .map_err(PortError::internal),
            Some(2) => {
                let msg = String::from_utf8_lossy(&out.stderr);
                let msg = msg.trim().trim_start_matches("runner-task: ");
                Ok(Err(msg.chars().take(2000).collect()))
            }
            _ => Err(PortError::internal(format!(
                "runner-task verify failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))),
        }
    }
}
