//! The warm pool on the emulator: runners that serve one job after another
//! and leave nothing of one for the next, leave when idle, are replaced
//! when they stop answering, and never run a job twice.

use std::time::Duration;

use coderun_core::service::Dispatched;
use coderun_core::{Job, Status};
use serde_json::json;

use crate::emulator::*;

/// A python run of `source`, dispatched: the job and its runner's id and
/// mailbox.
async fn dispatched(env: &AwsEnv, source: &str) -> (Job, String, u64) {
    let req =
        serde_json::from_value(json!({"language": "python3", "source": source, "inputs": [{}]}))
            .unwrap();
    let (job, _) = env.platform.create_run(&ann(), req, None).await.unwrap();
    assert_eq!(
        env.platform.dispatch(&job.id).await.unwrap(),
        Dispatched::Launched
    );
    let job = env.job(&job.id).await;
    let (runner, seq) = runner_of(job.launch.as_deref().unwrap());
    (job, runner, seq)
}

/// Waits for the job's result (its runner started if it was cold), then
/// lets the results function take it; the job's first run's stdout.
async fn finished(env: &AwsEnv, job: &Job, runner: &str) -> String {
    env.fargate.start(runner).await;
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !env.blobs.exists(&job.result_key()).await.unwrap() {
        assert!(
            std::time::Instant::now() < deadline,
            "no result for {}",
            job.id
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    coderun_aws::handlers::handle_results(&env.platform, s3_event(&job.id))
        .await
        .unwrap();
    let done = env.job(&job.id).await;
    assert_eq!(done.status, Status::Completed, "{done:?}");
    let run = env.platform.get_run(&ann(), &job.id).await.unwrap();
    let out = &run.results[0];
    assert!(out.stderr.is_empty(), "{out:?}");
    out.stdout.clone()
}

async fn pool_size(env: &AwsEnv) -> usize {
    let store = env.pool();
    store.runners("coderun-python").await.unwrap().len()
}

/// What a hostile job leaves behind, if the runner lets it: files in the
/// shared writable directories, a filled /dev/shm, a process that hides in
/// its own session.
const HOSTILE: &str = r#"
import os, subprocess
left = []
def leave(path, data):
    try:
        with open(path, "wb") as f:
            f.write(data)
        left.append(path)
    except OSError:
        pass  # Landlock, where the host has it, is a second wall
for d in ["/tmp", "/var/tmp", "/dev/shm"]:
    leave(d + "/left-by-hostile", b"secret of the last job")
leave("/dev/shm/hostile-fill", b"\0" * (8 << 20))
try:
    os.makedirs("/tmp/hostile-dir/deeper")
    left.append("/tmp/hostile-dir")
except OSError:
    pass
subprocess.Popen(["python3", "-c", "import time; time.sleep(600)  # hostile-marker"],
                 start_new_session=True)
os.environ["CODERUN_LEFT"] = "1"
print("left", *left)
"#;

/// The next job on the same runner, looking for all of it.
const PROBE: &str = r#"
import os
found = []
for p in ["/tmp/left-by-hostile", "/var/tmp/left-by-hostile", "/dev/shm/left-by-hostile",
          "/dev/shm/hostile-fill", "/tmp/hostile-dir"]:
    if os.path.lexists(p):
        found.append(p)
for pid in filter(str.isdigit, os.listdir("/proc")):
    try:
        if b"hostile-marker" in open("/proc/%s/cmdline" % pid, "rb").read():
            found.append("process " + pid)
    except OSError:
        pass
for k in os.environ:
    if k.startswith(("CODERUN", "AWS")):
        found.append("variable " + k)
print(" ".join(found) or "clean")
"#;

#[tokio::test(flavor = "multi_thread")]
async fn a_warm_runner_serves_the_next_job_with_nothing_of_the_last() {
    let env = aws_env().await;
    let (hostile, runner, seq) = dispatched(&env, HOSTILE).await;
    assert_eq!(seq, 0, "the first job starts a runner");
    let left = finished(&env, &hostile, &runner).await;
    assert!(left.starts_with("left"), "{left}");

    // The next job goes to the same runner, at its next mailbox, with no
    // new task.
    let (probe, again, seq) = dispatched(&env, PROBE).await;
    assert_eq!((again.as_str(), seq), (runner.as_str(), 1));
    assert_eq!(finished(&env, &probe, &runner).await, "clean\n");
    assert_eq!(env.tasks_started().await, 1, "one task served both");
    assert_eq!(pool_size(&env).await, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_runner_leaves_and_the_pool_scales_to_zero() {
    let env = aws_env_with(PoolOptions {
        idle: Duration::from_secs(2),
        ..PoolOptions::default()
    })
    .await;
    let (job, runner, _) = dispatched(&env, "print(1)").await;
    assert_eq!(finished(&env, &job, &runner).await, "1\n");
    // Idle for its window, it writes its retirement into its next mailbox
    // and exits 0.
    let stopped = env.fargate.stopped(&runner, Duration::from_secs(30)).await;
    assert_eq!(stopped["detail"]["containers"][0]["exitCode"], json!(0));
    use coderun_core::ports::Blobs;
    let mail = env
        .blobs
        .get(&coderun_aws::ecs::mail_key(&runner, 1))
        .await
        .unwrap()
        .unwrap();
    assert!(String::from_utf8_lossy(&mail).contains("\"retired\""));

    // A job dispatched before its task's end is reported finds the
    // mailbox taken by the retirement and starts a new runner.
    assert_eq!(pool_size(&env).await, 1);
    let (next, fresh, seq) = dispatched(&env, "print(2)").await;
    assert_ne!(fresh, runner);
    assert_eq!(seq, 0);
    assert_eq!(pool_size(&env).await, 1, "the retired runner is forgotten");
    // The end of the first task changes nothing for anyone.
    coderun_aws::handlers::handle_results(&env.platform, stopped)
        .await
        .unwrap();
    assert_eq!(finished(&env, &next, &fresh).await, "2\n");

    // The second leaves too: nothing runs, nothing is kept.
    let stopped = env.fargate.stopped(&fresh, Duration::from_secs(30)).await;
    coderun_aws::handlers::handle_results(&env.platform, stopped)
        .await
        .unwrap();
    assert_eq!(pool_size(&env).await, 0);
    assert_eq!(env.job(&next.id).await.status, Status::Completed);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_duplicated_message_runs_its_job_once() {
    let env = aws_env().await;
    let req = serde_json::from_value(
        json!({"language": "python3", "source": "print(7)", "inputs": [{}]}),
    )
    .unwrap();
    let (job, _) = env.platform.create_run(&ann(), req, None).await.unwrap();
    // The same message to two dispatchers at once, and once more later.
    let (a, b) = tokio::join!(
        env.platform.dispatch(&job.id),
        env.platform.dispatch(&job.id)
    );
    let launched = [a.unwrap(), b.unwrap()];
    assert!(launched.contains(&Dispatched::Launched), "{launched:?}");
    let job = env.job(&job.id).await;
    let (runner, _) = runner_of(job.launch.as_deref().unwrap());
    assert_eq!(finished(&env, &job, &runner).await, "7\n");
    assert_eq!(
        env.platform.dispatch(&job.id).await.unwrap(),
        Dispatched::Skipped
    );
    assert_eq!(env.tasks_started().await, 1, "one runner was started");
    // The result's notification again: the job and the pool are as they were.
    let done = env.job(&job.id).await;
    coderun_aws::handlers::handle_results(&env.platform, s3_event(&job.id))
        .await
        .unwrap();
    assert_eq!(env.job(&job.id).await, done);
    let runners = env.pool().runners("coderun-python").await.unwrap();
    assert_eq!(
        (runners.len(), runners[0].busy, runners[0].seq),
        (1, false, 1)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runner_that_never_takes_its_job_is_replaced() {
    let env = aws_env_with(PoolOptions {
        take_timeout: Duration::from_secs(1),
        ..PoolOptions::default()
    })
    .await;
    let (first, runner, _) = dispatched(&env, "print(1)").await;
    assert_eq!(finished(&env, &first, &runner).await, "1\n");
    // The warm runner stops answering (frozen, its task still RUNNING).
    env.fargate.freeze(&runner);
    let (job, held_by, seq) = dispatched(&env, "print(2)").await;
    assert_eq!((held_by.as_str(), seq), (runner.as_str(), 1));
    // Within its time to answer, the sweep leaves it.
    assert_eq!(env.platform.sweep().await.unwrap(), 0);
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let sweep = coderun_aws::sample_events::scheduled();
    coderun_aws::handlers::handle_results(&env.platform, sweep)
        .await
        .unwrap();
    let j = env.job(&job.id).await;
    assert_eq!((j.status, j.attempts), (Status::Starting, 1));
    let (replacement, _) = runner_of(j.launch.as_deref().unwrap());
    assert_ne!(replacement, runner);
    // The frozen one's task was told to stop.
    let task = env.fargate.task_of(&runner).await;
    let task = crate::emulator::task(&env.ecs, &env.cluster, task.task_arn().unwrap()).await;
    assert_eq!(task.desired_status(), Some("STOPPED"));
    assert_eq!(finished(&env, &j, &replacement).await, "2\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_job_that_finds_every_runner_busy_waits_seconds_not_the_visibility_timeout() {
    let env = aws_env_with(PoolOptions {
        max_runners: 1,
        ..PoolOptions::default()
    })
    .await;
    let (first, runner, _) = dispatched(&env, "print(1)").await;
    let req = serde_json::from_value(
        json!({"language": "python3", "source": "print(2)", "inputs": [{}]}),
    )
    .unwrap();
    let (second, _) = env.platform.create_run(&ann(), req, None).await.unwrap();
    // Delivered while the pool's one runner is busy: reported failed, and
    // brought back in seconds (the queue's visibility timeout is 30 s).
    // The second job's message, as the event source mapping hands it over
    // (the first's, sent by its intake, is dropped: it was dispatched).
    let receive = || async {
        let m = loop {
            let got = env
                .sqs
                .receive_message()
                .queue_url(&env.queue_url)
                .message_system_attribute_names(aws_sdk_sqs::types::MessageSystemAttributeName::All)
                .wait_time_seconds(10)
                .send()
                .await
                .unwrap();
            let m = got.messages()[0].clone();
            if m.body().unwrap().contains(&second.id) {
                break m;
            }
            env.sqs
                .delete_message()
                .queue_url(&env.queue_url)
                .receipt_handle(m.receipt_handle().unwrap())
                .send()
                .await
                .unwrap();
        };
        let mut event =
            coderun_aws::sample_events::sqs(&[(m.message_id().unwrap(), m.body().unwrap())]);
        event["Records"][0]["receiptHandle"] = json!(m.receipt_handle().unwrap());
        let count = m.attributes().unwrap()
            [&aws_sdk_sqs::types::MessageSystemAttributeName::ApproximateReceiveCount]
            .clone();
        event["Records"][0]["attributes"]["ApproximateReceiveCount"] = json!(count);
        serde_json::from_value::<coderun_aws::handlers::SqsEvent>(event).unwrap()
    };
    let batch = receive().await;
    let r = coderun_aws::handlers::dispatch_batch(&env.platform, batch).await;
    assert_eq!(r.batch_item_failures.len(), 1, "{r:?}");
    let failed_at = std::time::Instant::now();
    assert_eq!(env.job(&second.id).await.launch, None);

    // The runner frees meanwhile; the next delivery finds it.
    assert_eq!(finished(&env, &first, &runner).await, "1\n");
    let batch = receive().await;
    assert!(failed_at.elapsed() < Duration::from_secs(10));
    let r = coderun_aws::handlers::dispatch_batch(&env.platform, batch).await;
    assert!(r.batch_item_failures.is_empty(), "{r:?}");
    let second = env.job(&second.id).await;
    assert_eq!(
        runner_of(second.launch.as_deref().unwrap()),
        (runner.clone(), 1)
    );
    assert_eq!(finished(&env, &second, &runner).await, "2\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_runs_output_reaches_the_log_endpoint_while_it_runs() {
    use coderun_core::views::{LogQuery, LogStream};
    let env = aws_env().await;
    let source = "import time\nprint('first', flush=True)\ntime.sleep(3)\nprint('second')";
    let (job, runner, _) = dispatched(&env, source).await;
    env.fargate.start(&runner).await;
    let query = LogQuery {
        stream: LogStream::Stdout,
        input: 0,
        cursor: None,
        limit: 100,
    };
    // The first line shows while the program sleeps: the runner sends
    // what it printed every quarter of a second.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let page = loop {
        let page = env
            .platform
            .run_logs(&ann(), &job.id, &query)
            .await
            .unwrap();
        if !page.lines.is_empty() {
            break page;
        }
        assert!(std::time::Instant::now() < deadline, "no live output");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert_eq!(page.lines, ["first\n"]);
    assert!(!page.status.is_final(), "{page:?}");
    assert!(!env.blobs.exists(&job.result_key()).await.unwrap());
    assert_eq!(finished(&env, &job, &runner).await, "first\nsecond\n");
}

/// `GET` through the api handler as API Gateway delivers it: the whole
/// response body, and how long it took.
async fn whole(app: &axum::Router, path: &str) -> (String, Duration) {
    use tower::ServiceExt;
    let at = std::time::Instant::now();
    let resp = app
        .clone()
        .oneshot(event("GET", path, "ann", None))
        .await
        .unwrap();
    assert_eq!(resp.status(), axum::http::StatusCode::OK);
    let bytes = axum::body::to_bytes(resp.into_body(), usize::MAX)
        .await
        .unwrap();
    (String::from_utf8(bytes.to_vec()).unwrap(), at.elapsed())
}

#[tokio::test(flavor = "multi_thread")]
async fn a_followed_log_answers_in_windows_that_end_with_their_news() {
    let env = aws_env().await;
    let app = coderun_api::app(
        env.platform.clone(),
        std::sync::Arc::new(coderun_api::GatewayClaims::default()),
    );
    let source = "import time\nprint('first', flush=True)\ntime.sleep(3)\nprint('second')";
    let (job, runner, _) = dispatched(&env, source).await;
    env.fargate.start(&runner).await;
    // The first window ends as soon as the first line is there, while
    // the program still sleeps: API Gateway can deliver it.
    let logs = format!("/runs/{}/logs?follow=true", job.id);
    let (first, took) = whole(&app, &logs).await;
    assert!(
        first.contains("event: line\nid: 1\ndata: first\n"),
        "{first}"
    );
    assert!(!first.contains("event: end"), "{first}");
    assert!(took < Duration::from_secs(3), "{took:?}");
    // From the last id each time: the second line and the end, once the
    // result is in; never the first line again.
    let rest = async {
        let (mut cursor, mut all) = ("1".to_string(), String::new());
        loop {
            let (text, _) = whole(&app, &format!("{logs}&cursor={cursor}")).await;
            all.push_str(&text);
            if text.contains("event: end") {
                return all;
            }
            if let Some(id) = text.lines().rev().find_map(|l| l.strip_prefix("id: ")) {
                cursor = id.to_string();
            }
        }
    };
    let results = async {
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while !env.blobs.exists(&job.result_key()).await.unwrap() {
            assert!(std::time::Instant::now() < deadline);
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        coderun_aws::handlers::handle_results(&env.platform, s3_event(&job.id))
            .await
            .unwrap();
    };
    let (rest, ()) = tokio::join!(rest, results);
    assert!(rest.contains("data: second\n"), "{rest}");
    assert!(!rest.contains("data: first"), "{rest}");
    assert!(rest.contains("event: end\ndata: COMPLETED"), "{rest}");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_warm_minimum_is_started_and_kept_past_its_idle_window() {
    let env = aws_env_with(PoolOptions {
        idle: Duration::from_secs(4),
        min_warm: 1,
        ..PoolOptions::default()
    })
    .await;
    // The sweep finds no runner: it starts one, waiting for no job.
    env.platform.sweep().await.unwrap();
    let runners = env.pool().runners("coderun-python").await.unwrap();
    assert_eq!((runners.len(), runners[0].busy), (1, false));
    let runner = runners[0].id.clone();
    env.fargate.start(&runner).await;
    // Past half its window, the sweep tells it to stay: it moves to its
    // next mailbox and outlives the window it started with.
    tokio::time::sleep(Duration::from_millis(2500)).await;
    env.platform.sweep().await.unwrap();
    assert_eq!(
        env.pool()
            .runner("coderun-python", &runner)
            .await
            .unwrap()
            .unwrap()
            .seq,
        1
    );
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert!(
        env.fargate.is_running(&runner),
        "it left at its first window's end"
    );
    // A job now goes to it, warm.
    let (job, held_by, seq) = dispatched(&env, "print(5)").await;
    assert_eq!((held_by.as_str(), seq), (runner.as_str(), 1));
    assert_eq!(finished(&env, &job, &runner).await, "5\n");
    assert_eq!(env.pool().runners("coderun-python").await.unwrap().len(), 1);
}
