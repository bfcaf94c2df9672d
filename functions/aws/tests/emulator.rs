//! The AWS adapters against a real AWS API emulator (moto server, started
//! by `scripts/test` and reached only through `AWS_ENDPOINT_URL`). Every
//! test makes its own table, bucket or queue.

use std::time::Duration;

use aws_config::SdkConfig;
use coderun_aws::dynamo::create_table;
use coderun_aws::{s3_client, sdk_config, DynamoStore, S3Blobs, SqsQueue};
use coderun_core::error::PortError;
use coderun_core::ports::*;
use coderun_core::{Job, JobKind, JobQuery, Problem, ProblemKind, Session, Status};
use runner_task::protocol::Verdict;

async fn config() -> SdkConfig {
    assert!(
        std::env::var_os("AWS_ENDPOINT_URL").is_some(),
        "these tests talk to an AWS API emulator: run scripts/test (it starts moto server) \
         or set AWS_ENDPOINT_URL"
    );
    sdk_config().await
}

fn fresh(prefix: &str) -> String {
    format!("{prefix}-{}", coderun_core::ids::random_hex(6))
}

async fn store() -> (DynamoStore, aws_sdk_dynamodb::Client, String) {
    let conf = config().await;
    let client = aws_sdk_dynamodb::Client::new(&conf);
    let table = fresh("coderun");
    create_table(&client, &table).await.unwrap();
    (
        DynamoStore::new(client.clone(), &table, b"cursor-key".to_vec()),
        client,
        table,
    )
}

fn job(id: &str, user: &str, kind: JobKind, created_at: i64) -> Job {
    Job {
        id: id.into(),
        kind,
        user: user.into(),
        language: "python3".into(),
        status: Status::Queued,
        problem_id: (kind == JobKind::Submission).then(|| "sum".into()),
        problem_version: None,
        session_id: None,
        rejudge_of: None,
        limits: None,
        input_count: 1,
        verdict: None,
        score: None,
        outcome: None,
        time_ms: None,
        memory_kb: None,
        attempts: 0,
        launch: None,
        error: None,
        callback_url: None,
        created_at,
        started_at: None,
        finished_at: None,
        expires_at: (kind == JobKind::Run).then_some(created_at + 7 * 86_400_000),
    }
}

#[tokio::test]
async fn status_changes_are_conditional_writes() {
    let (db, _, _) = store().await;
    let j = job("j1", "ann", JobKind::Submission, 1_000);
    assert_eq!(db.insert_job(&j, None).await.unwrap(), Inserted::New);
    let e = db.insert_job(&j, None).await.unwrap_err();
    assert!(matches!(e, PortError::Conflict(_)), "{e:?}");

    let mut next = db.get_job("j1").await.unwrap().unwrap();
    assert_eq!(next, j);
    next.status = Status::Starting;
    db.replace_job(&next, (Status::Queued, 0)).await.unwrap();
    // A redelivered message makes the same transition: it loses.
    let e = db
        .replace_job(&next, (Status::Queued, 0))
        .await
        .unwrap_err();
    assert!(matches!(e, PortError::Conflict(_)), "{e:?}");
    next.status = Status::Completed;
    next.verdict = Some(Verdict::AC);
    db.replace_job(&next, (Status::Starting, 0)).await.unwrap();
    assert_eq!(
        db.get_job("j1").await.unwrap().unwrap().verdict,
        Some(Verdict::AC)
    );
    assert_eq!(db.get_job("nope").await.unwrap(), None);
    let counts = db.job_counts(2_000).await.unwrap();
    assert_eq!((counts.completed, counts.verdicts.get("AC")), (1, Some(&1)));
}

#[tokio::test]
async fn idempotency_keys_are_claimed_with_the_job() {
    let (db, _, _) = store().await;
    let key = IdempotencyKey {
        user: "ann".into(),
        key: "runs:k".into(),
        request_hash: "h1".into(),
    };
    let a = job("a", "ann", JobKind::Run, 1);
    assert_eq!(db.insert_job(&a, Some(&key)).await.unwrap(), Inserted::New);
    let b = job("b", "ann", JobKind::Run, 2);
    let again = db.insert_job(&b, Some(&key)).await.unwrap();
    assert_eq!(
        again,
        Inserted::Existing {
            job_id: "a".into(),
            request_hash: "h1".into()
        }
    );
    assert_eq!(db.get_job("b").await.unwrap(), None, "nothing half-written");
}

