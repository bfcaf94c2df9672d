//! The functions' typed configuration, read once at start from the
//! environment variables `template.yaml` sets (same names), and the
//! platform built from it.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use coderun_core::error::PortError;
use coderun_core::ids::{SystemClock, TimeOrderedIds};
use coderun_core::ports::{Launch, Launcher, PortResult};
use coderun_core::service::{Ports, Settings};
use coderun_core::Platform;
use coderun_protocol::ProblemRef;

use crate::ecs::{EcsConfig, EcsLauncher};
use crate::{s3_client, DynamoStore, S3Blobs, SqsQueue};
use coderun_notify::InlineNotifier;

/// A missing or malformed variable.
#[derive(Debug, thiserror::Error)]
#[error("{name}: {problem}")]
pub struct ConfigError {
    pub name: &'static str,
    pub problem: String,
}

/// What every function shares.
#[derive(Debug, Clone)]
pub struct AwsConfig {
    /// `TABLE_NAME`
    pub table: String,
    /// `BUCKET_NAME`
    pub bucket: String,
    /// `QUEUE_URL`
    pub queue_url: String,
    /// `CURSOR_SECRET`: signs pagination cursors.
    pub cursor_secret: Vec<u8>,
    /// `CALLBACK_SECRET`: signs completion callbacks.
    pub callback_secret: Vec<u8>,
    /// `RUN_RETENTION_DAYS` (default 7).
    pub run_retention: Duration,
    /// `MAX_ATTEMPTS` (default 2): launches without a result before FAILED.
    pub max_attempts: u32,
    /// `METRICS_NAMESPACE` (default `coderun`): CloudWatch metrics of
    /// finished jobs.
    pub metrics_namespace: String,
    /// Where runners run: `CLUSTER`, `TASK_DEFINITIONS`, `RUNNER_CONTAINER`,
    /// `SUBNETS`, `SECURITY_GROUPS`, `URL_TTL_SECONDS`; the warm pool's
    /// `RUNNER_IDLE_SECONDS`, `RUNNERS_MIN_WARM`, `RUNNERS_MAX`,
    /// `RUNNER_TAKE_SECONDS`.
    pub ecs: EcsConfig,
}

