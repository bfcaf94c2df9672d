//! The serverless flow, through the `api` handler with API Gateway event
//! fixtures, and its failure paths.

use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use coderun_api::GatewayClaims;
use coderun_core::service::Dispatched;
use coderun_core::{Problem, ProblemKind, Status};
use serde_json::{json, Value};

use crate::emulator::*;

/// The queued message, as the SQS event source mapping hands it over.
async fn receive(env: &AwsEnv) -> coderun_aws::handlers::SqsEvent {
    let got = env
        .sqs
        .receive_message()
        .queue_url(&env.queue_url)
        .wait_time_seconds(2)
        .send()
        .await
        .unwrap();
    let messages: Vec<(&str, &str)> = got
        .messages()
        .iter()
        .map(|m| (m.message_id().unwrap(), m.body().unwrap()))
        .collect();
    let batch: coderun_aws::handlers::SqsEvent =
        serde_json::from_value(coderun_aws::sample_events::sqs(&messages)).unwrap();
    assert_eq!(batch.records.len(), 1);
    // The event source mapping deletes what its handler took (the handler
    // is asserted to succeed): left in the queue, the message would come
    // back after its visibility timeout, into a later run of the suite.
    for m in got.messages() {
        env.sqs
            .delete_message()
            .queue_url(&env.queue_url)
            .receipt_handle(m.receipt_handle().unwrap())
            .send()
            .await
            .unwrap();
    }
    batch
}

/// Hands the queued message to the dispatcher's handler, twice (SQS
/// delivers at least once).
async fn deliver(env: &AwsEnv) {
    let batch = receive(env).await;
    for _ in 0..2 {
        let r = coderun_aws::handlers::dispatch_batch(&env.platform, batch.clone()).await;
        assert!(r.batch_item_failures.is_empty(), "{r:?}");
    }
}