#[tokio::test]
async fn history_pages_newest_first_with_tamper_evident_cursors() {
    let (db, client, table) = store().await;
    for i in 0..25 {
        let kind = if i % 5 == 0 {
            JobKind::Run
        } else {
            JobKind::Submission
        };
        db.insert_job(&job(&format!("a{i:02}"), "ann", kind, 1_000 + i), None)
            .await
            .unwrap();
    }
    for i in 0..3 {
        db.insert_job(
            &job(&format!("b{i}"), "bob", JobKind::Submission, 5_000 + i),
            None,
        )
        .await
        .unwrap();
    }
    let mut q = JobQuery {
        user: "ann".into(),
        kind: Some(JobKind::Submission),
        limit: 7,
        ..JobQuery::default()
    };
    let mut seen = Vec::new();
    let mut pages = 0;
    loop {
        let page = db.list_jobs(&q).await.unwrap();
        pages += 1;
        assert!(page.items.len() <= 7);
        seen.extend(page.items.iter().map(|j| j.id.clone()));
        match page.next {
            Some(c) => q.cursor = Some(c),
            None => break,
        }
    }
    let expected: Vec<String> = (0..25)
        .rev()
        .filter(|i| i % 5 != 0)
        .map(|i| format!("a{i:02}"))
        .collect();
    assert_eq!(seen, expected);
    assert!(pages >= 3);

    // A cursor cannot be forged or edited.
    q.cursor = Some("7b7d.00".into());
    assert!(matches!(
        db.list_jobs(&q).await.unwrap_err(),
        PortError::Conflict(_)
    ));
    let first = db
        .list_jobs(&JobQuery {
            cursor: None,
            ..q.clone()
        })
        .await
        .unwrap();
    let mut c = first.next.unwrap();
    c.replace_range(0..2, if c.starts_with("7b") { "7c" } else { "7b" });
    q.cursor = Some(c);
    assert!(matches!(
        db.list_jobs(&q).await.unwrap_err(),
        PortError::Conflict(_)
    ));

    // Playground runs carry the TTL attribute, in seconds.
    let item = client
        .get_item()
        .table_name(&table)
        .key(
            "PK",
            aws_sdk_dynamodb::types::AttributeValue::S("RUN#a00".into()),
        )
        .key(
            "SK",
            aws_sdk_dynamodb::types::AttributeValue::S("JOB".into()),
        )
        .send()
        .await
        .unwrap()
        .item
        .unwrap();
    let ttl: i64 = item["expiresAt"].as_n().unwrap().parse().unwrap();
    assert_eq!(ttl, (1_000 + 7 * 86_400_000) / 1000);
    let ttl_conf = client
        .describe_time_to_live()
        .table_name(&table)
        .send()
        .await
        .unwrap();
    assert_eq!(
        ttl_conf
            .time_to_live_description()
            .and_then(|d| d.attribute_name()),
        Some("expiresAt")
    );
}

#[tokio::test]
async fn problems_sessions_and_profiles() {
    let (db, _, _) = store().await;
    let problem = |id: &str, version| Problem {
        id: id.into(),
        title: id.to_uppercase(),
        statement: String::new(),
        kind: ProblemKind::PassFail,
        time_limit_ms: 1000,
        memory_mb: 256,
        samples: vec![],
        test_count: 3,
        version,
        author: "sam".into(),
        created_at: 1,
        updated_at: 1,
        verify_report: None,
    };
    for id in ["c", "a", "b"] {
        db.put_problem(&problem(id, 1), None).await.unwrap();
    }
    assert!(matches!(
        db.put_problem(&problem("a", 1), None).await.unwrap_err(),
        PortError::Conflict(_)
    ));
    db.put_problem(&problem("a", 2), Some(1)).await.unwrap();
    assert!(matches!(
        db.put_problem(&problem("a", 3), Some(1)).await.unwrap_err(),
        PortError::Conflict(_)
    ));
    let p1 = db.list_problems(None, 2).await.unwrap();
    assert_eq!(
        p1.items.iter().map(|p| p.id.as_str()).collect::<Vec<_>>(),
        ["a", "b"]
    );
    let p2 = db.list_problems(p1.next.as_deref(), 2).await.unwrap();
    assert_eq!((p2.items.len(), p2.next), (1, None));
    assert_eq!(db.get_problem("a").await.unwrap().unwrap().version, 2);
    assert!(db.delete_problem("a").await.unwrap());
    assert!(!db.delete_problem("a").await.unwrap());

    let s = Session {
        id: "s1".into(),
        user: "ann".into(),
        title: "t".into(),
        language: "c".into(),
        source: String::new(),
        stdin: String::new(),
        version: 1,
        created_at: 1,
        updated_at: 1,
    };
    db.put_session(&s, None).await.unwrap();
    let s2 = Session {
        version: 2,
        source: "x".into(),
        ..s.clone()
    };
    db.put_session(&s2, Some(1)).await.unwrap();
    assert!(db.put_session(&s2, Some(1)).await.is_err());
    assert_eq!(db.get_session("s1").await.unwrap().unwrap().source, "x");

    for (job_id, verdict, at) in [
        ("1", Verdict::WA, 10),
        ("2", Verdict::AC, 20),
        ("2", Verdict::AC, 20),
        ("3", Verdict::AC, 30),
    ] {
        db.record_attempt(&Attempt {
            user: "ann".into(),
            problem_id: "sum".into(),
            job_id: job_id.into(),
            verdict,
            score: None,
            at,
        })
        .await
        .unwrap();
    }
    let p = db.profile("ann").await.unwrap();
    assert_eq!(p.len(), 1);
    assert_eq!(
        (
            p[0].attempts,
            p[0].solved,
            p[0].first_solved_at,
            p[0].last_attempt_at
        ),
        (3, true, Some(20), 30)
    );
}