/// Reads variables through `get` (the process environment in `main`).
pub fn from_vars(get: impl Fn(&str) -> Option<String>) -> Result<AwsConfig, ConfigError> {
    let need = |name: &'static str| {
        get(name).filter(|v| !v.is_empty()).ok_or(ConfigError {
            name,
            problem: "is not set".into(),
        })
    };
    let secret = |name: &'static str| -> Result<Vec<u8>, ConfigError> {
        let v = need(name)?;
        if v.len() < 16 {
            return Err(ConfigError {
                name,
                problem: "must be at least 16 characters".into(),
            });
        }
        Ok(v.into_bytes())
    };
    let number = |name: &'static str, default: u64| -> Result<u64, ConfigError> {
        match get(name).filter(|v| !v.is_empty()) {
            None => Ok(default),
            Some(v) => v.parse().map_err(|_| ConfigError {
                name,
                problem: format!("{v:?} is not a whole number"),
            }),
        }
    };
    let list = |name: &'static str| -> Result<Vec<String>, ConfigError> {
        let v: Vec<String> = need(name)?
            .split(',')
            .map(|s| s.trim().to_string())
            .filter(|s| !s.is_empty())
            .collect();
        if v.is_empty() {
            return Err(ConfigError {
                name,
                problem: "is empty".into(),
            });
        }
        Ok(v)
    };
    let task_definitions: HashMap<String, String> =
        EcsConfig::parse_task_definitions(&need("TASK_DEFINITIONS")?).map_err(|problem| {
            ConfigError {
                name: "TASK_DEFINITIONS",
                problem,
            }
        })?;
    if !task_definitions.contains_key(coderun_core::PACKAGE_LANGUAGE) {
        return Err(ConfigError {
            name: "TASK_DEFINITIONS",
            problem: format!(
                "needs {}=<task definition>: the runner with every toolchain, which verifies imported problems",
                coderun_core::PACKAGE_LANGUAGE
            ),
        });
    }
    let idle = number("RUNNER_IDLE_SECONDS", 600)?;
    if idle > coderun_protocol::mailbox::MAX_IDLE_SECONDS {
        return Err(ConfigError {
            name: "RUNNER_IDLE_SECONDS",
            problem: format!(
                "at most {} (a runner's next mailbox URLs must outlive it)",
                coderun_protocol::mailbox::MAX_IDLE_SECONDS
            ),
        });
    }
    Ok(AwsConfig {
        table: need("TABLE_NAME")?,
        bucket: need("BUCKET_NAME")?,
        queue_url: need("QUEUE_URL")?,
        cursor_secret: secret("CURSOR_SECRET")?,
        callback_secret: secret("CALLBACK_SECRET")?,
        run_retention: Duration::from_secs(number("RUN_RETENTION_DAYS", 7)? * 86_400),
        max_attempts: number("MAX_ATTEMPTS", 2)? as u32,
        metrics_namespace: get("METRICS_NAMESPACE")
            .filter(|v| !v.is_empty())
            .unwrap_or_else(|| "coderun".into()),
        ecs: EcsConfig {
            cluster: need("CLUSTER")?,
            task_definitions,
            container: get("RUNNER_CONTAINER").unwrap_or_else(|| "runner".into()),
            subnets: list("SUBNETS")?,
            security_groups: list("SECURITY_GROUPS")?,
            url_ttl: Duration::from_secs(number("URL_TTL_SECONDS", 600)?),
            idle: Duration::from_secs(idle),
            min_warm: number("RUNNERS_MIN_WARM", 0)? as u32,
            max_runners: match number("RUNNERS_MAX", 50)? {
                0 => {
                    return Err(ConfigError {
                        name: "RUNNERS_MAX",
                        problem: "must be at least 1".into(),
                    })
                }
                m => m as u32,
            },
            take_timeout: Duration::from_secs(number("RUNNER_TAKE_SECONDS", 20)?),
        },
    })
}

/// The platform over DynamoDB, S3, SQS and ECS. Packages are verified by
/// runner tasks (import jobs): no verifier here.
pub fn platform(sdk: &SdkConfig, cfg: &AwsConfig) -> Platform {
    let blobs = S3Blobs::new(s3_client(sdk), &cfg.bucket);
    let launcher = EcsLauncher::new(
        aws_sdk_ecs::Client::new(sdk),
        blobs.clone(),
        crate::pool::PoolStore::new(aws_sdk_dynamodb::Client::new(sdk), &cfg.table),
        cfg.ecs.clone(),
    )
    .with_metrics(&cfg.metrics_namespace);
    platform_with(sdk, cfg, blobs, Arc::new(launcher))
}

/// The `api` function's platform: it queues jobs and never starts runners
/// (the dispatcher does), so it holds no ECS client and needs no ECS
/// permission.
pub fn api_platform(sdk: &SdkConfig, cfg: &AwsConfig) -> Platform {
    let blobs = S3Blobs::new(s3_client(sdk), &cfg.bucket);
    platform_with(sdk, cfg, blobs, Arc::new(QueueOnly))
}

/// The launcher of a function that only queues.
struct QueueOnly;

#[async_trait::async_trait]
impl Launcher for QueueOnly {
    async fn launch(&self, _: &Launch) -> PortResult<String> {
        Err(PortError::internal(
            "the api function does not start runners",
        ))
    }
    async fn problem_ref(&self, _: &str, _: std::time::Duration) -> PortResult<ProblemRef> {
        Err(PortError::internal(
            "the api function does not start runners",
        ))
    }
    fn workers(&self) -> Option<(usize, usize)> {
        None
    }
}