/// Waits until `key` exists (a runner wrote it), up to a minute.
async fn written(env: &AwsEnv, key: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(60);
    while !env.blobs.exists(key).await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "{key} was never written"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Plays the cloud for a dispatched job: Fargate runs the task of the
/// runner the job was handed to (a cold one starts; a warm one already
/// runs), the runner writes the result, S3 notifies the results function.
/// Returns the runner's id.
async fn run_in_the_cloud(env: &AwsEnv, job_id: &str) -> String {
    let job = env.job(job_id).await;
    let (runner, _) = runner_of(
        job.launch
            .as_deref()
            .expect("the job was handed to a runner"),
    );
    let task = env.fargate.start(&runner).await;
    let overrides = overrides_json(&task);
    assert!(
        overrides.len() < coderun_aws::ecs::MAX_OVERRIDES_BYTES / 2,
        "{} bytes",
        overrides.len()
    );
    // The URLs are in the environment: other uids can read a command line.
    let o = &task.overrides().unwrap().container_overrides()[0];
    assert_eq!(o.command().join(" "), "--min-isolation restricted mailbox");
    assert!(overrides.contains("X-Amz-Signature"), "{overrides}");
    // A presigned URL names the access key id; the secret never travels.
    let secret = std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_default();
    assert!(
        secret.len() >= 8 && !overrides.contains(&secret),
        "the secret key must not travel"
    );
    assert_eq!(task.started_by(), Some(runner.as_str()));
    written(env, &job.result_key()).await;
    // Nor does the source travel in the mail: only URLs.
    let (_, seq) = runner_of(job.launch.as_deref().unwrap());
    use coderun_core::ports::Blobs;
    let mail = env
        .blobs
        .get(&coderun_aws::ecs::mail_key(&runner, seq))
        .await
        .unwrap()
        .unwrap();
    let mail = String::from_utf8(mail).unwrap();
    assert!(!mail.contains(&secret) && mail.contains("X-Amz-Signature"));
    coderun_aws::handlers::handle_results(&env.platform, s3_event(job_id))
        .await
        .unwrap();
    runner
}

/// Writes job `to`'s result as a copy of job `from`'s (the report and all)
/// and lets the results handler take it.
async fn same_report_as(env: &AwsEnv, from: &str, to: &str) {
    let ports = env.platform.ports();
    let job = |id: &str| {
        let id = id.to_string();
        async move { ports.jobs.get_job(&id).await.unwrap().unwrap() }
    };
    let (first, late) = (job(from).await, job(to).await);
    let bytes = ports.blobs.get(&first.result_key()).await.unwrap().unwrap();
    let mut result: Value = serde_json::from_slice(&bytes).unwrap();
    result["job_id"] = json!(to);
    ports
        .blobs
        .put(&late.result_key(), serde_json::to_vec(&result).unwrap())
        .await
        .unwrap();
    coderun_aws::handlers::handle_results(&env.platform, s3_event(to))
        .await
        .unwrap();
}

/// A playground run of `source` in `language` with one empty input.
fn run_request(language: &str, source: &str) -> coderun_core::requests::RunRequest {
    serde_json::from_value(json!({"language": language, "source": source, "inputs": [{}]})).unwrap()
}

/// `ann` submits `source` for `problem` through the api handler; the cloud
/// judges it; returns `GET /submissions/{id}`.
async fn judged(env: &AwsEnv, app: &axum::Router, problem: &str, source: &str) -> Value {
    let body = json!({"problem_id": problem, "language": "python3", "source": source});
    let (status, sub) = call(app, event("POST", "/submissions", "ann", Some(body))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{sub}");
    let sid = sub["id"].as_str().unwrap().to_string();
    deliver(env).await;
    run_in_the_cloud(env, &sid).await;
    call(
        app,
        event("GET", &format!("/submissions/{sid}"), "ann", None),
    )
    .await
    .1
}

#[tokio::test(flavor = "multi_thread")]
async fn a_run_and_a_submission_through_the_api_handler() {
    let env = aws_env().await;
    let app = coderun_api::app(env.platform.clone(), Arc::new(GatewayClaims::default()));

    // Playground run.
    let body = json!({"language": "python3", "source": "print(input() * 2)", "inputs": [{"stdin": "ab\n"}]});
    let (status, job) = call(&app, event("POST", "/runs", "ann", Some(body))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    deliver(&env).await;
    run_in_the_cloud(&env, &id).await;
    let (status, run) = call(&app, event("GET", &format!("/runs/{id}"), "ann", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&run["status"], &run["results"][0]["stdout"]),
        (&json!("COMPLETED"), &json!("abab\n")),
        "{run}"
    );
    assert!(
        run["isolation"]
            .as_array()
            .unwrap()
            .iter()
            .any(|l| l == "unprivileged_uid"),
        "{run}"
    );
    let (status, _) = call(&app, event("GET", &format!("/runs/{id}"), "bob", None)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "another user's run");

    // A judged submission: the runner fetches the problem archive by URL.
    let pkg = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../runner-task/tests/problems/sum");
    let problem = Problem {
        id: "sum".into(),
        title: "A plus B".into(),
        statement: String::new(),
        statement_images: vec![],
        kind: ProblemKind::PassFail,
        time_limit_ms: 2000,
        memory_mb: 64,
        code_limit_kib: None,
        samples: vec![],
        test_count: 4,
        version: 1,
        author: "sam".into(),
        created_at: 1,
        updated_at: 1,
        verify_report: None,
        import_id: None,
    };
    env.platform
        .ports()
        .problems
        .put_problem(&problem, None)
        .await
        .unwrap();
    let packed = coderun_core::archive::pack_tar_gz(&pkg).unwrap();
    use coderun_core::ports::Blobs;
    env.blobs
        .put(&format!("{}.tar.gz", problem.package_prefix()), packed)
        .await
        .unwrap();
    let sub = judged(
        &env,
        &app,
        "sum",
        "a, b = map(int, input().split())\nprint(a + b)\n",
    )
    .await;
    let sid = sub["id"].as_str().unwrap().to_string();
    assert_eq!(
        (&sub["status"], &sub["verdict"]),
        (&json!("COMPLETED"), &json!("AC")),
        "{sub}"
    );
    assert_eq!(sub["tests"].as_array().unwrap().len(), 4);
    let (_, history) = call(&app, event("GET", "/submissions", "ann", None)).await;
    assert_eq!(history["items"][0]["id"], json!(sid));
    let (_, me) = call(&app, event("GET", "/me", "ann", None)).await;
    assert_eq!(me["solved"], 1, "{me}");
}

/// A small package: Python references, no stated time limit (the runner
/// derives it), one sample and one secret test.
fn echo_package(dir: &std::path::Path) {
    let files = [
        // The line back unchanged: letters' case matters.
        (
            "problem.yaml",
            "name: Echo\nvalidator_flags: case_sensitive\nlimits:\n  memory: 128\n",
        ),
        (
            "problem_statement/problem.en.md",
            "Print the line you read.\n",
        ),
        ("data/sample/1.in", "hi\n"),
        ("data/sample/1.ans", "hi\n"),
        ("data/secret/2.in", "coderun\n"),
        ("data/secret/2.ans", "coderun\n"),
        ("submissions/accepted/echo.py", "print(input())\n"),
        (
            "submissions/wrong_answer/shout.py",
            "print(input().upper())\n",
        ),
    ];
    for (name, text) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, text).unwrap();
    }
}

/// `POST /problems/import` as a tar.gz body.
fn import_event(path: &str, sub: &str, archive: Vec<u8>) -> axum::http::Request<axum::body::Body> {
    let (mut parts, _) = event("POST", path, sub, None).into_parts();
    parts.headers.insert(
        axum::http::header::CONTENT_TYPE,
        axum::http::HeaderValue::from_static("application/gzip"),
    );
    axum::http::Request::from_parts(parts, axum::body::Body::from(archive))
}

#[tokio::test(flavor = "multi_thread")]
async fn an_import_is_verified_by_a_runner_then_stored() {
    let env = aws_env().await;
    let app = coderun_api::app(env.platform.clone(), Arc::new(GatewayClaims::default()));
    let dir = tempfile::tempdir().unwrap();
    echo_package(dir.path());
    let archive = coderun_core::archive::pack_tar_gz(dir.path()).unwrap();

    // The API cannot run the package's code: a runner task verifies it.
    let (status, import) = call(
        &app,
        import_event("/problems/import?id=echo", "sam", archive.clone()),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{import}");
    assert_eq!(
        (&import["status"], &import["problem_id"]),
        (&json!("QUEUED"), &json!("echo"))
    );
    let id = import["id"].as_str().unwrap().to_string();
    let (status, _) = call(&app, event("GET", "/problems/echo", "ann", None)).await;
    assert_eq!(
        status,
        StatusCode::NOT_FOUND,
        "nothing is stored before it verifies"
    );
    let (status, _) = call(&app, event("GET", &format!("/imports/{id}"), "ann", None)).await;
    assert_eq!(status, StatusCode::FORBIDDEN, "imports are for setters");
    // A second import of the same id, verified after the first is stored.
    let (_, late) = call(
        &app,
        import_event("/problems/import?id=echo", "sam", archive),
    )
    .await;
    let late = late["id"].as_str().unwrap().to_string();

    for job in [&id, &late] {
        let batch = receive(&env).await;
        let r = coderun_aws::handlers::dispatch_batch(&env.platform, batch).await;
        assert!(r.batch_item_failures.is_empty(), "{r:?}");
        if job == &id {
            run_in_the_cloud(&env, job).await;
        } else {
            // The late one's runner measured the very times the first's did,
            // as happens: its report is the first's, word for word, and it
            // must not be taken for the first import's work.
            same_report_as(&env, &id, job).await;
        }
    }
    let (status, done) = call(&app, event("GET", &format!("/imports/{id}"), "sam", None)).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        (&done["status"], &done["outcome"], &done["version"]),
        (&json!("COMPLETED"), &json!("saved"), &json!(1)),
        "{done}"
    );
    assert_eq!(done["report"]["time_limit_derived"], json!(true), "{done}");
    assert_eq!(done["report"]["disagreements"], json!([]), "{done}");
    let (_, late) = call(&app, event("GET", &format!("/imports/{late}"), "sam", None)).await;
    assert_eq!(late["outcome"], json!("rejected"), "{late}");
    assert!(
        late["error"].as_str().unwrap().contains("changed"),
        "{late}"
    );

    // Stored: listed, and judged from its archive.
    let (status, problem) = call(&app, event("GET", "/problems/echo", "ann", None)).await;
    assert_eq!(status, StatusCode::OK, "{problem}");
    assert!(problem["time_limit_ms"].as_u64().unwrap() > 0, "{problem}");
    let sub = judged(&env, &app, "echo", "print(input())").await;
    assert_eq!(sub["verdict"], json!("AC"), "{sub}");
    // The staged archives are gone.
    use coderun_core::ports::Blobs;
    assert_eq!(
        env.blobs
            .get(&format!("imports/{id}.tar.gz"))
            .await
            .unwrap(),
        None
    );
}

/// The LocalStack init hook's table, bucket and queue (made on the
/// emulator by scripts/test) carry a run end to end: the hook and the code
/// agree on names, keys, indexes and queue settings.
#[tokio::test(flavor = "multi_thread")]
async fn the_localstack_hook_resources_carry_a_run() {
    let env = hooked_env().await;
    let app = coderun_api::app(env.platform.clone(), Arc::new(GatewayClaims::default()));
    let body = json!({"language": "python3", "source": "print(sum(map(int, input().split())))",
        "inputs": [{"stdin": "40 2\n"}]});
    let (status, job) = call(&app, event("POST", "/runs", "ann", Some(body))).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["id"].as_str().unwrap().to_string();
    deliver(&env).await;
    run_in_the_cloud(&env, &id).await;
    let (_, run) = call(&app, event("GET", &format!("/runs/{id}"), "ann", None)).await;
    assert_eq!(run["results"][0]["stdout"], json!("42\n"), "{run}");
    let (_, runs) = call(&app, event("GET", "/runs", "ann", None)).await;
    assert!(
        runs["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|r| r["id"] == json!(id)),
        "the byUser index lists it: {runs}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn stopped_tasks_and_dead_letters_end_in_failed() {
    let env = aws_env().await;
    let ann = ann();
    // A task that stops without a result is launched again, then FAILED
    // with ECS's reason.
    let print_one = || run_request("python3", "print(1)");
    let (lost, _) = env
        .platform
        .create_run(&ann, print_one(), None)
        .await
        .unwrap();
    assert_eq!(
        env.platform.dispatch(&lost.id).await.unwrap(),
        Dispatched::Launched
    );
    let stopped = |task: &aws_sdk_ecs::types::Task| {
        coderun_aws::sample_events::ecs_task_state(json!({
            "lastStatus": "STOPPED", "startedBy": task.started_by(), "taskArn": task.task_arn(),
            "taskDefinitionArn": task.task_definition_arn(),
            "stopCode": "SpotInterruption", "stoppedReason": "Your Spot Task was interrupted.",
            "containers": [{"exitCode": 137}]}))
    };
    let first = env.job(&lost.id).await.launch.unwrap();
    assert!(first.starts_with("coderun-python/runner-"), "{first}");
    let task1 = env.fargate.task_of(&runner_of(&first).0).await;
    // The end of a runner the pool no longer knows changes nothing.
    let unknown = coderun_aws::sample_events::ecs_task_state(json!({
        "lastStatus": "STOPPED", "startedBy": "runner-000000000000",
        "taskArn": "arn:aws:ecs:us-east-1:123456789012:task/x/old",
        "taskDefinitionArn": task1.task_definition_arn(), "stopCode": "SpotInterruption"}));
    let job = handle(&env.platform, unknown, &lost.id).await;
    assert_eq!((job.status, job.attempts), (Status::Starting, 0));
    let job = handle(&env.platform, stopped(&task1), &lost.id).await;
    assert_eq!((job.status, job.attempts), (Status::Starting, 1));
    let second = job.launch.unwrap();
    assert_ne!(
        runner_of(&second).0,
        runner_of(&first).0,
        "launched on another runner"
    );
    let job = handle(&env.platform, stopped(&task1), &lost.id).await;
    assert_eq!(
        job.attempts, 1,
        "a repeated event for the old task is stale"
    );
    let task2 = env.fargate.task_of(&runner_of(&second).0).await;
    let job = handle(&env.platform, stopped(&task2), &lost.id).await;
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
    let message = coderun_aws::sqs::JobMessage {
        job_id: dead.id.clone(),
    };
    let dlq = dead_letter(&serde_json::to_string(&message).unwrap());
    let job = handle(&env.platform, dlq, &dead.id).await;
    assert_eq!(job.status, Status::Failed);
    assert!(job.error.unwrap().contains("dead-letter"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_run_task_is_retried_then_dead_lettered() {
    let env = aws_env().await;
    let ann = ann();
    // No task definition serves C here: RunTask cannot start its runner.
    let req = run_request("c", "int main(void){return 0;}");
    let (job, _) = env.platform.create_run(&ann, req, None).await.unwrap();
    let batch = receive(&env).await;
    let body = batch.records[0].body.clone().unwrap();
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
    let j = handle(&env.platform, dead_letter(&body), &job.id).await;
    assert_eq!(j.status, Status::Failed);
    assert!(j.error.unwrap().contains("dead-letter"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_killed_mid_job_hands_the_job_to_another() {
    let env = aws_env().await;
    let ann = ann();
    let req = run_request("python3", "import time\ntime.sleep(1)\nprint(6 * 7)");
    let (job, _) = env.platform.create_run(&ann, req, None).await.unwrap();
    assert_eq!(
        env.platform.dispatch(&job.id).await.unwrap(),
        Dispatched::Launched
    );
    let (first, seq) = runner_of(&env.job(&job.id).await.launch.unwrap());
    env.fargate.start(&first).await;
    // It took the job; then its host goes.
    written(&env, &format!("runners/{first}/{seq}.taken")).await;
    env.fargate.kill(&first);
    let stopped = env.fargate.stopped(&first, Duration::from_secs(10)).await;
    let j = handle(&env.platform, stopped.clone(), &job.id).await;
    assert_eq!(
        (j.status, j.attempts, j.finished_at),
        (Status::Starting, 1, None)
    );
    let second = run_in_the_cloud(&env, &job.id).await;
    assert_ne!(second, first);
    let j = env.job(&job.id).await;
    assert_eq!(j.status, Status::Completed, "{j:?}");
    let run = env.platform.get_run(&ann, &job.id).await.unwrap();
    assert_eq!(run.results[0].stdout, "42\n");
    // The same stop reported again changes nothing.
    let again = handle(&env.platform, stopped, &job.id).await;
    assert_eq!(again, j);

    // DynamoDB's TTL removes the record in time; its stream event makes
    // the results function delete the run's blobs too.
    use coderun_core::ports::Blobs;
    let source = format!("sources/{}", job.id);
    let result = format!("results/{}/result.json", job.id);
    assert!(env.blobs.get(&result).await.unwrap().is_some());
    env.platform.ports().jobs.delete_job(&job.id).await.unwrap();
    let expired = coderun_aws::sample_events::dynamodb_removed(
        &[(&format!("RUN#{}", job.id), "JOB")],
        "dynamodb.amazonaws.com",
    );
    coderun_aws::handlers::handle_results(&env.platform, expired)
        .await
        .unwrap();
    for key in [&source, &result] {
        assert_eq!(env.blobs.get(key).await.unwrap(), None, "{key} is left");
    }
}
