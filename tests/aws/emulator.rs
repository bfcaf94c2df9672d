//! The emulator side of the AWS end-to-end tests: fresh resources in moto
//! (reached only through `AWS_ENDPOINT_URL`), a platform over them, and the
//! steps the cloud would take (ECS recording a task, Fargate running it).

use std::collections::HashMap;
use std::path::PathBuf;

use axum::http::StatusCode;
use serde_json::{json, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tower::ServiceExt;

use coderun_aws::dynamo::create_table;
use coderun_aws::{s3_client, sdk_config, DynamoStore, S3Blobs, SqsQueue};
use coderun_core::Job;

pub fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", coderun_core::ids::random_hex(6))
}

/// An EC2 query against the emulator (the SDK's EC2 client is not worth
/// its build time for two lookups); returns the values of `<tag>`.
pub fn ec2_query(action: &str, tag: &str) -> Vec<String> {
    let endpoint = std::env::var("AWS_ENDPOINT_URL").unwrap();
    let region = std::env::var("AWS_REGION").unwrap_or_else(|_| "us-east-1".into());
    let agent: ureq::Agent = ureq::Agent::config_builder().build().into();
    let auth = format!(
        "AWS4-HMAC-SHA256 Credential=testing/20260101/{region}/ec2/aws4_request, SignedHeaders=host, Signature=0"
    );
    let xml = agent
        .post(&endpoint)
        .header("authorization", &auth)
        .header("content-type", "application/x-www-form-urlencoded")
        .send(format!("Action={action}&Version=2016-11-15").as_bytes())
        .unwrap()
        .body_mut()
        .read_to_string()
        .unwrap();
    xml.split(&format!("<{tag}>"))
        .skip(1)
        .filter_map(|s| s.split('<').next())
        .map(str::to_string)
        .collect()
}

/// The one task the emulator recorded for `job_id`.
pub async fn task_of(
    ecs: &aws_sdk_ecs::Client,
    cluster: &str,
    job_id: &str,
) -> aws_sdk_ecs::types::Task {
    let arns = ecs
        .list_tasks()
        .cluster(cluster)
        .started_by(job_id)
        .send()
        .await
        .unwrap()
        .task_arns
        .unwrap_or_default();
    assert_eq!(arns.len(), 1, "{arns:?}");
    task(ecs, cluster, &arns[0]).await
}

/// The task with this ARN, as `DescribeTasks` shows it.
pub async fn task(ecs: &aws_sdk_ecs::Client, cluster: &str, arn: &str) -> aws_sdk_ecs::types::Task {
    let tasks = ecs
        .describe_tasks()
        .cluster(cluster)
        .tasks(arn)
        .send()
        .await
        .unwrap();
    tasks.tasks()[0].clone()
}

/// The container overrides of a task, as ECS would measure them (JSON).
pub fn overrides_json(task: &aws_sdk_ecs::types::Task) -> String {
    let o = &task.overrides().unwrap().container_overrides()[0];
    let env: Vec<_> = o
        .environment()
        .iter()
        .map(|kv| serde_json::json!({"name": kv.name(), "value": kv.value()}))
        .collect();
    serde_json::json!({"containerOverrides": [{"name": o.name(), "command": o.command(), "environment": env}]})
        .to_string()
}

/// `family/runner-…/seq` of a launch id: the runner and its mailbox.
pub fn runner_of(launch: &str) -> (String, u64) {
    let mut parts = launch.split('/');
    let (_, id, seq) = (parts.next(), parts.next().unwrap(), parts.next().unwrap());
    (id.to_string(), seq.parse().unwrap())
}

/// The runner-task binary `scripts/test` builds beside this test.
pub fn runner_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let bin = exe.parent().unwrap().parent().unwrap().join("runner-task");
    assert!(
        bin.exists(),
        "{} is missing: `cargo build -p runner-task` first (scripts/test does)",
        bin.display()
    );
    bin
}

/// One runner task that Fargate runs here: the runner's process.
struct Process {
    child: std::process::Child,
    task: aws_sdk_ecs::types::Task,
    _work: tempfile::TempDir,
}

/// Plays Fargate: starts the runner-task process of a recorded task, with
/// exactly its command and environment, in the restricted profile; and
/// tells, when it ends, what ECS would send.
pub struct Fargate {
    ecs: aws_sdk_ecs::Client,
    cluster: String,
    bin: PathBuf,
    processes: Mutex<HashMap<String, Process>>,
    /// Runners' messages go nowhere (a benchmark's output stays its own).
    pub quiet: std::sync::atomic::AtomicBool,
}

impl Drop for Fargate {
    fn drop(&mut self) {
        for (_, mut p) in self.processes.lock().unwrap().drain() {
            let _ = p.child.kill();
            let _ = p.child.wait();
        }
    }
}