#[tokio::test]
async fn blobs_and_presigned_urls_over_plain_http() {
    let conf = config().await;
    let client = s3_client(&conf);
    let bucket = fresh("coderun");
    client.create_bucket().bucket(&bucket).send().await.unwrap();
    let blobs = S3Blobs::new(client, &bucket);
    blobs.put("sources/a", b"print(1)".to_vec()).await.unwrap();
    assert_eq!(blobs.get("sources/a").await.unwrap().unwrap(), b"print(1)");
    assert_eq!(blobs.get("sources/missing").await.unwrap(), None);

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("data/secret")).unwrap();
    std::fs::write(dir.path().join("problem.yaml"), "name: x\n").unwrap();
    std::fs::write(dir.path().join("data/secret/1.in"), "1\n").unwrap();
    blobs.put_dir("problems/x/v1", dir.path()).await.unwrap();
    assert_eq!(
        blobs
            .get("problems/x/v1/data/secret/1.in")
            .await
            .unwrap()
            .unwrap(),
        b"1\n"
    );
    blobs.delete_prefix("problems/x/").await.unwrap();
    assert_eq!(blobs.get("problems/x/v1/problem.yaml").await.unwrap(), None);

    // A runner without credentials: GET its manifest, PUT its result.
    blobs
        .put("jobs/j/manifest.json", b"{\"m\":1}".to_vec())
        .await
        .unwrap();
    let get = blobs
        .presign_get("jobs/j/manifest.json", Duration::from_secs(300))
        .await
        .unwrap();
    let put = blobs
        .presign_put("results/j/result.json", Duration::from_secs(300))
        .await
        .unwrap();
    let (got, status) = tokio::task::spawn_blocking(move || {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .build()
            .into();
        let got = agent
            .get(&get)
            .call()
            .unwrap()
            .body_mut()
            .read_to_string()
            .unwrap();
        let status = agent
            .put(&put)
            .send(&b"{\"r\":2}"[..])
            .unwrap()
            .status()
            .as_u16();
        (got, status)
    })
    .await
    .unwrap();
    assert_eq!((got.as_str(), status), ("{\"m\":1}", 200));
    assert_eq!(
        blobs.get("results/j/result.json").await.unwrap().unwrap(),
        b"{\"r\":2}"
    );
}