fn platform_with(
    sdk: &SdkConfig,
    cfg: &AwsConfig,
    blobs: S3Blobs,
    launcher: Arc<dyn Launcher>,
) -> Platform {
    let store = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(sdk),
        &cfg.table,
        cfg.cursor_secret.clone(),
    );
    Platform::new(
        Ports {
            jobs: Arc::new(store.clone()),
            problems: Arc::new(store.clone()),
            sessions: Arc::new(store.clone()),
            profiles: Arc::new(store),
            blobs: Arc::new(blobs),
            queue: Arc::new(SqsQueue::new(aws_sdk_sqs::Client::new(sdk), &cfg.queue_url)),
            launcher,
            verifier: None,
            notifier: Arc::new(InlineNotifier::default()),
            metrics: Some(Arc::new(crate::metrics::EmfMetrics {
                namespace: cfg.metrics_namespace.clone(),
            })),
            clock: Arc::new(SystemClock),
            ids: Arc::new(TimeOrderedIds),
        },
        Settings {
            run_retention: cfg.run_retention,
            max_attempts: cfg.max_attempts,
            callback_secret: cfg.callback_secret.clone(),
        },
    )
}

/// What a function's `main` does before taking events: JSON logs, the
/// config from the process environment, the SDK, the platform.
pub async fn function_platform() -> Result<Arc<Platform>, ConfigError> {
    crate::init_function_tracing();
    let cfg = from_vars(|k| std::env::var(k).ok())?;
    let sdk = crate::sdk_config().await;
    Ok(Arc::new(platform(&sdk, &cfg)))
}

/// Like [`function_platform`], for the `api` function ([`api_platform`]).
pub async fn api_function_platform() -> Result<Arc<Platform>, ConfigError> {
    crate::init_function_tracing();
    let cfg = from_vars(|k| std::env::var(k).ok())?;
    let sdk = crate::sdk_config().await;
    Ok(Arc::new(api_platform(&sdk, &cfg)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn vars(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        move |k| map.get(k).cloned()
    }

    #[test]
    fn config_names_what_is_wrong() {
        let good = [
            ("TABLE_NAME", "t"),
            ("BUCKET_NAME", "b"),
            ("QUEUE_URL", "http://q"),
            ("CURSOR_SECRET", "0123456789abcdef"),
            ("CALLBACK_SECRET", "0123456789abcdef"),
            ("CLUSTER", "c"),
            (
                "TASK_DEFINITIONS",
                "python3=coderun-python,package=coderun-all",
            ),
            ("SUBNETS", "subnet-1, subnet-2"),
            ("SECURITY_GROUPS", "sg-1"),
        ];
        let cfg = from_vars(vars(&good)).unwrap();
        assert_eq!(cfg.ecs.subnets, ["subnet-1", "subnet-2"]);
        assert_eq!(cfg.max_attempts, 2);
        let mut short = good.to_vec();
        short[3] = ("CURSOR_SECRET", "short");
        assert_eq!(from_vars(vars(&short)).unwrap_err().name, "CURSOR_SECRET");
        assert_eq!(from_vars(vars(&good[1..])).unwrap_err().name, "TABLE_NAME");
        let mut no_verifier = good.to_vec();
        no_verifier[6] = ("TASK_DEFINITIONS", "python3=coderun-python");
        let e = from_vars(vars(&no_verifier)).unwrap_err();
        assert_eq!(
            (e.name, e.problem.contains("package=")),
            ("TASK_DEFINITIONS", true)
        );
        let mut bad = good.to_vec();
        bad.push(("MAX_ATTEMPTS", "two"));
        assert_eq!(from_vars(vars(&bad)).unwrap_err().name, "MAX_ATTEMPTS");
        // The pool: ten minutes idle, no warm minimum, a cap, by default.
        assert_eq!(cfg.ecs.idle, Duration::from_secs(600));
        assert_eq!((cfg.ecs.min_warm, cfg.ecs.max_runners), (0, 50));
        for (name, value) in [("RUNNER_IDLE_SECONDS", "7200"), ("RUNNERS_MAX", "0")] {
            let mut bad = good.to_vec();
            bad.push((name, value));
            assert_eq!(from_vars(vars(&bad)).unwrap_err().name, name);
        }
    }
}
