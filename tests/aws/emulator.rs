//! The emulator side of the AWS end-to-end tests: fresh resources in moto
//! (reached only through `AWS_ENDPOINT_URL`), a platform over them, and the
//! steps the cloud would take (ECS recording a task, Fargate running it).

use std::sync::Arc;
use std::time::Duration;

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

/// The runner's arguments as the task's container overrides give them:
/// the command, then the URLs from the environment as the arguments
/// `runner-task job` reads them from (`--manifest` from CODERUN_MANIFEST,
/// `--result` from CODERUN_RESULT).
pub fn command_of(task: &aws_sdk_ecs::types::Task) -> Vec<String> {
    let o = &task.overrides().unwrap().container_overrides()[0];
    let mut args = o.command().to_vec();
    for kv in o.environment() {
        let flag = match kv.name().unwrap() {
            coderun_aws::ecs::MANIFEST_VAR => "--manifest",
            coderun_aws::ecs::RESULT_VAR => "--result",
            other => panic!("unexpected variable {other}"),
        };
        args.extend([flag.to_string(), kv.value().unwrap().to_string()]);
    }
    args
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

/// Plays Fargate: the runner with exactly the task's arguments, in the
/// restricted profile; returns its exit code.
pub async fn play_fargate(task: &aws_sdk_ecs::types::Task) -> i32 {
    run_runner(command_of(task)).await
}

/// The runner with these arguments, in the restricted profile; its exit
/// code (1 when it fails, as the binary's `main` would exit).
pub async fn run_runner(command: Vec<String>) -> i32 {
    tokio::task::spawn_blocking(move || {
        let args = ["runner-task", "--profile", "restricted"]
            .into_iter()
            .map(String::from)
            .chain(command);
        let cli = <runner_task::cli::Cli as clap::Parser>::try_parse_from(args).unwrap();
        cli.execute().unwrap_or_else(|e| {
            eprintln!("runner-task: {e:#}");
            1
        })
    })
    .await
    .unwrap()
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
}

pub async fn aws_env() -> AwsEnv {
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
    env_over(conf, table, bucket, queue_url).await
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
    AwsEnv {
        platform,
        sqs,
        queue_url,
        ecs,
        cluster,
        blobs,
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