#[tokio::test]
async fn queue_messages_name_the_job_only() {
    let conf = config().await;
    let client = aws_sdk_sqs::Client::new(&conf);
    let url = client
        .create_queue()
        .queue_name(fresh("coderun-jobs"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
    SqsQueue::new(client.clone(), &url)
        .send("job-1")
        .await
        .unwrap();
    let got = client
        .receive_message()
        .queue_url(&url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let body = got.messages()[0].body().unwrap();
    let msg: coderun_aws::sqs::JobMessage = serde_json::from_str(body).unwrap();
    assert_eq!(msg.job_id, "job-1");
}

/// An EC2 query against the emulator (the SDK's EC2 client is not worth
/// its build time for two lookups); returns the values of `<tag>`.
fn ec2_query(action: &str, tag: &str) -> Vec<String> {
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
async fn task_of(
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
    let tasks = ecs
        .describe_tasks()
        .cluster(cluster)
        .set_tasks(Some(arns))
        .send()
        .await
        .unwrap();
    tasks.tasks()[0].clone()
}

/// Plays Fargate: the runner with exactly the task's arguments, in the
/// restricted profile; returns its exit code.
async fn play_fargate(task: &aws_sdk_ecs::types::Task) -> i32 {
    let command = task.overrides().unwrap().container_overrides()[0]
        .command()
        .to_vec();
    tokio::task::spawn_blocking(move || {
        let args = ["runner-task", "--profile", "restricted"]
            .into_iter()
            .map(String::from)
            .chain(command);
        <runner_task::cli::Cli as clap::Parser>::try_parse_from(args)
            .unwrap()
            .execute()
            .unwrap()
    })
    .await
    .unwrap()
}

/// A platform over fresh emulator resources: table, bucket, queue, ECS
/// cluster with a python task definition, default-VPC network.
struct AwsEnv {
    platform: coderun_core::Platform,
    sqs: aws_sdk_sqs::Client,
    queue_url: String,
    ecs: aws_sdk_ecs::Client,
    cluster: String,
    blobs: S3Blobs,
}

async fn aws_env() -> AwsEnv {
    use coderun_aws::{EcsConfig, EcsLauncher};
    use coderun_core::service::{Ports, Settings};
    use coderun_core::Platform;
    use std::sync::Arc;

    let conf = config().await;
    let (db, _, _) = store().await;
    let s3 = s3_client(&conf);
    let bucket = fresh("coderun");
    s3.create_bucket().bucket(&bucket).send().await.unwrap();
    let blobs = S3Blobs::new(s3, &bucket);
    let sqs = aws_sdk_sqs::Client::new(&conf);
    let queue_url = sqs
        .create_queue()
        .queue_name(fresh("jobs"))
        .send()
        .await
        .unwrap()
        .queue_url
        .unwrap();
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
            task_definitions: EcsConfig::parse_task_definitions("python3=coderun-python").unwrap(),
            container: "runner".into(),
            subnets: subnets[..1].to_vec(),
            security_groups: groups[..1].to_vec(),
            url_ttl: Duration::from_secs(3600),
        },
    );
    let platform = Platform::new(
        Ports {
            jobs: Arc::new(db.clone()),
            problems: Arc::new(db.clone()),
            sessions: Arc::new(db.clone()),
            profiles: Arc::new(db),
            blobs: Arc::new(blobs.clone()),
            queue: Arc::new(SqsQueue::new(sqs.clone(), &queue_url)),
            launcher: Arc::new(launcher),
            verifier: None,
            notifier: Arc::new(coderun_http::callbacks::InlineNotifier::default()),
            clock: Arc::new(coderun_core::ids::SystemClock),
            ids: Arc::new(coderun_core::ids::TimeOrderedIds),
        },
        Settings::default(),
    );
    AwsEnv {
        platform,
        sqs,
        queue_url,
        ecs,
        cluster,
        blobs,
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_serverless_flow_runs_a_job_with_a_credential_free_runner() {
    use coderun_core::service::Dispatched;
    use coderun_core::Principal;

    let env = aws_env().await;
    let ann = Principal {
        user: "ann".into(),
        name: None,
        roles: vec![],
    };
    let req: coderun_core::requests::RunRequest = serde_json::from_value(serde_json::json!({
        "language": "python3", "source": "print(input() * 2)", "inputs": [{"stdin": "ab\n"}]
    }))
    .unwrap();
    let (job, _) = env.platform.create_run(&ann, req, None).await.unwrap();

    // The dispatcher's unit of work, fed by the real queue.
    let got = env
        .sqs
        .receive_message()
        .queue_url(&env.queue_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    // The dispatcher function's unit of work, on the real queue's batch.
    let batch: coderun_aws::handlers::SqsBatch = serde_json::from_value(serde_json::json!({
        "Records": got.messages().iter().map(|m| serde_json::json!({
            "messageId": m.message_id().unwrap(), "body": m.body().unwrap(),
            "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:jobs"
        })).collect::<Vec<_>>()
    }))
    .unwrap();
    assert_eq!(batch.records.len(), 1);
    let response = coderun_aws::handlers::dispatch_batch(&env.platform, batch.clone()).await;
    assert!(response.batch_item_failures.is_empty(), "{response:?}");
    // SQS delivers at least once: the same message again starts nothing.
    let twice = coderun_aws::handlers::dispatch_batch(&env.platform, batch.clone()).await;
    assert!(twice.batch_item_failures.is_empty(), "{twice:?}");

    // The emulator recorded one task: started by the job, overrides that
    // are presigned URLs only.
    let task = task_of(&env.ecs, &env.cluster, &job.id).await;
    let command = task.overrides().unwrap().container_overrides()[0]
        .command()
        .to_vec();
    let joined = command.join(" ");
    assert!(
        joined.len() < coderun_aws::ecs::MAX_OVERRIDES_BYTES,
        "{} bytes",
        joined.len()
    );
    assert!(
        !joined.contains("print(input()"),
        "the source must not travel in overrides"
    );
    // A presigned URL names the access key id; the secret never travels.
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    assert!(
        secret.len() >= 8 && !joined.contains(&secret),
        "the secret key must not travel"
    );
    assert_eq!(command[..3], ["--min-isolation", "restricted", "job"]);
    assert_eq!(task.started_by(), Some(job.id.as_str()));

    let status = play_fargate(&task).await;
    assert_eq!(status, 0);

    // The results function's unit of work: the S3 notification of the
    // result the runner PUT.
    coderun_aws::handlers::handle_results(&env.platform, s3_event(&job.id))
        .await
        .unwrap();
    let view = env.platform.get_run(&ann, &job.id).await.unwrap();
    assert_eq!(view.job.status, Status::Completed, "{view:?}");
    assert_eq!(view.results[0].stdout, "abab\n");
    assert!(
        view.isolation.iter().any(|l| l == "unprivileged_uid"),
        "{:?}",
        view.isolation
    );
    // A redelivered message does nothing twice.
    assert_eq!(
        env.platform.dispatch(&job.id).await.unwrap(),
        Dispatched::Skipped
    );

    // A submission: the runner fetches the problem as an archive by URL.
    let pkg = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../runner-task/tests/problems/sum");
    let problem = Problem {
        id: "sum".into(),
        title: "A plus B".into(),
        statement: String::new(),
        kind: ProblemKind::PassFail,
        time_limit_ms: 2000,
        memory_mb: 64,
        samples: vec![],
        test_count: 4,
        version: 1,
        author: "sam".into(),
        created_at: 1,
        updated_at: 1,
        verify_report: None,
    };
    env.platform
        .ports()
        .problems
        .put_problem(&problem, None)
        .await
        .unwrap();
    let packed = coderun_core::archive::pack_tar_gz(&pkg).unwrap();
    env.blobs
        .put(&format!("{}.tar.gz", problem.package_prefix()), packed)
        .await
        .unwrap();
    let req: coderun_core::requests::SubmissionRequest = serde_json::from_value(serde_json::json!({
        "problem_id": "sum", "language": "python3", "source": "a, b = map(int, input().split())\nprint(a + b)\n"
    }))
    .unwrap();
    let (sub, _) = env
        .platform
        .create_submission(&ann, req, None)
        .await
        .unwrap();
    assert_eq!(
        env.platform.dispatch(&sub.id).await.unwrap(),
        Dispatched::Launched
    );
    let status = play_fargate(&task_of(&env.ecs, &env.cluster, &sub.id).await).await;
    assert_eq!(status, 0);
    coderun_aws::handlers::handle_results(&env.platform, s3_event(&sub.id))
        .await
        .unwrap();
    let view = env.platform.get_submission(&ann, &sub.id).await.unwrap();
    assert_eq!(
        (view.job.status, view.job.verdict),
        (Status::Completed, Some(Verdict::AC)),
        "{view:?}"
    );
    assert_eq!(view.tests.len(), 4);
    assert_eq!(env.platform.profile(&ann).await.unwrap().solved, 1);

    // A task that stops without a result is launched again, then FAILED
    // with ECS's reason.
    let print_one = || -> coderun_core::requests::RunRequest {
        serde_json::from_value(serde_json::json!({
            "language": "python3", "source": "print(1)", "inputs": [{}]
        }))
        .unwrap()
    };
    let (lost, _) = env
        .platform
        .create_run(&ann, print_one(), None)
        .await
        .unwrap();
    assert_eq!(
        env.platform.dispatch(&lost.id).await.unwrap(),
        Dispatched::Launched
    );
    let stopped = |task_arn: &str| {
        serde_json::json!({
            "detail-type": "ECS Task State Change", "source": "aws.ecs",
            "detail": {"lastStatus": "STOPPED", "startedBy": lost.id, "taskArn": task_arn,
                       "stopCode": "SpotInterruption", "stoppedReason": "Your Spot Task was interrupted.",
                       "containers": [{"exitCode": 137}]}
        })
    };
    let first = env
        .platform
        .ports()
        .jobs
        .get_job(&lost.id)
        .await
        .unwrap()
        .unwrap()
        .launch
        .unwrap();
    assert!(first.starts_with("arn:aws:ecs:"), "{first}");
    // The end of a task the job no longer waits for changes nothing.
    let job = handle(
        &env.platform,
        stopped("arn:aws:ecs:us-east-1:123456789012:task/x/old"),
        &lost.id,
    )
    .await;
    assert_eq!((job.status, job.attempts), (Status::Starting, 0));
    let job = handle(&env.platform, stopped(&first), &lost.id).await;
    assert_eq!((job.status, job.attempts), (Status::Starting, 1));
    let second = job.launch.unwrap();
    assert_ne!(second, first, "launched again");
    let job = handle(&env.platform, stopped(&first), &lost.id).await;
    assert_eq!(
        job.attempts, 1,
        "a repeated event for the old task is stale"
    );
    let job = handle(&env.platform, stopped(&second), &lost.id).await;
    assert_eq!(job.status, Status::Failed);
    let error = job.error.unwrap();
    assert!(
        error.contains("2 times") && error.contains("SpotInterruption"),
        "{error}"
    );

    // A dead letter fails its job with a reason.
    let (dead, _) = env
        .platform
        .create_run(&ann, print_one(), None)
        .await
        .unwrap();
    let dlq = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m",
        "body": serde_json::to_string(&coderun_aws::sqs::JobMessage { job_id: dead.id.clone() }).unwrap()}]});
    let job = handle(&env.platform, dlq, &dead.id).await;
    assert_eq!(job.status, Status::Failed);
    assert!(job.error.unwrap().contains("dead-letter"));
}

/// The results function's unit of work on `event`; then the job.
async fn handle(platform: &coderun_core::Platform, event: serde_json::Value, job_id: &str) -> Job {
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

/// An S3 ObjectCreated notification for a job's result.
fn s3_event(job_id: &str) -> serde_json::Value {
    serde_json::json!({"Records": [{
        "eventSource": "aws:s3", "eventName": "ObjectCreated:Put",
        "s3": {"bucket": {"name": "coderun"}, "object": {"key": format!("results/{job_id}/result.json")}}
    }]})
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_run_task_is_retried_then_dead_lettered() {
    let env = aws_env().await;
    let ann = coderun_core::Principal {
        user: "ann".into(),
        name: None,
        roles: vec![],
    };
    // No task definition serves C here: RunTask cannot start its runner.
    let req: coderun_core::requests::RunRequest = serde_json::from_value(serde_json::json!({
        "language": "c", "source": "int main(void){return 0;}", "inputs": [{}]
    }))
    .unwrap();
    let (job, _) = env.platform.create_run(&ann, req, None).await.unwrap();
    let got = env
        .sqs
        .receive_message()
        .queue_url(&env.queue_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let m = &got.messages()[0];
    let batch: coderun_aws::handlers::SqsBatch = serde_json::from_value(serde_json::json!({
        "Records": [{"messageId": m.message_id().unwrap(), "body": m.body().unwrap()}]
    }))
    .unwrap();
    // Each delivery fails and is reported, so SQS delivers it again.
    for _ in 0..2 {
        let r = coderun_aws::handlers::dispatch_batch(&env.platform, batch.clone()).await;
        assert_eq!(r.batch_item_failures.len(), 1, "{r:?}");
        let j = env
            .platform
            .ports()
            .jobs
            .get_job(&job.id)
            .await
            .unwrap()
            .unwrap();
        assert_eq!((j.status, j.launch), (Status::Starting, None));
    }
    // After maxReceiveCount the message lands in the DLQ: the job fails.
    let dlq = serde_json::json!({"Records": [{"eventSource": "aws:sqs", "messageId": "m",
        "body": m.body().unwrap()}]});
    let j = handle(&env.platform, dlq, &job.id).await;
    assert_eq!(j.status, Status::Failed);
    assert!(j.error.unwrap().contains("dead-letter"));
}
