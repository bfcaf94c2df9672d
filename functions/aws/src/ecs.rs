//! The ECS launcher: one Fargate task per job, from the task definition of
//! the job's language family. The task gets no credentials: its container
//! overrides hold only presigned URLs (GET the manifest, PUT the result),
//! and the runner runs the `restricted` profile Fargate allows.
//!
//! The URLs travel in the container's environment, not its command: any
//! process may read another's `/proc/PID/cmdline`, while `environ` is
//! readable only by its own uid, and programs run under another.

use std::collections::HashMap;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_ecs::types::{
    AssignPublicIp, AwsVpcConfiguration, ContainerOverride, KeyValuePair, LaunchType,
    NetworkConfiguration, Tag, TaskOverride,
};
use aws_sdk_ecs::Client;
use coderun_core::error::PortError;
use coderun_core::ports::{Launch, Launcher, PortResult};
use coderun_protocol::ProblemRef;
use tracing::instrument;

use crate::error::sort;
use crate::s3::S3Blobs;

/// ECS refuses container overrides above 8 KiB; stay well below.
pub const MAX_OVERRIDES_BYTES: usize = 6 << 10;

/// Where and how tasks run (from the launching function's config).
#[derive(Debug, Clone)]
pub struct EcsConfig {
    pub cluster: String,
    /// Task definition (family or ARN) per language id.
    pub task_definitions: HashMap<String, String>,
    /// The runner container's name in those task definitions.
    pub container: String,
    pub subnets: Vec<String>,
    pub security_groups: Vec<String>,
    /// How long a task may take to start (capacity, image pull): each URL
    /// lives that long plus its job's time budget, and no longer.
    pub url_ttl: Duration,
}

impl EcsConfig {
    /// Parses `python3=coderun-python,c=coderun-native,…`.
    pub fn parse_task_definitions(s: &str) -> Result<HashMap<String, String>, String> {
        s.split(',')
            .filter(|p| !p.trim().is_empty())
            .map(|pair| {
                let (lang, td) = pair
                    .split_once('=')
                    .ok_or_else(|| format!("{pair:?}: expected LANGUAGE=TASK_DEFINITION"))?;
                Ok((lang.trim().to_string(), td.trim().to_string()))
            })
            .collect()
    }
}

#[derive(Debug, Clone)]
pub struct EcsLauncher {
    client: Client,
    blobs: S3Blobs,
    cfg: EcsConfig,
}

impl EcsLauncher {
    pub fn new(client: Client, blobs: S3Blobs, cfg: EcsConfig) -> EcsLauncher {
        EcsLauncher { client, blobs, cfg }
    }

    /// The runner's arguments for one job (the image's entry point is
    /// `runner-task`).
    /// The runner's arguments: where to find the URLs, not the URLs.
    pub fn command() -> Vec<String> {
        ["--min-isolation", "restricted", "job"]
            .map(String::from)
            .to_vec()
    }

    /// The container's environment: the presigned URLs (`runner-task job`
    /// reads `--manifest` and `--result` from these variables).
    pub fn environment(manifest_url: &str, result_url: &str) -> Vec<KeyValuePair> {
        [(MANIFEST_VAR, manifest_url), (RESULT_VAR, result_url)]
            .map(|(k, v)| KeyValuePair::builder().name(k).value(v).build())
            .to_vec()
    }
}

/// Variables the runner reads its URLs from (`runner-task job`).
pub const MANIFEST_VAR: &str = "CODERUN_MANIFEST";
pub const RESULT_VAR: &str = "CODERUN_RESULT";

#[async_trait]
impl Launcher for EcsLauncher {
    #[instrument(skip_all, fields(job_id = %l.job_id))]
    async fn launch(&self, l: &Launch) -> PortResult<String> {
        let task_definition = self.cfg.task_definitions.get(&l.language).ok_or_else(|| {
            PortError::internal(format!("no task definition for language {:?}", l.language))
        })?;
        let ttl = self.cfg.url_ttl + l.budget;
        let manifest = self.blobs.presign_get(&l.manifest_key, ttl).await?;
        let result = self.blobs.presign_put(&l.result_key, ttl).await?;
        let command = Self::command();
        let environment = Self::environment(&manifest, &result);
        // The overrides as ECS measures them: their JSON.
        let size: usize = command.iter().map(|c| c.len() + 3).sum::<usize>()
            + manifest.len()
            + result.len()
            + 100
            + self.cfg.container.len();
        if size > MAX_OVERRIDES_BYTES {
            return Err(PortError::internal(format!(
                "the container overrides would be {size} bytes (at most {MAX_OVERRIDES_BYTES})"
            )));
        }
        let overrides = TaskOverride::builder()
            .container_overrides(
                ContainerOverride::builder()
                    .name(&self.cfg.container)
                    .set_command(Some(command))
                    .set_environment(Some(environment))
                    .build(),
            )
            .build();
        let network = NetworkConfiguration::builder()
            .awsvpc_configuration(
                AwsVpcConfiguration::builder()
                    .set_subnets(Some(self.cfg.subnets.clone()))
                    .set_security_groups(Some(self.cfg.security_groups.clone()))
                    .assign_public_ip(AssignPublicIp::Disabled)
                    .build()
                    .map_err(PortError::internal)?,
            )
            .build();
        let out = self
            .client
            .run_task()
            .cluster(&self.cfg.cluster)
            .task_definition(task_definition)
            .launch_type(LaunchType::Fargate)
            .count(1)
            // The same launch twice (a redelivered message) is one task; a
            // relaunch after a task stopped without a result is a new one.
            .client_token(format!("{}-{}", l.job_id, l.attempt))
            .started_by(&l.job_id)
            .tags(Tag::builder().key("coderun:job").value(&l.job_id).build())
            .overrides(overrides)
            .network_configuration(network)
            .send()
            .await
            .map_err(sort)?;
        if let Some(f) = out.failures().first() {
            // Capacity and the like: the message is retried.
            return Err(PortError::unavailable(format!(
                "RunTask failed: {} {}",
                f.reason().unwrap_or("unknown"),
                f.detail().unwrap_or_default()
            )));
        }
        let arn = out
            .tasks()
            .first()
            .and_then(|t| t.task_arn())
            .ok_or_else(|| PortError::unavailable("RunTask started no task"))?
            .to_string();
        tracing::info!(job_id = %l.job_id, task = %arn, "task started");
        Ok(arn)
    }

    async fn problem_ref(&self, prefix: &str, budget: Duration) -> PortResult<ProblemRef> {
        let url = self
            .blobs
            .presign_get(&format!("{prefix}.tar.gz"), self.cfg.url_ttl + budget)
            .await?;
        Ok(ProblemRef::Url(url))
    }

    fn workers(&self) -> Option<(usize, usize)> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn task_definitions_parse() {
        let m =
            EcsConfig::parse_task_definitions("python3=coderun-python, c=arn:aws:ecs:x").unwrap();
        assert_eq!(m["python3"], "coderun-python");
        assert_eq!(m["c"], "arn:aws:ecs:x");
        assert!(EcsConfig::parse_task_definitions("python3").is_err());
    }
}