impl Fargate {
    /// The recorded task of runner `id`.
    pub async fn task_of(&self, id: &str) -> aws_sdk_ecs::types::Task {
        task_of(&self.ecs, &self.cluster, id).await
    }

    /// Starts runner `id`'s task unless it runs; its task.
    pub async fn start(&self, id: &str) -> aws_sdk_ecs::types::Task {
        if let Some(p) = self.processes.lock().unwrap().get(id) {
            return p.task.clone();
        }
        let task = self.task_of(id).await;
        let o = &task.overrides().unwrap().container_overrides()[0];
        let work = tempfile::tempdir().unwrap();
        let mut command = std::process::Command::new(&self.bin);
        // A runner ends with whoever plays Fargate, as a task would.
        // SAFETY: prctl is async-signal-safe and touches no memory of ours.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut command, || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = command
            .args(["--profile", "restricted", "--work-dir"])
            .arg(work.path())
            .args(o.command())
            .env_clear()
            .env("PATH", "/usr/local/bin:/usr/bin:/bin")
            .envs(
                o.environment()
                    .iter()
                    .map(|kv| (kv.name().unwrap(), kv.value().unwrap())),
            )
            .stderr(if self.quiet.load(std::sync::atomic::Ordering::Relaxed) {
                std::process::Stdio::null()
            } else {
                std::process::Stdio::inherit()
            })
            .spawn()
            .unwrap();
        self.processes.lock().unwrap().insert(
            id.to_string(),
            Process {
                child,
                task: task.clone(),
                _work: work,
            },
        );
        task
    }

    /// Freezes runner `id`'s process (SIGSTOP): it stops answering while
    /// its task runs on.
    pub fn freeze(&self, id: &str) {
        let procs = self.processes.lock().unwrap();
        let pid = procs.get(id).expect("no such runner process").child.id();
        // SAFETY: a plain signal to our own child.
        assert_eq!(unsafe { libc::kill(pid as i32, libc::SIGSTOP) }, 0);
    }

    /// Kills runner `id`'s process (a host lost, an out-of-memory kill).
    pub fn is_running(&self, id: &str) -> bool {
        let mut procs = self.processes.lock().unwrap();
        procs
            .get_mut(id)
            .is_some_and(|p| p.child.try_wait().unwrap().is_none())
    }

    pub fn kill(&self, id: &str) {
        let mut procs = self.processes.lock().unwrap();
        let p = procs.get_mut(id).expect("no such runner process");
        p.child.kill().unwrap();
    }

    /// The runners whose process ended since the last call, each with the
    /// event of its task's stop; they are forgotten.
    #[allow(dead_code)] // the benchmark's (functions/api/examples/aws-latency.rs)
    pub fn reap(&self) -> Vec<(String, serde_json::Value)> {
        let mut procs = self.processes.lock().unwrap();
        let ended: Vec<String> = procs
            .iter_mut()
            .filter_map(|(id, p)| p.child.try_wait().unwrap().map(|_| id.clone()))
            .collect();
        ended
            .into_iter()
            .map(|id| {
                let mut p = procs.remove(&id).unwrap();
                let code = p.child.wait().unwrap().code().unwrap_or(137);
                (id, stop_event(&p.task, code))
            })
            .collect()
    }

    /// Waits (up to `within`) for runner `id`'s process to end; the
    /// "ECS Task State Change" event of its task's stop.
    pub async fn stopped(&self, id: &str, within: Duration) -> serde_json::Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let ended = {
                let mut procs = self.processes.lock().unwrap();
                let p = procs.get_mut(id).expect("no such runner process");
                p.child
                    .try_wait()
                    .unwrap()
                    .map(|status| (status, p.task.clone()))
            };
            if let Some((status, task)) = ended {
                return stop_event(&task, status.code().unwrap_or(137));
            }
            assert!(
                std::time::Instant::now() < deadline,
                "runner {id} still runs after {within:?}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// `ann`, a user without roles, as the core sees her.
pub fn ann() -> coderun_core::Principal {
    coderun_core::Principal {
        user: "ann".into(),
        name: None,
        roles: vec![],
    }
}

/// What ECS sends when `task`'s runner exited with `exit`.
fn stop_event(task: &aws_sdk_ecs::types::Task, exit: i32) -> serde_json::Value {
    coderun_aws::sample_events::ecs_task_state(serde_json::json!({
        "lastStatus": "STOPPED", "desiredStatus": "STOPPED",
        "startedBy": task.started_by(), "taskArn": task.task_arn(),
        "taskDefinitionArn": task.task_definition_arn(),
        "stopCode": "EssentialContainerExited",
        "stoppedReason": "Essential container in task exited",
        "containers": [{"name": "runner", "exitCode": exit}]}))
}

/// How the pool of an emulator environment behaves.
#[derive(Debug, Clone)]
pub struct PoolOptions {
    pub idle: Duration,
    pub take_timeout: Duration,
    pub max_runners: u32,
    pub min_warm: u32,
}

impl Default for PoolOptions {
    fn default() -> PoolOptions {
        PoolOptions {
            idle: Duration::from_secs(600),
            take_timeout: Duration::from_secs(20),
            max_runners: 50,
            min_warm: 0,
        }
    }
}

/// An API Gateway HTTP API (payload 2.0) event with the JWT authorizer's
/// claims for `sub`, as the `api` function receives it. `sam` is in the
/// `setter` group.
pub fn event(
    method: &str,
    path: &str,
    sub: &str,
    body: Option<Value>,
) -> axum::http::Request<axum::body::Body> {
    let groups = if sub == "sam" { "[setter]" } else { "[]" };
    let (path, query) = path.split_once('?').unwrap_or((path, ""));
    let e = json!({
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "headers": {"host": "api.example.com", "content-type": "application/json"},
        "requestContext": {
            "accountId": "123456789012", "apiId": "api", "domainName": "api.example.com",
            "domainPrefix": "api", "requestId": "r", "routeKey": "$default", "stage": "$default",
            "time": "26/Nov/2026:14:00:00 +0000", "timeEpoch": 1_795_700_000_000_i64,
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "203.0.113.1", "userAgent": "test"},
            "authorizer": {"jwt": {"claims": {"sub": sub, "cognito:username": sub,
                                               "cognito:groups": groups}, "scopes": null}}
        },
        "body": body.map(|b| b.to_string()),
        "isBase64Encoded": false
    });
    let req = lambda_http::request::from_str(&e.to_string()).unwrap();
    let (parts, body) = req.into_parts();
    axum::http::Request::from_parts(parts, axum::body::Body::from(body.to_vec()))
}

pub async fn call(
    app: &axum::Router,
    req: axum::http::Request<axum::body::Body>,
) -> (StatusCode, Value) {
    let resp = app.clone().oneshot(req).await.unwrap();
    let status = resp.status();
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// A platform over fresh emulator resources: table, bucket, queue, ECS
/// cluster with a python task definition, default-VPC network.
pub struct AwsEnv {
    pub platform: Arc<coderun_core::Platform>,
    pub sqs: aws_sdk_sqs::Client,
    pub queue_url: String,
    pub ecs: aws_sdk_ecs::Client,
    pub cluster: String,
    pub blobs: S3Blobs,
    pub fargate: Fargate,
    pub table: String,
    #[allow(dead_code)] // the benchmark's (functions/api/examples/aws-latency.rs)
    pub bucket: String,
    pub dynamodb: aws_sdk_dynamodb::Client,
}

impl AwsEnv {
    /// The job as stored.
    pub async fn job(&self, id: &str) -> coderun_core::Job {
        self.platform
            .ports()
            .jobs
            .get_job(id)
            .await
            .unwrap()
            .unwrap()
    }

    /// How many runner tasks were started in this environment's cluster.
    pub async fn tasks_started(&self) -> usize {
        self.ecs
            .list_tasks()
            .cluster(&self.cluster)
            .send()
            .await
            .unwrap()
            .task_arns()
            .len()
    }

    /// The pool's records.
    pub fn pool(&self) -> coderun_aws::pool::PoolStore {
        coderun_aws::pool::PoolStore::new(self.dynamodb.clone(), &self.table)
    }
}

pub async fn aws_env() -> AwsEnv {
    aws_env_with(PoolOptions::default()).await
}

pub async fn aws_env_with(pool: PoolOptions) -> AwsEnv {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "the AWS end-to-end tests need the emulator: scripts/test starts moto server"
    );
    let conf = sdk_config().await;
    let table = fresh("coderun");
    create_table(&aws_sdk_dynamodb::Client::new(&conf), &table)
        .await
        .unwrap();
    let bucket = fresh("coderun");
    s3_client(&conf)
        .create_bucket()
        .bucket(&bucket)
        .send()
        .await
        .unwrap();
    let queue_url = aws_sdk_sqs::Client::new(&conf)
        .create_queue()
        .queue_name(fresh("jobs"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    env_over(conf, table, bucket, queue_url, pool).await
}

/// A platform over the table, bucket and queue that the LocalStack init
/// hook made (scripts/test runs it against the emulator and exports
/// CODERUN_TABLE, CODERUN_BUCKET and CODERUN_QUEUE_URL).
pub async fn hooked_env() -> AwsEnv {
    let var = |name: &str| {
        std::env::var(name).unwrap_or_else(|_| {
            panic!("{name} is not set: scripts/test runs localstack/init/ready.d/coderun.py first")
        })
    };
    let conf = sdk_config().await;
    env_over(
        conf,
        var("CODERUN_TABLE"),
        var("CODERUN_BUCKET"),
        var("CODERUN_QUEUE_URL"),
        PoolOptions::default(),
    )
    .await
}

/// The platform over these data resources, with a fresh ECS cluster, a
/// python task definition and the default VPC's network.
async fn env_over(
    conf: aws_config::SdkConfig,
    table: String,
    bucket: String,
    queue_url: String,
    pool: PoolOptions,
) -> AwsEnv {
    use coderun_aws::{EcsConfig, EcsLauncher};
    use coderun_core::service::{Ports, Settings};
    use coderun_core::Platform;

    let db = DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&conf),
        &table,
        b"cursor-key".to_vec(),
    );
    let blobs = S3Blobs::new(s3_client(&conf), &bucket);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let ecs = aws_sdk_ecs::Client::new(&conf);
    let cluster = fresh("coderun");
    ecs.create_cluster()
        .cluster_name(&cluster)
        .send()
        .await
        .unwrap();
    ecs.register_task_definition()
        .family("coderun-python")
        .network_mode(aws_sdk_ecs::types::NetworkMode::Awsvpc)
        .requires_compatibilities(aws_sdk_ecs::types::Compatibility::Fargate)
        .cpu("256")
        .memory("512")
        .container_definitions(
            aws_sdk_ecs::types::ContainerDefinition::builder()
                .name("runner")
                .image("coderun-runner:python")
                .memory(512)
                .build(),
        )
        .send()
        .await
        .unwrap();
    let (subnets, groups) = tokio::task::spawn_blocking(|| {
        (
            ec2_query("DescribeSubnets", "subnetId"),
            ec2_query("DescribeSecurityGroups", "groupId"),
        )
    })
    .await
    .unwrap();
    let launcher = EcsLauncher::new(
        ecs.clone(),
        blobs.clone(),
        coderun_aws::pool::PoolStore::new(aws_sdk_dynamodb::Client::new(&conf), &table),
        EcsConfig {
            cluster: cluster.clone(),
            task_definitions: EcsConfig::parse_task_definitions(
                "python3=coderun-python, package=coderun-python",
            )
            .unwrap(),
            container: "runner".into(),
            subnets: subnets[..1].to_vec(),
            security_groups: groups[..1].to_vec(),
            url_ttl: Duration::from_secs(3600),
            idle: pool.idle,
            min_warm: pool.min_warm,
            max_runners: pool.max_runners,
            take_timeout: pool.take_timeout,
        },
    );
    let platform = Arc::new(Platform::new(
        Ports {
            jobs: Arc::new(db.clone()),
            problems: Arc::new(db.clone()),
            sessions: Arc::new(db.clone()),
            profiles: Arc::new(db),
            blobs: Arc::new(blobs.clone()),
            queue: Arc::new(SqsQueue::new(sqs.clone(), &queue_url)),
            launcher: Arc::new(launcher),
            verifier: None,
            notifier: Arc::new(coderun_notify::InlineNotifier::default()),
            metrics: None,
            clock: Arc::new(coderun_core::ids::SystemClock),
            ids: Arc::new(coderun_core::ids::TimeOrderedIds),
        },
        Settings::default(),
    ));
    let fargate = Fargate {
        ecs: ecs.clone(),
        cluster: cluster.clone(),
        bin: runner_binary(),
        processes: Mutex::default(),
        quiet: Default::default(),
    };
    AwsEnv {
        platform,
        sqs,
        queue_url,
        ecs,
        cluster,
        blobs,
        fargate,
        dynamodb: aws_sdk_dynamodb::Client::new(&conf),
        table,
        bucket,
    }
}

/// The results function's unit of work on `event`; then the job.
pub async fn handle(
    platform: &coderun_core::Platform,
    event: serde_json::Value,
    job_id: &str,
) -> Job {
    coderun_aws::handlers::handle_results(platform, event)
        .await
        .unwrap();
    platform
        .ports()
        .jobs
        .get_job(job_id)
        .await
        .unwrap()
        .unwrap()
}

/// A message of the dead-letter queue, as its event source hands it over.
pub fn dead_letter(body: &str) -> serde_json::Value {
    coderun_aws::sample_events::sqs(&[("m", body)])
}

/// An S3 ObjectCreated notification for a job's result.
pub fn s3_event(job_id: &str) -> serde_json::Value {
    coderun_aws::sample_events::s3_created(&[&format!("results/{job_id}/result.json")])
}
